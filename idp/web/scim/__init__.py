"""The SCIM 2.0 API (/scim/v2, RFC 7644) for Entra ID, Okta and other identity platforms: bearer tokens,
JSON in and out (application/scim+json), no cookies, no CSRF (the token is the credential)."""
from flask import Blueprint

bp = Blueprint("scim", __name__, url_prefix="/scim/v2")

from . import protocol, views  # noqa: E402,F401
