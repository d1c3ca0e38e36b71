"""The administration API's JSON shapes of users, their 2FA detail, security settings and audit entries
(the same facts the console shows; never a secret)."""
from __future__ import annotations

from datetime import datetime
from typing import Any

from idp.administration.audit_text import Line
from idp.administration.directory import Directory
from idp.administration.settings import SecuritySettings
from idp.administration.users import ResetResult, UserDetail
from idp.models import Organisation, User


def when(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def user_summary(user: User, state: str | None = None) -> dict[str, Any]:
    body = {"id": user.id, "email": user.email, "name": user.name or "", "active": bool(user.is_active),
            "password_set": user.password_hash is not None, "created_at": when(user.created_at),
            "last_sign_in_at": when(user.last_login_at)}
    if state is not None:
        body["two_factor_state"] = state
    return body


def directory_page(result: Directory, limit: int) -> dict[str, Any]:
    return {"users": [user_summary(row.user, row.state) for row in result.rows], "total": result.total,
            "page": result.page, "pages": result.pages, "limit": limit, "counts": result.counts}


def user_detail(info: UserDetail) -> dict[str, Any]:
    body = user_summary(info.user)
    body["two_factor"] = {
        "enforcement": info.enforcement.state.value, "grace_days_left": info.enforcement.days_left,
        "factors": [{"kind": f.kind, "label": f.label, "shown_as": f.shown_as, "added_at": when(f.added),
                     "last_used_at": when(f.last_used)} for f in info.factors],
        "recovery_codes_left": info.recovery_codes_left, "locked_until": when(info.locked_until),
        "exempt": bool(info.user.exempt_from_2fa), "explanation": list(info.explanation)}
    body["password"] = {"failures": info.password_failures, "locked": info.password_locked}
    body["active_sessions"] = info.active_sessions
    body["invitation_expires_at"] = when(info.invitation.expires_at) if info.invitation else None
    return body


def reset_result(result: ResetResult) -> dict[str, Any]:
    return {"factors_removed": list(result.factors_removed), "recovery_codes_removed": result.recovery_codes_removed,
            "sessions_ended": result.sessions_ended, "user_notified": result.notified}


def security_settings(values: SecuritySettings, org: Organisation) -> dict[str, Any]:
    return {**values.as_dict(), "enforced_since": when(org.enforced_since)}


def audit_line(line: Line) -> dict[str, Any]:
    entry = line.entry
    return {"seq": entry.seq, "at": when(entry.at), "event": entry.event, "outcome": entry.outcome,
            "actor": entry.actor, "target": entry.target, "target_user_id": entry.target_user_id,
            "ip": entry.ip, "details": entry.details or {}, "sentence": line.sentence, "reason": line.reason}
