"""Bounded authorization requests (idp.oauth.request_limits): each parameter has a documented maximum
length, the whole request too, and no parameter may be sent twice (RFC 6749 §3.1). Over a bound: the
error goes to the redirect URI as invalid_request when the client and redirect URI are valid, otherwise
a 400 page; nothing is stored (no login transaction). /authorize is rate-limited per client address."""
from __future__ import annotations

from urllib.parse import urlencode

import pytest
import sqlalchemy as sa

from idp.models import LoginTransaction
from idp.oauth.request_limits import MAX_LENGTHS, MAX_REQUEST_BYTES
from tests.support.oidc_client import query_of


def _transactions(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(LoginTransaction.id)))


def _redirected_error(page, rp) -> dict[str, str]:  # noqa: ANN001
    assert page.location and page.location.startswith(rp.reg.redirect_uri), (page.status, page.text[:300])
    return query_of(page.location)


def test_a_700_kb_login_hint_is_refused_to_the_client_and_stores_nothing(rp, services):  # noqa: ANN001
    params, _ = rp.params(login_hint="a" * 700_000 + "@example.com")
    for method in ("GET", "POST"):
        page = rp.open_authorize(params, method)
        error = _redirected_error(page, rp)
        assert error["error"] == "invalid_request" and "login_hint" in error["error_description"]
        assert error["state"] == params["state"]
        assert _transactions(services) == 0


@pytest.mark.parametrize("name", ["state", "nonce", "login_hint", "scope", "acr_values", "ui_locales",
                                  "claims", "code_challenge", "prompt", "max_age", "id_token_hint"])
def test_each_parameter_one_byte_over_its_limit_is_invalid_request(rp, services, name):  # noqa: ANN001
    params, _ = rp.params(**{name: "x" * (MAX_LENGTHS[name] + 1)})
    error = _redirected_error(rp.open_authorize(params), rp)
    assert error["error"] == "invalid_request" and name in error["error_description"]
    if name != "state":
        assert error["state"] == params["state"]
    else:
        assert "state" not in error  # an oversized state is not echoed back
    assert _transactions(services) == 0


def test_parameters_at_their_limits_are_accepted(rp, services):  # noqa: ANN001
    params, _ = rp.params(state="s" * MAX_LENGTHS["state"], nonce="n" * MAX_LENGTHS["nonce"],
                          login_hint="h" * MAX_LENGTHS["login_hint"])
    page = rp.open_authorize(params)
    assert page.status == 200 and 'name="password"' in page.text
    assert _transactions(services) == 1


def test_an_oversized_redirect_uri_gets_a_page_not_a_redirect(rp, services):  # noqa: ANN001
    params, _ = rp.params(redirect_uri="https://rp.example/cb?" + "x" * MAX_LENGTHS["redirect_uri"])
    page = rp.open_authorize(params)
    assert page.status == 400 and page.location is None
    assert "redirect_uri" in page.text
    assert _transactions(services) == 0


def test_an_unknown_client_with_oversized_parameters_gets_a_page(rp, services):  # noqa: ANN001
    params, _ = rp.params(client_id="nobody", login_hint="x" * 10_000)
    page = rp.open_authorize(params)
    assert page.status == 400 and page.location is None
    assert _transactions(services) == 0


def test_a_whole_request_over_the_bound_is_refused_even_in_unknown_parameters(rp, services):  # noqa: ANN001
    params, _ = rp.params(**{f"extra{i}": "y" * 1000 for i in range(MAX_REQUEST_BYTES // 1000 + 1)})
    error = _redirected_error(rp.open_authorize(params), rp)
    assert error["error"] == "invalid_request"
    assert _transactions(services) == 0


@pytest.mark.parametrize("name", ["redirect_uri", "state", "scope", "client_id", "response_type"])
def test_a_repeated_parameter_is_invalid_request(rp, services, name):  # noqa: ANN001
    params, _ = rp.params()
    query = urlencode(params) + "&" + urlencode({name: params[name]})
    page = rp.browser.open("/authorize?" + query)
    if name in ("redirect_uri", "client_id"):  # which one is meant? never redirect on a guess
        assert page.status == 400 and page.location is None, page.status
    else:
        error = _redirected_error(page, rp)
        assert error["error"] == "invalid_request" and name in error["error_description"]
    assert _transactions(services) == 0


def test_a_parameter_in_both_query_and_body_is_repeated(rp, services):  # noqa: ANN001
    params, _ = rp.params()
    page = rp.browser.open("/authorize?" + urlencode({"nonce": "other"}), "POST", params)
    error = _redirected_error(page, rp)
    assert error["error"] == "invalid_request" and "nonce" in error["error_description"]
    assert _transactions(services) == 0


def test_a_form_body_too_large_to_read_is_a_clean_413_page(rp, services):  # noqa: ANN001
    params, _ = rp.params(login_hint="a" * 1_100_000)
    response = rp.client.post("/authorize", data=params)
    assert response.status_code == 413
    assert "too large" in response.get_data(as_text=True) and "<h1>" in response.get_data(as_text=True)
    assert _transactions(services) == 0


def test_a_token_request_too_large_to_read_is_json(rp):  # noqa: ANN001
    response = rp.client.post("/token", data={"grant_type": "authorization_code", "code": "c" * 1_100_000})
    assert response.status_code == 413
    assert response.get_json()["error"] == "invalid_request"
