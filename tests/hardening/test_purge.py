"""Expired rows are purged (idp.purge): by the server after a response, at most once per interval in the whole
deployment (a lease row claimed with a conditional UPDATE), and by `idp db purge`. Rows are kept
[purge] retention_hours past their expiry; live rows always stay."""
from __future__ import annotations

import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa
from click.testing import CliRunner

from idp.app import create_app
from idp.cli import database  # noqa: F401  (registers `idp db`)
from idp.cli.base import cli
from idp.config import ConfigError
from idp.models import (AuthorizationCode, Client, LoginTransaction, OtpChallenge, RateLimitBucket, Token, UsedNonce,
                        WebAuthnChallenge)
from idp.models.client import ClientAccessToken
from idp.purge import claim, purge_expired
from idp.services import build_services
from tests.support.configs import make_config, write_config_file

KINDS = ("login_transaction", "authorization_code", "otp_challenge", "webauthn_challenge", "used_nonce",
         "oauth_token", "client_access_token", "rate_limit_bucket")
MODELS = {"login_transaction": LoginTransaction, "authorization_code": AuthorizationCode,
          "otp_challenge": OtpChallenge, "webauthn_challenge": WebAuthnChallenge, "used_nonce": UsedNonce,
          "oauth_token": Token, "client_access_token": ClientAccessToken, "rate_limit_bucket": RateLimitBucket}


def _row(db, kind: str, label: str, expires, user_id: int, client_id: str, now):  # noqa: ANN001, ANN202
    created = now - timedelta(days=3)
    if kind == "login_transaction":
        return LoginTransaction(handle_digest=f"h-{label}", browser_binding="b", flow="browser", policy_digest="p",
                                created_at=created, expires_at=expires)
    if kind == "authorization_code":
        return AuthorizationCode(code_digest=f"c-{label}", client_id=client_id, user_id=user_id,
                                 redirect_uri="http://127.0.0.1:9000/callback", scope="openid", auth_time=0,
                                 created_at=created, expires_at=expires)
    if kind == "otp_challenge":
        return OtpChallenge(user_id=user_id, channel="email", purpose="login", code_digest=f"o-{label}",
                            created_at=created, expires_at=expires)
    if kind == "webauthn_challenge":
        return WebAuthnChallenge(challenge=f"w-{label}", purpose="passkey", binding="b", created_at=created,
                                 expires_at=expires)
    if kind == "used_nonce":
        return UsedNonce(key=f"jti:{label}", expires_at=expires)
    if kind == "oauth_token":
        return Token(access_token_digest=f"a-{label}", refresh_token_digest=f"r-{label}", client_id=client_id,
                     user_id=user_id, scope="openid", family_id=f"f-{label}", issued_at=created,
                     access_expires_at=min(expires, now - timedelta(days=2)), refresh_expires_at=expires)
    if kind == "client_access_token":
        pk = db.scalar(sa.select(Client.id).where(Client.client_id == client_id))
        return ClientAccessToken(token_digest=f"t-{label}", client_pk=pk, scope="idp:users:read", issued_at=created,
                                 expires_at=expires)
    return RateLimitBucket(key=f"k-{label}", window_start=0, count=1, expires_at=expires)


def _seed(services, factory, now, tag: str = "") -> None:  # noqa: ANN001
    """For each kind: `old` (expired 2 days ago), `recent` (expired an hour ago), `live` (expires in an hour)."""
    user_id = factory.user(f"purge{tag}@example.com")
    client_id = factory.client().client_id
    ages = {"old": -timedelta(days=2), "recent": -timedelta(hours=1), "live": timedelta(hours=1)}
    with services.database.session() as db:
        for kind in KINDS:
            for age, delta in ages.items():
                db.add(_row(db, kind, f"{kind}-{age}{tag}", now + delta, user_id, client_id, now))


def _left(services) -> dict[str, int]:  # noqa: ANN001
    with services.database.session() as db:
        return {kind: db.scalar(sa.select(sa.func.count()).select_from(MODELS[kind])) for kind in KINDS}


