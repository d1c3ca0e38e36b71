"""Profile > Security self-service: change password (current one required, password rules, other browsers
signed out), email address verification and change (link to the new address, notice to the old one, emailed
codes follow the verified address), and "Where you're signed in" (sign out one, sign out everywhere else,
last seen written at most once a minute)."""
from __future__ import annotations

import base64
import re

import pytest
import sqlalchemy as sa

from idp.factors import enrolled
from idp.models import AttemptCounter, AuditEvent, BrowserSession, SecondFactor, Token, User
from tests.support.factors import enrol_side_channel, fresh, rp  # noqa: F401  (rp: fixture)
from tests.support.factory import PASSWORD
from tests.support.forms import forms
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.smtp import email_config, latest_code, smtp  # noqa: F401  (fixture: a real SMTP server)

EMAIL = "alice@example.com"
NEW = "violet tangerine harbour cactus"
VERIFY = re.compile(r"http://localhost(/verify-email/[A-Za-z0-9_-]+)")
CHROME = "Mozilla/5.0 (X11; Linux x86_64) AppleWebKit/537.36 (KHTML, like Gecko) Chrome/130.0 Safari/537.36"
FIREFOX = "Mozilla/5.0 (Windows NT 10.0; Win64; x64; rv:128.0) Gecko/20100101 Firefox/128.0"


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice")


def sign_in(browser, email: str = EMAIL, password: str = PASSWORD):  # noqa: ANN001, ANN201
    return browser.sign_in(browser.open("/account/security"), email, password)


def post(browser, page, action: str, **values: str):  # noqa: ANN001, ANN201
    form = next(f for f in forms(page.text) if f.action == action)
    return browser.open(action, "POST", {**form.fields, **values})


def change_email_page(browser, smtp, email: str = EMAIL):  # noqa: ANN001, ANN201, F811
    """Change email address; with no second factor yet, a code sent to the CURRENT address is confirmed first
    (security review R2-2: a password alone must not move the address the first-set-up check relies on)."""
    page = browser.open("/account/security/email")
    if "Confirm your email address" in page.text:
        page = post(browser, page, "/account/security/check-email", code=latest_code(smtp, email))
    assert "Change email address" in page.text, page.text[:1500]
    return page


def user_row(services, email: str = EMAIL) -> User | None:  # noqa: ANN001
    with services.database.session() as db:
        row = db.scalar(sa.select(User).where(User.email == email))
        db.expunge_all()
        return row


def live_sessions(services) -> list[BrowserSession]:  # noqa: ANN001
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(BrowserSession).where(BrowserSession.ended_at.is_(None))))
        db.expunge_all()
        return rows


# --------------------------------------------------------------------------- change password

def test_change_password_needs_the_current_one_and_signs_out_other_browsers(app, browser, alice, services, smtp):  # noqa: ANN001, F811
    other = fresh(app)
    sign_in(other)
    sign_in(browser)
    page = browser.open("/account/security/password")
    assert 'autocomplete="current-password"' in page.text and page.text.count('autocomplete="new-password"') == 2
    wrong = post(browser, page, "/account/security/password", current_password="nope", password=NEW, confirm=NEW)
    assert wrong.status == 400 and "current password is not right" in wrong.text
    weak = post(browser, page, "/account/security/password", current_password=PASSWORD, password="password1",
                confirm="password1")
    assert weak.status == 400 and "common" in weak.text
    done = post(browser, page, "/account/security/password", current_password=PASSWORD, password=NEW, confirm=NEW)
    assert "Your password was changed. 1 other browser signed out." in done.text
    assert len(live_sessions(services)) == 1                       # this browser stays signed in
    assert 'name="password"' in other.open("/account/security").text       # the other one must sign in again
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        assert services.passwords.verify(user.password_hash, NEW)
        events = [e.event for e in db.scalars(sa.select(AuditEvent).order_by(AuditEvent.id))]
        assert "password_change_refused" in events and "password_changed" in events
    assert "password of your account was changed" in smtp.wait_for(EMAIL, "security notice").get_body(
        ("plain",)).get_content()


# --------------------------------------------------------------------------- email address

def verify_link(smtp, address: str, count: int = 1) -> str:  # noqa: ANN001, F811
    body = smtp.wait_for(address, "Confirm your email", count=count).get_body(("plain",)).get_content()
    return VERIFY.search(body).group(1)


