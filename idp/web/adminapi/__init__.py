"""The administration API (/api/v1) for Fentu FSM's admin screens: OAuth 2.0 bearer tokens of the client
credentials grant, JSON in and out, errors as application/problem+json (RFC 9457); no cookies, no CSRF."""
from flask import Blueprint

bp = Blueprint("adminapi", __name__, url_prefix="/api/v1")

from . import audit_log, errors, openapi, protector, settings, users  # noqa: E402,F401
