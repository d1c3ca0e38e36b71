"""The IdP's own small pages and assets: the root URL and each organisation's logo and theme stylesheet."""
from flask import Blueprint

bp = Blueprint("site", __name__)

from . import assets, root  # noqa: E402,F401
