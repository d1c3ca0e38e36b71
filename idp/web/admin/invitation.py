"""/invitation/<token>: an invited user chooses their own password (the link works once)."""
from __future__ import annotations

from flask import Response, render_template, request

from idp.admin import users
from idp.admin.users import InvitationError
from idp.clock import now
from idp.web.context import client_ip, db, services

from . import invitation_bp


@invitation_bp.get("/<token>")
def accept_page(token: str) -> tuple[str, int]:
    try:
        invitation = users.find_invitation(db(), token, now())
    except InvitationError as exc:
        return render_template("error.html", title="This link cannot be used", message=str(exc)), 404
    return render_template("admin/invitation.html", title="Choose your password", user=invitation.user, error=None,
                           minimum=services().config.passwords.min_length), 200


@invitation_bp.post("/<token>")
def accept(token: str) -> Response | tuple[str, int]:
    form = request.form
    try:
        user = users.accept_invitation(db(), services(), token, form.get("password", ""), form.get("confirm", ""),
                                       now=now(), ip=client_ip(), user_agent=request.headers.get("User-Agent"))
    except InvitationError as exc:
        if exc.args and exc.args[0] == users.INVALID_LINK:
            return render_template("error.html", title="This link cannot be used", message=str(exc)), 404
        invitation = users.find_invitation(db(), token, now())
        return render_template("admin/invitation.html", title="Choose your password", user=invitation.user,
                               error=str(exc), minimum=services().config.passwords.min_length), 400
    return render_template("admin/invitation_done.html", title="Your password is set", user=user), 200
