"""The OpenAPI 3.1 description of the administration API (served at /api/v1/openapi.json): every path,
its scope, its bodies and answers, and the OAuth 2.0 client credentials security scheme."""
from __future__ import annotations

from typing import Any

from idp.administration.directory import FILTERS, SORTS, STATES

from . import scopes

PROBLEM = {"$ref": "#/components/responses/Problem"}


def _ref(name: str) -> dict[str, str]:
    return {"$ref": f"#/components/schemas/{name}"}


def _json(schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"description": description, "content": {"application/json": {"schema": schema}}}


def _body(schema: dict[str, Any], required: bool = True) -> dict[str, Any]:
    return {"required": required, "content": {"application/json": {"schema": schema}}}


def _operation(summary: str, scope: str, ok: dict[str, Any], *, code: str = "200", body: dict | None = None,
               parameters: list | None = None, extra: tuple[str, ...] = ()) -> dict[str, Any]:
    responses: dict[str, Any] = {code: ok, "400": PROBLEM, "401": PROBLEM, "403": PROBLEM, "429": PROBLEM}
    for status in extra:
        responses[status] = PROBLEM
    operation: dict[str, Any] = {"summary": summary, "description": f"Scope: `{scope}`.",
                                 "security": [{"oauth2": [scope]}], "responses": responses}
    if body is not None:
        operation["requestBody"] = body
    if parameters:
        operation["parameters"] = parameters
    return operation


def _query(name: str, schema: dict[str, Any], description: str) -> dict[str, Any]:
    return {"name": name, "in": "query", "required": False, "schema": schema, "description": description}


USER_ID = {"name": "user_id", "in": "path", "required": True, "schema": {"type": "integer"},
           "description": "The user's id (a user of another organisation is 404)."}
STAMP = {"type": ["string", "null"], "format": "date-time"}
STRINGS = {"type": "array", "items": {"type": "string"}}
REASON = {"type": "string", "maxLength": 500, "description": "Why; kept in the audit log."}


def _schemas() -> dict[str, Any]:
    user = {"type": "object", "required": ["id", "email", "name", "active", "password_set"], "properties": {
        "id": {"type": "integer"}, "email": {"type": "string", "format": "email"}, "name": {"type": "string"},
        "active": {"type": "boolean"}, "password_set": {"type": "boolean", "description": "False while invited"},
        "created_at": STAMP, "last_sign_in_at": STAMP,
        "two_factor_state": {"type": "string", "enum": list(STATES)}}}
    factor = {"type": "object", "properties": {"kind": {"type": "string"}, "label": {"type": "string"},
                                               "shown_as": {"type": "string"}, "added_at": STAMP,
                                               "last_used_at": STAMP}}
    detail = {"allOf": [_ref("User"), {"type": "object", "properties": {
        "two_factor": {"type": "object", "properties": {
            "enforcement": {"type": "string", "enum": ["off", "exempt", "grace", "required"]},
            "grace_days_left": {"type": ["integer", "null"]}, "factors": {"type": "array", "items": _ref("Factor")},
            "recovery_codes_left": {"type": "integer"}, "locked_until": STAMP, "exempt": {"type": "boolean"},
            "explanation": STRINGS}},
        "password": {"type": "object", "properties": {"failures": {"type": "integer"}, "locked": {"type": "boolean"}}},
        "active_sessions": {"type": "integer"}, "invitation_expires_at": STAMP}}]}
    settings_props = {"require_2fa": {"type": "boolean"}, "grace_days": {"type": "integer", "minimum": 0, "maximum": 365},
                      "allowed_methods": {**STRINGS, "description": 'Empty (or ["all"] when changing): every method'},
                      "exempt_users": {**STRINGS, "description": "Email addresses of users of the organisation"},
                      "exempt_groups": STRINGS,
                      "remember_browser_days": {"type": "integer", "minimum": 0, "maximum": 90}}
    return {
        "User": user, "Factor": factor, "UserDetail": detail,
        "UserPage": {"type": "object", "properties": {
            "users": {"type": "array", "items": _ref("User")}, "total": {"type": "integer"},
            "page": {"type": "integer"}, "pages": {"type": "integer"}, "limit": {"type": "integer"},
            "counts": {"type": "object", "additionalProperties": {"type": "integer"},
                       "description": "Active users by 2FA state, whatever the search"}}},
        "Invitation": {"type": "object", "properties": {"email": {"type": "string"}, "status": {"const": "invitation_sent"},
                                                        "detail": {"type": "string"}}},
        "ResetResult": {"type": "object", "properties": {"factors_removed": STRINGS,
                                                         "recovery_codes_removed": {"type": "integer"},
                                                         "sessions_ended": {"type": "integer"},
                                                         "user_notified": {"type": "boolean"}}},
        "SecuritySettings": {"type": "object", "properties": {**settings_props, "enforced_since": STAMP,
                                                              "changed": STRINGS}},
        "SecuritySettingsChange": {"type": "object", "additionalProperties": False, "minProperties": 1, "properties": {
            **settings_props, "confirm_immediate_enforcement": {
                "type": "boolean", "description": "Needed to turn on enforcement with no grace period (else 409)"}}},
        "AuditEntry": {"type": "object", "properties": {
            "seq": {"type": "integer"}, "at": STAMP, "event": {"type": "string"}, "outcome": {"type": "string"},
            "actor": {"type": "string"}, "target": {"type": ["string", "null"]},
            "target_user_id": {"type": ["integer", "null"]}, "ip": {"type": ["string", "null"]},
            "details": {"type": "object"}, "sentence": {"type": "string"}, "reason": {"type": ["string", "null"]}}},
        "AuditPage": {"type": "object", "properties": {
            "entries": {"type": "array", "items": _ref("AuditEntry")}, "total": {"type": "integer"},
            "page": {"type": "integer"}, "pages": {"type": "integer"}, "limit": {"type": "integer"}}},
        "Problem": {"type": "object", "required": ["type", "title", "status", "detail"], "properties": {
            "type": {"type": "string"}, "title": {"type": "string"}, "status": {"type": "integer"},
            "detail": {"type": "string"}, "instance": {"type": "string"},
            "error": {"type": "string", "description": "RFC 6750 error code on 401/403"},
            "scope": {"type": "string"}, "blocked_users": {"type": "integer"}}},
    }


