"""Security headers on every response: CSP without inline code, no framing, no sniffing, no referrer, COOP."""
from __future__ import annotations

from flask import Flask, Response, request

CSP = ("default-src 'self'; script-src 'self'; style-src 'self'; img-src 'self' data:; "
       "object-src 'none'; base-uri 'none'; form-action 'self'{actions}; frame-ancestors 'none'")
SAME_SITE_FORMS = {"account", "admin"}   # blueprints whose forms only ever post (and redirect) within the IdP


def document_headers(https: bool) -> list[tuple[str, str]]:
    """The headers `_headers` gives a non-HTML response outside Profile > Security and Administration:
    for responses made before Flask (idp.web.oauth.front)."""
    fixed = [("Content-Security-Policy", CSP.format(actions=" http: https:")), ("X-Frame-Options", "DENY"),
             ("X-Content-Type-Options", "nosniff"), ("Referrer-Policy", "no-referrer"),
             ("Cross-Origin-Opener-Policy", "same-origin")]
    return fixed + [("Strict-Transport-Security", "max-age=31536000; includeSubDomains")] if https else fixed


def init_app(app: Flask) -> None:
    https = app.config["SESSION_COOKIE_SECURE"]

    @app.after_request
    def _headers(response: Response) -> Response:
        headers = response.headers
        # sign-in, consent and logout forms end in a redirect to the application (any origin); the forms
        # of Profile > Security and Administration never leave the IdP, so there they may post only here
        actions = "" if request.blueprint in SAME_SITE_FORMS else " http: https:"
        headers.setdefault("Content-Security-Policy", CSP.format(actions=actions))
        headers.setdefault("X-Frame-Options", "DENY")
        headers.setdefault("X-Content-Type-Options", "nosniff")
        headers.setdefault("Referrer-Policy", "no-referrer")
        # a window of another origin that opened (or was opened by) an IdP page cannot reach it (window.opener)
        headers.setdefault("Cross-Origin-Opener-Policy", "same-origin")
        if response.mimetype == "text/html":
            headers.setdefault("Cache-Control", "no-store")
        if https:
            headers.setdefault("Strict-Transport-Security", "max-age=31536000; includeSubDomains")
        return response
