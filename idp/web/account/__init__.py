"""The signed-in person's own pages: Profile > Security."""
from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from . import browsers, email_check, enrol, keys, manage, password, views  # noqa: E402,F401
