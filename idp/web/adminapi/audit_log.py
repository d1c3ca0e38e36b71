"""/api/v1/audit: the organisation's audit log, newest first, filtered (event, person, date range) and in
pages, each entry also as the console's sentence (idp.audit.search, idp.administration.audit_text)."""
from __future__ import annotations

from flask import Response

from idp import audit
from idp.adminapi import representation
from idp.adminapi.scopes import AUDIT
from idp.administration import audit_text
from idp.web.context import db

from . import bp
from .problems import ApiProblem, answer, query_args, whole_number
from .protector import caller, requires

DEFAULT_LIMIT = 50
MAX_LIMIT = 200


@bp.get("/audit")
@requires(AUDIT)
def audit_list() -> Response:
    args = query_args({"event", "person", "since", "until", "page", "limit"})
    try:
        filt = audit.AuditFilter.from_strings(args.get("person"), args.get("event"), args.get("since"),
                                              args.get("until"))
    except ValueError as exc:
        raise ApiProblem(400, str(exc).replace("from:", "since:").replace("to:", "until:")) from None
    page = whole_number(args, "page", 1, 1, 1_000_000)
    limit = whole_number(args, "limit", DEFAULT_LIMIT, 1, MAX_LIMIT)
    rows, total = audit.search(db(), caller().organisation_id, filt, limit=limit, offset=(page - 1) * limit)
    return answer({"entries": [representation.audit_line(line) for line in audit_text.describe_all(db(), rows)],
                   "total": total, "page": page, "pages": max(1, -(-total // limit)), "limit": limit})