def test_change_email_with_a_link_and_a_notice_to_the_old_address(browser, alice, services, smtp, frozen_clock):  # noqa: ANN001, F811
    enrol_side_channel(services, EMAIL, "email")            # emailed codes go to the account's address
    page = sign_in(browser)
    browser.submit(page, "code", {"code": latest_code(smtp, EMAIL)})
    frozen_clock.advance(minutes=6)
    page = browser.open("/account/security/email")
    assert "Confirm it" in page.text                           # a fresh proof first
    code_page = post(browser, page, "/account/security/confirm/send", factor_id=str(email_factor_id(services)))
    page = post(browser, code_page, "/account/security/confirm", code=latest_code(smtp, EMAIL, count=2))
    assert "Change email address" in page.text
    done = post(browser, page, "/account/security/email", email="Alice.New@Example.org")
    assert "We sent a link to alice.new@example.org" in done.text
    assert user_row(services).email == EMAIL                   # nothing changes before the link is opened
    path = verify_link(smtp, "alice.new@example.org")
    confirm = browser.open(path)
    assert "Make <strong>alice.new@example.org</strong> the email address" in confirm.text
    verified = post(browser, confirm, path)
    assert verified.status == 200 and "Email address confirmed" in verified.text
    assert user_row(services, EMAIL) is None
    moved = user_row(services, "alice.new@example.org")
    assert moved.email_verified
    with services.database.session() as db:
        assert db.scalar(sa.select(SecondFactor.target).where(SecondFactor.kind == "email")) == "alice.new@example.org"
    old_notice = smtp.wait_for(EMAIL, "security notice").get_body(("plain",)).get_content()
    assert "was changed to a" in old_notice and "example.org" in old_notice
    assert post(browser, confirm, path).status == 400          # the link works once


