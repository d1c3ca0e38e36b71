"""The authorization endpoint (OIDC Core §3.1.2, RFC 6749 §4.1, RFC 9207, RFC 9700): what a client sees
for every kind of request, and that a refused request issues nothing.

Conformance (Basic OP / Config OP): GET and POST, unknown parameters ignored, request objects refused
with request_not_supported / request_uri_not_supported, `iss` on every authorization response."""
from __future__ import annotations

from tests.support.oidc_client import counts, query_of

ISSUER = "http://localhost"


def _redirected_error(rp, page, error: str, state: str) -> dict[str, str]:  # noqa: ANN001
    """The browser was sent back to the client's registered URI with exactly this error."""
    assert page.status == 302 and page.location, (page.status, page.text[:500])
    assert page.location.startswith(rp.reg.redirect_uri + "?")
    query = query_of(page.location)
    assert query["error"] == error, query
    assert query["state"] == state
    assert query["iss"] == ISSUER
    assert query.get("error_description")
    assert "code" not in query
    return query


def test_get_and_post_both_issue_a_code_with_iss(rp):
    for method in ("GET", "POST"):
        done = rp.sign_in(method=method)
        assert done.query["state"] == done.params["state"]
        assert done.query["iss"] == ISSUER
        assert rp.exchange(done).status == 200


def test_unknown_parameters_are_ignored(rp):
    done = rp.sign_in(foo="bar", claims_locales="fr", ui_locales="de", display="page", vendor_x="1")
    assert rp.exchange(done).status == 200


def test_unknown_scope_values_are_ignored_and_not_granted(rp):
    done = rp.sign_in(scope="openid email frobnicate")
    reply = rp.exchange(done)
    assert reply.status == 200
    assert set(reply.json["scope"].split()) == {"openid", "email"}


RESPONSE_TYPES = ["token", "id_token", "id_token token", "code id_token", "code token", "code id_token token",
                  "none"]


def test_only_the_code_flow_is_supported(rp, services):
    before = counts(services)
    for response_type in RESPONSE_TYPES:
        for method in ("GET", "POST"):
            params, _ = rp.params(response_type=response_type)
            page = rp.open_authorize(params, method)
            _redirected_error(rp, page, "unsupported_response_type", params["state"])
    assert counts(services) == before


def test_missing_response_type_is_refused(rp, services):
    params, _ = rp.params(response_type=None)
    _redirected_error(rp, rp.open_authorize(params), "unsupported_response_type", params["state"])
    assert counts(services)["codes"] == 0


REQUEST_OBJECTS = [("request", "eyJhbGciOiJub25lIn0.eyJzY29wZSI6Im9wZW5pZCJ9.", "request_not_supported"),
                   ("request_uri", "https://rp.example/request.jwt", "request_uri_not_supported")]


def test_request_objects_are_refused(rp, services):
    for param, value, error in REQUEST_OBJECTS:
        for method in ("GET", "POST"):
            params, _ = rp.params(**{param: value})
            page = rp.open_authorize(params, method)
            _redirected_error(rp, page, error, params["state"])
    assert counts(services)["codes"] == 0 and counts(services)["sessions"] == 0


def test_request_object_refused_even_when_signed_in(rp, services):
    rp.sign_in()
    params, _ = rp.params(request="eyJhbGciOiJub25lIn0.e30.")
    _redirected_error(rp, rp.open_authorize(params), "request_not_supported", params["state"])
    assert counts(services)["codes"] == 1


def test_missing_pkce_redirects_with_invalid_request(rp, public_rp, services):
    for client in (rp, public_rp):
        params, _ = client.params(pkce=False)
        query = _redirected_error(client, client.open_authorize(params), "invalid_request", params["state"])
        assert "PKCE" in query["error_description"]
    assert counts(services)["codes"] == 0


def test_only_s256_challenges_are_accepted(rp, services):
    for method in ("plain", "s256", "S512", ""):
        params, _ = rp.params(code_challenge_method=method)
        if method == "":
            params.pop("code_challenge_method")
        _redirected_error(rp, rp.open_authorize(params), "invalid_request", params["state"])
    assert counts(services)["codes"] == 0


def test_plain_challenge_refused_for_client_without_pkce_requirement(make_rp, alice, services):
    rp = make_rp(require_pkce=False)
    params, verifier = rp.params(pkce=False, code_challenge="x" * 43, code_challenge_method="plain")
    _redirected_error(rp, rp.open_authorize(params), "invalid_request", params["state"])
    assert counts(services)["codes"] == 0


