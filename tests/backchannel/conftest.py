"""Back-channel logout tests: one real HTTP receiver (a relying party's back-channel logout endpoint) for the
session, clients registered with its address, and a Logout Token check the way a relying party does it."""
from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field

import pytest
import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry
from werkzeug.wrappers import Request, Response

from idp.clients import register_client
from idp.models import AuditEvent, OutboxJob
from idp.outbox.worker import drain
from tests.support.browser import Browser
from tests.support.factory import RegisteredClient
from tests.support.oidc_client import Rp
from tests.support.servers import ReservedPort, ThreadedServer

EVENT = "http://schemas.openid.net/event/backchannel-logout"
SLOW_SECONDS = 5.0


@dataclass
class Receiver:
    """What the relying party's endpoint received: (path, form) per POST. `/ok` answers 200, `/slow`
    answers after SLOW_SECONDS, `/broken` answers 500."""

    url: str
    received: list[tuple[str, dict]] = field(default_factory=list)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def tokens(self, path: str = "/ok") -> list[str]:
        with self.lock:
            return [form["logout_token"] for where, form in self.received if where == path]

    def clear(self) -> None:
        with self.lock:
            self.received.clear()


def _app(receiver: Receiver):  # noqa: ANN202
    @Request.application
    def endpoint(request: Request) -> Response:
        if request.method != "POST" or request.mimetype != "application/x-www-form-urlencoded":
            return Response("", status=400)
        with receiver.lock:
            receiver.received.append((request.path, dict(request.form)))
        if request.path == "/slow":
            time.sleep(SLOW_SECONDS)
        if request.path == "/broken":
            return Response("", status=500)
        return Response("", status=200, headers={"Cache-Control": "no-store"})
    return endpoint


@pytest.fixture(scope="session")
def _receiver_server() -> Iterator[Receiver]:
    port = ReservedPort()
    receiver = Receiver(f"http://127.0.0.1:{port.number}")
    with ThreadedServer(_app(receiver), port):
        yield receiver
    port.close()


@pytest.fixture
def receiver(_receiver_server: Receiver) -> Receiver:
    _receiver_server.clear()
    return _receiver_server


def register(services, uri: str | None, redirect_uri: str = "http://127.0.0.1:9000/callback",  # noqa: ANN001
             *, refresh_tokens: bool = False) -> RegisteredClient:
    """A confidential client with `uri` as its back-channel logout URI, through the real registration."""
    with services.database.session() as db:
        client, secret = register_client(db, name="Back-channel app", redirect_uris=[redirect_uri],
                                         logout_uris=["http://127.0.0.1:9000/"], refresh_tokens=refresh_tokens,
                                         backchannel_logout_uri=uri, backchannel_logout_session_required=True)
        return RegisteredClient(client.client_id, secret, redirect_uri)


@pytest.fixture
def alice(factory) -> int:  # noqa: ANN001
    return factory.user("alice@example.com", name="Alice Example")


@pytest.fixture
def make_rp(app, services, config, receiver):  # noqa: ANN001, ANN201
    """make_rp(path="/ok", browser=None) → an Rp whose back-channel logout URI is the receiver's `path`
    (None: no back-channel logout URI), signing in with its own browser unless one is given."""

    def make(path: str | None = "/ok", browser: Browser | None = None, **kwargs) -> Rp:  # noqa: ANN003
        uri = path if path is None or "://" in path else receiver.url + path
        test_client = browser.client if browser is not None else app.test_client()
        return Rp(test_client, browser or Browser(client=test_client), register(services, uri, **kwargs),
                  config.issuer)

    return make


def check_logout_token(token: str, rp: Rp, *, sub: str | None = None, sid: str | None = None) -> dict:
    """Validate a Logout Token as Back-Channel Logout 1.0 §2.6 asks a relying party to: signature with the
    issuer's JWKS, typ, iss, aud, iat/exp, the event, sub and/or sid, and no nonce. Returns the claims."""
    decoded = jwt.decode(token, KeySet.import_key_set(rp.jwks()), algorithms=["RS256", "ES256"])
    assert decoded.header["typ"] == "logout+jwt"
    claims = decoded.claims
    JWTClaimsRegistry(iss={"essential": True, "value": rp.issuer}, aud={"essential": True, "value": rp.client_id},
                      iat={"essential": True}, exp={"essential": True},
                      jti={"essential": True}).validate(claims)
    assert claims["exp"] - claims["iat"] <= 300, "a Logout Token is short-lived"
    assert claims["events"] == {EVENT: {}}
    assert "nonce" not in claims
    assert claims.get("sub") or claims.get("sid")
    if sub is not None:
        assert claims["sub"] == sub
    if sid is not None:
        assert claims["sid"] == sid
    return claims


def signed_in(rp: Rp, **extra: str) -> dict:
    """Sign alice in to `rp`: its tokens and ID token claims."""
    tokens = rp.tokens(**extra)
    return {**tokens, "claims": rp.id_token_claims(tokens["id_token"])}


def deliver(services) -> None:  # noqa: ANN001
    """What a worker's drainer does after a commit outside a request (the CLI does the same)."""
    drain(services)


def audit_events(services, event: str) -> list[AuditEvent]:  # noqa: ANN001
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)))
        db.expunge_all()
        return rows


def jobs(services) -> list[OutboxJob]:  # noqa: ANN001
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(OutboxJob).where(OutboxJob.kind == "backchannel_logout")
                               .order_by(OutboxJob.id)))
        db.expunge_all()
        return rows
