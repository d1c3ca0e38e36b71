"""Development-only pages (/dev/outbox); registered only when `development = true`, so 404 everywhere else."""
from flask import Blueprint

bp = Blueprint("dev", __name__, url_prefix="/dev")

from . import views  # noqa: E402,F401
