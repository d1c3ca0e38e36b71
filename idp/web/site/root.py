"""The root URL: signed in → Profile > Security; otherwise a short page that says what this server is."""
from __future__ import annotations

from flask import Response, redirect, render_template, url_for
from flask_login import current_user

from . import bp


@bp.get("/")
def root() -> Response | str:
    if current_user.is_authenticated:
        return redirect(url_for("account.security"))
    return render_template("home.html", title="Sign-in service")
