"""The resource protector (RFC 6750 §3.1): 401 without a usable token (no error code when none was sent),
403 insufficient_scope naming the scope, problem+json bodies; a grant taken away or a disabled client stops
working at once; the rate limit per client."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp import clock
from idp.adminapi import grants
from idp.administration import clients
from idp.administration.permissions import operator_scope
from idp.audit import Actor
from idp.models import Client, User
from tests.adminapi.conftest import Caller, audit_entries

REALM = 'realm="idp-admin-api"'


def _client_row(db, client_id: str) -> Client:
    return db.scalar(sa.select(Client).where(Client.client_id == client_id))


def test_no_token_is_401_with_a_challenge_and_no_error_code(orgs, client):
    response = client.get("/api/v1/users")
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"] == f"Bearer {REALM}"
    body = response.get_json()
    assert body["status"] == 401 and "Authorization: Bearer" in body["detail"]


def test_an_unknown_token_is_401_invalid_token(orgs, client):
    response = client.get("/api/v1/users", headers={"Authorization": "Bearer not-a-token"})
    assert response.status_code == 401 and response.mimetype == "application/problem+json"
    assert response.headers["WWW-Authenticate"].startswith(f'Bearer {REALM}, error="invalid_token"')
    assert response.get_json()["error"] == "invalid_token"


def test_another_scheme_is_400_invalid_request(orgs, client):
    response = client.get("/api/v1/users", headers={"Authorization": "Basic YTpi"})
    assert response.status_code == 400 and 'error="invalid_request"' in response.headers["WWW-Authenticate"]


def test_an_expired_token_is_401(orgs, api, frozen_clock, config):
    call = api(("idp:users:read",))
    assert call("GET", "/users").status_code == 200
    frozen_clock.advance(seconds=config.tokens.access_token_ttl + 1)
    response = call("GET", "/users")
    assert response.status_code == 401 and 'error="invalid_token"' in response.headers["WWW-Authenticate"]


def test_a_scope_not_in_the_token_is_403_insufficient_scope_and_audited(orgs, api, services):
    call = api(("idp:users:read",), name="Reader")
    response = call("POST", f"/users/{orgs['acme'].user_id}/reset-2fa", json={"reason": "lost phone"})
    assert response.status_code == 403 and response.mimetype == "application/problem+json"
    challenge = response.headers["WWW-Authenticate"]
    assert 'error="insufficient_scope"' in challenge and 'scope="idp:2fa:reset"' in challenge
    assert response.get_json()["scope"] == "idp:2fa:reset"
    assert audit_entries(services, orgs["acme"].id, "second_factor_reset") == []
    refused = audit_entries(services, orgs["acme"].id, "admin_api_request")[-1]
    assert refused.actor == "client:Reader" and refused.outcome == "failure" and refused.details["status"] == 403


def test_a_grant_taken_away_stops_the_token_at_once(orgs, api_client, token_for, client, services):
    made = api_client("acme", ("idp:users:read", "idp:audit:read"))
    call = Caller(client, token_for(made, "idp:users:read idp:audit:read").get_json()["access_token"])
    assert call("GET", "/audit").status_code == 200
    with services.database.session() as db:
        row = _client_row(db, made.client_id)
        grants.revoke(db, operator_scope(row.organisation_id), row, ["idp:audit:read"], Actor("cli:test"),
                      now=clock.now())
    assert call("GET", "/audit").status_code == 401      # its tokens were revoked with the grant
    fresh = Caller(client, token_for(made, "idp:users:read").get_json()["access_token"])
    assert fresh("GET", "/users").status_code == 200
    assert token_for(made, "idp:audit:read").get_json()["error"] == "invalid_scope"


def test_a_disabled_client_is_refused(orgs, api_client, token_for, client, services):
    made = api_client("acme", ("idp:users:read",))
    call = Caller(client, token_for(made, "idp:users:read").get_json()["access_token"])
    with services.database.session() as db:
        row = _client_row(db, made.client_id)
        clients.set_active(db, operator_scope(row.organisation_id), row, False, Actor("cli:test"))
    assert call("GET", "/users").status_code == 401
    assert token_for(made, "idp:users:read").status_code == 401     # invalid_client


class TestRateLimit:
    @pytest.fixture
    def config_overrides(self) -> dict:
        return {"rate_limit": {"adminapi_per_client": "3/minute"}}

    def test_each_client_has_its_own_budget(self, orgs, api):
        first, second = api(("idp:users:read",)), api(("idp:users:read",))
        assert [first("GET", "/users").status_code for _ in range(3)] == [200, 200, 200]
        refused = first("GET", "/users")
        assert refused.status_code == 429 and refused.mimetype == "application/problem+json"
        assert int(refused.headers["Retry-After"]) > 0
        assert second("GET", "/users").status_code == 200


ENDPOINTS = [("GET", "/users", None), ("POST", "/users", {"email": "n@acme.example.com"}),
             ("GET", "/users/{id}", None), ("PATCH", "/users/{id}", {"active": False, "reason": "x"}),
             ("POST", "/users/{id}/reset-2fa", {"reason": "x"}), ("POST", "/users/{id}/unlock", {}),
             ("GET", "/settings/security", None), ("PATCH", "/settings/security", {"grace_days": 3}),
             ("GET", "/audit", None)]


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_every_endpoint_is_403_with_every_scope_but_its_own(orgs, app, api, services, method, path, body):
    """The scope each view requires (read from the view, as the OpenAPI description names it) is the only one
    that opens it: a client holding all the others is refused, and nothing changes."""
    from tests.admin.helpers import snapshot
    from tests.adminapi.conftest import ALL_SCOPES

    adapter = app.url_map.bind("localhost")
    endpoint, _ = adapter.match(f"/api/v1{path.replace('{id}', '1')}", method=method)
    needed = app.view_functions[endpoint].required_scope
    call = api(tuple(s for s in ALL_SCOPES if s != needed))
    before = snapshot(services, orgs["acme"].id)
    response = call(method, path.replace("{id}", str(orgs["acme"].user_id)), json=body)
    assert response.status_code == 403 and response.get_json()["scope"] == needed
    after = snapshot(services, orgs["acme"].id)
    assert {k: v for k, v in after.items() if k != "audit"} == {k: v for k, v in before.items() if k != "audit"}
    assert after["audit"] == before["audit"] + 1      # the refused call itself


@pytest.mark.parametrize("method, path, body", ENDPOINTS)
def test_every_endpoint_works_with_its_own_scope_alone(orgs, app, api, mailbox, method, path, body):
    adapter = app.url_map.bind("localhost")
    endpoint, _ = adapter.match(f"/api/v1{path.replace('{id}', '1')}", method=method)
    call = api((app.view_functions[endpoint].required_scope,))
    response = call(method, path.replace("{id}", str(orgs["acme"].user_id)), json=body)
    assert response.status_code in (200, 202), response.get_json()


def test_an_administrators_browser_session_never_authenticates_the_api(orgs, browser, services, mailbox):
    """The API is exempt from CSRF because cookies never authenticate it: a signed-in administrator's
    browser posting to it (as a forged cross-site form would) is refused and creates nothing."""
    from tests.admin.helpers import sign_in

    page = sign_in(browser, orgs["acme"].admin, target="/account/security", services=services)
    assert page.status == 200 and page.url.endswith("/account/security")      # signed in: a session cookie
    response = browser.client.post("/api/v1/users", json={"email": "forged@acme.example.com"})
    assert response.status_code == 401
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count()).select_from(User).where(
            User.email == "forged@acme.example.com")) == 0
