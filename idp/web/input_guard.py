"""One request-level guard: control characters in any query or form name or value get a 400 before a view runs.

No field of the IdP takes control characters, and they cause harm further in: PostgreSQL refuses NUL in
text, a line break in a logged or e-mailed value forges lines. Query values (OAuth parameters are
VSCHAR/NQCHAR, RFC 6749 Appendix A) take none; form values may hold tab and line breaks (textareas: one
redirect URI per line). C1 controls (U+0080..U+009F) and DEL are refused everywhere."""
from __future__ import annotations

import logging
import re
from collections.abc import Iterable

from flask import Flask, Response, jsonify, render_template, request

log = logging.getLogger("idp.web")

STRICT = re.compile(r"[\x00-\x1f\x7f-\x9f]")              # query strings: no control character at all
FORM = re.compile(r"[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f]")  # forms: tab, LF and CR allowed
BACK_CHANNEL = {"oauth.token", "oauth.introspect", "oauth.revoke", "oauth.userinfo"}
MESSAGE = ("The request contained characters that are not allowed (control characters). Nothing was changed. "
           "Go back, correct what you typed and try again.")


def bad_values(items: Iterable[tuple[str, str]], *, form: bool) -> list[str]:
    """The names of the fields whose name or value holds a forbidden control character."""
    pattern = FORM if form else STRICT
    return [name for name, value in items if STRICT.search(name) or pattern.search(value)]


def _offending() -> list[str]:
    bad = bad_values(request.args.items(multi=True), form=False)
    if request.method in ("POST", "PUT", "PATCH", "DELETE") and request.mimetype in (
            "application/x-www-form-urlencoded", "multipart/form-data"):
        bad += bad_values(request.form.items(multi=True), form=True)
    return bad


def _refusal() -> Response:
    if request.endpoint in BACK_CHANNEL:
        response = jsonify(error="invalid_request",
                           error_description="A parameter contains control characters, which are not allowed.")
        response.headers["Cache-Control"] = "no-store"
    else:
        response = Response(render_template("error.html", title="This request cannot be accepted", message=MESSAGE))
    response.status_code = 400
    return response


def init_app(app: Flask) -> None:
    """Register the guard; call it before any other `before_request` hook that reads the request."""

    @app.before_request
    def _refuse_control_characters() -> Response | None:
        bad = _offending()
        if not bad:
            return None
        names = ", ".join(sorted({STRICT.sub("?", name)[:40] for name in bad}))   # names only, never values
        log.info("refused %s %s: control characters in %s", request.method, request.path, names)
        return _refusal()
