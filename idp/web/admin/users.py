"""Administration > Users: list and search, detail, reset two-factor authentication, unlock,
disable/enable, create (invitation) and resend an invitation."""
from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for

from idp import accounts
from idp.administration import directory, users
from idp.administration.permissions import SECURITY_SETTINGS, USER_MANAGEMENT, AdminError
from idp.clock import now
from idp.enforcement import has_second_factor
from idp.web.context import db, services
from idp.web.login.start import start_login

from . import bp
from .common import (
    admin,
    admin_actor,
    browser_session,
    confirm_page,
    done,
    fresh_proof_required,
    organisation,
    refused,
    requires,
    safe_back,
    scope,
)


@bp.get("/users")
@requires(USER_MANAGEMENT)
def users_list() -> str:
    org = organisation()
    result = directory.search(db(), scope(), org, directory.Query.from_args(request.args), now())
    return render_template("admin/users.html", title="Users", org=org, result=result,
                           state_labels=directory.STATE_LABELS, filters=directory.FILTERS,
                           sort_labels=directory.SORT_LABELS)


@bp.get("/users/new")
@requires(USER_MANAGEMENT)
def user_new() -> str:
    return render_template("admin/user_new.html", title="Create user", org=organisation(), form={}, error=None,
                           mail_enabled=services().mailer.enabled)


@bp.post("/users/new")
@requires(USER_MANAGEMENT)
def user_create() -> Response | tuple[str, int]:
    form = request.form
    try:
        user = users.invite(db(), services(), scope(), form.get("email", ""), form.get("name", ""), admin_actor(),
                            now=now())
    except AdminError as exc:
        return render_template("admin/user_new.html", title="Create user", org=organisation(), form=form,
                               error=str(exc), mail_enabled=services().mailer.enabled), 400
    # the same answer whether or not the address has an account elsewhere (its owner is told instead)
    address = user.email if user is not None else accounts.checked_email(form.get("email", ""))
    done(f"An invitation to choose a password was emailed to {address}.")
    return redirect(url_for("admin.users_list", q=address))


@bp.get("/users/<int:user_id>")
@requires(USER_MANAGEMENT)
def user_detail(user_id: int) -> str:
    target = users.get(db(), scope(), user_id)
    info = users.detail(db(), target, now(), services().config)
    return render_template("admin/user.html", title=target.email, org=organisation(), info=info, target=target,
                           is_self=target.id == admin().id, can_extend=scope().can(SECURITY_SETTINGS))


def _back(user_id: int) -> str:
    return url_for("admin.user_detail", user_id=user_id)


# --- Reset Two-Factor Authentication --------------------------------------------------------------------

def _fresh() -> bool:
    return users.recently_proved(db(), admin(), browser_session(), now())


