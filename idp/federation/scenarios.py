"""How a sign-in through an upstream provider counts towards two-factor authentication, in the words of
the product documentation ("2FA and SSO"):

| `second_factor`     | spec's name         | local 2FA                                                      |
| ------------------- | ------------------- | -------------------------------------------------------------- |
| `upstream`          | SSO only            | skipped: MFA is the identity provider's business               |
| `stack`             | SSO + Fentu 2FA     | always, enrolment and enforcement included (not recommended)   |
| `upstream-or-local` | SSO, 2FA unless ... | skipped only when the provider's ID token proves MFA (amr/acr) |

Whatever the scenario, an application asking for the MFA level (acr_values) never gets less: if the
provider did not prove MFA, the local second factor runs."""
from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from .providers import Provider, find, for_email, get

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.config import AppConfig
    from idp.models import User

# RFC 8176 values that prove a factor beyond a password (possession of a key/device, or "mfa" itself).
MFA_AMR = frozenset({"mfa", "mca", "otp", "hwk", "swk", "sms", "tel", "sc", "pop"})
UPSTREAM, STACK, EITHER = "upstream", "stack", "upstream-or-local"


@dataclass(frozen=True)
class Scenario:
    key: str
    label: str          # the spec's name of the scenario
    words: str          # what it means for the person signing in
    warning: str = ""   # shown next to it on the admin page


SCENARIOS: dict[str, Scenario] = {
    UPSTREAM: Scenario(UPSTREAM, "SSO only",
                       "MFA is managed entirely by your identity provider (Entra ID, Okta, etc.). "
                       "Fentu FSM 2FA is bypassed"),
    STACK: Scenario(STACK, "SSO + Fentu 2FA",
                    "Users complete IdP MFA, then are prompted for a Fentu 2FA code as well",
                    "not recommended — configure MFA at the identity provider"),
    EITHER: Scenario(EITHER, "SSO, with Fentu 2FA unless the IdP proves MFA",
                     "Fentu FSM 2FA is bypassed when the identity provider's sign-in proves MFA (its amr or acr "
                     "says so); otherwise users are prompted for a Fentu 2FA code"),
}
LOCAL = Scenario("local", "Local login (no SSO)", "Fentu FSM 2FA applies in full")


def scenario_of(provider: Provider) -> Scenario:
    return SCENARIOS[provider.second_factor]


def scenario_for(provider_name: str, db: "Session | None" = None, config: "AppConfig | None" = None) -> tuple[str, str]:
    """(scenario key, "<spec's name>: <what it means>") for `idp policy explain --provider NAME`.
    Providers live in the config file and the database, so both are needed; raises LookupError
    (idp.federation.errors.UnknownProvider) for a name that is not configured."""
    if db is None or config is None:
        raise LookupError("scenario_for(name, db, config): the providers are in the config file and the database")
    scenario = scenario_of(get(db, config, provider_name))
    return scenario.key, f"{scenario.label}: {scenario.words}"


def proves_mfa(provider: Provider, amr: Iterable[str], acr: str | None) -> tuple[bool, str]:
    """Whether the provider's ID token proves MFA, and which claim said so (or that none did)."""
    amr = [a for a in amr if isinstance(a, str)]
    proving = sorted(MFA_AMR.intersection(amr))
    if proving:
        return True, f"its amr says {', '.join(proving)}"
    if acr and acr in provider.mfa_acr_values:
        return True, f"its acr {acr} is one of the MFA levels configured for it"
    shown_amr = ", ".join(amr) if amr else "nothing"
    shown_acr = acr or "nothing"
    return False, f"its amr says {shown_amr} and its acr {shown_acr}: no MFA proven"


def decide(provider: Provider, upstream: Mapping[str, Any], *, mfa_requested: bool) -> tuple[bool, str]:
    """Whether the upstream sign-in satisfies two-factor authentication here, with the reason."""
    scenario = scenario_of(provider)
    proven, evidence = proves_mfa(provider, upstream.get("amr") or (), upstream.get("acr"))
    who = provider.display_name
    if scenario.key == STACK:
        return False, f"{who} is set up as “{scenario.label}”: local 2FA is required after it"
    if proven:
        return True, f"{who} proved MFA ({evidence}); “{scenario.label}”: local 2FA is skipped"
    if mfa_requested:
        return False, (f"the application asked for MFA and {who} did not prove it ({evidence}): "
                       "local 2FA is required")
    if scenario.key == UPSTREAM:
        return True, f"{who} is set up as “{scenario.label}” ({evidence}): local 2FA is skipped"
    return False, f"{who} did not prove MFA ({evidence}); “{scenario.label}”: local 2FA is required"


def describe(provider: Provider) -> str:
    """One line for people pages: "Signs in through X — SSO only: ..."."""
    scenario = scenario_of(provider)
    return f"Signs in through {provider.display_name} — {scenario.label}: {scenario.words}."


def describe_user(db: "Session", config: "AppConfig", user: "User") -> str:
    """How `user` signs in and what that means for 2FA, in one sentence (Administration > Users: "why is
    (or isn't) this user asked for 2FA?"): their email domain's provider, else the providers their account
    is linked to, else local login."""
    import sqlalchemy as sa

    from idp.models import UpstreamIdentity

    routed = for_email(db, config, user.email)
    linked = [p for name in db.scalars(sa.select(UpstreamIdentity.provider).where(UpstreamIdentity.user_id == user.id))
              if (p := find(db, config, name)) is not None]
    chosen = routed or (linked[0] if linked else None)
    if chosen is None:
        return f"Signs in here ({LOCAL.label}): {LOCAL.words}."
    sentence = describe(chosen)
    if routed is not None and not routed.sso_only and user.password_hash is not None:
        sentence += " A Fentu password also works (local login: Fentu FSM 2FA applies in full)."
    return sentence
