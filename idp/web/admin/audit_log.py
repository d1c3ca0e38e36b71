"""Administration > Audit log: filters (user, event, date range), pages, export as CSV or JSON lines."""
from __future__ import annotations

from collections.abc import Iterator

from flask import Response, render_template, request

from idp import audit
from idp.administration import audit_text
from idp.administration.permissions import AUDIT_READ
from idp.db import Database
from idp.web.context import db, services

from . import bp
from .common import admin_actor, organisation, requires, scope

PER_PAGE = 50


def _filter() -> tuple[audit.AuditFilter | None, str | None]:
    args = request.args
    try:
        return audit.AuditFilter.from_strings(args.get("user"), args.get("event"), args.get("from"),
                                              args.get("to")), None
    except ValueError as exc:
        return None, str(exc)


@bp.get("/audit")
@requires(AUDIT_READ)
def audit_log() -> tuple[str, int]:
    org_id = scope().organisation_id
    filt, error = _filter()
    page = max(1, request.args.get("page", 1, type=int) or 1)
    rows, total = audit.search(db(), org_id, filt, limit=PER_PAGE, offset=(page - 1) * PER_PAGE) if filt else ([], 0)
    pages = max(1, -(-total // PER_PAGE))
    # checking the chain reads every entry of the organisation: done when asked, not on every page
    verification = audit.verify(db(), org_id) if request.args.get("verify") == "1" else None
    return render_template("admin/audit.html", title="Audit log", org=organisation(),
                           lines=audit_text.describe_all(db(), rows), total=total, page=page, pages=pages,
                           args=request.args, error=error, verification=verification,
                           events=audit.event_names(db(), org_id)), 400 if error else 200


@bp.get("/audit/export")
@requires(AUDIT_READ)
def audit_export() -> Response | tuple[str, int]:
    fmt = request.args.get("format", "csv")
    filt, error = _filter()
    if error or fmt not in audit.FORMATS:
        return render_template("error.html", title="The export could not be made",
                               message=error or "Choose CSV or JSON lines."), 400
    org = organisation()
    org_id = org.id
    audit.record(db(), "audit_exported", admin_actor(), organisation_id=org_id, target=org.slug,
                 details={"format": fmt, "user": filt.user, "event": filt.event,
                          "from": filt.since.isoformat() if filt.since else None,
                          "to": filt.until.isoformat() if filt.until else None})
    db().commit()  # the export is recorded even if the download is interrupted
    mimetype = "text/csv" if fmt == "csv" else "application/x-ndjson"
    name = f"audit-{org.slug}.{'csv' if fmt == 'csv' else 'jsonl'}"
    return Response(_stream(services().database, org_id, filt, fmt), mimetype=mimetype,
                    headers={"Content-Disposition": f'attachment; filename="{name}"', "Cache-Control": "no-store"})


def _stream(database: Database, org_id: int, filt: audit.AuditFilter, fmt: str) -> Iterator[str]:
    """The export, read in batches by its own database session (the request's is closed by then)."""
    session = database.sessions()
    try:
        yield from audit.export_lines(audit.matching(session, org_id, filt), fmt)
    finally:
        session.close()
