"""The refresh grant answered before Flask (idp.web.oauth.front_refresh): a plainly good refresh by a client
with its secret gets the same answer as through Flask; anything else (an error, a reused token, a refused
sign-in, a rate limit, another client authentication) is answered by Flask as before, counted once, with
nothing of the attempt before Flask left behind."""
from __future__ import annotations

import logging
import threading
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import sqlalchemy as sa
from flask import request_started

from idp.models import Client, Token, User
from idp.ratelimit.limiter import PURGE_EVERY
from idp.security.secrets import digest
from tests.hardening.helpers import bucket_total
from tests.support.factors import audit_events, require_2fa
from tests.support.oidc_client import Rp, basic, counts

OFFLINE = "openid email offline_access"
PER_RESPONSE = {"X-Request-ID", "Content-Length", "Date", "Vary"}   # Vary: Cookie (a Flask hook read the session)


@contextmanager
def flask_answers(app) -> Iterator[list[str]]:  # noqa: ANN001
    """The requests that reached Flask's own dispatch (not answered in front of it) while the block runs."""
    seen: list[str] = []

    def note(sender, **extra) -> None:  # noqa: ANN001, ANN003, ARG001
        from flask import request
        seen.append(request.path)

    with request_started.connected_to(note, app):
        yield seen


def _refresh_data(refresh_token: str) -> dict[str, str]:
    return {"grant_type": "refresh_token", "refresh_token": refresh_token}


def _live(services) -> int:  # noqa: ANN001
    return counts(services)["live_tokens"]


def test_the_answer_in_front_is_the_answer_flask_gives(rp, app):
    """The same status, fields, values and headers; a query string sends the same request to Flask."""
    first = rp.tokens(scope=OFFLINE)["refresh_token"]
    headers = basic(rp.client_id, rp.reg.secret)
    with flask_answers(app) as through_flask:
        fast = rp.client.post("/token", data=_refresh_data(first), headers={**headers, "X-Request-ID": "rf-1"})
        second = fast.get_json()["refresh_token"]
        slow = rp.client.post("/token?x=1", data=_refresh_data(second), headers=headers)
    assert through_flask == ["/token"]                           # the second one only
    assert fast.status_code == slow.status_code == 200
    assert fast.headers["X-Request-ID"] == "rf-1"
    fast_body, slow_body = fast.get_json(), slow.get_json()
    assert fast_body.keys() == slow_body.keys() == {"access_token", "token_type", "expires_in", "refresh_token", "scope"}
    assert {k: fast_body[k] for k in ("token_type", "expires_in", "scope")} == \
           {k: slow_body[k] for k in ("token_type", "expires_in", "scope")} == \
           {"token_type": "Bearer", "expires_in": 3600, "scope": OFFLINE}
    assert len(fast_body["access_token"]) == len(slow_body["access_token"])
    assert fast.data.decode().startswith('{"access_token": ')     # flask.json's sorted keys and separators
    same = {k: v for k, v in fast.headers.items() if k not in PER_RESPONSE}
    assert same == {k: v for k, v in slow.headers.items() if k not in PER_RESPONSE}
    assert same["Cache-Control"] == "no-store" and same["Pragma"] == "no-cache"
    assert same["X-Frame-Options"] == "DENY" and same["Content-Security-Policy"]


def test_a_failure_before_flask_is_logged_and_flask_answers(rp, app, monkeypatch, caplog):
    from idp.oauth import refresh

    def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        raise sa.exc.OperationalError("SELECT", {}, Exception("server closed the connection"))

    tokens = rp.tokens(scope=OFFLINE)
    monkeypatch.setattr(refresh, "refresh", broken)
    with flask_answers(app) as through_flask, caplog.at_level(logging.WARNING, "idp.oauth"):
        reply = rp.refresh(tokens["refresh_token"])
    assert reply.status == 200 and through_flask == ["/token"]
    assert "refresh before Flask failed (OperationalError)" in caplog.text
    assert tokens["refresh_token"] not in caplog.text


