"""Client authentication at the token endpoint (RFC 6749 §2.3, §5.2; RFC 7523 §2.2; OIDC Core §9):
client_secret_basic, client_secret_post, private_key_jwt, none (public + PKCE). Failures issue nothing."""
from __future__ import annotations

import secrets
import time

import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import ECKey, RSAKey

from idp.models import Client
from tests.support.oidc_client import basic, counts

ASSERTION_TYPE = "urn:ietf:params:oauth:client-assertion-type:jwt-bearer"


def _refused_401(reply) -> None:  # noqa: ANN001
    assert (reply.status, reply.error) == (401, "invalid_client"), (reply.status, reply.json)
    assert "access_token" not in reply.json
    assert reply.headers.get("WWW-Authenticate", "").startswith("Basic")


def _with_keys(services, rp, key) -> None:  # noqa: ANN001
    """Register the public half of `key` for private_key_jwt."""
    public = key.as_dict(private=False, kid="rp-key-1", use="sig")
    with services.database.session() as db:
        db.execute(sa.update(Client).where(Client.client_id == rp.client_id)
                   .values(jwks={"keys": [public]}, token_endpoint_auth_method="private_key_jwt"))


def _assertion(rp, key, alg: str = "RS256", **overrides) -> str:  # noqa: ANN001, ANN003
    now = int(time.time())
    claims = {"iss": rp.client_id, "sub": rp.client_id, "aud": f"{rp.issuer}/token",
              "jti": secrets.token_urlsafe(16), "iat": now, "exp": now + 120}
    claims.update(overrides)
    claims = {k: v for k, v in claims.items() if v is not None}
    return jwt.encode({"alg": alg, "kid": "rp-key-1"}, claims, key)


def _exchange_with_assertion(rp, done, assertion: str):  # noqa: ANN001, ANN202
    return rp._post("/token", {"grant_type": "authorization_code", "code": done.code,
                               "redirect_uri": rp.reg.redirect_uri, "code_verifier": done.verifier,
                               "client_id": rp.client_id, "client_assertion_type": ASSERTION_TYPE,
                               "client_assertion": assertion}, auth="")


def test_client_secret_basic(rp):
    reply = rp.exchange(rp.code_for(), auth="basic")
    assert reply.status == 200 and reply.json["access_token"]


def test_client_secret_post(rp):
    reply = rp.exchange(rp.code_for(), auth="post")
    assert reply.status == 200 and reply.json["access_token"]


def test_wrong_client_secret_is_401_invalid_client_and_issues_nothing(rp, services):
    done = rp.code_for()
    before = counts(services)
    secret, rp.reg.secret = rp.reg.secret, "wrong-" + rp.reg.secret
    for auth in ("basic", "post"):
        reply = rp.exchange(done, auth=auth)
        assert reply.error == "invalid_client" and reply.status == 401, reply
    assert counts(services) == before
    rp.reg.secret = secret
    assert rp.exchange(done).status == 200, "the refused attempts did not use up the code"


def test_wrong_secret_on_basic_asks_for_basic_authentication(rp, services):
    done = rp.code_for()
    rp.reg.secret = "nope"
    _refused_401(rp.exchange(done, auth="basic"))
    assert counts(services)["tokens"] == 0


def test_unknown_client_id_is_invalid_client(rp, services):
    done = rp.code_for()
    reply = rp._post("/token", {"grant_type": "authorization_code", "code": done.code,
                                "redirect_uri": rp.reg.redirect_uri, "code_verifier": done.verifier},
                     auth="", headers=basic("nobody", "secret"))
    _refused_401(reply)
    assert counts(services)["tokens"] == 0


def test_confidential_client_cannot_authenticate_with_none(rp, services):
    done = rp.code_for()
    reply = rp.exchange(done, auth="none")
    _refused_401(reply)
    assert counts(services)["tokens"] == 0


def test_code_is_not_burnt_by_a_failed_client_authentication(rp):
    done = rp.code_for()
    secret = rp.reg.secret
    rp.reg.secret = "wrong"
    assert rp.exchange(done).status == 401
    rp.reg.secret = secret
    assert rp.exchange(done).status == 200


def test_public_client_uses_none_with_pkce(public_rp):
    done = public_rp.code_for()
    reply = public_rp.exchange(done, auth="none")
    assert reply.status == 200 and reply.json["id_token"]


def test_public_client_cannot_send_a_made_up_secret(public_rp, services):
    done = public_rp.code_for()
    public_rp.reg.secret = "made-up"
    reply = public_rp.exchange(done, auth="post")
    assert reply.error == "invalid_client"
    assert counts(services)["tokens"] == 0


def test_private_key_jwt_rsa(rp, services):
    key = RSAKey.generate_key(2048, private=True)
    _with_keys(services, rp, key)
    reply = _exchange_with_assertion(rp, rp.code_for(), _assertion(rp, key))
    assert reply.status == 200, reply.json
    assert reply.json["access_token"]


