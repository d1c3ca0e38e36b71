"""Control characters in any query or form value (idp.web.input_guard): 400 with a readable page (JSON
invalid_request on the back channel), before any view runs, nothing stored. PostgreSQL refuses NUL in
text columns, which used to make these requests 500."""
from __future__ import annotations

import pytest

from tests.support.oidc import authorize_url, pkce_pair

from .helpers import EMAIL, snapshot


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    factory.user(EMAIL)
    return factory.client()


def _password_page(browser, rp):  # noqa: ANN001, ANN202
    _, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    assert page.status == 200 and 'name="password"' in page.text
    return page


def _refused_page(page) -> None:  # noqa: ANN001
    assert page.status == 400, (page.status, page.text[:500])
    assert "characters that are not allowed" in page.text
    assert "Traceback" not in page.text


@pytest.mark.parametrize("email", ["alice\x00@example.com", "alice@example.com\x1b", "al\x85ice@example.com"])
def test_control_character_in_the_sign_in_email_is_400_and_changes_nothing(browser, rp, services, email):  # noqa: ANN001
    page = _password_page(browser, rp)
    before = snapshot(services)
    _refused_page(browser.sign_in(page, email, "whatever-password"))
    assert snapshot(services) == before


def test_nul_in_forgot_password_is_400_and_sends_nothing(browser, factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    page = browser.open("/forgot-password")
    before = snapshot(services)
    _refused_page(browser.submit(page, "email", {"email": "alice@example.com\x00"}))
    assert snapshot(services) == before


@pytest.mark.parametrize("name,value", [("login_hint", "alice\x00@example.com"), ("state", "a\nb"),
                                        ("nonce", "n\x7f"), ("scope", "openid\x00email")])
def test_control_character_in_an_authorization_parameter_is_a_400_page(browser, rp, services, name, value):  # noqa: ANN001
    _, challenge = pkce_pair()
    before = snapshot(services)
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge, **{name: value}))
    _refused_page(page)
    assert page.location is None  # nothing is sent to the redirect URI from a request we cannot trust
    assert snapshot(services) == before


def test_control_character_in_a_parameter_name_is_refused(client):  # noqa: ANN001
    response = client.get("/forgot-password?a%00b=1")
    assert response.status_code == 400


def test_back_channel_gets_json_invalid_request(client, rp):  # noqa: ANN001
    response = client.post("/token", data={"grant_type": "authorization_code", "code": "x\x00y",
                                           "client_id": rp.client_id, "client_secret": rp.secret})
    assert response.status_code == 400
    assert response.get_json()["error"] == "invalid_request"
    assert response.headers["Cache-Control"] == "no-store"


def test_line_breaks_are_allowed_in_form_fields_but_not_in_query_values() -> None:
    from idp.web.input_guard import bad_values

    assert bad_values([("redirect_uris", "https://a.example/cb\r\nhttps://b.example/cb\t")], form=True) == []
    assert bad_values([("q", "a\nb")], form=False) == ["q"]
    assert bad_values([("x", "\u0000")], form=True) == ["x"]
    assert bad_values([("x", "caf\u00e9 \u2603")], form=False) == []
