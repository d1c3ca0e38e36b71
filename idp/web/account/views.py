"""Profile > Security for the signed-in user."""
from __future__ import annotations

from flask import Response, redirect, render_template, url_for
from flask_login import current_user, login_required

from . import bp


@bp.get("/")
@login_required
def profile() -> Response:
    return redirect(url_for("account.security"))


@bp.get("/security")
@login_required
def security() -> str:
    return render_template("account/security.html", user=current_user)