def test_unknown_client_shows_an_error_page_and_never_redirects(rp, services):
    params, _ = rp.params(client_id="no-such-client")
    page = rp.open_authorize(params)
    assert page.status == 400 and page.location is None
    assert "not registered" in page.text
    assert rp.reg.redirect_uri not in page.text
    assert counts(services)["codes"] == 0


NOT_REGISTERED = [
    "http://127.0.0.1:9000/callback/",            # trailing slash
    "http://127.0.0.1:9000/callback?x=1",         # extra query
    "http://127.0.0.1:9000/Callback",             # case
    "http://127.0.0.1:9001/callback",             # port
    "http://localhost:9000/callback",             # another name for the same host
    "https://attacker.example/callback",
    "http://127.0.0.1:9000/callback#frag",
]


def test_redirect_uri_must_match_exactly_or_an_error_page_is_shown(rp, services):
    for redirect_uri in NOT_REGISTERED:
        for extra in ({}, {"response_type": "token"}, {"prompt": "none"}, {"request": "x.y.z"}):
            params, _ = rp.params(redirect_uri=redirect_uri, **extra)
            for method in ("GET", "POST"):
                page = rp.open_authorize(params, method)
                assert page.status == 400 and page.location is None, (redirect_uri, extra, page.location)
                assert "has not registered" in page.text or "Only the authorization code flow" in page.text
    assert counts(services)["codes"] == 0


def test_missing_redirect_uri_shows_an_error_page(rp, services):
    params, _ = rp.params(redirect_uri=None)
    page = rp.open_authorize(params)
    assert page.status == 400 and page.location is None
    assert counts(services)["codes"] == 0


def test_errors_with_unknown_client_never_redirect_even_for_bad_response_type(rp):
    params, _ = rp.params(client_id="nope", response_type="token")
    page = rp.open_authorize(params)
    assert page.status == 400 and page.location is None


def test_missing_scope_is_refused(rp, services):
    params, _ = rp.params(scope=None)
    _redirected_error(rp, rp.open_authorize(params), "invalid_scope", params["state"])
    assert counts(services)["codes"] == 0


def test_disabled_client_is_treated_as_unknown(rp, services):
    from idp.models import Client
    import sqlalchemy as sa

    with services.database.session() as db:
        db.execute(sa.update(Client).where(Client.client_id == rp.client_id).values(is_active=False))
    page = rp.open_authorize(rp.params()[0])
    assert page.status == 400 and page.location is None


def test_prompt_none_without_session_redirects_login_required(rp, services):
    params, _ = rp.params(prompt="none")
    _redirected_error(rp, rp.open_authorize(params), "login_required", params["state"])
    assert counts(services) == {**counts(services), "codes": 0, "sessions": 0}


def test_prompt_none_with_other_values_is_invalid(rp):
    params, _ = rp.params(prompt="none login")
    _redirected_error(rp, rp.open_authorize(params), "invalid_request", params["state"])


def test_prompt_none_with_session_issues_a_code_silently(rp):
    rp.sign_in()
    params, verifier = rp.params(prompt="none")
    page = rp.open_authorize(params)
    assert page.location and "code=" in page.location and query_of(page.location)["iss"] == ISSUER


def test_state_is_echoed_verbatim_and_absent_when_not_sent(rp):
    odd = "a b&c=d/é"
    done = rp.sign_in(state=odd)
    assert done.query["state"] == odd
    done = rp.sign_in(state=None)
    assert "state" not in done.query


def test_password_and_implicit_grants_are_not_available(rp, services):
    before = counts(services)
    for data in ({"grant_type": "password", "username": "alice@example.com", "password": "x"},
                 {"grant_type": "implicit"},
                 {"grant_type": "urn:ietf:params:oauth:grant-type:jwt-bearer", "assertion": "x"}):
        reply = rp._post("/token", data)
        assert (reply.status, reply.error) == (400, "unsupported_grant_type"), data
    # client credentials exist for the administration API only: a relying party without API scopes is refused
    reply = rp._post("/token", {"grant_type": "client_credentials"})
    assert (reply.status, reply.error) == (400, "unauthorized_client")
    assert counts(services) == before


def test_discovery_advertises_exactly_what_the_endpoint_does(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert meta["response_types_supported"] == ["code"]
    assert meta["grant_types_supported"] == ["authorization_code", "refresh_token", "client_credentials"]
    assert meta["code_challenge_methods_supported"] == ["S256"]
    assert meta["request_parameter_supported"] is False and meta["request_uri_parameter_supported"] is False
    assert meta["authorization_response_iss_parameter_supported"] is True