def test_a_refreshed_token_works_and_the_old_one_does_not(rp, app, services):
    tokens = rp.tokens(scope=OFFLINE)
    with flask_answers(app) as through_flask:
        new = rp.refresh(tokens["refresh_token"])
    assert new.status == 200 and through_flask == []
    assert rp.userinfo(new.json["access_token"]).status == 200
    with services.database.session() as db:
        rows = db.scalars(sa.select(Token).order_by(Token.id)).all()
        assert len(rows) == 2 and rows[0].family_id == rows[1].family_id and rows[0].refresh_used_at is not None
        assert (rows[1].sid, rows[1].auth_time, rows[1].amr) == (rows[0].sid, rows[0].auth_time, rows[0].amr)
    newer = rp.refresh(new.json["refresh_token"])
    assert newer.status == 200


def test_reusing_a_rotated_token_still_revokes_the_whole_family(rp, app, services):
    tokens = rp.tokens(scope=OFFLINE)
    new = rp.refresh(tokens["refresh_token"])
    with flask_answers(app) as through_flask:
        reused = rp.refresh(tokens["refresh_token"])
    assert (reused.status, reused.error) == (400, "invalid_grant") and through_flask == ["/token"]
    assert _live(services) == 0
    assert rp.refresh(new.json["refresh_token"]).error == "invalid_grant"
    assert rp.userinfo(new.json["access_token"]).status == 401


def test_client_secret_post_is_answered_in_front(rp, app):
    tokens = rp.tokens(scope=OFFLINE)
    with flask_answers(app) as through_flask:
        reply = rp.refresh(tokens["refresh_token"], auth="post")
    assert reply.status == 200 and through_flask == []


@pytest.mark.parametrize("auth", ["basic", "post"])
def test_a_wrong_secret_is_invalid_client_and_rotates_nothing(rp, app, services, auth):
    tokens = rp.tokens(scope=OFFLINE)
    secret, rp.reg.secret = rp.reg.secret, rp.reg.secret[:-2] + "xx"
    with flask_answers(app) as through_flask:
        reply = rp.refresh(tokens["refresh_token"], auth=auth)
    assert (reply.status, reply.error) == (401, "invalid_client") and through_flask == ["/token"]
    rp.reg.secret = secret
    assert counts(services)["tokens"] == 1 and rp.refresh(tokens["refresh_token"]).status == 200


def test_the_previous_secret_works_while_it_lasts(rp, app, services):
    """Client.check_client_secret, as through authlib: a rotated secret keeps working for its grace time."""
    from datetime import timedelta

    from idp.clock import now

    tokens = rp.tokens(scope=OFFLINE)
    with services.database.session() as db:
        db.execute(sa.update(Client).where(Client.client_id == rp.client_id).values(
            secret_digest=digest("the-new-secret"), previous_secret_digest=digest(rp.reg.secret),
            previous_secret_expires_at=now() + timedelta(hours=1)))
    with flask_answers(app) as through_flask:
        assert rp.refresh(tokens["refresh_token"]).status == 200
    assert through_flask == []


def test_a_client_registered_for_private_key_jwt_is_never_answered_in_front(rp, app):
    tokens = rp.tokens(scope=OFFLINE)
    with rp.client.application.extensions["idp"].database.session() as db:
        db.execute(sa.update(Client).where(Client.client_id == rp.client_id).values(
            token_endpoint_auth_method="private_key_jwt", jwks={"keys": []}))
    with flask_answers(app) as through_flask:
        rp.refresh(tokens["refresh_token"])            # whatever Flask answers (as before this change)
    assert through_flask == ["/token"]


