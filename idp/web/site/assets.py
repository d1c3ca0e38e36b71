"""An organisation's logo (PNG re-encoded on upload) and theme stylesheet (its accent colour), served by
the IdP itself with caching headers; versioned URLs (`?v=`) may be cached for a year."""
from __future__ import annotations

import sqlalchemy as sa
from flask import Response, abort, request
from sqlalchemy.orm import undefer

from idp.administration.branding import COLOUR
from idp.models import Organisation, OrganisationBranding
from idp.web.context import db

from . import bp

YEAR = 365 * 24 * 3600
SHORT = 300


def _branding(slug: str) -> OrganisationBranding:
    org = db().scalar(sa.select(Organisation).where(Organisation.slug == slug))
    row = db().get(OrganisationBranding, org.id, options=[undefer(OrganisationBranding.logo_png)]) \
        if org is not None else None
    if row is None:
        abort(404)
    return row


def _cache(response: Response, versioned: bool) -> Response:
    response.headers["Cache-Control"] = f"public, max-age={YEAR}, immutable" if versioned else f"public, max-age={SHORT}"
    return response


@bp.get("/branding/<slug>/logo.png")
def logo(slug: str) -> Response:
    row = _branding(slug)
    if not row.logo_png or not row.logo_digest:
        abort(404)
    response = Response(row.logo_png, mimetype="image/png")
    response.set_etag(row.logo_digest)
    response.headers["Content-Security-Policy"] = "default-src 'none'; sandbox"
    response.headers["Content-Disposition"] = 'inline; filename="logo.png"'
    _cache(response, request.args.get("v") == row.logo_digest[:16])
    return response.make_conditional(request)


@bp.get("/branding/<slug>/theme.css")
def theme(slug: str) -> Response:
    row = _branding(slug)
    colour = row.accent_colour
    if not colour or not COLOUR.match(colour):   # stored values are validated; never emit anything else
        abort(404)
    css = f":root {{ --accent: {colour}; --accent-ink: #fff; }}\n"
    response = Response(css, mimetype="text/css")
    response.set_etag(colour.lstrip("#"))
    _cache(response, request.args.get("v") == colour.lstrip("#"))
    return response.make_conditional(request)
