"""Administration home, and organisations (deployment operator only: list, switch to, create)."""
from __future__ import annotations

from flask import Response, abort, redirect, render_template, request, session, url_for

from idp.administration import directory, organisations, permissions
from idp.administration.permissions import AdminError
from idp.clock import now
from idp.web.context import db

from . import bp
from .common import ORG_KEY, admin_actor, done, organisation, scope


@bp.get("/")
def index() -> str:
    org = organisation()
    counts = directory.rollout_counts(db(), org, now()) if scope().can(permissions.USER_MANAGEMENT) else None
    return render_template("admin/index.html", title="Administration", org=org, counts=counts,
                           state_labels=directory.STATE_LABELS, filters=directory.FILTERS)


def _operator_only() -> None:
    if not scope().system:
        abort(403)


@bp.get("/organisations")
def organisations_page() -> str:
    _operator_only()
    return render_template("admin/organisations.html", title="Organisations",
                           orgs=organisations.list_all(db(), scope()), current=organisation(), form={}, error=None)


@bp.post("/organisations")
def organisations_create() -> Response | tuple[str, int]:
    _operator_only()
    form = request.form
    try:
        org = organisations.create(db(), scope(), form.get("slug", ""), form.get("name", ""), form.get("domains", ""),
                                   admin_actor(), now=now())
    except AdminError as exc:
        return render_template("admin/organisations.html", title="Organisations",
                               orgs=organisations.list_all(db(), scope()), current=organisation(), form=form,
                               error=str(exc)), 400
    done(f"Created organisation {org.name} ({org.slug}).")
    return redirect(url_for("admin.organisations_page"))


@bp.post("/organisations/switch")
def organisations_switch() -> Response:
    """Work on another organisation (the choice is kept in this browser's session)."""
    _operator_only()
    org = organisations.get(db(), scope(), request.form.get("organisation_id", ""))
    session[ORG_KEY] = org.id
    done(f"You are now administering {org.name}.")
    return redirect(url_for("admin.index"))
