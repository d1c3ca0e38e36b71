"""Administration > Settings > Branding: the organisation's display name, accent colour and logo."""
from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for

from idp.administration import branding
from idp.administration.branding import BrandingError
from idp.administration.permissions import SECURITY_SETTINGS
from idp.clock import now
from idp.web.context import db

from . import bp
from .common import admin_actor, done, organisation, requires


def _page(*, form: dict | None = None, error: BrandingError | None = None, status: int = 200) -> tuple[str, int]:
    org = organisation()
    row = branding.of(db(), org)
    values = form if form is not None else {"display_name": row.display_name if row else "",
                                            "accent_colour": (row.accent_colour or "") if row else ""}
    return render_template("admin/settings_branding.html", title="Branding", org=org, row=row, values=values,
                           error=error, default_accent=branding.DEFAULT_ACCENT,
                           max_kb=branding.MAX_LOGO_BYTES // 1024, max_px=branding.MAX_LOGO_PIXELS), status


@bp.get("/settings/branding")
@requires(SECURITY_SETTINGS)
def branding_settings() -> tuple[str, int]:
    return _page()


@bp.post("/settings/branding")
@requires(SECURITY_SETTINGS)
def branding_save() -> Response | tuple[str, int]:
    form = request.form
    upload = request.files.get("logo")
    data = upload.read(branding.MAX_LOGO_BYTES + 1) if upload and upload.filename else None
    try:
        changed = branding.save(db(), organisation(), admin_actor(), display_name=form.get("display_name"),
                                accent_colour=form.get("accent_colour"), logo=data,
                                remove_logo=form.get("remove_logo") == "yes", now=now())
    except BrandingError as exc:
        return _page(form={"display_name": form.get("display_name", ""),
                           "accent_colour": form.get("accent_colour", "")}, error=exc, status=400)
    done("Branding saved." if changed else "Nothing changed.")
    return redirect(url_for("admin.branding_settings"))
