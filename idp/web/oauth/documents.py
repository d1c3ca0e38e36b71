"""Discovery and the JWKS answered in front of Flask: precomputed bodies, ETag, Cache-Control, 304.

Only `GET`/`HEAD` of exactly these two paths with no query string are answered here, with the same
security headers, request id, access line and metrics as any response; anything else (and any error
while reading the keys) goes on to Flask, whose views serve the same documents (idp.web.oauth.discovery)."""
from __future__ import annotations

import logging
import time
from collections.abc import Callable, Iterable
from typing import TYPE_CHECKING

from idp.oauth.keys import JWKS_MAX_AGE, LoadedKeys, etag_of
from idp.web.context import address_of
from idp.web.headers import document_headers
from idp.web.observability import metrics
from idp.web.observability.logging import HEADER, log_access, request_id_from

if TYPE_CHECKING:
    from idp.services import Services

DISCOVERY_PATH = "/.well-known/openid-configuration"
JWKS_PATH = "/jwks"
CACHE_CONTROL = f"public, max-age={JWKS_MAX_AGE}"
ENDPOINTS = {DISCOVERY_PATH: "oauth.openid_configuration", JWKS_PATH: "oauth.jwks"}


def not_modified(if_none_match: str | None, etag: str) -> bool:
    """RFC 9110 §13.1.2: does If-None-Match name this representation (weak comparison, or `*`)?"""
    if not if_none_match:
        return False
    tags = {tag.strip().removeprefix("W/") for tag in if_none_match.split(",")}
    return "*" in tags or etag in tags


def document_response_headers(etag: str, https: bool) -> list[tuple[str, str]]:
    """What both a 200 and a 304 of a document carry (RFC 9110 §15.4.5: the 304 repeats ETag and
    Cache-Control)."""
    return [("ETag", etag), ("Cache-Control", CACHE_CONTROL), ("Access-Control-Allow-Origin", "*"),
            *document_headers(https)]


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


class DocumentsInFront:
    """WSGI middleware: answers the two documents itself, passes every other request to `app`."""

    def __init__(self, app: Callable, documents: Documents, services: Services) -> None:
        self._app = app
        self._documents = documents
        self._https = services.config.is_https
        self._hops = services.config.server.trusted_proxies

    def __call__(self, environ: dict, start_response: Callable) -> Iterable[bytes]:
        path = environ.get("PATH_INFO")
        method = environ.get("REQUEST_METHOD")
        if path not in ENDPOINTS or method not in ("GET", "HEAD") or environ.get("QUERY_STRING"):
            return self._app(environ, start_response)
        started = time.perf_counter()
        try:
            body, etag = self._documents.body_and_etag(path)
        except Exception:  # noqa: BLE001 - e.g. no active key: Flask's view fails the usual way (500 page, logs)
            return self._app(environ, start_response)
        request_id = request_id_from(environ.get("HTTP_X_REQUEST_ID", ""))
        headers = [*document_response_headers(etag, self._https), (HEADER, request_id)]
        if not_modified(environ.get("HTTP_IF_NONE_MATCH"), etag):
            status, body = 304, b""
            start_response("304 Not Modified", headers)
        else:
            status = 200
            start_response("200 OK", [("Content-Type", "application/json"), ("Content-Length", str(len(body))),
                                      *headers])
        self._log(environ, path, method, status, started, request_id)
        return [b"" if method == "HEAD" else body]

    def _log(self, environ: dict, path: str, method: str, status: int, started: float,
             request_id: str) -> None:
        seconds = time.perf_counter() - started
        endpoint = ENDPOINTS[path]
        metrics.observe(endpoint, method, status, seconds)
        ip = address_of(environ.get("HTTP_X_FORWARDED_FOR", ""), environ.get("REMOTE_ADDR"), self._hops)
        log_access(logging.INFO, method, path, endpoint, status, round(seconds * 1000, 1), ip,
                   environ.get("HTTP_USER_AGENT"), request_id)
