"""Requests answered in front of Flask, skipping the request hooks they do not need: discovery and the
JWKS (precomputed bodies, ETag, Cache-Control, 304), a successful `GET /userinfo` (one lookup) and a
plainly good refresh at `POST /token` (idp.web.oauth.front_refresh).

Only `GET`/`HEAD` of exactly these paths with no query string are answered here (userinfo: `GET` with a
bearer header, when the token is good; /token: `POST`), with the same security headers, request id, access
line and metrics as any response; anything else (an error, a refusal, a query string) goes on to Flask,
whose views answer the same way (idp.web.oauth.discovery, idp.web.oauth.endpoints)."""
from __future__ import annotations

import json
import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from idp.oauth import tokens
from idp.oauth.claims import user_claims
from idp.oauth.keys import JWKS_MAX_AGE, LoadedKeys, etag_of
from idp.web.context import address_of
from idp.web.headers import document_headers
from idp.web.observability import metrics
from idp.web.observability.logging import HEADER, log_access, request_id_from

if TYPE_CHECKING:
    from idp.services import Services
    from idp.web.oauth.front_refresh import RefreshInFront

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"
CACHE_CONTROL = f"public, max-age={JWKS_MAX_AGE}"
USERINFO_PATH = "/userinfo"
TOKEN_PATH = "/token"
ENDPOINTS = {DISCOVERY_PATH: "oauth.openid_configuration", JWKS_PATH: "oauth.jwks", USERINFO_PATH: "oauth.userinfo",
             TOKEN_PATH: "oauth.token"}


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: does If-None-Match name this representation (weak comparison, or `*`)?"""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def caching_headers(etag: str) -> list[tuple[str, str]]:
    """What both a 200 and a 304 of a document carry (RFC 9110 §15.4.5: the 304 repeats ETag and
    Cache-Control); any origin may read the documents."""
    return [("ETag", etag), ("Cache-Control", CACHE_CONTROL), ("Access-Control-Allow-Origin", "*")]


def document_response_headers(etag: str, https: bool) -> list[tuple[str, str]]:
    """caching_headers and the security headers of every response (idp.web.headers)."""
    return [*caching_headers(etag), *document_headers(https)]


class Documents:
    """The discovery document (config only: built once) and the JWKS (the worker's KeyRing copy)."""

    def __init__(self, services: Services, discovery: bytes) -> None:
        self._services = services
        self.discovery = discovery
        self.discovery_etag = etag_of(discovery)

    def jwks(self) -> LoadedKeys:
        opened = []

        def session():  # noqa: ANN202 - only called when the worker reads the key table again
            opened.append(self._services.database.sessions())
            return opened[-1]

        try:
            return self._services.keys.get(session)
        finally:
            for db in opened:
                db.close()

    def body_and_etag(self, path: str) -> tuple[bytes, str]:
        if path == DISCOVERY_PATH:
            return self.discovery, self.discovery_etag
        keys = self.jwks()
        return keys.body, keys.etag


class InFront:
    """WSGI middleware: answers the documents, good userinfo and refresh requests itself, passes the rest to `app`."""

    def __init__(self, app: Callable, documents: Documents, services: Services,
                 refresh: RefreshInFront | None = None) -> None:
        self._app = app
        self._documents = documents
        self._services = services
        self._refresh = refresh
        self._https = services.config.is_https
        self._hops = services.config.server.trusted_proxies

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        method = environ.get("REQUEST_METHOD")
        answer = None
        if path in ENDPOINTS and not environ.get("QUERY_STRING"):
            started = time.perf_counter()
            if path == USERINFO_PATH:
                answer = self._userinfo(environ) if method == "GET" else None
            elif path == TOKEN_PATH:
                answer = self._refresh.answer(environ) if method == "POST" and self._refresh else None
            elif method in ("GET", "HEAD"):
                answer = self._document(environ, path)
        if answer is None:
            return self._app(environ, start_response)
        status, headers, body = answer
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        start_response(status, [*headers, *document_headers(self._https), (HEADER, request_id)])
        self._log(environ, path, method, int(status[:3]), started, request_id)
        return [b"" if method == "HEAD" else body]

    def _document(self, environ: dict, path: str) -> tuple[str, list, bytes] | None:
        try:
            body, etag = self._documents.body_and_etag(path)
        except Exception:  # noqa: BLE001 - e.g. no active key: Flask's view fails the usual way (500 page, logs)
            return None
        headers = caching_headers(etag)
        if not_modified(environ.get("HTTP_IF_NONE_MATCH"), etag):
            return "304 Not Modified", headers, b""
        return "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))), *headers], body

    def _userinfo(self, environ: dict) -> tuple[str, list, bytes] | None:
        """The claims for a good bearer token with the `openid` scope; None (Flask answers) otherwise."""
        scheme, _, value = environ.get("HTTP_AUTHORIZATION", "").partition(" ")
        if scheme.lower() != "bearer" or not value.strip():
            return None
        try:
            row = tokens.look_up_access_token(self._services.database.engine, value.strip())
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: Flask's view answers (503 JSON, logs)
            logging.getLogger("idp.oauth").warning("userinfo before Flask failed (%s); Flask answers",
                                                   type(exc).__name__)
            return None
        if row is None or "openid" not in row.scope.split():
            return None
        body = json.dumps(user_claims(row, row.scope), separators=(",", ":"), sort_keys=True).encode() + b"\n"
        return "200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                          ("Cache-Control", "no-store")], body

    def _log(self, environ: dict, path: str, method: str, status: int, started: float,
             request_id: str) -> None:
        seconds = time.perf_counter() - started
        endpoint = ENDPOINTS[path]
        metrics.observe(endpoint, method, status, seconds)
        ip = address_of(environ.get("HTTP_X_FORWARDED_FOR", ""), environ.get("REMOTE_ADDR"), self._hops)
        log_access(logging.INFO, method, path, endpoint, status, round(seconds * 1000, 1), ip,
                   environ.get("HTTP_USER_AGENT"), request_id)
