"""The OpenID Connect endpoints: authorize, token, userinfo, revocation, introspection, logout, discovery."""
from flask import Blueprint

bp = Blueprint("oauth", __name__)

from . import authorize, discovery, endpoints, logout  # noqa: E402,F401
