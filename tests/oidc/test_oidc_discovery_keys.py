"""Discovery (OIDC Discovery 1.0 §3/§4), the JWKS, signing keys in the database and `idp keys rotate`:
a token signed before a rotation still verifies against the JWKS after it; a new key is published at once
and signs new tokens after the publication delay."""
from __future__ import annotations

import json
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from idp.app import create_app
from idp.models import Client, SigningKey
from idp.oauth.keys import JWKS_MAX_AGE, PUBLICATION_DELAY, KeyRing
from idp.services import build_services
from tests.support.browser import Browser
from tests.support.configs import write_config_file
from tests.support.oidc_client import Rp

ISSUER = "http://localhost"
PRIVATE_MEMBERS = {"d", "p", "q", "dp", "dq", "qi", "k"}


def test_discovery_document(client):
    response = client.get("/.well-known/openid-configuration")
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Access-Control-Allow-Origin"] == "*"
    meta = response.get_json()
    assert meta["issuer"] == ISSUER
    for key, path in (("authorization_endpoint", "/authorize"), ("token_endpoint", "/token"),
                      ("userinfo_endpoint", "/userinfo"), ("jwks_uri", "/jwks"), ("revocation_endpoint", "/revoke"),
                      ("introspection_endpoint", "/introspect"), ("end_session_endpoint", "/logout")):
        assert meta[key] == ISSUER + path
    assert meta["response_types_supported"] == ["code"]
    assert meta["subject_types_supported"] == ["public"]
    assert set(meta["id_token_signing_alg_values_supported"]) == {"RS256", "ES256"}
    assert "none" not in meta["id_token_signing_alg_values_supported"]
    assert set(meta["token_endpoint_auth_methods_supported"]) == {"client_secret_basic", "client_secret_post",
                                                                 "private_key_jwt", "none"}
    assert {"openid", "profile", "email", "offline_access"} <= set(meta["scopes_supported"])
    assert {"sub", "iss", "aud", "exp", "iat", "auth_time", "nonce", "acr", "amr", "sid", "email",
            "email_verified", "name", "preferred_username"} <= set(meta["claims_supported"])
    assert meta["code_challenge_methods_supported"] == ["S256"]


def test_discovery_endpoints_are_reachable(client):
    meta = client.get("/.well-known/openid-configuration").get_json()
    assert client.get(meta["jwks_uri"].removeprefix(ISSUER)).status_code == 200
    for key in ("token_endpoint", "revocation_endpoint", "introspection_endpoint"):
        assert client.post(meta[key].removeprefix(ISSUER)).status_code in (400, 401)
    assert client.get(meta["userinfo_endpoint"].removeprefix(ISSUER)).status_code == 401


def test_jwks_publishes_public_keys_only(client):
    response = client.get("/jwks")
    assert response.mimetype == "application/json"
    keys = response.get_json()["keys"]
    assert {(k["kty"], k["alg"]) for k in keys} == {("RSA", "RS256"), ("EC", "ES256")}
    for key in keys:
        assert key["use"] == "sig" and key["kid"]
        assert not PRIVATE_MEMBERS & set(key), key
    assert len({k["kid"] for k in keys}) == len(keys)


def test_private_keys_are_stored_encrypted(services):
    with services.database.session() as db:
        for row in db.scalars(sa.select(SigningKey)):
            assert b'"d"' not in row.private_jwk_encrypted
            assert not PRIVATE_MEMBERS & set(row.public_jwk)
            private = json.loads(services.kek.decrypt(row.private_jwk_encrypted))
            assert private["kid"] == row.kid and "d" in private


def _rotate(tmp_path, database_url, *options: str) -> str:  # noqa: ANN001
    """`idp --config FILE keys rotate [options]`, run in-process; returns its output."""
    from idp.cli import keys  # noqa: F401  (registers the command)
    from idp.cli.base import cli

    config_file = write_config_file(tmp_path / "config.toml", database_url, ISSUER)
    result = CliRunner().invoke(cli, ["--config", str(config_file), "keys", "rotate", *options],
                                catch_exceptions=False)
    assert result.exit_code == 0, result.output
    return result.output


@pytest.mark.parametrize("alg", ["RS256", "ES256"])
def test_rotation_keeps_old_tokens_verifiable_and_signs_new_ones_with_the_new_key(
        rp, services, tmp_path, database_url, alg, frozen_clock):
    if alg == "ES256":
        with services.database.session() as db:
            db.execute(sa.update(Client).where(Client.client_id == rp.client_id)
                       .values(id_token_signed_response_alg="ES256"))
    services.keys = KeyRing(services.kek, check_interval=0.0)  # see the CLI's change at once (normally ≤ 5 s)
    before = rp.tokens()["id_token"]
    old_kid = rp.id_token_header(before)["kid"]

    output = _rotate(tmp_path, database_url)
    assert "New RS256 key" in output and "New ES256 key" in output

    jwks = rp.jwks()
    kids = {k["kid"] for k in jwks["keys"]}
    assert old_kid in kids and len(kids) == 4
    assert rp.id_token_claims(before)["iss"] == ISSUER          # verified with the JWKS fetched after rotation
    assert rp.id_token_header(rp.tokens()["id_token"])["kid"] == old_kid   # published, not signing yet

    frozen_clock.advance(seconds=PUBLICATION_DELAY.total_seconds() + 1)
    after = rp.tokens()["id_token"]
    new_kid = rp.id_token_header(after)["kid"]
    assert new_kid != old_kid and new_kid in kids
    assert rp.id_token_header(after)["alg"] == alg
    assert rp.id_token_claims(after)["aud"] == [rp.client_id]


