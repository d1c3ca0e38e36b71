"""Administration > Settings > Single Sign-On: the organisation's upstream identity providers."""
from flask import Blueprint

bp = Blueprint("admin_sso", __name__, url_prefix="/admin/settings/sso")

from . import views  # noqa: E402,F401