def test_expired_rows_go_after_the_retention_and_live_ones_stay(services, factory, frozen_clock):  # noqa: ANN001
    _seed(services, factory, frozen_clock())
    with services.database.session() as db:
        counts = purge_expired(db, timedelta(hours=24))
    assert counts == {kind: 1 for kind in KINDS[:-1]} | {"rate_limit_bucket": 2}
    # recent: kept for the retention (a counter is useless once its window ended: it goes at once)
    assert _left(services) == {kind: 2 for kind in KINDS[:-1]} | {"rate_limit_bucket": 1}


def test_a_token_whose_refresh_token_lives_is_kept(services, factory, frozen_clock):  # noqa: ANN001
    now = frozen_clock()
    user_id, client_id = factory.user("t@example.com"), factory.client().client_id
    with services.database.session() as db:
        db.add(Token(access_token_digest="a", refresh_token_digest="r", client_id=client_id, user_id=user_id,
                     scope="openid", family_id="f", issued_at=now - timedelta(days=9),
                     access_expires_at=now - timedelta(days=9), refresh_expires_at=now + timedelta(days=20)))
    with services.database.session() as db:
        assert purge_expired(db, timedelta(hours=1))["oauth_token"] == 0


def test_the_server_purges_after_a_response(app, client, services, factory, frozen_clock):  # noqa: ANN001
    _seed(services, factory, frozen_clock())
    response = client.get("/healthz")
    assert response.status_code == 200
    response.close()  # the WSGI server closes the response once sent: the purge runs then
    assert _left(services)["login_transaction"] == 2 and _left(services)["oauth_token"] == 2


def _worker(config, services):  # noqa: ANN001, ANN202
    """Another worker process: its own app, services and engine on the same database."""
    other = build_services(config)
    return create_app(config, other), other


def test_two_workers_do_not_both_purge_within_the_interval(app, config, services, factory, frozen_clock):  # noqa: ANN001
    second, second_services = _worker(config, services)
    try:
        app.test_client().get("/healthz").close()            # worker 1 claims the lease and purges
        _seed(services, factory, frozen_clock(), tag="-2")   # more expired rows arrive
        second.test_client().get("/healthz").close()         # worker 2: the lease is taken for 15 minutes
        assert _left(services)["login_transaction"] == 3
        frozen_clock.advance(minutes=15)
        second.extensions["idp.purge"]._next_check = 0       # (its local once-a-minute hint, skipped here)
        second.test_client().get("/healthz").close()
        assert _left(services)["login_transaction"] == 2
    finally:
        second_services.database.dispose()


@pytest.mark.parametrize("existing_lease", [False, True])
def test_concurrent_claims_have_exactly_one_winner(services, frozen_clock, existing_lease):  # noqa: ANN001
    engine = services.database.engine
    if existing_lease:
        assert claim(engine, timedelta(minutes=15))
        frozen_clock.advance(minutes=16)
    results: list[bool] = []
    barrier = threading.Barrier(6)

    def contender() -> None:
        barrier.wait()
        results.append(claim(engine, timedelta(minutes=15)))

    threads = [threading.Thread(target=contender) for _ in range(6)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(30)
    assert sorted(results) == [False] * 5 + [True]


class TestPurgeOff:
    @pytest.fixture
    def config_overrides(self):  # noqa: ANN201
        return {"purge": {"interval_minutes": 0}}

    def test_the_server_does_not_purge_when_the_interval_is_0(self, client, services, factory, frozen_clock):  # noqa: ANN001
        _seed(services, factory, frozen_clock())
        client.get("/healthz").close()
        assert _left(services)["login_transaction"] == 3


def test_idp_db_purge(tmp_path, database_url, services, factory, frozen_clock):  # noqa: ANN001
    _seed(services, factory, frozen_clock())
    config_file = write_config_file(tmp_path / "config.toml", database_url, "http://localhost",
                                    purge={"retention_hours": 24})
    result = CliRunner().invoke(cli, ["--config", str(config_file), "db", "purge"])
    assert result.exit_code == 0, result.output
    assert "login_transaction 1" in result.output and "rate_limit_bucket 2" in result.output
    assert _left(services)["authorization_code"] == 2


def test_purge_settings_are_validated(database_url):  # noqa: ANN001
    with pytest.raises(ConfigError, match="purge.retention_hours"):
        make_config(database_url, purge={"retention_hours": 0})
    with pytest.raises(ConfigError, match="purge.interval_minutes"):
        make_config(database_url, purge={"interval_minutes": -1})
