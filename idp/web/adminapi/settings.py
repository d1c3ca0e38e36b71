"""/api/v1/settings/security: the organisation's 2FA enforcement, grace period, methods, exempt lists and
"remember this browser", read and changed through idp.administration.settings (the console's rules)."""
from __future__ import annotations

from dataclasses import replace
from typing import Any

from flask import Response

from idp.adminapi import representation
from idp.adminapi.scopes import SETTINGS_WRITE
from idp.administration import settings as security
from idp.clock import now
from idp.models import Organisation
from idp.web.context import db

from . import bp
from .problems import ApiProblem, answer, json_object
from .protector import caller, requires

CONFIRM = "confirm_immediate_enforcement"


def _organisation() -> Organisation:
    return db().get(Organisation, caller().organisation_id)


def _number(value: Any, key: str) -> int:
    if isinstance(value, bool) or not isinstance(value, int):
        raise ApiProblem(400, f"{key}: expected a whole number.")
    return value


def _strings(value: Any, key: str) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(v, str) for v in value):
        raise ApiProblem(400, f"{key}: expected a list of strings.")
    return value


def _parsed(key: str, value: Any) -> Any:
    """One setting from JSON, checked by the same parsers as the console's form and `idp settings set`."""
    if key == "require_2fa":
        if not isinstance(value, bool):
            raise ApiProblem(400, "require_2fa: expected true or false.")
        return value
    if key == "grace_days":
        return security.parse_grace(_number(value, key))
    if key == "remember_browser_days":
        return security.parse_remember(_number(value, key))
    if key == "allowed_methods":
        if not _strings(value, key):
            raise ApiProblem(400, 'allowed_methods: give the methods to allow, or ["all"].')
        return security.parse_methods(value)
    if key == "exempt_users":
        return security.parse_emails(_strings(value, key))
    return security.parse_groups(_strings(value, key))


@bp.get("/settings/security")
@requires(SETTINGS_WRITE)
def security_get() -> Response:
    org = _organisation()
    return answer(representation.security_settings(security.current(db(), org), org))


@bp.patch("/settings/security")
@requires(SETTINGS_WRITE)
def security_update() -> Response:
    """Only the keys sent change. Turning on enforcement with no grace period needs
    "confirm_immediate_enforcement": true (409 otherwise, with how many users it would block)."""
    data = json_object({*security.KEYS, CONFIRM})
    confirmed = data.pop(CONFIRM, False)
    if not isinstance(confirmed, bool):
        raise ApiProblem(400, f"{CONFIRM}: expected true or false.")
    if not data:
        raise ApiProblem(400, f"Send at least one setting to change: {', '.join(security.KEYS)}.")
    org = _organisation()
    new = replace(security.current(db(), org), **{key: _parsed(key, value) for key, value in data.items()})
    result = security.save(db(), org, new, caller().actor, now=now(), confirmed=confirmed)
    return answer({**representation.security_settings(security.current(db(), org), org),
                   "changed": list(result.changed)})
