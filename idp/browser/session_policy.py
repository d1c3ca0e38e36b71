"""Does an earlier sign-in still satisfy the person's CURRENT policy? Asked at every issuance that reuses
one: an authorization code for an existing browser session (with or without prompt=none) and the refresh
grant (OpenID Connect Core §3.1.2.3, RFC 6749 §6: the server MAY refuse a refresh at its own discretion).

One function, `check_session`, answers with a Verdict (and the reason when refused): the account is
active; the password was not changed since the sign-in (unless the change was made in that very browser);
no administrator reset its second factors since; the second factor it proved is still set up; and, when
the organisation's 2FA requirement is due for the person (idp.enforcement), that the sign-in proved a
second factor (or was exempted from it the way the sign-in flow exempts it: a still remembered browser,
an upstream provider whose scenario covers 2FA)."""
from __future__ import annotations

import enum
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING

import sqlalchemy as sa
from authlib.oauth2.rfc6749 import InvalidGrantError
from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.browser import remembered, sessions
from idp.clock import now as clock_now
from idp.enforcement import enforcement_status
from idp.factors import registry
from idp.federation import providers
from idp.federation.errors import UnknownProvider
from idp.federation.scenarios import decide
from idp.flow.facts import Enforcement
from idp.models import BrowserSession, RememberedBrowser, SecondFactor, Token, User
from idp.oauth import tokens

if TYPE_CHECKING:
    from idp.config import AppConfig

# Workers' clocks differ a little, and a token family keeps auth_time in whole seconds: a change counts
# against a sign-in only when it is later than the sign-in by more than this.
CLOCK_SKEW = timedelta(seconds=2)


class Reason(enum.StrEnum):
    """Why an earlier sign-in no longer counts (the audit entry's `reason`)."""

    ACCOUNT_DISABLED = "account_disabled"
    PASSWORD_CHANGED = "password_changed"
    SECOND_FACTOR_RESET = "second_factor_reset"
    FACTOR_REMOVED = "factor_removed"
    SECOND_FACTOR_REQUIRED = "second_factor_required"
    PROVIDER_UNKNOWN = "provider_unknown"


@dataclass(frozen=True, slots=True)
class SignIn:
    """What an earlier sign-in proved, and when: read from a browser session or a token family."""

    amr: tuple[str, ...]
    auth_time: datetime
    provider: str | None = None
    remembered_browser_id: int | None = None   # the remembered browser that let it skip the second factor
    kept_at: datetime | None = None            # a credential change made in that browser kept it

    @classmethod
    def of_session(cls, row: BrowserSession) -> SignIn:
        return cls(tuple(row.amr or ()), row.auth_time, row.provider, row.remembered_browser_id, row.kept_at)

    @classmethod
    def of_token(cls, db: Session, token: Token) -> SignIn:
        """A token family carries its sign-in's amr and auth_time; the rest comes from its browser session
        (already loaded with the token by idp.oauth.tokens.find_refresh_token, else looked up here)."""
        auth_time = datetime.fromtimestamp(token.auth_time or 0, UTC)
        if "sign_in_session" in vars(token):
            row = token.sign_in_session
        else:
            row = db.scalar(sa.select(BrowserSession).where(BrowserSession.sid == token.sid)) if token.sid else None
        if row is None:
            return cls(tuple(token.amr or ()), auth_time)
        # rotated sessions keep the sign-in's exact auth_time (the token holds whole seconds only)
        return cls(tuple(token.amr or ()), row.auth_time, row.provider, row.remembered_browser_id, row.kept_at)


@dataclass(frozen=True, slots=True)
class Verdict:
    reason: Reason | None = None
    detail: str = ""

    @property
    def ok(self) -> bool:
        return self.reason is None


OK = Verdict()


def check_session(db: Session, config: "AppConfig", user: User, sign_in: SignIn, *, now: datetime) -> Verdict:
    """Whether `sign_in` still satisfies `user`'s current policy; fail closed (refuse) when unsure."""
    for check in (_account, _credentials, _factors, _requirement):
        verdict = check(db, config, user, sign_in, now)
        if not verdict.ok:
            return verdict
    return OK


def _account(db: Session, config: "AppConfig", user: User, sign_in: SignIn, now: datetime) -> Verdict:
    if not user.is_active:
        return Verdict(Reason.ACCOUNT_DISABLED, "the account is disabled")
    return OK