def test_rotation_now_after_a_leak_switches_at_once_and_withdraws_the_old_keys(rp, services, tmp_path,  # noqa: ANN001
                                                                               database_url, frozen_clock):
    services.keys = KeyRing(services.kek, check_interval=0.0)
    before = rp.tokens()["id_token"]
    old_kid = rp.id_token_header(before)["kid"]
    assert "sign now" in _rotate(tmp_path, database_url, "--now")
    kids = {k["kid"] for k in rp.jwks()["keys"]}
    assert old_kid not in kids and len(kids) == 2            # the leaked keys are no longer published
    new_kid = rp.id_token_header(rp.tokens()["id_token"])["kid"]
    assert new_kid in kids


def test_old_keys_leave_the_jwks_once_their_tokens_have_expired(rp, services, tmp_path, database_url,
                                                                frozen_clock):
    services.keys = KeyRing(services.kek, check_interval=0.0)
    old_kid = rp.id_token_header(rp.tokens()["id_token"])["kid"]
    _rotate(tmp_path, database_url)
    frozen_clock.advance(seconds=3600 + 1800)               # id_token_ttl (1 h) passed; still within the grace
    assert old_kid in {k["kid"] for k in rp.jwks()["keys"]}
    frozen_clock.advance(hours=2)
    kids = {k["kid"] for k in rp.jwks()["keys"]}
    assert old_kid not in kids and len(kids) == 2


def test_rotation_twice_keeps_every_unexpired_key(rp, services, tmp_path, database_url, frozen_clock):
    services.keys = KeyRing(services.kek, check_interval=0.0)
    _rotate(tmp_path, database_url)
    _rotate(tmp_path, database_url)
    assert len(rp.jwks()["keys"]) == 6
    frozen_clock.advance(seconds=PUBLICATION_DELAY.total_seconds() + 1)
    token = rp.tokens()["id_token"]
    with services.database.session() as db:
        newest = db.scalar(sa.select(SigningKey.kid).where(SigningKey.alg == "RS256", SigningKey.retired_at.is_(None)))
    assert rp.id_token_header(token)["kid"] == newest


class CachingRelyingParty:
    """Verifies ID tokens with a JWKS kept as long as the response's Cache-Control allows, fetched from
    whichever worker answers: what a relying party behind a load balancer does."""

    def __init__(self, clock) -> None:  # noqa: ANN001
        self.clock = clock
        self.kids: set[str] = set()
        self.expires = None

    def known_kids(self, worker_client) -> set[str]:  # noqa: ANN001
        if self.expires is None or self.clock() >= self.expires:
            response = worker_client.get("/jwks")
            max_age = int(response.headers["Cache-Control"].split("max-age=")[1])
            self.kids = {key["kid"] for key in response.get_json()["keys"]}
            self.expires = self.clock() + timedelta(seconds=max_age)
        return self.kids


def test_a_token_is_signed_only_by_a_key_every_workers_jwks_already_publishes(
        rp, config, services, tmp_path, database_url, frozen_clock):
    """Two workers, each with its own copy of the key table; a relying party that caches the JWKS for its
    max-age and got it from the worker whose copy predates the rotation. Across the rotation, every token
    either worker signs names a kid in the JWKS the relying party holds; the new keys sign in the end."""
    other = create_app(config, build_services(config))
    other.config["TESTING"] = True
    other_client = other.test_client()
    rp2 = Rp(other_client, Browser(client=other_client), rp.reg, ISSUER)
    workers = [rp, rp2]
    old_kid = rp.id_token_header(rp2.tokens()["id_token"])["kid"]      # both workers have read the key table
    assert rp.id_token_header(rp.tokens()["id_token"])["kid"] == old_kid
    relying_party = CachingRelyingParty(frozen_clock)

    _rotate(tmp_path, database_url)
    frozen_clock.advance(seconds=4)                                    # the other worker's copy is still the old one
    relying_party.known_kids(other_client)
    signed = set()
    for step in range(8):
        for i, worker in enumerate(workers):
            kid = rp.id_token_header(worker.tokens()["id_token"])["kid"]
            assert kid in relying_party.known_kids(workers[(step + i) % 2].client), (step, kid)
            signed.add(kid)
        frozen_clock.advance(seconds=100)
    assert old_kid in signed and len(signed) == 2                      # the old key, then the new one
    assert JWKS_MAX_AGE < PUBLICATION_DELAY.total_seconds()