def email_factor_id(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return enrolled.active_factor(db, db.scalar(sa.select(User).where(User.email == EMAIL)), "email").id


def test_the_link_is_refused_for_another_signed_in_account(app, browser, factory, alice, services, smtp):  # noqa: ANN001, F811
    factory.user("bob@example.com")
    sign_in(browser)
    post(browser, change_email_page(browser, smtp), "/account/security/email", email="alice2@example.org")
    path = verify_link(smtp, "alice2@example.org")
    bob = fresh(app)
    sign_in(bob, "bob@example.com")
    refused = bob.open(path)
    assert refused.status == 400 and "another account" in refused.text
    assert post(bob, browser.open(path), path).status == 400
    assert user_row(services).email == EMAIL and user_row(services, "bob@example.com").email == "bob@example.com"
    assert post(browser, browser.open(path), path).status == 200      # the right account still can


def test_an_address_of_another_account_gets_nothing(browser, factory, alice, services, smtp):  # noqa: ANN001, F811
    factory.user("bob@example.com")
    sign_in(browser)
    page = post(browser, change_email_page(browser, smtp), "/account/security/email", email="bob@example.com")
    assert "We sent a link to bob@example.com" in page.text          # the same words as for a free address
    assert smtp.to("bob@example.com") == [] and user_row(services).email == EMAIL


def test_verify_an_unconfirmed_address(browser, alice, services, smtp):  # noqa: ANN001, F811
    assert not user_row(services).email_verified
    sign_in(browser)
    overview = browser.open("/account/security")
    assert "not confirmed yet" in overview.text
    post(browser, overview, "/account/security/email/verify")
    path = verify_link(smtp, EMAIL)
    assert post(browser, browser.open(path), path).status == 200
    assert user_row(services).email_verified
    assert "Confirmed" in browser.open("/account/security").text


def test_a_reset_link_dies_when_the_address_changes(browser, alice, services, smtp):  # noqa: ANN001, F811
    reset_page = browser.submit(browser.open("/forgot-password"), "email", {"email": EMAIL})
    assert "Check your email" in reset_page.text
    reset_path = re.search(r"http://localhost(/reset-password/\S+)",
                           smtp.wait_for(EMAIL, "Reset").get_body(("plain",)).get_content()).group(1)
    sign_in(browser)
    post(browser, change_email_page(browser, smtp), "/account/security/email", email="alice3@example.org")
    path = verify_link(smtp, "alice3@example.org")
    post(browser, browser.open(path), path)
    assert browser.open(reset_path).status == 400


# --------------------------------------------------------------------------- where you're signed in

def _sign_in_with_agent(app, agent: str, rp=None):  # noqa: ANN001, ANN202
    other = fresh(app)
    other.client.environ_base["HTTP_USER_AGENT"] = agent
    other.client.environ_base["REMOTE_ADDR"] = "203.0.113.7"
    if rp is None:
        sign_in(other)
        return other, None
    verifier, challenge = pkce_pair()
    done = other.sign_in(other.open(authorize_url(rp.client_id, rp.redirect_uri, challenge,
                                                  scope="openid offline_access")), EMAIL, PASSWORD)
    basic = base64.b64encode(f"{rp.client_id}:{rp.secret}".encode()).decode()
    reply = other.client.post("/token", data={"grant_type": "authorization_code", "code": done.query["code"],
                                              "redirect_uri": rp.redirect_uri, "code_verifier": verifier},
                              headers={"Authorization": f"Basic {basic}"})
    return other, reply.get_json()["refresh_token"]


@pytest.fixture
def refreshing_rp(factory):  # noqa: ANN001, ANN201
    return factory.client(refresh_tokens=True)


def test_sessions_are_listed_and_signed_out(app, browser, alice, services, refreshing_rp):  # noqa: ANN001
    firefox, refresh = _sign_in_with_agent(app, FIREFOX, refreshing_rp)
    chrome, _ = _sign_in_with_agent(app, CHROME)
    browser.client.environ_base["HTTP_USER_AGENT"] = CHROME
    sign_in(browser)
    page = browser.open("/account/security")
    assert "Firefox on Windows" in page.text and page.text.count('data-label="Browser">Chrome on Linux') == 2
    assert "203.0.113.7" in page.text and "Test app" in page.text and "This browser" in page.text
    with services.database.session() as db:
        firefox_id = db.scalar(sa.select(BrowserSession.id).where(BrowserSession.user_agent == FIREFOX))
    done = post(browser, page, f"/account/security/sessions/{firefox_id}/end")
    assert "Firefox on Windows is signed out" in done.text
    assert "Firefox on Windows" not in browser.open("/account/security").text
    with services.database.session() as db:
        assert db.scalar(sa.select(Token.revoked_at).where(Token.refresh_token_digest.is_not(None))) is not None
    page = browser.open("/account/security")
    post(browser, page, "/account/security/sessions/end-others")
    assert len(live_sessions(services)) == 1
    assert "Sign out everywhere else" not in browser.open("/account/security").text
    assert 'name="password"' in chrome.open("/account/security").text   # the other Chrome: signed out
    assert firefox.client.post("/token", data={"grant_type": "refresh_token", "refresh_token": refresh}).status_code != 200


def test_someone_elses_session_cannot_be_ended(app, browser, factory, alice, services):  # noqa: ANN001
    factory.user("bob@example.com")
    bob = fresh(app)
    sign_in(bob, "bob@example.com")
    sign_in(browser)
    with services.database.session() as db:
        bobs = db.scalar(sa.select(BrowserSession.id).join(User).where(User.email == "bob@example.com"))
    page = browser.open("/account/security")
    csrf = next(f.fields["csrf_token"] for f in forms(page.text) if "csrf_token" in f.fields)
    browser.open(f"/account/security/sessions/{bobs}/end", "POST", {"csrf_token": csrf})
    assert any(s.id == bobs for s in live_sessions(services))


def test_last_seen_is_written_at_most_once_a_minute(browser, alice, services, frozen_clock):  # noqa: ANN001
    sign_in(browser)
    first = live_sessions(services)[0].last_seen_at
    frozen_clock.advance(seconds=30)
    browser.open("/account/security")
    assert live_sessions(services)[0].last_seen_at == first
    frozen_clock.advance(seconds=31)
    browser.open("/account/security")
    assert live_sessions(services)[0].last_seen_at == frozen_clock.current


def test_wrong_current_passwords_are_counted_and_limited(app, browser, alice, services):  # noqa: ANN001
    """The current password on Change password is checked and counted as "Confirm it's you" is: wrong ones
    count towards the second-factor lockout, whose growing delay refuses the next tries before any check; no
    unlimited password oracle for whoever holds a session (found by the third attacker review of stop 22)."""
    sign_in(browser)
    page = browser.open("/account/security/password")
    for i in range(25):
        wrong = post(browser, page, "/account/security/password", current_password=f"guess {i}", password=NEW,
                     confirm=NEW)
        assert wrong.status == 400
    with services.database.session() as db:
        counted = db.scalar(sa.select(User.otp_failures).where(User.email == EMAIL))
        compared = db.scalar(sa.select(sa.func.count()).select_from(AuditEvent)
                             .where(AuditEvent.event == "second_factor_failure"))
    right = post(browser, page, "/account/security/password", current_password=PASSWORD, password=NEW, confirm=NEW)
    with services.database.session() as db:
        changed = services.passwords.verify(db.scalar(sa.select(User.password_hash).where(User.email == EMAIL)), NEW)
    assert counted > 0 and compared < 10, f"{compared} of 25 guesses compared, {counted} counted"
    assert right.status == 400 and "Wait" in right.text and not changed, "the delay did not hold the next try"
    assert "Too many wrong passwords in a row" in right.text and "wrong codes" not in right.text, \
        "a wrong password was refused in words about codes"
