"""The signed-in person's own pages: Profile > Security."""
from flask import Blueprint

bp = Blueprint("account", __name__, url_prefix="/account")

from . import enrol, manage, views  # noqa: E402,F401
