"""Security headers on every response: CSP without inline code, no framing, no sniffing, no referrer, COOP."""
from __future__ import annotations

from flask import Flask, Response, request

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'{actions}; frame-ancestors 'none'")
SAME_SITE_FORMS = {"account", "admin"}   # blueprints whose forms only ever post (and redirect) within the IdP


def defaults(*, same_site_forms: bool, https: bool) -> tuple[tuple[str, str], ...]:
    """The headers a response gets unless it set them itself."""
    # sign-in, consent and logout forms end in a redirect to the application (any origin); the forms
    # of Profile > Security and Administration never leave the IdP, so there they may post only here
    pairs = [("Content-Security-Policy", CSP.format(actions="" if same_site_forms else " http: https:")),
             ("X-Frame-Options", "DENY"), ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
             # a window of another origin that opened (or was opened by) an IdP page cannot reach it (window.opener)
             ("Cross-Origin-Opener-Policy", "same-origin")]
    if https:
        pairs.append(("Strict-Transport-Security", "max-age=31536000; includeSubDomains"))
    return tuple(pairs)


def init_app(app: Flask) -> None:
    https = app.config["SESSION_COOKIE_SECURE"]
    variants = {same: defaults(same_site_forms=same, https=https) for same in (False, True)}   # built once

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        present = {name.lower() for name in headers.keys()}    # one pass (setdefault scans and raises per miss)
        for name, value in variants[request.blueprint in SAME_SITE_FORMS]:
            if name.lower() not in present:
                headers.add(name, value)
        if "cache-control" not in present and response.mimetype == "text/html":
            headers.add("Cache-Control", "no-store")
        return response


def document_headers(https: bool) -> list[tuple[str, str]]:
    """The headers `_headers` gives a non-HTML response outside Profile > Security and Administration:
    for responses made before Flask (idp.web.oauth.front)."""
    return list(defaults(same_site_forms=False, https=https))
