"""The same refusals through `idp serve` (gunicorn, two workers) as a client sees them over HTTP, and the
purge run by the server itself: exactly once for the deployment, however many workers answer."""
from __future__ import annotations

import base64
import time
from datetime import UTC, datetime
from urllib.parse import urlencode

import httpx
import pytest
import sqlalchemy as sa

from idp.models import LoginTransaction, MaintenanceLease
from tests.support.configs import write_config_file
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.oidc_client import query_of
from tests.support.servers import free_port

from .helpers import EMAIL, LoggedIdpProcess, http_sign_in
from .test_purge import _left, _seed


def _transactions(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(LoginTransaction.id)))


@pytest.fixture
def served(tmp_path, database_url, services, factory):  # noqa: ANN001, ANN201
    _seed(services, factory, datetime.now(UTC))   # expired rows waiting for the server's purge
    port = free_port()
    config_file = write_config_file(tmp_path / "config.toml", database_url, f"http://127.0.0.1:{port}")
    with LoggedIdpProcess(config_file, port, workers=2) as server:
        yield server


def _wait_for(condition, timeout: float = 15.0) -> bool:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return True
        time.sleep(0.2)
    return False


def test_bounds_and_purge_through_idp_serve(served, services, factory):  # noqa: ANN001
    factory.user(EMAIL)
    rp = factory.client()
    with httpx.Client(timeout=20) as http:
        for _ in range(6):   # both workers answer something; only one may run the purge
            assert http.get(served.url + "/healthz").headers["Cross-Origin-Opener-Policy"] == "same-origin"
        assert _wait_for(lambda: _left(services)["login_transaction"] == 2), served.output()[-3000:]
        before = _transactions(services)

        # 700 KB login_hint in a POST (gunicorn refuses such a long request line for GET by itself)
        params = dict(query_of(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1])),
                      login_hint="a" * 700_000)
        refused = http.post(served.url + "/authorize", data=params)
        assert refused.status_code == 302
        error = query_of(refused.headers["location"])
        assert error["error"] == "invalid_request" and error["state"] == params["state"]

        # NUL in the sign-in email: 400 page, not a 500 from the database
        page, _ = http_sign_in(http, served.url, served.url, rp, "alice\x00@example.com")
        assert page.status == 400 and "characters that are not allowed" in page.text
        nul_hint = http.get(served.url + authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1],
                                                       login_hint="a\x00b"))
        assert nul_hint.status_code == 400

        # a code sent twice: invalid_request and the code still works
        page, verifier = http_sign_in(http, served.url, served.url, rp, EMAIL)
        code = page.query["code"]
        body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
                          "code_verifier": verifier}) + "&" + urlencode({"code": code})
        basic = {"Authorization": "Basic " + base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode(),
                 "Content-Type": "application/x-www-form-urlencoded"}
        twice = http.post(served.url + "/token", content=body, headers=basic)
        assert twice.status_code == 400 and twice.json()["error"] == "invalid_request"
        once = http.post(served.url + "/token", headers={"Authorization": basic["Authorization"]}, data={
            "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
            "code_verifier": verifier})
        assert once.status_code == 200 and once.json()["access_token"]

        # a client assertion nested 5,000 levels deep: invalid_client, not 500
        nested = base64.urlsafe_b64encode(b'{"iss":"x","a":' + b"[" * 5000 + b"]" * 5000 + b"}").rstrip(b"=")
        assertion = "eyJhbGciOiJFUzI1NiJ9." + nested.decode() + ".c2ln"
        deep = http.post(served.url + "/token", data={
            "grant_type": "authorization_code", "code": "x", "client_id": rp.client_id,
            "client_assertion_type": "urn:ietf:params:oauth:client-assertion-type:jwt-bearer",
            "client_assertion": assertion})
        assert deep.status_code in (400, 401) and deep.json()["error"] == "invalid_client"

    assert _transactions(services) == before + 2   # the two sign-ins above; none for the refused requests
    assert served.output().count("purged expired rows") == 1, served.output()[-3000:]
    assert "Traceback" not in served.output() and "purge of expired rows failed" not in served.output()
    with services.database.session() as db:
        assert db.get(MaintenanceLease, "purge") is not None
