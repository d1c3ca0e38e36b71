""""Forgot password?" over a real SMTP server: the same page whether or not the account exists, a single-use
30-minute link (a digest stored), the password rules, every session and refresh token ended, and the next
sign-in still asks for the second factor."""
from __future__ import annotations

import base64
import re

import pytest
import sqlalchemy as sa

from idp.models import AccountToken, AuditEvent, BrowserSession, LoginTransaction, Token, User
from idp.security.secrets import digest
from tests.support.factors import code_at, enrol_totp, fresh, rp  # noqa: F401  (rp: fixture)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.smtp import email_config, smtp  # noqa: F401  (fixture: a real SMTP server)

EMAIL = "alice@example.com"
NEW = "violet tangerine harbour cactus"
LINK = re.compile(r"http://localhost(/reset-password/[A-Za-z0-9_-]+)")


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def ask(browser, email: str):  # noqa: ANN001, ANN201
    page = browser.open("/forgot-password")
    return browser.submit(page, "email", {"email": email})


def link_in(smtp, email: str = EMAIL, count: int = 1) -> str:  # noqa: ANN001, F811
    body = smtp.wait_for(email, subject_contains="Reset your", count=count).get_body(("plain",)).get_content()
    found = LINK.search(body)
    assert found, body
    return found.group(1)


def reset(browser, path: str, password: str = NEW, confirm: str | None = None, **extra: str):  # noqa: ANN001, ANN201
    page = browser.open(path)
    assert page.status == 200, page.text[:2000]
    return browser.submit(page, "password", {"password": password, "confirm": confirm or password, **extra})


def password_works(services, password: str, email: str = EMAIL) -> bool:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        return services.passwords.verify(user.password_hash, password)


def test_the_password_page_links_to_forgot_password(browser):  # noqa: ANN001
    page = browser.open("/account/security")
    assert 'href="/forgot-password"' in page.text and "Forgot password?" in page.text


def test_same_page_whether_or_not_the_account_exists(browser, alice, smtp):  # noqa: ANN001, F811
    known = ask(browser, EMAIL)
    unknown = ask(browser, "nobody@example.com")
    strip = lambda page: page.text.replace(EMAIL, "X").replace("nobody@example.com", "X")  # noqa: E731
    assert known.status == unknown.status == 200 and strip(known) == strip(unknown)
    assert "Check your email" in known.text
    assert link_in(smtp).startswith("/reset-password/")
    assert smtp.to("nobody@example.com") == []


def test_the_token_is_stored_as_a_digest(browser, alice, services, smtp):  # noqa: ANN001, F811
    ask(browser, EMAIL)
    token = link_in(smtp).rsplit("/", 1)[1]
    with services.database.session() as db:
        row = db.scalar(sa.select(AccountToken))
        assert row.token_digest == digest(token) and token not in (row.token_digest, row.email)
        assert (row.expires_at - row.created_at).total_seconds() == 30 * 60


def test_reset_signs_out_everywhere_and_the_next_sign_in_asks_for_the_second_factor(  # noqa: ANN201
        app, browser, client, alice, rp, services, smtp, frozen_clock):  # noqa: ANN001, F811
    secret = enrol_totp(services, EMAIL)
    # signed in elsewhere, with a refresh token
    rp_tokens = _signed_in_with_refresh_token(app, services, secret, frozen_clock)
    ask(browser, EMAIL)
    done = reset(browser, link_in(smtp))
    assert done.status == 200 and "Your password was changed" in done.text
    assert password_works(services, NEW) and not password_works(services, PASSWORD)
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(BrowserSession.id)).where(BrowserSession.ended_at.is_(None))) == 0
        assert db.scalar(sa.select(Token.revoked_at).where(Token.id == rp_tokens)) is not None
        event = db.scalar(sa.select(AuditEvent).where(AuditEvent.event == "password_reset"))
        assert event.details["sessions_ended"] == 1
    assert "reset with a link" in smtp.wait_for(EMAIL, "security notice").get_body(("plain",)).get_content()
    # the reset did not sign anyone in: signing in with the new password still asks for the code
    verifier, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    page = browser.sign_in(page, EMAIL, NEW)
    assert page.location is None and "Code from your authenticator app" in page.text
    frozen_clock.advance(seconds=31)
    assert browser.submit(page, "code", {"code": code_at(secret, frozen_clock)}).location.startswith(rp.redirect_uri)


