"""Administration > Settings > Provisioning: the organisation's SCIM tokens — list, create (shown once), revoke."""
from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for

from idp.administration.permissions import USER_MANAGEMENT
from idp.clock import now
from idp.provisioning import tokens
from idp.web.context import db, services

from . import bp
from .common import admin_actor, done, organisation, refused, requires, scope


def _base_url() -> str:
    return services().config.issuer.rstrip("/") + "/scim/v2"


def _page(error: str | None = None, name: str = "", status: int = 200) -> tuple[str, int]:
    return render_template("admin/provisioning.html", title="Provisioning", org=organisation(),
                           tokens=tokens.listing(db(), scope().organisation_id), base_url=_base_url(), error=error,
                           name=name), status


@bp.get("/settings/provisioning")
@requires(USER_MANAGEMENT)
def provisioning() -> tuple[str, int]:
    return _page()


@bp.post("/settings/provisioning/tokens")
@requires(USER_MANAGEMENT)
def provisioning_token_create() -> tuple[str, int]:
    name = request.form.get("name", "")
    try:
        row, token = tokens.create(db(), scope().organisation_id, name, admin_actor(), now=now())
    except tokens.TokenError as exc:
        return _page(error=str(exc), name=name, status=400)
    return render_template("admin/provisioning_token.html", title="Provisioning token", org=organisation(),
                           row=row, token=token, base_url=_base_url()), 200


@bp.post("/settings/provisioning/tokens/<int:token_id>/revoke")
@requires(USER_MANAGEMENT)
def provisioning_token_revoke(token_id: int) -> Response | tuple[str, int]:
    try:
        row = tokens.find(db(), scope().organisation_id, token_id)
        revoked = tokens.revoke(db(), scope().organisation_id, token_id, admin_actor(), now=now())
    except tokens.TokenError as exc:
        return refused("The token was not revoked", str(exc), url_for("admin.provisioning"), status=404)
    done(f"The token {row.name} is revoked: it stopped working." if revoked else f"{row.name} was already revoked.")
    return redirect(url_for("admin.provisioning"))
