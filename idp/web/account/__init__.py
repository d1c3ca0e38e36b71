"""The signed-in person's own pages: Profile > Security."""
from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from . import email_check, enrol, keys, manage, password, sessions, views  # noqa: E402,F401
