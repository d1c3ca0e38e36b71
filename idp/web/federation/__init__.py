"""Signing in through an upstream provider: choosing one, and the provider's answer (the callback)."""
from flask import Blueprint

bp = Blueprint("federation", __name__)

from . import views  # noqa: E402,F401
