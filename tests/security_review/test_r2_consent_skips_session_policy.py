"""Security review R2: an authorization code issued from the consent page (or /authorize/continue) is not
checked against the person's CURRENT policy (idp.browser.session_policy), unlike /authorize.

A sign-in with only a password reaches the consent page. Before "Allow" is posted, the organisation starts
requiring 2FA (grace over). /authorize with the same session now refuses it (sign in again with a second
factor), but the pending consent POST still issues an authorization code — and tokens — for the
password-only session: idp/web/oauth/consent.py consent()/resume() -> authorize.complete_authorization,
which never calls _still_satisfies_policy (idp/web/oauth/authorize.py:78-101; complete_authorization at
152 and the callers at idp/web/oauth/consent.py:87 and :110)."""
from __future__ import annotations

from urllib.parse import urljoin

import pytest

from tests.support.factors import require_2fa
from tests.support.forms import forms
from tests.support.oidc_client import Authorization, Rp, counts, query_of

EMAIL = "alice@example.com"


@pytest.fixture
def alice(factory):  # noqa: ANN001, ANN201
    return factory.user(EMAIL, name="Alice Example")


def _consent_form(page):  # noqa: ANN001, ANN202
    return next(f for f in forms(page.text) if any(b.get("name") == "decision" for b in f.buttons))


def test_consent_post_does_not_issue_a_code_the_current_policy_refuses(client, browser, factory, config,
                                                                     services, alice):
    rp = Rp(client, browser, factory.client(consent=True), config.issuer)
    params, verifier = rp.params()
    page = rp.open_authorize(params)
    page = rp.browser.sign_in(page, EMAIL, "correct horse battery staple")       # password only: no 2FA yet
    assert "Allow Test app?" in page.text, page.text[:2000]

    require_2fa(services)     # the organisation now requires 2FA; the grace period is over

    # The consent page that was already open still gets a code for it (a fresh /authorize would refuse).
    before = counts(services)["codes"]
    form = _consent_form(page)
    done = rp.browser.open(urljoin(page.url, form.action or page.url), "POST", {**form.fields, "decision": "allow"})
    query = query_of(done.location) if done.location else {}
    issued = "code" in query
    tokens = rp.exchange(Authorization(done.location, params, verifier)).status if issued else None
    assert not issued and counts(services)["codes"] == before, (
        f"code issued for a session the current 2FA policy refuses (token endpoint: {tokens})")


def test_held_request_from_an_existing_session_is_not_answered_after_the_policy_changed(
        client, browser, factory, config, services, alice):
    """The same through hold_request: an existing password-only session asks a consent-requiring client;
    2FA becomes required while the consent page is open; "Allow" still yields a code."""
    plain = Rp(client, browser, factory.client(), config.issuer)
    params, _ = plain.params()
    page = plain.open_authorize(params)
    page = plain.browser.sign_in(page, EMAIL, "correct horse battery staple")
    assert page.location and "code=" in page.location                          # signed in, password only

    rp = Rp(client, browser, factory.client(consent=True), config.issuer)
    params, verifier = rp.params()
    page = rp.open_authorize(params)                                            # answered from the session
    assert "Allow Test app?" in page.text, page.text[:2000]
    require_2fa(services)
    form = _consent_form(page)
    done = rp.browser.open(urljoin(page.url, form.action or page.url), "POST", {**form.fields, "decision": "allow"})
    query = query_of(done.location) if done.location else {}
    assert "code" not in query, "code issued for a session the current 2FA policy refuses"
