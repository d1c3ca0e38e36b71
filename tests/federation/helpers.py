"""Steps of a federated sign-in for the tests: authorize, choose a provider, sign in upstream, redeem."""
from __future__ import annotations

import base64
from dataclasses import dataclass

import pyotp
import sqlalchemy as sa

from idp.models import AuditEvent, BrowserSession, UpstreamIdentity, User
from idp.services import Services
from tests.support.browser import Page
from tests.support.factory import PASSWORD, RegisteredClient
from tests.support.federated_browser import FederatedBrowser
from tests.support.oidc import authorize_url, decode_id_token, pkce_pair


@dataclass
class Started:
    page: Page
    verifier: str


def authorize(web: FederatedBrowser, rp: RegisteredClient, **extra: str) -> Started:
    verifier, challenge = pkce_pair()
    page = web.open(authorize_url(rp.client_id, rp.redirect_uri, challenge, **extra))
    return Started(page, verifier)


def choose(web: FederatedBrowser, page: Page, provider: str) -> Page:
    """Click "Sign in with <provider>" (or "Continue to ..." on the home-realm page)."""
    assert 'name="provider"' in page.text, page.text[:3000]
    return web.submit(page, "provider", {"provider": provider})


def upstream_password(web: FederatedBrowser, page: Page, email: str, password: str = PASSWORD,
                      totp_secret: str | None = None) -> Page:
    """Sign in on the upstream IdP's own pages (password, then its authenticator app step when enrolled)."""
    assert 'name="password"' in page.text, (page.url, page.status, page.text[:3000])
    page = web.sign_in(page, email, password)
    if totp_secret is not None:
        assert 'name="code"' in page.text, page.text[:3000]
        page = web.submit(page, "code", {"code": pyotp.TOTP(totp_secret).now()})
    return page


def local_totp(web: FederatedBrowser, page: Page, secret: str) -> Page:
    assert 'name="code"' in page.text and "Authenticator" in page.text, page.text[:3000]
    return web.submit(page, "code", {"code": pyotp.TOTP(secret).now()})


def id_token_claims(web: FederatedBrowser, rp: RegisteredClient, done: Page, verifier: str) -> dict:
    """Redeem the code the application got, and return its ID token's claims."""
    assert done.location and done.location.startswith(rp.redirect_uri), (done.status, done.url, done.text[:3000])
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    response = web.http.post(f"{web.base}/token", headers={"Authorization": f"Basic {basic}"},
                             data={"grant_type": "authorization_code", "code": done.query["code"],
                                   "redirect_uri": rp.redirect_uri, "code_verifier": verifier})
    assert response.status_code == 200, response.text
    return decode_id_token(response.json()["id_token"], web.http.get(f"{web.base}/jwks").json())


def counts(services: Services) -> dict[str, int]:
    """What a federated sign-in may create: compare before/after to show a refusal created nothing."""
    with services.database.session() as db:
        return {"users": db.scalar(sa.select(sa.func.count(User.id))),
                "identities": db.scalar(sa.select(sa.func.count(UpstreamIdentity.id))),
                "sessions": db.scalar(sa.select(sa.func.count(BrowserSession.id)))}


def audit_details(services: Services, event: str = "federated_sign_in") -> list[tuple[str, dict]]:
    with services.database.session() as db:
        rows = db.scalars(sa.select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id))
        return [(row.outcome, dict(row.details)) for row in rows]


def identity_of(services: Services, email: str) -> list[tuple[str, str]]:
    with services.database.session() as db:
        rows = db.execute(sa.select(UpstreamIdentity.provider, UpstreamIdentity.subject).join(User)
                          .where(User.email == email)).all()
        return [tuple(r) for r in rows]
