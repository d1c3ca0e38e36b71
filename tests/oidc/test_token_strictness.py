"""Unambiguous back-channel requests: a parameter sent twice at /token, /revoke or /introspect (RFC 6749
§3.2: parameters MUST NOT be repeated) and two client authentication methods in one request (§2.3) are
invalid_request; a client assertion that is too large or cannot be parsed is invalid_client (never a 500).
No tokens are issued and the code stays usable."""
from __future__ import annotations

import base64
import json
import time

import pytest
from joserfc.jwk import ECKey

from idp.oauth.client_auth import MAX_ASSERTION_BYTES
from tests.support.oidc_client import basic, counts

from .test_oidc_client_auth import ASSERTION_TYPE, _assertion, _with_keys


def _post(rp, path: str, body: str, headers: dict | None = None):  # noqa: ANN001, ANN202
    """A raw form body: the test client's dict encoding cannot repeat a name."""
    headers = {"Content-Type": "application/x-www-form-urlencoded", **(headers or {})}
    response = rp.client.post(path, data=body, headers=headers)
    return response.status_code, response.get_json(silent=True) or {}, response.headers


def _form(**fields: str) -> str:
    from urllib.parse import urlencode

    return urlencode(fields)


def _exchange_body(rp, done) -> dict[str, str]:  # noqa: ANN001
    return {"grant_type": "authorization_code", "code": done.code, "redirect_uri": rp.reg.redirect_uri,
            "code_verifier": done.verifier}


def _refused(status: int, body: dict, error: str = "invalid_request") -> None:
    assert status in (400, 401) and body.get("error") == error, (status, body)
    assert "access_token" not in body


@pytest.mark.parametrize("name", ["code", "redirect_uri", "grant_type", "code_verifier"])
def test_a_repeated_token_parameter_issues_nothing_and_keeps_the_code(rp, services, name):  # noqa: ANN001
    done = rp.code_for()
    fields = _exchange_body(rp, done)
    body = _form(**fields) + "&" + _form(**{name: fields[name]})
    status, reply, headers = _post(rp, "/token", body, basic(rp.client_id, rp.reg.secret))
    _refused(status, reply)
    assert name in reply["error_description"]
    assert headers["Cache-Control"] == "no-store"
    assert counts(services)["tokens"] == 0
    assert rp.exchange(done).status == 200, "the refused request must not have used up the code"


def test_a_code_in_the_query_and_the_body_is_repeated(rp, services):  # noqa: ANN001
    done = rp.code_for()
    response = rp.client.post("/token?code=" + done.code, data=_exchange_body(rp, done),
                              headers=basic(rp.client_id, rp.reg.secret))
    _refused(response.status_code, response.get_json())
    assert counts(services)["tokens"] == 0


def test_basic_and_client_secret_in_the_body_is_two_methods(rp, services):  # noqa: ANN001
    done = rp.code_for()
    body = _form(**_exchange_body(rp, done), client_id=rp.client_id, client_secret=rp.reg.secret)
    status, reply, _ = _post(rp, "/token", body, basic(rp.client_id, rp.reg.secret))
    _refused(status, reply)
    assert "one client authentication method" in reply["error_description"]
    assert counts(services)["tokens"] == 0
    assert rp.exchange(done).status == 200


def test_an_assertion_plus_a_secret_is_two_methods(rp, services):  # noqa: ANN001
    key = ECKey.generate_key("P-256", private=True)
    _with_keys(services, rp, key)
    done = rp.code_for()
    body = _form(**_exchange_body(rp, done), client_id=rp.client_id, client_secret=rp.reg.secret,
                 client_assertion_type=ASSERTION_TYPE, client_assertion=_assertion(rp, key, "ES256"))
    status, reply, _ = _post(rp, "/token", body)
    _refused(status, reply)
    status, reply, _ = _post(rp, "/token", _form(**_exchange_body(rp, done), client_assertion_type=ASSERTION_TYPE,
                                                 client_assertion=_assertion(rp, key, "ES256")),
                             basic(rp.client_id, rp.reg.secret))
    _refused(status, reply)
    assert counts(services)["tokens"] == 0


@pytest.mark.parametrize("path", ["/revoke", "/introspect"])
def test_repeated_parameters_at_revocation_and_introspection(rp, services, path):  # noqa: ANN001
    tokens = rp.tokens()
    body = _form(token=tokens["access_token"]) + "&" + _form(token="something-else")
    status, reply, _ = _post(rp, path, body, basic(rp.client_id, rp.reg.secret))
    _refused(status, reply)
    assert rp.introspect(tokens["access_token"]).json["active"] is True  # nothing was revoked


def test_two_methods_at_revocation_revoke_nothing(rp):  # noqa: ANN001
    tokens = rp.tokens()
    body = _form(token=tokens["access_token"], client_id=rp.client_id, client_secret=rp.reg.secret)
    status, reply, _ = _post(rp, "/revoke", body, basic(rp.client_id, rp.reg.secret))
    _refused(status, reply)
    assert rp.introspect(tokens["access_token"]).json["active"] is True


def _b64(raw: bytes) -> str:
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def _nested_assertion(rp, depth: int, where: str) -> str:  # noqa: ANN001
    nested = ("[" * depth + "]" * depth).encode()
    header = b'{"alg":"ES256","kid":"rp-key-1","x":' + nested + b"}" if where == "header" else \
        json.dumps({"alg": "ES256", "kid": "rp-key-1"}).encode()
    claims = {"iss": rp.client_id, "sub": rp.client_id, "aud": f"{rp.issuer}/token", "jti": "j",
              "exp": int(time.time()) + 60}
    payload = json.dumps(claims).encode()[:-1] + b',"x":' + nested + b"}" if where == "payload" else \
        json.dumps(claims).encode()
    return f"{_b64(header)}.{_b64(payload)}.{_b64(b'sig')}"


@pytest.mark.parametrize("depth", [5000, 2000])
@pytest.mark.parametrize("where", ["header", "payload"])
def test_a_deeply_nested_client_assertion_is_invalid_client_not_500(rp, services, depth, where):  # noqa: ANN001
    _with_keys(services, rp, ECKey.generate_key("P-256", private=True))
    done = rp.code_for()
    body = _form(**_exchange_body(rp, done), client_id=rp.client_id, client_assertion_type=ASSERTION_TYPE,
                 client_assertion=_nested_assertion(rp, depth, where))
    status, reply, _ = _post(rp, "/token", body)
    _refused(status, reply, "invalid_client")
    assert counts(services)["tokens"] == 0


def test_an_oversized_client_assertion_is_refused_before_parsing(rp, services):  # noqa: ANN001
    key = ECKey.generate_key("P-256", private=True)
    _with_keys(services, rp, key)
    done = rp.code_for()
    big = _assertion(rp, key, "ES256", padding="p" * MAX_ASSERTION_BYTES)
    body = _form(**_exchange_body(rp, done), client_id=rp.client_id, client_assertion_type=ASSERTION_TYPE,
                 client_assertion=big)
    status, reply, _ = _post(rp, "/token", body)
    _refused(status, reply, "invalid_client")
    assert "too large" in reply["error_description"]
    assert counts(services)["tokens"] == 0


def test_userinfo_refuses_a_token_sent_two_ways(rp):  # noqa: ANN001
    """RFC 6750 §2: clients MUST NOT use more than one method to transmit the token in each request."""
    access = rp.tokens()["access_token"]
    response = rp.client.post("/userinfo", data={"access_token": access},
                              headers={"Authorization": f"Bearer {access}"})
    assert response.status_code == 400 and response.get_json()["error"] == "invalid_request"
    assert "email" not in response.get_json()
