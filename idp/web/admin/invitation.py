"""/invitation/<token>: an invited user chooses their own password (the link works once)."""
from __future__ import annotations

from flask import Response, render_template, request

from idp.administration import users
from idp.administration.users import InvitationError
from idp.clock import now
from idp.enforcement import has_second_factor
from idp.models import User
from idp.web.context import client_ip, db, services

from . import invitation_bp


def password_rule(user: User) -> tuple[int, str]:
    """The minimum length check_new_password (idp.security.password_policy) will apply to this account,
    and the rule in words, shown before typing: the longer minimum while the password is its only factor."""
    config = services().config.passwords
    single = not has_second_factor(db(), user)
    minimum = config.min_length_single_factor if single else config.min_length
    why = " (your password is your only way to sign in for now, so it must be long)" if single and \
        config.min_length_single_factor > config.min_length else ""
    return minimum, (f"At least {minimum} characters{why}. Not a common password, not built from your email "
                     "address. A few unrelated words make a good one.")


def _page(invitation_user: User, error: str | None, status: int) -> tuple[str, int]:
    minimum, rule = password_rule(invitation_user)
    return render_template("admin/invitation.html", title="Choose your password", user=invitation_user,
                           error=error, minimum=minimum, rule=rule), status


@invitation_bp.get("/<token>")
def accept_page(token: str) -> tuple[str, int]:
    try:
        invitation = users.find_invitation(db(), token, now())
    except InvitationError as exc:
        return render_template("error.html", title="This link cannot be used", message=str(exc)), 404
    return _page(invitation.user, None, 200)


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
        return _page(invitation.user, str(exc), 400)
    return render_template("admin/invitation_done.html", title="Your password is set", user=user), 200