def _signed_in_with_refresh_token(app, services, secret, frozen_clock) -> int:  # noqa: ANN001
    from tests.support.factory import Factory

    client_reg = Factory(services).client(refresh_tokens=True)
    other = fresh(app)
    verifier, challenge = pkce_pair()
    page = other.sign_in(other.open(authorize_url(client_reg.client_id, client_reg.redirect_uri, challenge,
                                                  scope="openid offline_access")), EMAIL, PASSWORD)
    done = other.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    basic = base64.b64encode(f"{client_reg.client_id}:{client_reg.secret}".encode()).decode()
    reply = other.client.post("/token", data={"grant_type": "authorization_code", "code": done.query["code"],
                                              "redirect_uri": client_reg.redirect_uri, "code_verifier": verifier},
                              headers={"Authorization": f"Basic {basic}"})
    assert "refresh_token" in reply.get_json(), reply.get_json()
    with services.database.session() as db:
        return db.scalar(sa.select(Token.id).where(Token.refresh_token_digest.is_not(None)))


def test_a_link_works_once(browser, alice, services, smtp):  # noqa: ANN001, F811
    ask(browser, EMAIL)
    path = link_in(smtp)
    page = browser.open(path)
    assert reset(browser, path).status == 200
    again = browser.submit(page, "password", {"password": "another fine passphrase", "confirm": "another fine passphrase"})
    assert again.status == 400 and "not valid any more" in again.text
    assert browser.open(path).status == 400
    assert password_works(services, NEW)


def test_an_expired_link_is_refused(browser, alice, services, smtp, frozen_clock):  # noqa: ANN001, F811
    ask(browser, EMAIL)
    path = link_in(smtp)
    frozen_clock.advance(minutes=31)
    assert browser.open(path).status == 400
    assert password_works(services, PASSWORD)


def test_only_the_newest_link_works(browser, alice, services, smtp, frozen_clock):  # noqa: ANN001, F811
    ask(browser, EMAIL)
    first = link_in(smtp)
    frozen_clock.advance(seconds=61)
    ask(browser, EMAIL)
    second = link_in(smtp, count=2)
    assert first != second and browser.open(first).status == 400
    assert reset(browser, second).status == 200


def test_a_link_for_another_account_is_refused(browser, factory, alice, services, smtp):  # noqa: ANN001, F811
    factory.user("bob@example.com")
    ask(browser, EMAIL)
    path = link_in(smtp)
    refused = reset(browser, path, username="bob@example.com")          # posted for Bob's account
    assert refused.status == 400 and "for another account" in refused.text
    assert password_works(services, PASSWORD) and password_works(services, PASSWORD, "bob@example.com")


def test_an_email_verification_link_is_not_a_reset_link(browser, alice, services, smtp):  # noqa: ANN001, F811
    from idp.account_recovery import tokens

    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        token = tokens.issue(db, user, tokens.VERIFY_EMAIL, tokens_ttl())
    assert browser.open(f"/reset-password/{token}").status == 400
    assert browser.open(f"/reset-password/{'x' * 500}").status == 400


def tokens_ttl():  # noqa: ANN201
    from datetime import timedelta

    return timedelta(hours=1)


def test_password_rules_apply(browser, alice, services, smtp):  # noqa: ANN001, F811
    ask(browser, EMAIL)
    path = link_in(smtp)
    for password, confirm, words in [("password123", None, "common"), ("short", None, "at least"),
                                     (NEW, NEW + "x", "not the same"), ("alice@example.com!!", None, "email")]:
        page = reset(browser, path, password, confirm)
        assert page.status == 400 and words in page.text, (password, page.text[:2000])
    assert password_works(services, PASSWORD)
    page = browser.open(path)
    assert 'autocomplete="new-password"' in page.text and 'autocomplete="username"' in page.text


def test_sign_ins_in_progress_stop(browser, app, alice, services, smtp, rp):  # noqa: ANN001, F811
    enrol_totp(services, EMAIL)
    half = fresh(app)
    verifier, challenge = pkce_pair()
    half.sign_in(half.open(authorize_url(rp.client_id, rp.redirect_uri, challenge)), EMAIL, PASSWORD)
    ask(browser, EMAIL)
    reset(browser, link_in(smtp))
    with services.database.session() as db:
        assert db.scalar(sa.select(LoginTransaction.status).where(LoginTransaction.user_id.is_not(None))) == "failed"


def test_resends_are_throttled(browser, alice, smtp, frozen_clock):  # noqa: ANN001, F811
    for _ in range(3):
        ask(browser, EMAIL)
    link_in(smtp)
    assert len(smtp.to(EMAIL, "Reset your")) == 1
    for _ in range(6):
        frozen_clock.advance(seconds=61)
        ask(browser, EMAIL)
    assert len(smtp.to(EMAIL, "Reset your")) == 5      # at most five an hour


def test_disabled_accounts_and_accounts_without_a_password_get_nothing(browser, factory, services, smtp):  # noqa: ANN001, F811
    factory.user("invited@example.com", password=None)
    factory.user("gone@example.com")
    with services.database.session() as db:
        db.scalar(sa.select(User).where(User.email == "gone@example.com")).is_active = False
    for address in ("invited@example.com", "gone@example.com"):
        assert "Check your email" in ask(browser, address).text
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(AccountToken.id))) == 0
