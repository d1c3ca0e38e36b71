"""Consent: a client with require_consent shows the scopes it wants, once per client (remembered);
"Deny" sends access_denied back; prompt=consent asks again; prompt=none cannot ask."""
from __future__ import annotations

from urllib.parse import urljoin

from tests.support.forms import forms
from tests.support.oidc_client import Authorization, counts, query_of

ISSUER = "http://localhost"


def _consent_form(page):  # noqa: ANN001, ANN202
    return next(f for f in forms(page.text) if any(b.get("name") == "decision" for b in f.buttons))


def _decide(rp, page, decision: str, *, csrf: bool = True):  # noqa: ANN001, ANN202
    form = _consent_form(page)
    data = {**form.fields, "decision": decision}
    if not csrf:
        data.pop("csrf_token")
    return rp.browser.open(urljoin(page.url, form.action or page.url), "POST", data)


def _to_consent(rp, **extra):  # noqa: ANN001, ANN003, ANN202
    params, verifier = rp.params(**extra)
    page = rp.open_authorize(params)
    if 'name="password"' in page.text:
        page = rp.browser.sign_in(page, "alice@example.com", "correct horse battery staple")
    return page, params, verifier


def test_consent_page_lists_scopes_and_allow_issues_a_code(make_rp, alice, services):
    rp = make_rp(consent=True)
    page, params, verifier = _to_consent(rp, scope="openid email offline_access")
    assert page.status == 200 and "Allow Test app?" in page.text
    for words in ("Know who you are", "See your email address", "Stay signed in"):
        assert words in page.text
    assert "See your name" not in page.text
    assert counts(services)["codes"] == 0 and counts(services)["consents"] == 0
    done = _decide(rp, page, "allow")
    query = query_of(done.location)
    assert query["state"] == params["state"] and query["iss"] == ISSUER
    assert rp.exchange(Authorization(done.location, params, verifier)).status == 200
    assert counts(services)["consents"] == 1


def test_consent_is_remembered_per_client(make_rp, alice):
    rp, other = make_rp(consent=True), make_rp(consent=True)
    page, _, _ = _to_consent(rp)
    _decide(rp, page, "allow")
    again = rp.sign_in()
    assert "code" in again.query, "no second consent page for the same client and scopes"
    page, _, _ = _to_consent(other)
    assert "Allow Test app?" in page.text, "another client asks for itself"


def test_more_scopes_ask_again(make_rp, alice):
    rp = make_rp(consent=True)
    page, _, _ = _to_consent(rp, scope="openid")
    _decide(rp, page, "allow")
    page, _, _ = _to_consent(rp, scope="openid email")
    assert "See your email address" in page.text


def test_deny_redirects_with_access_denied_and_issues_nothing(make_rp, alice, services):
    rp = make_rp(consent=True)
    page, params, _ = _to_consent(rp)
    done = _decide(rp, page, "deny")
    query = query_of(done.location)
    assert done.location.startswith(rp.reg.redirect_uri)
    assert query["error"] == "access_denied" and query["state"] == params["state"] and query["iss"] == ISSUER
    assert query.get("error_description") and "code" not in query
    assert counts(services)["codes"] == 0 and counts(services)["consents"] == 0
    page, _, _ = _to_consent(rp)
    assert "Allow Test app?" in page.text, "a refusal is not remembered as consent"


def test_consent_post_without_csrf_token_changes_nothing(make_rp, alice, services):
    rp = make_rp(consent=True)
    page, _, _ = _to_consent(rp)
    refused = _decide(rp, page, "allow", csrf=False)
    assert refused.status == 400 and refused.location is None
    assert counts(services)["codes"] == 0 and counts(services)["consents"] == 0


def test_prompt_consent_asks_even_when_remembered(make_rp, alice):
    rp = make_rp(consent=True)
    page, _, _ = _to_consent(rp)
    _decide(rp, page, "allow")
    page, _, _ = _to_consent(rp, prompt="consent")
    assert "Allow Test app?" in page.text


def test_prompt_consent_asks_even_for_a_client_without_require_consent(rp):
    page, _, _ = _to_consent(rp, prompt="consent")
    assert "Allow Test app?" in page.text


def test_prompt_none_when_consent_is_needed_is_consent_required(make_rp, alice, services):
    rp = make_rp(consent=True)
    plain = make_rp()
    plain.sign_in()                                       # signed in, but never consented to `rp`
    params, _ = rp.params(prompt="none")
    query = query_of(rp.open_authorize(params).location)
    assert query["error"] == "consent_required" and query["state"] == params["state"] and query["iss"] == ISSUER
    assert counts(services)["consents"] == 0


def test_client_without_require_consent_shows_no_page(rp):
    assert "code" in rp.sign_in().query


def test_consent_page_without_pending_request(make_rp, alice, client):
    response = client.get("/consent")
    assert response.status_code == 400