def test_a_client_registered_for_private_key_jwt_cannot_use_its_old_secret(rp, services):
    key = RSAKey.generate_key(2048, private=True)
    _with_keys(services, rp, key)                     # registered for private_key_jwt; the secret is still stored
    for auth in ("basic", "post"):
        reply = rp.exchange(rp.code_for(), auth=auth)
        _refused_401(reply)
    assert counts(services)["tokens"] == 0


def test_private_key_jwt_es256_with_issuer_as_audience(rp, services):
    key = ECKey.generate_key("P-256", private=True)
    _with_keys(services, rp, key)
    reply = _exchange_with_assertion(rp, rp.code_for(), _assertion(rp, key, "ES256", aud=rp.issuer))
    assert reply.status == 200, reply.json


def test_private_key_jwt_replayed_jti_is_refused(rp, services):
    key = ECKey.generate_key("P-256", private=True)
    _with_keys(services, rp, key)
    assertion = _assertion(rp, key, "ES256")
    assert _exchange_with_assertion(rp, rp.code_for(), assertion).status == 200
    done = rp.code_for()
    before = counts(services)
    reply = _exchange_with_assertion(rp, done, assertion)
    assert (reply.status, reply.error) == (400, "invalid_client"), reply.json
    assert counts(services) == before
    fresh = _exchange_with_assertion(rp, done, _assertion(rp, key, "ES256"))
    assert fresh.status == 200, "the refused replay must not have used up the code"


def test_private_key_jwt_bad_assertions_are_refused(rp, services):
    key = ECKey.generate_key("P-256", private=True)
    _with_keys(services, rp, key)
    done = rp.code_for()
    now = int(time.time())
    for label, overrides in (("expired", {"exp": now - 600, "iat": now - 900}),
                             ("wrong audience", {"aud": "https://someone-else.example/token"}),
                             ("no jti", {"jti": None}),
                             ("iss differs from sub", {"iss": "another-client"}),
                             ("sub is another client", {"iss": "another-client", "sub": "another-client"}),
                             ("no exp", {"exp": None})):
        reply = _exchange_with_assertion(rp, done, _assertion(rp, key, "ES256", **overrides))
        assert reply.error == "invalid_client", (label, reply.json)
    assert counts(services)["tokens"] == 0
    assert _exchange_with_assertion(rp, done, _assertion(rp, key, "ES256")).status == 200


def test_private_key_jwt_signed_by_another_key_is_refused(rp, services):
    _with_keys(services, rp, ECKey.generate_key("P-256", private=True))
    done = rp.code_for()
    intruder = ECKey.generate_key("P-256", private=True)
    reply = _exchange_with_assertion(rp, done, _assertion(rp, intruder, "ES256"))
    assert reply.error == "invalid_client"
    assert counts(services)["tokens"] == 0


def test_private_key_jwt_hmac_with_the_public_key_is_refused(rp, services):
    key = RSAKey.generate_key(2048, private=True)
    _with_keys(services, rp, key)
    done = rp.code_for()
    import base64
    import hashlib
    import hmac
    import json

    def b64(raw: bytes) -> str:
        return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()

    claims = {"iss": rp.client_id, "sub": rp.client_id, "aud": f"{rp.issuer}/token", "jti": "x",
              "exp": int(time.time()) + 60}
    signing_input = b64(json.dumps({"alg": "HS256", "kid": "rp-key-1"}).encode()) + "." + \
        b64(json.dumps(claims).encode())
    mac = hmac.new(key.as_pem(private=False), signing_input.encode(), hashlib.sha256).digest()
    forged = signing_input + "." + b64(mac)
    reply = _exchange_with_assertion(rp, done, forged)
    assert reply.error == "invalid_client"
    assert counts(services)["tokens"] == 0


def test_private_key_jwt_not_available_to_a_client_without_keys(rp, services):
    key = ECKey.generate_key("P-256", private=True)
    reply = _exchange_with_assertion(rp, rp.code_for(), _assertion(rp, key, "ES256"))
    assert reply.error == "invalid_client"
    assert counts(services)["tokens"] == 0


def test_unsigned_assertion_is_refused(rp, services):
    key = ECKey.generate_key("P-256", private=True)
    _with_keys(services, rp, key)
    import base64
    import json

    def b64(obj: dict) -> str:
        return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()

    unsigned = b64({"alg": "none"}) + "." + b64({"iss": rp.client_id, "sub": rp.client_id, "jti": "j",
                                                 "aud": f"{rp.issuer}/token", "exp": int(time.time()) + 60}) + "."
    reply = _exchange_with_assertion(rp, rp.code_for(), unsigned)
    assert reply.error == "invalid_client"
    assert counts(services)["tokens"] == 0