def _paths() -> dict[str, Any]:
    page = _query("page", {"type": "integer", "minimum": 1}, "Page number, from 1")
    return {
        "/users": {
            "get": _operation("List and search users with their 2FA state", scopes.USERS_READ,
                              _json(_ref("UserPage"), "One page of users"), parameters=[
                                  _query("q", {"type": "string", "maxLength": 200}, "Part of the name or email"),
                                  _query("state", {"type": "string", "enum": list(FILTERS)}, "Only users in this 2FA state"),
                                  _query("sort", {"type": "string", "enum": [*SORTS, *(f"-{s}" for s in SORTS)]},
                                         "Order; '-' first for descending"),
                                  page, _query("limit", {"type": "integer", "minimum": 1, "maximum": 100}, "Per page")]),
            "post": _operation("Create a user and email them an invitation to choose a password", scopes.USERS_WRITE,
                               _json(_ref("Invitation"), "Invited (the same answer for an address that has an "
                                                         "account in another organisation: its owner is told)"),
                               code="202", body=_body({"type": "object", "required": ["email"],
                                                       "additionalProperties": False, "properties": {
                                                           "email": {"type": "string", "format": "email"},
                                                           "name": {"type": "string", "maxLength": 200}}})),
        },
        "/users/{user_id}": {
            "parameters": [USER_ID],
            "get": _operation("A user with their second factors and 2FA enforcement", scopes.USERS_READ,
                              _json(_ref("UserDetail"), "The user"), extra=("404",)),
            "patch": _operation("Disable (signs them out everywhere) or enable a user", scopes.USERS_WRITE,
                                _json(_ref("UserDetail"), "The user after the change"), extra=("404",),
                                body=_body({"type": "object", "required": ["active"], "additionalProperties": False,
                                            "properties": {"active": {"type": "boolean"},
                                                           "reason": {**REASON, "description": "Required to disable"}}})),
        },
        "/users/{user_id}/reset-2fa": {
            "parameters": [USER_ID],
            "post": _operation("Reset the user's two-factor authentication", scopes.TWO_FACTOR_RESET,
                               _json(_ref("ResetResult"), "What was removed"), extra=("404",),
                               body=_body({"type": "object", "required": ["reason"], "additionalProperties": False,
                                           "properties": {"reason": REASON}})),
        },
        "/users/{user_id}/unlock": {
            "parameters": [USER_ID],
            "post": _operation("Lift the user's second-factor and password locks", scopes.USERS_WRITE,
                               _json({"type": "object", "properties": {"was_locked": {"type": "boolean"}}}, "Unlocked"),
                               extra=("404",), body=_body({"type": "object", "additionalProperties": False,
                                                           "properties": {"reason": REASON}}, required=False)),
        },
        "/settings/security": {
            "get": _operation("The organisation's security settings", scopes.SETTINGS_WRITE,
                              _json(_ref("SecuritySettings"), "The settings")),
            "patch": _operation("Change some security settings", scopes.SETTINGS_WRITE,
                                _json(_ref("SecuritySettings"), "The settings after the change"),
                                body=_body(_ref("SecuritySettingsChange")), extra=("409",)),
        },
        "/audit": {
            "get": _operation("The organisation's audit log, newest first", scopes.AUDIT,
                              _json(_ref("AuditPage"), "One page of entries"), parameters=[
                                  _query("event", {"type": "string"}, "Only this event, e.g. second_factor_reset"),
                                  _query("person", {"type": "string"}, "Entries by or about this email address"),
                                  _query("since", {"type": "string"}, "From this day (YYYY-MM-DD, UTC) or time (ISO 8601)"),
                                  _query("until", {"type": "string"}, "Up to this day (inclusive) or time (exclusive)"),
                                  page, _query("limit", {"type": "integer", "minimum": 1, "maximum": 200}, "Per page")]),
        },
        "/openapi.json": {
            "get": {"summary": "This description", "security": [],
                    "responses": {"200": _json({"type": "object"}, "The OpenAPI description")}},
        },
    }


def openapi(issuer: str, version: str = "1") -> dict[str, Any]:
    """The description for the deployment at `issuer`."""
    return {
        "openapi": "3.1.0",
        "info": {"title": "Fentu IdP administration API", "version": version,
                 "description": "Users, their two-factor authentication, security settings and the audit log of "
                                "the organisation the client belongs to. Errors are application/problem+json "
                                "(RFC 9457). Every call is in the organisation's audit log, by the client."},
        "servers": [{"url": f"{issuer.rstrip('/')}/api/v1"}],
        "security": [{"oauth2": []}],
        "paths": _paths(),
        "components": {
            "securitySchemes": {"oauth2": {"type": "oauth2", "description": "The client credentials grant with "
                                           "the scopes an administrator granted the client",
                                           "flows": {"clientCredentials": {
                                               "tokenUrl": f"{issuer.rstrip('/')}/token",
                                               "scopes": {name: scopes.describe(name) for name in scopes.NAMES}}}}},
            "schemas": _schemas(),
            "responses": {"Problem": {"description": "The problem, with a detail saying what to change",
                                      "content": {"application/problem+json": {"schema": _ref("Problem")}}}},
        },
    }