def test_a_public_client_cannot_authenticate_with_a_secret_in_front(public_rp, app, services):
    tokens = public_rp.tokens(scope=OFFLINE)
    with flask_answers(app) as through_flask:
        reply = public_rp._post("/token", _refresh_data(tokens["refresh_token"]), headers=basic(
            public_rp.client_id, "any-secret"), auth="")
    assert (reply.status, reply.error) == (401, "invalid_client") and through_flask == ["/token"]
    assert counts(services)["tokens"] == 1
    assert public_rp.refresh(tokens["refresh_token"]).status == 200     # auth none, through Flask as before


def test_a_disabled_user_is_refused_as_before(rp, app, services):
    tokens = rp.tokens(scope=OFFLINE)
    with services.database.session() as db:
        db.execute(sa.update(User).values(is_active=False))
    with flask_answers(app) as through_flask:
        reply = rp.refresh(tokens["refresh_token"])
    assert (reply.status, reply.error) == (400, "invalid_grant") and through_flask == ["/token"]
    assert counts(services)["tokens"] == 1 and _live(services) == 0
    assert [e.details["reason"] for e in audit_events(services, "session_refused")] == ["account_disabled"]


def test_revoked_and_expired_tokens_are_refused_as_before(rp, app, services, frozen_clock):
    revoked = rp.tokens(scope=OFFLINE)
    assert rp._post("/revoke", {"token": revoked["refresh_token"]}).status == 200
    expired = rp.tokens(scope=OFFLINE)
    frozen_clock.advance(days=31)
    with flask_answers(app) as through_flask:
        assert rp.refresh(revoked["refresh_token"]).error == "invalid_grant"
        assert rp.refresh(expired["refresh_token"]).error == "invalid_grant"
    assert through_flask == ["/token", "/token"]
    assert counts(services)["tokens"] == 2


def test_a_sign_in_that_no_longer_meets_the_policy_is_refused_and_audited_once(rp, app, services):
    tokens = rp.tokens(scope=OFFLINE)
    require_2fa(services, grace_days=0)
    with flask_answers(app) as through_flask:
        reply = rp.refresh(tokens["refresh_token"])
    assert (reply.status, reply.error) == (400, "invalid_grant") and through_flask == ["/token"]
    assert _live(services) == 0 and counts(services)["tokens"] == 1
    events = audit_events(services, "session_refused")
    assert [(e.details["at"], e.details["reason"]) for e in events] == [("refresh", "second_factor_required")]


def test_what_is_not_plainly_a_refresh_goes_to_flask(rp, app):
    """A down-scoping `scope`, a repeated parameter, control characters, two authentication methods."""
    tokens = rp.tokens(scope=OFFLINE)
    headers = basic(rp.client_id, rp.reg.secret)
    token = tokens["refresh_token"]
    with flask_answers(app) as through_flask:
        narrowed = rp.client.post("/token", data={**_refresh_data(token), "scope": "openid"}, headers=headers)
        assert narrowed.status_code == 200 and narrowed.get_json()["scope"] == "openid"
        token = narrowed.get_json()["refresh_token"]
        twice = rp.client.post("/token", data=f"grant_type=refresh_token&refresh_token={token}&refresh_token={token}",
                               headers={**headers, "Content-Type": "application/x-www-form-urlencoded"})
        assert twice.status_code == 400 and twice.get_json()["error"] == "invalid_request"
        control = rp.client.post("/token", data=_refresh_data(token + "\x01"), headers=headers)
        assert control.status_code == 400 and control.get_json()["error"] == "invalid_request"
        both = rp.client.post("/token", data={**_refresh_data(token), "client_id": rp.client_id,
                                              "client_secret": rp.reg.secret}, headers=headers)
        assert both.status_code == 400 and both.get_json()["error"] == "invalid_request"
    assert through_flask == ["/token"] * 4
    assert rp.refresh(token).status == 200                  # none of the refused ones used it up


