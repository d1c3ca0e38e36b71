"""The IdP authenticates to the upstream's token endpoint with private_key_jwt (RFC 7523) — the upstream
being a real instance of this IdP, which checks the signed assertion against the client's registered keys —
and with client_secret_post; a wrong key is refused by the upstream, and the sign-in stops cleanly."""
from __future__ import annotations

import json

import pytest
import sqlalchemy as sa
from joserfc.jwk import RSAKey

from idp.federation.login import callback_url
from idp.models import Client
from tests.federation.conftest import provider_entry
from tests.federation.helpers import audit_details, authorize, choose, counts, id_token_claims, upstream_password


@pytest.fixture
def keys(tmp_path) -> dict[str, str]:  # noqa: ANN001
    """Our client key (registered upstream) and a stranger's key, as JWK files."""
    paths = {}
    for name in ("ours", "stranger"):
        key = RSAKey.generate_key(2048, parameters={"kid": f"{name}-1"}, private=True)
        path = tmp_path / f"{name}.jwk"
        path.write_text(json.dumps(key.as_dict(private=True)))
        paths[name] = str(path)
    return paths


@pytest.fixture
def pkjwt_client(upstream, keys, issuer) -> str:  # noqa: ANN001
    """An upstream client authenticating with private_key_jwt, its public key registered there."""
    registered = upstream.factory.client(callback_url(issuer))
    public = RSAKey.import_key(json.loads(open(keys["ours"]).read())).as_dict(private=False)
    with upstream.services.database.session() as db:
        client = db.scalar(sa.select(Client).where(Client.client_id == registered.client_id))
        client.jwks = {"keys": [public]}
        client.token_endpoint_auth_method = "private_key_jwt"
    return registered.client_id


@pytest.fixture
def providers(upstream, keys, pkjwt_client) -> list[dict]:  # noqa: ANN001
    jwt_auth = {"client_id": pkjwt_client, "client_secret": "", "token_endpoint_auth_method": "private_key_jwt"}
    return [provider_entry(upstream, "up-jwt", "upstream", private_key_file=keys["ours"], **jwt_auth),
            provider_entry(upstream, "up-stranger", "upstream", private_key_file=keys["stranger"], **jwt_auth),
            provider_entry(upstream, "up-post", "upstream", token_endpoint_auth_method="client_secret_post")]


@pytest.mark.parametrize("provider", ["up-jwt", "up-post"])
def test_the_token_request_authenticates_the_client(web, rp, upstream, provider):
    upstream.user("ann@example.com")
    started = authorize(web, rp)
    done = upstream_password(web, choose(web, started.page, provider), "ann@example.com")
    assert id_token_claims(web, rp, done, started.verifier)["email"] == "ann@example.com"


def test_a_key_the_upstream_does_not_know_is_refused(web, rp, upstream, services):
    upstream.user("ann@example.com")
    started = authorize(web, rp)
    before = counts(services)
    page = upstream_password(web, choose(web, started.page, "up-stranger"), "ann@example.com")
    assert page.status == 403 and "refused to complete the sign-in" in page.text
    assert counts(services) == before
    outcome, details = audit_details(services)[-1]
    assert outcome == "failure" and details["problem"] == "token_request_refused"
    assert details["detail"].startswith("invalid_client")
