"""Second factors for tests: set up through the real domain code (idp.factors), committed; and the
steps of a sign-in that reaches them (the `rp` fixture, start, amr_of, ...)."""
from __future__ import annotations

import base64
import re
from datetime import timedelta

import pyotp
import pytest
import sqlalchemy as sa

from idp.clock import now
from idp.factors import enrolled, recovery, totp
from idp.models import AuditEvent, Organisation, User
from idp.services import Services

from .browser import Browser, Page
from .factory import PASSWORD
from .oidc import authorize_url, decode_id_token, pkce_pair

EMAIL = "alice@example.com"


def _user(db, email: str) -> User:  # noqa: ANN001
    return db.scalar(sa.select(User).where(User.email == email))


def enrol_totp(services: Services, email: str) -> str:
    """A confirmed authenticator for `email`; returns its base32 secret."""
    with services.database.session() as db:
        user = _user(db, email)
        factor = totp.start_enrolment(db, services, user)
        enrolled.activate(db, user, factor)
        return totp.factor_secret(services, factor)


def enrol_side_channel(services: Services, email: str, kind: str, target: str | None = None) -> None:
    """A confirmed email (default: the account's address) or SMS factor (E.164 `target`)."""
    with services.database.session() as db:
        user = _user(db, email)
        factor = enrolled.new_pending(db, user, kind, target or user.email)
        enrolled.activate(db, user, factor)


def give_recovery_codes(services: Services, email: str) -> list[str]:
    with services.database.session() as db:
        return recovery.generate(db, services, _user(db, email))


def require_2fa(services: Services, slug: str = "default", *, grace_days: int = 0, **settings: object) -> None:
    """The organisation requires 2FA since yesterday (grace over unless `grace_days` says otherwise)."""
    with services.database.session() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.slug == slug))
        org.require_2fa, org.grace_days, org.enforced_since = True, grace_days, now() - timedelta(days=1)
        for key, value in settings.items():
            setattr(org, key, value)


def code_at(secret: str, clock, seconds: float = 0, digits: int = 6) -> str:  # noqa: ANN001
    """The authenticator's code at the frozen clock's time (+ seconds)."""
    return pyotp.TOTP(secret, digits=digits).at(clock.current + timedelta(seconds=seconds))


def audit_events(services: Services, event: str) -> list[AuditEvent]:
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.event == event).order_by(AuditEvent.id)))
        db.expunge_all()
        return rows


def user_row(services: Services, email: str) -> User:
    with services.database.session() as db:
        user = _user(db, email)
        user.groups, user.permissions   # noqa: B018  (loaded while attached: they load on first read)
        db.expunge_all()
        return user


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


def start(browser: Browser, rp, email: str = EMAIL) -> tuple[Page, str]:  # noqa: ANN001
    """Authorize, then the password step; the page after it and the PKCE verifier."""
    verifier, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    return browser.sign_in(page, email, PASSWORD), verifier


def amr_of(client, rp, done: Page, verifier: str) -> list[str]:  # noqa: ANN001
    """Redeem the authorization code and return the ID token's amr."""
    assert done.location and done.location.startswith(rp.redirect_uri), done.text[:3000]
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    response = client.post("/token", data={"grant_type": "authorization_code", "code": done.query["code"],
                                           "redirect_uri": rp.redirect_uri, "code_verifier": verifier},
                           headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return decode_id_token(response.get_json()["id_token"], client.get("/jwks").get_json())["amr"]


def fresh(app) -> Browser:  # noqa: ANN001
    """Another browser (no cookies): as after signing out."""
    return Browser(client=app.test_client())


def secret_on(page: Page) -> str:
    found = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text)
    assert found, page.text[:3000]
    return found.group(1).replace(" ", "")


def codes_on(page: Page) -> list[str]:
    return re.findall(r"<li>(?:<code>)?([a-z0-9]{4}-[a-z0-9]{4}-[a-z0-9]{4})(?:</code>)?</li>", page.text)


def sign_in_in_grace_period(browser: Browser, services: Services, path: str) -> Page:
    """2FA required with 14 days of grace: the password alone signs EMAIL in at `path` (past the notice)."""
    require_2fa(services, grace_days=14)
    page = browser.sign_in(browser.open(path), EMAIL, PASSWORD)
    if "Continue" in page.text and "days left" in page.text:                      # grace notice
        page = browser.submit(page, "step", {})
    return page