def test_an_answer_in_front_is_logged_and_counted(rp, app, caplog):
    tokens = rp.tokens(scope=OFFLINE)
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="idp.access"):
        rp.client.post("/token", data=_refresh_data(tokens["refresh_token"]),
                       headers={**basic(rp.client_id, rp.reg.secret), "X-Request-ID": "rf-log-1"})
    lines = [r for r in caplog.records if r.name == "idp.access"]
    assert [r.getMessage().rsplit(" ", 1)[0] for r in lines] == ["POST /token 200"]
    assert lines[0].request_id == "rf-log-1" and lines[0].http["endpoint"] == "oauth.token"
    assert tokens["refresh_token"] not in caplog.text
    metrics = rp.client.get("/metrics").get_data(as_text=True)
    assert 'endpoint="oauth.token",method="POST",status="200"' in metrics


def test_concurrent_refreshes_of_one_token_one_wins_and_the_family_is_revoked(rp, app, services):
    tokens = rp.tokens(scope=OFFLINE)
    racers = 4
    barrier = threading.Barrier(racers)
    replies: list = []
    lock = threading.Lock()

    def race() -> None:
        mine = Rp(app.test_client(), rp.browser, rp.reg, rp.issuer)
        barrier.wait()
        reply = mine.refresh(tokens["refresh_token"])
        with lock:
            replies.append(reply)

    threads = [threading.Thread(target=race) for _ in range(racers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert sorted(r.status for r in replies) == [200] + [400] * (racers - 1)
    assert all(r.error == "invalid_grant" for r in replies if r.status == 400)
    assert _live(services) == 0                           # the winner's new token went with the family
    winner = next(r for r in replies if r.status == 200)
    assert rp.refresh(winner.json["refresh_token"]).error == "invalid_grant"


class TestRateLimits:
    @pytest.fixture
    def config_overrides(self) -> dict:
        return {"rate_limit": {"token_per_ip": "50/minute", "token_per_client": "3/minute"}}

    def test_each_refresh_counts_once_and_the_429_still_comes(self, rp, app, services, frozen_clock):
        tokens = rp.tokens(scope=OFFLINE)                  # the code exchange: 1 on the client's counter
        before = bucket_total(services)
        with flask_answers(app) as through_flask:
            second = rp.refresh(tokens["refresh_token"])
            third = rp.refresh(second.json["refresh_token"])
            assert second.status == third.status == 200
            assert bucket_total(services) == before + 4    # per address and per client, once each
            refused = rp.refresh(third.json["refresh_token"])
        assert refused.status == 429 and refused.error == "too_many_requests"
        assert int(refused.headers["Retry-After"]) >= 1 and refused.headers["Cache-Control"] == "no-store"
        assert through_flask == ["/token"] and bucket_total(services) == before + 6   # the refused one: once
        assert counts(services)["tokens"] == 3                                  # and it issued nothing
        frozen_clock.advance(minutes=1)
        assert rp.refresh(third.json["refresh_token"]).status == 200            # nor used the token up


    def test_a_failing_purge_after_the_rotation_does_not_lose_the_new_tokens(self, rp, app, services, caplog,
                                                                          monkeypatch):
        """The purge of expired counters runs after the commit now and then: its failure is logged, and the
        answer with the rotated tokens still goes out (else the client would retry with the old token, and
        reuse detection would end the family)."""
        backend = app.extensions["idp.ratelimit"].backend

        def broken() -> int:
            raise sa.exc.OperationalError("DELETE", {}, Exception("database is locked"))

        tokens = rp.tokens(scope=OFFLINE)
        monkeypatch.setattr(backend, "purge", broken)
        backend._calls = PURGE_EVERY - 1                       # the next count purges
        with flask_answers(app) as through_flask, caplog.at_level(logging.WARNING, "idp.ratelimit"):
            new = rp.refresh(tokens["refresh_token"])
        assert new.status == 200 and through_flask == []
        assert "rate-limit purge failed" in caplog.text
        assert rp.refresh(new.json["refresh_token"]).status == 200


class TestBehindAProxy:
    @pytest.fixture
    def config_overrides(self) -> dict:
        return {"server": {"trusted_proxies": 1},
                "rate_limit": {"token_per_ip": "50/minute", "token_per_client": "50/minute"}}

    def test_the_address_the_proxy_saw_is_the_key_as_in_flask(self, rp, app, services):
        from idp.models import RateLimitBucket
        from idp.ratelimit.limiter import Check
        from idp.rate_limit_rules import Limit

        tokens = rp.tokens(scope=OFFLINE)                  # the code exchange, through Flask, from 127.0.0.1
        forwarded = {**basic(rp.client_id, rp.reg.secret), "X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        with flask_answers(app) as through_flask:
            assert rp.client.post("/token", data=_refresh_data(tokens["refresh_token"]),
                                  headers=forwarded).status_code == 200
        assert through_flask == []
        keys = {Check("token", "ip", "203.0.113.9", Limit(50, 60)).key: 1,
                Check("token", "ip", "127.0.0.1", Limit(50, 60)).key: 1,
                Check("token", "client", f"client:{rp.client_id}", Limit(50, 60)).key: 2}
        with services.database.session() as db:
            rows = db.execute(sa.select(RateLimitBucket.key, RateLimitBucket.count)
                              .where(RateLimitBucket.key.like("token:%"))).all()
        assert dict(rows) == keys


class TestRedisCounters:
    """Counts in Redis cannot be rolled back: the attempt before Flask moves them once, before the rotation, and
    whatever falls through to Flask is answered from that same count (a refusal, an error), never counted again."""

    @pytest.fixture
    def config_overrides(self) -> dict:
        from tests.hardening.test_rate_limits import REDIS_URL, redis_available

        if not redis_available():
            pytest.skip("no Redis on 127.0.0.1:6379")
        return {"server": {"trusted_proxies": 1},
                "rate_limit": {"redis_url": REDIS_URL, "token_per_client": "3/minute", "token_per_ip": "50/minute"}}

    @pytest.fixture
    def redis(self, app):  # noqa: ANN001, ANN201
        """The app's Redis backend, with a key prefix of this test's own (removed afterwards)."""
        import uuid

        backend = app.extensions["idp.ratelimit"].backend
        backend.prefix, reachable = f"idp:rl:test-{uuid.uuid4().hex}:", backend.client
        yield backend
        for key in reachable.scan_iter(match=backend.prefix + "*"):
            reachable.delete(key)

    @staticmethod
    def counters(redis) -> dict[str, int]:  # noqa: ANN001
        """Every `token` counter in Redis, by its check's key (the window's start left out)."""
        return {name.decode()[len(redis.prefix):].rsplit(":", 1)[0]: int(redis.client.get(name))
                for name in redis.client.scan_iter(match=f"{redis.prefix}token:*")}

    @staticmethod
    def client_count(redis, rp) -> int:  # noqa: ANN001
        from idp.ratelimit.limiter import Check
        from idp.rate_limit_rules import Limit

        return TestRedisCounters.counters(redis)[Check("token", "client", f"client:{rp.client_id}", Limit(3, 60)).key]

    def test_a_good_refresh_is_answered_in_front_and_counted_once(self, rp, app, services, redis, frozen_clock):
        """Per client and per address, the one the trusted proxy saw, as Flask counts them."""
        from idp.ratelimit.limiter import Check
        from idp.rate_limit_rules import Limit

        tokens = rp.tokens(scope=OFFLINE)                           # the code exchange, through Flask, from 127.0.0.1
        forwarded = {**basic(rp.client_id, rp.reg.secret), "X-Forwarded-For": "198.51.100.1, 203.0.113.9"}
        with flask_answers(app) as through_flask:
            second = rp.client.post("/token", data=_refresh_data(tokens["refresh_token"]), headers=forwarded)
        assert second.status_code == 200 and through_flask == []    # answered before Flask
        assert self.counters(redis) == {Check("token", "ip", "203.0.113.9", Limit(50, 60)).key: 1,
                                        Check("token", "ip", "127.0.0.1", Limit(50, 60)).key: 1,
                                        Check("token", "client", f"client:{rp.client_id}", Limit(3, 60)).key: 2}
        assert bucket_total(services) == 0                          # nothing counted in the database

    def test_over_the_limit_flask_refuses_from_the_same_count(self, rp, app, services, redis, frozen_clock):
        tokens = rp.tokens(scope=OFFLINE)                           # 1
        second = rp.refresh(tokens["refresh_token"])                # 2
        third = rp.refresh(second.json["refresh_token"])            # 3
        live = _live(services)
        with flask_answers(app) as through_flask:
            refused = rp.refresh(third.json["refresh_token"])      # 4: over
        assert third.status == 200 and refused.status == 429 and through_flask == ["/token"]
        assert refused.json["error"] == "too_many_requests" and int(refused.headers["Retry-After"]) >= 1
        assert self.client_count(redis, rp) == 4                    # counted once, not again by Flask
        assert _live(services) == live                              # nothing rotated
        with services.database.session() as db:
            assert db.scalar(sa.select(Token.refresh_used_at).where(Token.refresh_token_digest == digest(
                third.json["refresh_token"]))) is None

    def test_a_refresh_flask_answers_is_counted_once(self, rp, app, redis, frozen_clock):
        rp.tokens(scope=OFFLINE)                                    # 1
        with flask_answers(app) as through_flask:
            unknown = rp.refresh("not-a-refresh-token")            # 2: falls through, Flask answers
        assert unknown.status == 400 and unknown.json["error"] == "invalid_grant"
        assert through_flask == ["/token"]
        assert self.client_count(redis, rp) == 2

    def test_redis_down_refuses_the_refresh_and_rotates_nothing(self, rp, app, services, redis):
        from tests.support.servers import free_port

        tokens = rp.tokens(scope=OFFLINE)
        redis.client = type(redis.client).from_url(f"redis://127.0.0.1:{free_port()}/0", socket_timeout=0.5,
                                                   socket_connect_timeout=0.5)
        live = _live(services)
        refused = rp.refresh(tokens["refresh_token"])
        assert refused.status == 503 and refused.json["error"] == "temporarily_unavailable"
        assert _live(services) == live
        with services.database.session() as db:
            assert db.scalar(sa.select(Token.refresh_used_at).where(Token.refresh_token_digest == digest(
                tokens["refresh_token"]))) is None

    def test_a_refresh_whose_database_work_fails_in_front_is_counted_once(self, rp, app, services, redis,
                                                                         frozen_clock, monkeypatch):
        """The rotation before Flask fails (here: the lookup raises); Flask answers it, from the same count."""
        from idp.oauth import refresh

        tokens = rp.tokens(scope=OFFLINE)                           # 1

        def broken(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
            raise RuntimeError("the front's transaction failed")

        monkeypatch.setattr(refresh, "refresh", broken)
        with flask_answers(app) as through_flask:
            second = rp.refresh(tokens["refresh_token"])            # 2: Flask answers
        assert second.status == 200 and through_flask == ["/token"]
        assert self.client_count(redis, rp) == 2

    def test_an_unexpected_failure_of_the_count_in_front_leaves_the_count_to_flask(self, rp, app, redis,
                                                                                  frozen_clock, monkeypatch):
        """No verdict is left behind: Flask counts the request itself (once) and answers it."""
        tokens = rp.tokens(scope=OFFLINE)                           # 1
        real, calls = redis.hit, []

        def first_fails(buckets, db=None):  # noqa: ANN001, ANN202
            calls.append(len(buckets))
            if len(calls) == 1:
                raise RuntimeError("not a Redis error")
            return real(buckets, db)

        monkeypatch.setattr(redis, "hit", first_fails)
        with flask_answers(app) as through_flask:
            second = rp.refresh(tokens["refresh_token"])            # 2, counted by Flask
        assert second.status == 200 and through_flask == ["/token"] and len(calls) == 2
        assert self.client_count(redis, rp) == 2
