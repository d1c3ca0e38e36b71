"""Driving the security-key pages over HTTP with the software authenticator (what static/webauthn.js does in a
browser: fetch the options, answer them, post the answer in the form's hidden `credential` field)."""
from __future__ import annotations

import html
import json
import re

import sqlalchemy as sa

from idp.audit import Actor
from idp.factors import webauthn
from idp.models import SecondFactor, User
from tests.support.browser import Browser, Page
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.soft_authenticator import SoftAuthenticator


def options_on(page: Page) -> dict:
    """The inline options of a sign-in step's page (data-options attribute)."""
    found = re.search(r'data-options="([^"]*)"', page.text)
    assert found, page.text[:3000]
    return json.loads(html.unescape(found.group(1)))


def csrf_on(page: Page) -> str:
    return next(f.fields["csrf_token"] for f in forms(page.text) if "csrf_token" in f.fields)


def fetch_options(client, page: Page, url: str) -> dict:  # noqa: ANN001
    reply = client.post(url, headers={"X-CSRFToken": csrf_on(page), "Accept": "application/json"})
    assert reply.status_code == 200, reply.get_data(as_text=True)
    return reply.get_json()


def check_email(browser: Browser, smtp, email: str) -> Page:  # noqa: ANN001
    """The first set-up from Profile > Security starts with a code sent to the account's address."""
    from tests.support.smtp import latest_code

    page = browser.open("/account/security/check-email?next=/account/security/keys/add")
    assert "Confirm your email address" in page.text, page.text[:2000]
    form = next(f for f in forms(page.text) if f.action == "/account/security/check-email")
    return browser.open(form.action, "POST", {**form.fields,
                                              "code": latest_code(smtp, email, count=len(smtp.to(email)))})


def add_key(browser: Browser, client, key: SoftAuthenticator, name: str = "My key", *, smtp=None,  # noqa: ANN001
            email: str = "alice@example.com", **bend) -> Page:
    """Profile > Security > Add a security key or passkey (the account email check first, when asked)."""
    page = browser.open("/account/security/keys/add")
    if "Confirm your email address" in page.text:
        assert smtp is not None, "the first set-up needs the emailed account check: pass smtp"
        page = check_email(browser, smtp, email)
    assert page.status == 200 and "Add a security key or passkey" in page.text, page.text[:2000]
    body = fetch_options(client, page, "/account/security/keys/options")
    answer = key.register(body["options"], **bend)
    return browser.open("/account/security/keys/add", "POST", {
        "csrf_token": csrf_on(page), "name": name, "challenge_id": str(body["challenge_id"]),
        "credential": json.dumps(answer)})


def answer_step(browser: Browser, page: Page, key: SoftAuthenticator, *, remember: bool = False, **bend) -> Page:
    """Answer the security-key (or passkey) step shown on `page`."""
    values = {"credential": json.dumps(key.assertion(options_on(page), **bend))}
    if remember:
        values["remember_browser"] = "yes"
    return browser.submit(page, "credential", values)


def confirm_with_key(browser: Browser, client, page: Page, key: SoftAuthenticator) -> Page:  # noqa: ANN001
    """On "Confirm it's you": the security key section."""
    body = fetch_options(client, page, "/account/security/keys/confirm-options")
    form = next(f for f in forms(page.text) if f.action == "/account/security/confirm/key")
    return browser.open(form.action, "POST", {**form.fields, "challenge_id": str(body["challenge_id"]),
                                              "credential": json.dumps(key.assertion(body["options"]))})


def register_key(services, email: str, key: SoftAuthenticator, name: str = "My key") -> int:  # noqa: ANN001
    """A key registered through the domain code (no pages); returns the factor id."""
    with services.database.session() as db:
        person = db.scalar(sa.select(User).where(User.email == email))
        bound = webauthn.binding("sid", "setup")
        challenge_id, options = webauthn.registration_options(db, services.config, person, bound)
        factor = webauthn.register(db, services.config, person, bound, challenge_id,
                                   json.dumps(key.register(json.loads(options))), name, Actor("test"))
        return factor.id


def key_names(services, email: str) -> list[str]:  # noqa: ANN001
    with services.database.session() as db:
        person = db.scalar(sa.select(User).where(User.email == email))
        return [f.name for f in db.scalars(sa.select(SecondFactor).where(
            SecondFactor.user_id == person.id, SecondFactor.kind == "webauthn").order_by(SecondFactor.id))]


def profile_sign_in(browser: Browser, email: str) -> Page:
    return browser.sign_in(browser.open("/account/security"), email, PASSWORD)


def claims_of(client, rp, done: Page, verifier: str) -> dict:  # noqa: ANN001
    """Redeem the authorization code; the ID token's claims (amr, acr, ...)."""
    import base64

    from tests.support.oidc import decode_id_token

    assert done.location and done.location.startswith(rp.redirect_uri), done.text[:3000]
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    response = client.post("/token", data={"grant_type": "authorization_code", "code": done.query["code"],
                                           "redirect_uri": rp.redirect_uri, "code_verifier": verifier},
                           headers={"Authorization": f"Basic {basic}"})
    assert response.status_code == 200, response.get_data(as_text=True)
    return decode_id_token(response.get_json()["id_token"], client.get("/jwks").get_json())
