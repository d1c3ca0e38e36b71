"""The sign-in pages: each step of the flow pipeline rendered, posted and continued."""
from flask import Blueprint

bp = Blueprint("login", __name__)

from . import views  # noqa: E402,F401
