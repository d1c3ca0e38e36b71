"""Signing in through the organisation's identity provider, in a real browser (headless Chromium): an
application sends the person here; they type their work email (home-realm discovery), continue to their
provider (a second instance of this IdP on another host), sign in there with a password and an
authenticator app, and come back signed in; the application's ID token says what happened (amr)."""
from __future__ import annotations

import re

import base64
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import httpx
import pyotp
import pytest
import sqlalchemy as sa
from playwright.sync_api import Page, Route, expect

from idp.federation.discovery import DIRECTORY
from idp.federation.login import callback_url
from idp.models import UpstreamIdentity, User
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, decode_id_token, pkce_pair
from tests.support.servers import ReservedPort, ThreadedServer
from tests.support.upstream_idp import UpstreamIdp, upstream_idp

from .conftest import DESKTOP

EMAIL = "ann@contoso.example.com"
SCREENSHOTS = Path("/tmp")


@pytest.fixture
def issuer(live_port: ReservedPort) -> str:
    return f"http://localhost:{live_port.number}"      # the upstream is 127.0.0.1: another host, other cookies


@pytest.fixture
def upstream(tmp_path, issuer) -> Iterator[UpstreamIdp]:  # noqa: ANN001
    DIRECTORY.clear()
    with upstream_idp(tmp_path / "upstream", callback_url(issuer)) as up:
        yield up
    DIRECTORY.clear()


@pytest.fixture
def config_overrides(upstream) -> dict:  # noqa: ANN001
    return {"providers": [{"organisation": "contoso", "name": "contoso", "display_name": "Contoso",
                           "issuer": upstream.url, "client_id": upstream.client.client_id,
                           "client_secret": upstream.client.secret, "domains": ["contoso.example.com"],
                           "sso_only": True, "second_factor": "upstream-or-local"}]}


@pytest.fixture
def server(app, live_port, factory) -> Iterator[ThreadedServer]:  # noqa: ANN001
    factory.org("contoso", "Contoso")
    with ThreadedServer(app, live_port) as running:
        yield running


@pytest.fixture
def page(chromium, server, issuer) -> Iterator[Page]:  # noqa: ANN001
    context = chromium.new_context(base_url=issuer, viewport=DESKTOP)
    context.set_default_timeout(15_000)
    yield context.new_page()
    context.close()


def test_sign_in_through_the_organisations_identity_provider(page: Page, upstream, factory, services, issuer):
    upstream.user(EMAIL, name="Ann Contoso")
    secret = upstream.enrol_totp(EMAIL)
    rp = factory.client()
    returned: list[str] = []

    def application(route: Route) -> None:   # the application's redirect URI: note the answer
        returned.append(route.request.url)
        route.fulfill(status=200, content_type="text/html", body="<h1>Back in the application</h1>")

    page.route("http://127.0.0.1:9000/**", application)
    verifier, challenge = pkce_pair()
    page.goto(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    expect(page.get_by_role("button", name="Sign in with Contoso")).to_be_visible()
    page.screenshot(path=str(SCREENSHOTS / "sso-sign-in-page.png"), full_page=True)

    page.get_by_label("Email").fill(EMAIL)                    # no password: SSO-only domain
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_text("Your organisation signs you in through Contoso.")).to_be_visible()
    page.get_by_role("button", name="Continue to Contoso").click()

    expect(page).to_have_url(re.compile(re.escape(f"{upstream.url}/authorize?")))  # the provider's own sign-in page
    page.get_by_label("Email").fill(EMAIL)
    page.get_by_label("Password").fill(PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    page.get_by_label("Code from your authenticator app").fill(pyotp.TOTP(secret).now())
    page.get_by_role("button", name="Verify").click()

    expect(page.get_by_role("heading", name="Back in the application")).to_be_visible()
    code = parse_qs(urlsplit(returned[-1]).query)["code"][0]
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    tokens = httpx.post(f"{issuer}/token", headers={"Authorization": f"Basic {basic}"},
                        data={"grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
                              "code_verifier": verifier}).json()
    claims = decode_id_token(tokens["id_token"], httpx.get(f"{issuer}/jwks").json())
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["email"] == EMAIL   # the provider's MFA, trusted

    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        assert user.organisation.slug == "contoso" and user.name == "Ann Contoso"
        assert db.scalar(sa.select(UpstreamIdentity.provider).where(UpstreamIdentity.user_id == user.id)) == "contoso"
