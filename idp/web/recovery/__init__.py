"""Account recovery pages reached from emails or the sign-in page: /forgot-password,
/reset-password/<token>, /verify-email/<token>."""
from flask import Blueprint

bp = Blueprint("recovery", __name__)

from . import views  # noqa: E402,F401
