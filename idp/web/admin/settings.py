"""Administration > Settings > Security: 2FA enforcement, grace period, methods, exempt list; rollout."""
from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, url_for

from idp.administration import settings as security
from idp.administration import users
from idp.administration.permissions import SECURITY_SETTINGS, AdminError
from idp.administration.settings import ConfirmationRequired, SecuritySettings
from idp.clock import now
from idp.web.context import db
from idp.wording import moment

from . import bp
from .common import admin_actor, done, fresh_proof_required, organisation, refused, requires, scope, stale_proof


def _page(values: SecuritySettings, *, error: str | None = None, confirm: ConfirmationRequired | None = None,
          status: int = 200) -> tuple[str, int]:
    org = organisation()
    counts = security.rollout(db(), org, now()).counts()
    return render_template("admin/settings_security.html", title="Security", org=org, values=values,
                           methods=security.methods(), method_labels=security.method_labels(), error=error,
                           confirm=confirm, warning=security.ZERO_GRACE_WARNING, counts=counts,
                           max_remember=security.MAX_REMEMBER_DAYS, remember_meaning=security.REMEMBER_MEANING,
                           enforced_since=org.enforced_since), status


def _settings_page() -> str:
    return url_for("admin.security_settings")


@bp.get("/settings/security")
@requires(SECURITY_SETTINGS)
def security_settings() -> tuple[str, int]:
    return _page(security.current(db(), organisation()))


@bp.post("/settings/security")
@requires(SECURITY_SETTINGS)
def security_settings_save() -> Response | tuple[str, int]:
    org = organisation()
    form = request.form
    try:
        new = security.from_form(form, form.getlist("allowed_methods"), keep=security.current(db(), org))
    except AdminError as exc:
        return _page(security.current(db(), org), error=str(exc), status=400)
    if security.weakenings(security.current(db(), org), new) and (stale := stale_proof(_settings_page)):
        return stale
    try:
        result = security.save(db(), org, new, admin_actor(), now=now(),
                               confirmed=form.get("confirm_zero_grace") == "yes")
    except ConfirmationRequired as needed:
        return _page(new, confirm=needed)
    except AdminError as exc:
        return _page(new, error=str(exc), status=400)
    done("Security settings saved." if result.changed else "Nothing changed.")
    return redirect(url_for("admin.security_settings"))


@bp.get("/settings/security/rollout")
@requires(SECURITY_SETTINGS)
def rollout() -> str:
    org = organisation()
    report = security.rollout(db(), org, now())
    shown = request.args.get("list", "not_enrolled")
    if shown not in security.Rollout.LISTS:
        abort(404)
    return render_template("admin/rollout.html", title="Two-factor authentication rollout", org=org, report=report,
                           shown=shown, entries=getattr(report, shown), counts=report.counts(),
                           max_days=security.MAX_EXTENSION_DAYS)


@bp.post("/users/<int:user_id>/grace")
@requires(SECURITY_SETTINGS)
@fresh_proof_required(lambda user_id: url_for("admin.user_detail", user_id=user_id))
def extend_grace(user_id: int) -> Response | tuple[str, int]:
    target = users.get(db(), scope(), user_id)
    back = (url_for("admin.rollout", list="not_enrolled") if request.form.get("back") == "rollout"
            else url_for("admin.user_detail", user_id=target.id))
    try:
        until = security.extend_grace(db(), target, request.form.get("days", ""), request.form.get("reason", ""),
                                      admin_actor(), now=now())
    except AdminError as exc:
        return refused("The grace period was not extended", str(exc), back)
    done(f"{target.email} now has until {moment(until)} to set up two-factor authentication.")
    return redirect(back)
