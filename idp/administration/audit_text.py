"""The audit log in sentences: "Ada Admin reset Una User's two-factor authentication — reason: lost phone
(ticket #42)". One template per event; an event without one still reads as a sentence, never as JSON."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.factors import registry
from idp.models import AuditEvent, User

# {actor} did something to {target} (a person, client, provider or organisation); {x} = a detail
SENTENCES: dict[str, str] = {
    "admin_fresh_proof_required": "{actor} was asked to confirm it's them before changing {target_own} security",
    "invitation_blocked": "Someone tried to invite {target}, who has an account here, to another organisation",
    "outbox_job_dead": "A message could not be delivered after every retry",
    "scim_token_created": "{actor} created a provisioning token",
    "scim_token_revoked": "{actor} revoked a provisioning token",
    "session_refused": "{target_s} earlier sign-in was refused: it no longer meets the security settings",
    "user_deleted": "{actor} deleted {target}",
    "sign_in": "{actor} signed in{via}",
    "sign_in_attempt": "{actor} tried to sign in{via}",
    "federated_sign_in": "{actor} signed in through {provider}",
    "step_up": "{actor} confirmed it's them{via}",
    "second_factor_enrolled": "{actor} set up {method} for {target_own}",
    "second_factor_removed": "{actor} removed {method} from {target_own}",
    "second_factor_renamed": "{actor} renamed a security key of {target_own}",
    "second_factor_failure": "{target} entered a wrong {method} code",
    "second_factor_locked": "{target}'s second factor was locked after too many wrong codes",
    "second_factor_reset": "{actor} reset {target_s} two-factor authentication",
    "recovery_code_used": "{target} signed in with a recovery code",
    "recovery_codes_regenerated": "{actor} created new recovery codes for {target_own}",
    "totp_clock_drift": "{target}'s authenticator app clock is off",
    "webauthn_refused": "A security key was refused for {target}",
    "webauthn_foreign_credential": "A security key of another account was offered for {target}",
    "webauthn_sign_count_regression": "A possibly cloned security key was refused for {target}",
    "password_changed": "{actor} changed {target_own} password",
    "password_change_refused": "{actor} could not change {target_own} password",
    "password_reset_requested": "{actor} asked for a password reset link for {target}",
    "password_reset": "{target} chose a new password with a reset link",
    "password_locked": "{target}'s password sign-in was locked after too many wrong passwords",
    "email_change_requested": "{actor} asked to change the email address of {target}",
    "email_changed": "{actor} changed the email address of {target}",
    "email_verification_sent": "A verification email was sent to {target}",
    "email_verification_refused": "An email verification link for {target} was refused",
    "email_verified": "{target} verified their email address",
    "session_ended": "{actor} signed out one of {target_own} sessions",
    "sessions_ended": "{actor} signed out {target_own} other sessions",
    "remembered_browser_forgotten": "{actor} made a browser ask for {target_own} second factor again",
    "user_created": "{actor} created the account {target}",
    "user_invited": "{actor} invited {target}",
    "invitation_accepted": "{target} accepted the invitation and chose a password",
    "users_imported": "{actor} imported {count} users",
    "user_disabled": "{actor} disabled {target_s} account",
    "user_enabled": "{actor} enabled {target_s} account",
    "user_unlocked": "{actor} unlocked {target_s} account",
    "grace_period_extended": "{actor} gave {target} {days} more to set up two-factor authentication",
    "group_member_added": "{actor} added {target} to group {group}",
    "group_member_removed": "{actor} removed {target} from group {group}",
    "admin_permission_granted": "{actor} gave {target} the {permission} permission",
    "admin_permission_revoked": "{actor} took the {permission} permission from {target}",
    "security_settings_changed": "{actor} changed the security settings ({changed})",
    "branding_changed": "{actor} changed the branding ({changed})",
    "client_created": "{actor} registered the application {target}",
    "client_updated": "{actor} changed the application {target}",
    "client_enabled": "{actor} enabled the application {target}",
    "client_disabled": "{actor} disabled the application {target}",
    "client_secret_rotated": "{actor} rotated the secret of the application {target}",
    "backchannel_logout_failed": "The application {target} could not be told that a session ended "
                                 "(back-channel logout: it never answered)",
    "sso_provider_created": "{actor} added the sign-in provider {target}",
    "sso_provider_changed": "{actor} changed the sign-in provider {target}",
    "sso_provider_deleted": "{actor} removed the sign-in provider {target}",
    "sso_provider_checked": "{actor} tested the sign-in provider {target}",
    "organisation_created": "{actor} created the organisation {target}",
    "signing_keys_rotated": "{actor} rotated the token signing keys",
    "audit_exported": "{actor} exported the audit log as {format}",
    "client_api_scopes_changed": "{actor} changed what the application {target} may do through the administration API",
    "admin_api_request": "{actor} used the administration API",
}
FAILED = {"sign_in": "{actor} could not sign in", "federated_sign_in": "{actor} could not sign in through {provider}",
          "step_up": "{actor} could not confirm it's them"}
METHODS = {"passkey": "a passkey"}   # beside the factor types' own phrases (idp.factors.registry)
SETTINGS = {"require_2fa": "Require Two-Factor Authentication", "grace_days": "grace period",
            "allowed_methods": "allowed methods", "exempt_users": "exempt users", "exempt_groups": "exempt groups",
            "remember_browser_days": "remember this browser", "display_name": "display name",
            "accent_colour": "accent colour", "logo": "logo"}
AMR = {"pwd": "password", "otp": "one-time code", "hwk": "security key", "swk": "passkey", "sms": "text message",
       "mail": "email code", "fed": "single sign-on", "user": None, "mfa": None, "pin": None}
ANONYMOUS = "Someone"


@dataclass(frozen=True)
class Line:
    entry: AuditEvent
    sentence: str
    reason: str | None


def _email(actor: str) -> str | None:
    kind, _, rest = actor.partition(":")
    return rest if kind == "user" and rest else None


def names_for(db: Session, entries: Iterable[AuditEvent]) -> dict[str, str]:
    """Display names of the people the entries mention, in one query (email → name)."""
    emails = {e for entry in entries for e in (_email(entry.actor), entry.target) if e and "@" in e}
    if not emails:
        return {}
    rows = db.execute(sa.select(User.email, User.name).where(User.email.in_(emails)))
    return {email: name for email, name in rows if name}


def _person(email: str | None, names: dict[str, str]) -> str:
    if not email:
        return ANONYMOUS
    return names.get(email) or email


def _actor(actor: str, names: dict[str, str]) -> str:
    kind, _, rest = actor.partition(":")
    if kind == "user":
        return _person(rest, names)
    if kind == "cli":
        return f"An operator ({rest or 'command line'})"
    if kind == "system":
        return "The system"
    if kind == "client" and rest:
        return f"The application {rest}"
    return ANONYMOUS


def _possessive(name: str) -> str:
    return f"{name}'" if name.endswith("s") else f"{name}'s"


def _values(entry: AuditEvent, names: dict[str, str]) -> dict[str, Any]:
    details = entry.details or {}
    actor_email = _email(entry.actor)
    target = _person(entry.target, names) if entry.target and "@" in entry.target else (entry.target or "")
    own = "their" if actor_email and actor_email == entry.target else _possessive(target or ANONYMOUS)
    days = details.get("days")
    changed = [SETTINGS.get(c, c.replace("_", " ")) for c in details.get("changed") or []]
    method = details.get("kind") or details.get("method") or details.get("factor")
    via = details.get("method") or details.get("amr")
    if isinstance(via, list):
        via = [AMR.get(v, v) for v in via if AMR.get(v, v)]
    elif via:
        via = _method(str(via)) or str(via)
    return {
        "actor": _actor(entry.actor, names), "target": target or "an unknown account",
        "target_s": _possessive(target or "an unknown account"),
        "target_own": "their own" if own == "their" else own,
        "method": (_method(str(method)) or "a second factor") if method else "a second factor",
        "via": f" with {' and '.join(via) if isinstance(via, list) else via}" if via else "",
        "provider": details.get("provider") or entry.target or "an upstream provider",
        "days": f"{days} day{'' if days == 1 else 's'}" if days is not None else "more time",
        "group": details.get("group") or details.get("name") or "?",
        "permission": str(details.get("permission") or "an administrative").replace("_", " "),
        "changed": ", ".join(changed) if changed else "no change",
        "count": details.get("count") or details.get("created") or "several",
        "format": str(details.get("format") or "a file").upper(),
    }


def _method(name: str) -> str | None:
    return registry.in_a_sentence(name) or METHODS.get(name)


def describe(entry: AuditEvent, names: dict[str, str]) -> Line:
    """The entry as one sentence, with the administrator's stated reason apart."""
    values = _values(entry, names)
    failed = bool(entry.outcome) and entry.outcome != "success"
    template = FAILED.get(entry.event) if failed else None
    template = template or SENTENCES.get(entry.event)
    if template is None:
        words = entry.event.replace("_", " ")
        template = "{actor}: " + words + (" ({target})" if entry.target else "")
    sentence = template.format(**values)
    sentence = sentence[:1].upper() + sentence[1:]
    if failed and entry.event not in FAILED and entry.event != "sign_in_attempt":
        sentence += f" ({entry.outcome})"
    reason = (entry.details or {}).get("reason")
    return Line(entry, sentence, str(reason) if reason else None)


def describe_all(db: Session, entries: list[AuditEvent]) -> list[Line]:
    names = names_for(db, entries)
    return [describe(entry, names) for entry in entries]