def _credentials(db: Session, config: "AppConfig", user: User, sign_in: SignIn, now: datetime) -> Verdict:
    proven = max(filter(None, (sign_in.auth_time, sign_in.kept_at))) + CLOCK_SKEW
    if user.password_changed_at is not None and user.password_changed_at > proven:
        return Verdict(Reason.PASSWORD_CHANGED, "the password was changed after this sign-in")
    reset = user.second_factor_reset_at
    if reset is not None and reset > sign_in.auth_time + CLOCK_SKEW:
        return Verdict(Reason.SECOND_FACTOR_RESET,
                       "an administrator reset two-factor authentication after this sign-in")
    return OK


def _factors(db: Session, config: "AppConfig", user: User, sign_in: SignIn, now: datetime) -> Verdict:
    """A local sign-in's second factor must still be set up (an upstream provider's amr is not ours)."""
    if sign_in.provider is not None:
        return OK
    kinds = frozenset().union(*(registry.proving(value) for value in sign_in.amr))
    if not kinds:
        return OK
    left = db.scalar(sa.select(sa.func.count(SecondFactor.id)).where(
        SecondFactor.user_id == user.id, SecondFactor.confirmed_at.is_not(None), SecondFactor.kind.in_(kinds)))
    if not left:
        return Verdict(Reason.FACTOR_REMOVED, "the second factor this sign-in proved was removed")
    return OK


def _requirement(db: Session, config: "AppConfig", user: User, sign_in: SignIn, now: datetime) -> Verdict:
    """The organisation's 2FA requirement, as the sign-in flow applies it (policies/browser.toml)."""
    if "mfa" in sign_in.amr:
        return OK
    status = enforcement_status(db, user, now)
    if status.state is not Enforcement.REQUIRED:
        return OK
    if sign_in.provider is not None:
        return _upstream_covers(db, config, sign_in)
    if sign_in.remembered_browser_id is not None:
        row = db.get(RememberedBrowser, sign_in.remembered_browser_id)
        if row is not None and remembered.still_counts(db, user, row):
            return OK
    return Verdict(Reason.SECOND_FACTOR_REQUIRED, f"this sign-in proved no second factor and {status.reason}")


def _upstream_covers(db: Session, config: "AppConfig", sign_in: SignIn) -> Verdict:
    try:
        provider = providers.get(db, config, sign_in.provider)
    except UnknownProvider:
        return Verdict(Reason.PROVIDER_UNKNOWN, f"the identity provider {sign_in.provider} is no longer set up")
    covered, why = decide(provider, {"amr": list(sign_in.amr)}, mfa_requested=False)
    return OK if covered else Verdict(Reason.SECOND_FACTOR_REQUIRED, why)


def record_refusal(db: Session, user: User, verdict: Verdict, actor: Actor, *, at: str,
                   client_id: str | None, session: BrowserSession | None = None) -> None:
    """Audit one refusal: where (`authorize` / `refresh`), for which application, and why (never the sid:
    the browser's cookie carries it). The refused browser `session` ends: its refresh tokens are revoked and
    the applications it signed in to are told (back-channel logout), as when the person signs out."""
    if session is not None and session.ended_at is None:
        sessions.end(db, session)
    audit.record(db, "session_refused", actor, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, outcome="failure",
                 details={"at": at, "client_id": client_id, "reason": str(verdict.reason), "detail": verdict.detail})


def family_still_counts(db: Session, config: "AppConfig", row: Token) -> bool:
    """Does the sign-in behind refresh token `row` still satisfy its user's current policy? (The question
    alone: refuse_outdated_family also revokes and audits.)"""
    return check_session(db, config, row.user, SignIn.of_token(db, row), now=clock_now()).ok


def refuse_outdated_family(db: Session, config: "AppConfig", row: Token) -> None:
    """Raise invalid_grant, with the family revoked and the refusal audited, when the sign-in behind `row`
    no longer satisfies its user's current policy (never a silent new token)."""
    verdict = check_session(db, config, row.user, SignIn.of_token(db, row), now=clock_now())
    if verdict.ok:
        return
    tokens.revoke_tokens(db, Token.family_id == row.family_id)
    record_refusal(db, row.user, verdict, Actor("system"), at="refresh", client_id=row.client_id,
                   session=sessions.unended(db, row.sid))
    raise InvalidGrantError("The sign-in behind this refresh token no longer meets the account's security "
                            "requirements: sign the user in again.")
