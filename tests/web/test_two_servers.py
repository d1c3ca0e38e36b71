"""Two `idp serve` processes on one PostgreSQL database: a sign-in started on one finishes on the other."""
from __future__ import annotations

import base64

import httpx
import pytest

from tests.support.browser import Browser
from tests.support.configs import write_config_file
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, decode_id_token, pkce_pair
from tests.support.servers import IdpProcess, free_port


@pytest.fixture
def two_servers(is_postgres, database_url, tmp_path, services):  # noqa: ANN001, ANN201
    if not is_postgres:
        pytest.skip("several server processes share one database only on PostgreSQL here")
    port_a, port_b = free_port(), free_port()
    issuer = f"http://127.0.0.1:{port_a}"  # both sit behind one public address in production
    config_file = write_config_file(tmp_path / "config.toml", database_url, issuer)
    with IdpProcess(config_file, port_a) as a, IdpProcess(config_file, port_b) as b:
        yield a, b


def test_a_sign_in_started_on_one_server_finishes_on_the_other(two_servers, factory):
    a, b = two_servers
    factory.user("alice@example.com")
    rp = factory.client()
    verifier, challenge = pkce_pair()
    with httpx.Client(timeout=10) as http:
        on_a = Browser(http=http, base=a.url)
        page = on_a.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
        assert page.status == 200 and 'name="password"' in page.text
        on_b = Browser(http=http, base=b.url)
        page.url = b.url + "/login"  # the load balancer sends the form post to the other server
        done = on_b.sign_in(page, "alice@example.com", PASSWORD)
        assert done.location and done.location.startswith(rp.redirect_uri), done.text[:500]
        basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
        token = http.post(a.url + "/token", headers={"Authorization": f"Basic {basic}"},
                          data={"grant_type": "authorization_code", "code": done.query["code"],
                                "redirect_uri": rp.redirect_uri, "code_verifier": verifier})
        assert token.status_code == 200, token.text
        claims = decode_id_token(token.json()["id_token"], http.get(b.url + "/jwks").json())
        assert claims["iss"] == a.url and claims["amr"] == ["pwd"]
