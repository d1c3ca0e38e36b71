"""Files people save from a page (recovery codes): an uncached plain-text attachment, or 400 for bad input."""
from __future__ import annotations

from flask import Response

NOT_CODES = "These are not recovery codes.\n"


def text_attachment(body: str | None, file_name: str) -> Response:
    """`body` as `file_name` (never cached); None: what was posted is refused with a plain 400."""
    if body is None:
        return Response(NOT_CODES, status=400, mimetype="text/plain")
    response = Response(body, mimetype="text/plain")
    response.headers["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response.headers["Cache-Control"] = "no-store"
    return response
