"""The refresh grant answered before Flask (idp.web.oauth.front): plainly good requests only, else Flask answers."""
from __future__ import annotations

import base64
import binascii
import io
import json
import logging
import re
from typing import TYPE_CHECKING
from urllib.parse import parse_qsl

from idp.browser.session_policy import family_still_counts
from idp.oauth import refresh
from idp.oauth.refresh import ClientSecret
from idp.ratelimit.limiter import LimiterUnavailable
from idp.web.context import address_of
from idp.web.rate_limits import COUNTED_AHEAD, claimed_client_id, client_checks, rules_from_config

if TYPE_CHECKING:
    from sqlalchemy.orm import Session

    from idp.ratelimit.limiter import Check, Limiter
    from idp.services import Services

log = logging.getLogger("idp.oauth")
MAX_BODY = 2048                 # a refresh is a few hundred bytes; anything larger goes to Flask unread
FORM_TYPE = "application/x-www-form-urlencoded"
PLAIN = re.compile(r"[\x21-\x7e]{1,512}")      # printable ASCII, no space: generated ids, secrets and tokens
BASIC = re.compile(r"(?i:basic) ([A-Za-z0-9+/]+={0,2})")
BASIC_FORM = frozenset({"grant_type", "refresh_token"})
POST_FORM = BASIC_FORM | {"client_id", "client_secret"}
JSON_HEADERS = (("Content-Type", "application/json"), ("Cache-Control", "no-store"), ("Pragma", "no-cache"))
Answer = tuple[str, list[tuple[str, str]], bytes]


def read_form(environ: dict) -> dict[str, str] | None:
    """The body of a small form POST, each name once and each value plain; None otherwise. A body that
    is read is put back (`wsgi.input`) for Flask."""
    mimetype, _, options = environ.get("CONTENT_TYPE", "").partition(";")
    length = environ.get("CONTENT_LENGTH", "")
    if (mimetype.strip().lower() != FORM_TYPE or options.strip().lower() not in ("", "charset=utf-8")
            or not (length.isascii() and length.isdigit()) or int(length) > MAX_BODY
            or environ.get("HTTP_TRANSFER_ENCODING")):
        return None
    body = environ["wsgi.input"].read(int(length))
    environ["wsgi.input"] = io.BytesIO(body)
    try:
        pairs = parse_qsl(body.decode("ascii"), keep_blank_values=True, strict_parsing=True, max_num_fields=8)
    except (UnicodeDecodeError, ValueError):
        return None
    form = dict(pairs)
    if len(form) != len(pairs) or not all(PLAIN.fullmatch(name) and PLAIN.fullmatch(value) for name, value in pairs):
        return None
    return form


def client_secret(authorization: str | None, form: dict[str, str]) -> ClientSecret | None:
    """The client's id and secret from exactly one of client_secret_basic and client_secret_post, with
    nothing else in the form; None for anything else (a down-scoping `scope`, an assertion, a public client)."""
    if authorization is None:
        if form.keys() != POST_FORM:
            return None
        return ClientSecret(form["client_id"], form["client_secret"], "client_secret_post")
    matched = BASIC.fullmatch(authorization)
    if form.keys() != BASIC_FORM or matched is None:
        return None
    try:
        decoded = base64.b64decode(matched.group(1), validate=True).decode("ascii")
    except (binascii.Error, UnicodeDecodeError):
        return None
    client_id, colon, secret = decoded.partition(":")
    # RFC 6749 §2.3.1 form-encodes both before base64 (authlib percent-decodes them): nothing encoded here
    if not colon or "%" in decoded or "+" in decoded or not PLAIN.fullmatch(client_id) or not PLAIN.fullmatch(secret):
        return None
    return ClientSecret(client_id, secret, "client_secret_basic")