@bp.get("/users/<int:user_id>/reset-2fa")
@requires(USER_MANAGEMENT)
def reset_confirm(user_id: int) -> str:
    target = users.get(db(), scope(), user_id)
    info = users.detail(db(), target, now(), services().config)
    return render_template("admin/reset.html", title="Reset Two-Factor Authentication", org=organisation(),
                           target=target, info=info, fresh=_fresh(), is_self=target.id == admin().id,
                           has_factor=has_second_factor(db(), admin()), error=None, reason="",
                           minutes=int(users.REPROOF_WINDOW.total_seconds() // 60))


@bp.post("/users/<int:user_id>/reset-2fa")
@requires(USER_MANAGEMENT)
def reset_submit(user_id: int) -> Response | tuple[str, int]:
    target = users.get(db(), scope(), user_id)
    if not _fresh():
        done("For your protection, confirm it's you first. Then confirm the reset again.")
        return redirect(url_for("admin.reset_confirm", user_id=target.id))
    if request.form.get("confirm_reset") != "yes":
        return _reset_refused(target, "Tick the box to confirm the reset.")
    try:
        result = users.reset_2fa(db(), services(), scope(), target, request.form.get("reason", ""), admin_actor(),
                                 now=now())
    except AdminError as exc:
        return _reset_refused(target, str(exc))
    removed = len(result.factors_removed)
    done(f"Two-factor authentication of {target.email} was reset: {removed} second factor"
         f"{'' if removed == 1 else 's'} and {result.recovery_codes_removed} recovery code"
         f"{'' if result.recovery_codes_removed == 1 else 's'} removed, signed out of {result.sessions_ended} "
         f"session{'' if result.sessions_ended == 1 else 's'}. "
         + ("They were notified by email." if result.notified else
            "They could not be notified by email: tell them yourself.")
         + " They will be asked to set up a new second factor at their next sign-in"
         + (" (2FA is required in this organisation)." if target.organisation.require_2fa else "."))
    return redirect(_back(target.id))


def _reset_refused(target, message: str) -> tuple[str, int]:  # noqa: ANN001
    info = users.detail(db(), target, now(), services().config)
    return render_template("admin/reset.html", title="Reset Two-Factor Authentication", org=organisation(),
                           target=target, info=info, fresh=True, is_self=target.id == admin().id,
                           has_factor=has_second_factor(db(), admin()), error=message,
                           reason=request.form.get("reason", ""),
                           minutes=int(users.REPROOF_WINDOW.total_seconds() // 60)), 400


@bp.get("/confirm")
def confirm() -> Response | tuple[str, int]:
    """"Confirm it's you" before an action that weakens someone's security (common.fresh_proof_required);
    already fresh: straight back."""
    back = safe_back(request.args.get("next"))
    if _fresh():
        return redirect(back)
    return confirm_page("This changes another person's security, so it needs a fresh proof that it is you.",
                        back=back)


@bp.post("/reauth")
def reauth() -> Response:
    """"Confirm it's you": run the sign-in flow again for the signed-in administrator, then come back.
    The password counts as proved and the second factor is asked for, as the MFA level (acr_values) so that
    a remembered browser does not skip it (administrators always have one: common._guard)."""
    back = safe_back(request.form.get("next", ""))
    person = admin()
    prior = ["pwd"] if has_second_factor(db(), person) else []
    params = {"next": back, "acr_values": services().config.policy.acr_mfa}
    return start_login(params, None, session_user=person, prior_amr=prior, purpose="account")


# --- unlock, disable, enable, invitation ----------------------------------------------------------------

@bp.post("/users/<int:user_id>/unlock")
@requires(USER_MANAGEMENT)
@fresh_proof_required(_back)
def user_unlock(user_id: int) -> Response | tuple[str, int]:
    target = users.get(db(), scope(), user_id)
    try:
        users.unlock(db(), scope(), target, request.form.get("reason", ""), admin_actor(), now=now())
    except AdminError as exc:
        return refused("The account was not unlocked", str(exc), _back(target.id))
    done(f"{target.email} is unlocked.")
    return redirect(_back(target.id))


@bp.post("/users/<int:user_id>/disable")
@requires(USER_MANAGEMENT)
@fresh_proof_required(_back)
def user_disable(user_id: int) -> Response | tuple[str, int]:
    return _set_active(user_id, False)


@bp.post("/users/<int:user_id>/enable")
@requires(USER_MANAGEMENT)
@fresh_proof_required(_back)
def user_enable(user_id: int) -> Response | tuple[str, int]:
    return _set_active(user_id, True)


def _set_active(user_id: int, active: bool) -> Response | tuple[str, int]:
    target = users.get(db(), scope(), user_id)
    try:
        changed = users.set_active(db(), scope(), target, active, request.form.get("reason", ""), admin_actor(),
                                   now=now())
    except AdminError as exc:
        return refused(f"The account was not {'enabled' if active else 'disabled'}", str(exc), _back(target.id))
    state = "enabled" if active else "disabled and signed out everywhere"
    already = "enabled" if active else "disabled"
    done(f"{target.email} is {state}." if changed else f"{target.email} already was {already}.")
    return redirect(_back(target.id))


@bp.post("/users/<int:user_id>/invite")
@requires(USER_MANAGEMENT)
def user_reinvite(user_id: int) -> Response | tuple[str, int]:
    target = users.get(db(), scope(), user_id)
    try:
        users.resend_invitation(db(), services(), scope(), target, admin_actor(), now=now())
    except AdminError as exc:
        return refused("The invitation was not sent", str(exc), _back(target.id))
    done(f"A new invitation was emailed to {target.email}; earlier links no longer work.")
    return redirect(_back(target.id))