class RefreshInFront:
    """Answers `POST /token` with grant_type=refresh_token when it is plainly good: the rotation, the new
    token and the `token` rate-limit counts in one transaction, committed only if all succeed and the limits
    allow it. Anything else is rolled back and goes to Flask, which answers (and counts once) as always.
    A limiter whose counts cannot be rolled back (Redis) counts here instead, once, before the rotation (which
    then commits alone), and leaves its verdict in the environ (`COUNTED_AHEAD`): Flask's hook answers a
    fall-through from it, never counting the request twice."""

    def __init__(self, services: Services, limiter: Limiter | None) -> None:
        self._services = services
        self._limiter = limiter
        self._rules = rules_from_config(services.config.rate_limit) if limiter is not None else {}
        self._hops = services.config.server.trusted_proxies

    def answer(self, environ: dict) -> Answer | None:
        form = read_form(environ)
        if form is None or form.get("grant_type") != "refresh_token":
            return None
        credentials = client_secret(environ.get("HTTP_AUTHORIZATION"), form)
        if credentials is None or not self._counted_ahead(environ, form):
            return None
        body = self._refresh(environ, form, credentials)
        if body is None:
            return None
        payload = json.dumps(body, sort_keys=True).encode()    # as authlib's Flask server (flask.json) sends it
        return "200 OK", [*JSON_HEADERS, ("Content-Length", str(len(payload)))], payload

    def _refresh(self, environ: dict, form: dict[str, str], credentials: ClientSecret) -> dict | None:
        db = self._services.database.sessions()
        try:
            body = refresh.refresh(db, self._services.config, credentials, form["refresh_token"], family_still_counts)
            if body is None or not self._counted(db, environ, form):
                db.rollback()
                return None
            db.commit()
        except Exception as exc:  # noqa: BLE001 - e.g. the database is down: Flask answers (and logs) as always
            log.warning("refresh before Flask failed (%s); Flask answers", type(exc).__name__)
            return None
        finally:
            db.close()     # rolls back whatever was not committed
        if self._limiter is not None:
            self._limiter.after_commit()
        return body

    def _counted_ahead(self, environ: dict, form: dict[str, str]) -> bool:
        """With a limiter that cannot count in a transaction (Redis): count the request under the `token` rule
        now, once, and leave the verdict (or a LimiterUnavailable) for Flask's hook; False when the refresh may
        not be tried here (over a limit, no limiter to ask: Flask refuses from the verdict). Any other error
        leaves no verdict: Flask counts and answers as it would have."""
        if self._limiter is None or self._limiter.counts_in_transactions:
            return True
        try:
            verdict = self._limiter.hit(self._checks(environ, form))
        except LimiterUnavailable as exc:     # a fresh one: the caught one's traceback holds this environ
            environ[COUNTED_AHEAD] = LimiterUnavailable(str(exc))
            return False
        except Exception as exc:  # noqa: BLE001 - an unexpected failure: Flask counts, answers and logs as always
            log.warning("rate limit count before Flask failed (%s); Flask answers", type(exc).__name__)
            return False
        environ[COUNTED_AHEAD] = verdict
        return verdict.allowed

    def _counted(self, db: Session, environ: dict, form: dict[str, str]) -> bool:
        """Count the request under the `token` rule in `db`'s transaction (after the rotation: PostgreSQL holds
        the bucket rows only until the commit); False when over a limit (Flask then counts and refuses). A
        limiter that cannot count in a transaction counted ahead."""
        if self._limiter is None or not self._limiter.counts_in_transactions:
            return True
        return self._limiter.count_in(self._checks(environ, form), db).allowed

    def _checks(self, environ: dict, form: dict[str, str]) -> list[Check]:
        ip = address_of(environ.get("HTTP_X_FORWARDED_FOR", ""), environ.get("REMOTE_ADDR"), self._hops)
        client_id = claimed_client_id(environ.get("HTTP_AUTHORIZATION", ""), form)
        return client_checks(self._rules, "oauth.token", ip, client_id)
