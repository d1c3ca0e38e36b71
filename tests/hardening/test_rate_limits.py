"""Rate limits (idp.ratelimit): per client address and per account/client on sign-in, second factors, code
sending, /token and /introspect; 429 + Retry-After, and nothing else changes. Database and Redis backends."""
from __future__ import annotations

import threading
import uuid
from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.config import ConfigError
from idp.models import LoginTransaction, OtpChallenge, User
from idp.ratelimit.limiter import Check, DatabaseBackend, Limiter, RedisBackend
from idp.rate_limit_rules import Limit, LimitError, parse_limit
from tests.support.browser import Browser
from tests.support.configs import make_config
from tests.support.factors import code_at, enrol_side_channel, enrol_totp
from tests.support.factory import PASSWORD
from tests.support.smtp import email_config, smtp  # noqa: F401 (fixture)

from .helpers import EMAIL, at_the_code_page, basic, bucket_total, signed_in, snapshot, start

TIGHT = {"login_per_ip": "6/minute", "login_per_account": "3/minute", "second_factor_per_ip": "50/minute",
         "second_factor_per_account": "3/minute", "send_per_ip": "50/hour", "send_per_account": "2/hour",
         "token_per_ip": "50/minute", "token_per_client": "2/minute", "introspect_per_ip": "50/minute",
         "introspect_per_client": "2/minute"}
REDIS_URL = "redis://127.0.0.1:6379/15"


def redis_available() -> bool:
    try:
        import redis
        redis.Redis.from_url(REDIS_URL, socket_connect_timeout=0.5).ping()
    except Exception:  # noqa: BLE001
        return False
    return True


@pytest.fixture(autouse=True)
def _a_new_hour(request) -> None:  # noqa: ANN001
    """The frozen clock, when a test uses it, starts a second into an hour: a test that moves it on by seconds
    or minutes between counted requests never splits them over two fixed windows (per minute, per hour) by
    chance. It did, about one run in twenty, when the clock started in the last seconds of a minute; and
    two tests failed when it started in the last minutes of an hour."""
    if "frozen_clock" in request.fixturenames:
        clock = request.getfixturevalue("frozen_clock")
        clock.set((clock() + timedelta(hours=1)).replace(minute=0, second=1))


@pytest.fixture
def backend(request) -> str:  # noqa: ANN001
    """The database backend, or Redis for the tests marked with BOTH (the core behaviour, twice)."""
    kind = getattr(request, "param", "database")
    if kind == "redis" and not redis_available():
        pytest.skip("no Redis on 127.0.0.1:6379")
    return kind


BOTH = pytest.mark.parametrize("backend", ["database", "redis"], indirect=True)


@pytest.fixture
def config_overrides(backend, smtp):  # noqa: ANN001, ANN201, F811
    return {"rate_limit": {**TIGHT, "redis_url": REDIS_URL if backend == "redis" else ""},
            "email": email_config(smtp)}


@pytest.fixture
def app(app, backend):  # noqa: ANN001, ANN201
    """Redis: a key prefix of this test's own (runs and tests never share counters); removed afterwards."""
    limiter = app.extensions.get("idp.ratelimit")
    redis_backend = limiter.backend if limiter is not None and backend == "redis" else None
    if redis_backend is not None:
        redis_backend.prefix = f"idp:rl:test-{uuid.uuid4().hex}:"
    yield app
    if redis_backend is not None:
        _forget(redis_backend)


def _forget(redis_backend: RedisBackend) -> None:
    for key in redis_backend.client.scan_iter(match=redis_backend.prefix + "*"):
        redis_backend.client.delete(key)


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


def login_form(app, rp):  # noqa: ANN001, ANN201
    """A new browser's sign-in: its test client and the password form's fields."""
    from tests.support.oidc import authorize_url, pkce_pair
    client = app.test_client()
    page = Browser(client=client).open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    return client, dict(page.form("password").fields)


def _tx_of(services, email: str) -> LoginTransaction:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(LoginTransaction).join(User).where(User.email == email)
                         .order_by(LoginTransaction.id.desc()))


@BOTH
def test_sign_in_attempts_per_account_then_429_and_nothing_changes(app, browser, factory, rp, services,
                                                                  frozen_clock):
    factory.user(EMAIL)
    from tests.support.oidc import authorize_url, pkce_pair
    _, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    for _ in range(3):
        page = browser.sign_in(page, EMAIL, "not the password")
        assert page.status == 200 and "not correct" in page.text
    before = snapshot(services)
    refused = browser.sign_in(page, EMAIL, PASSWORD)      # the right password, but one attempt too many
    assert refused.status == 429 and "Too many attempts" in refused.text and "Nothing was changed" in refused.text
    response = app.test_client().get("/healthz")  # any request works meanwhile
    assert response.status_code == 200
    assert snapshot(services) == before                   # no step ran: no session, no audit entry, nothing
    # another browser, same account: the account's counter holds there too
    other = Browser(client=app.test_client())
    page2 = other.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    assert other.sign_in(page2, "ALICE@example.com ", PASSWORD).status == 429
    frozen_clock.advance(seconds=61)
    done = browser.sign_in(page, EMAIL, PASSWORD)
    assert signed_in(done, rp), done.text[:1000]


def test_attempts_that_end_in_a_server_error_still_count(app, factory, rp, services, monkeypatch, frozen_clock):
    """The counters are committed before the view runs: a sign-in attempt whose view fails (500, its own
    transaction rolled back) still counts, so failing requests cannot be used to guess past the limit."""
    from idp import accounts

    factory.user(EMAIL)

    def broken(*_args, **_kwargs):  # noqa: ANN002, ANN003, ANN202
        raise RuntimeError("the password check failed")

    monkeypatch.setattr(accounts, "verify_password", broken)
    app.config["PROPAGATE_EXCEPTIONS"] = False   # a server error page instead of the exception
    client, fields = login_form(app, rp)
    for _ in range(3):
        assert client.post("/login", data={**fields, "email": EMAIL, "password": "guess"}).status_code == 500
    refused = client.post("/login", data={**fields, "email": EMAIL, "password": "guess"})
    assert refused.status_code == 429


def test_retry_after_is_the_rest_of_the_window(app, client, factory, rp, services, frozen_clock):
    """429 carries Retry-After (seconds to the end of the fixed window) and a page that says how long."""
    from datetime import UTC, datetime
    frozen_clock.set(datetime(2030, 1, 1, 12, 0, 15, tzinfo=UTC))
    browser = Browser(client=client)
    from tests.support.oidc import authorize_url, pkce_pair
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
    for _ in range(3):
        page = browser.sign_in(page, "bob@example.com", "x")
    response = client.post("/login", data={**page.form("password").fields, "email": "bob@example.com",
                                            "password": "x"})
    assert response.status_code == 429
    assert response.headers["Retry-After"] == "45"
    assert "wait 45 seconds" in response.get_data(as_text=True)
    assert response.headers["Content-Security-Policy"] and response.mimetype == "text/html"


def test_per_address_limit_spans_accounts(app, factory, rp, services, frozen_clock):
    """Many accounts from one address: the address's own counter stops it; X-Forwarded-For is ignored
    without [server] trusted_proxies (a client cannot pick a fresh address per request)."""
    statuses = []
    for i in range(7):
        client, form = login_form(app, rp)     # a sign-in of its own each (a sign-in stops after 5 failures)
        form.update(email=f"user{i}@example.com", password="x")
        statuses.append(client.post("/login", data=form, headers={"X-Forwarded-For": f"203.0.113.{i}"}).status_code)
    assert statuses == [200] * 6 + [429]


class TestTrustedProxy:
    @pytest.fixture
    def config_overrides(self, backend, smtp):  # noqa: ANN001, ANN201, F811
        return {"rate_limit": {**TIGHT, "redis_url": REDIS_URL if backend == "redis" else ""},
                "server": {"trusted_proxies": 1}, "email": email_config(smtp)}

    def test_the_address_from_the_trusted_proxy_is_the_key(self, app, factory, rp, frozen_clock):
        def post(i: int, ip: str) -> int:
            client, form = login_form(app, rp)
            return client.post("/login", data={**form, "email": f"user{i}@example.com", "password": "x"},
                               headers={"X-Forwarded-For": f"198.51.100.7, {ip}"}).status_code

        assert [post(i, "192.0.2.1") for i in range(7)] == [200] * 6 + [429]
        assert post(7, "192.0.2.2") == 200   # another client behind the same proxy


@BOTH
def test_second_factor_limit_per_account_and_nothing_changes(app, factory, rp, services, frozen_clock):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    browser = Browser(client=app.test_client())
    page, _ = start(browser, rp)
    assert 'name="code"' in page.text
    wrong = f"{(int(code_at(secret, frozen_clock)) + 7) % 1_000_000:06d}"
    for _ in range(3):
        page = browser.submit(page, "code", {"code": wrong})
        assert "not right" in page.text
        frozen_clock.advance(seconds=1)
    failures_before = _tx_of(services, EMAIL).failures
    before = snapshot(services)
    refused = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert refused.status == 429 and "Back to the sign-in" in refused.text
    assert snapshot(services) == before   # not counted as a failure, code not consumed, no audit entry
    assert _tx_of(services, EMAIL).failures == failures_before
    # the same account in a new sign-in (new transaction, new browser) is held too, after its password
    other = Browser(client=app.test_client())
    page2, _ = start(other, rp)
    assert other.submit(page2, "code", {"code": code_at(secret, frozen_clock)}).status == 429
    frozen_clock.advance(seconds=60)
    done = browser.submit(page, "code", {"code": code_at(secret, frozen_clock)})
    assert signed_in(done, rp), done.text[:1500]


@BOTH
def test_code_guesses_sent_with_the_cookie_from_before_the_password_still_count_for_the_account(
        app, factory, rp, services, frozen_clock):
    """The browser's cookie names the user its sign-in is for (so the count needs no query); an older cookie,
    from before the password, names nobody. Guesses sent with it are counted again, for the transaction's
    user, before any code is checked: the account's limit holds however the cookie is replayed."""
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    client, fields, before_password = at_the_code_page(app, rp)
    wrong = f"{(int(code_at(secret, frozen_clock)) + 7) % 1_000_000:06d}"
    for n in range(3):
        client.set_cookie("idp_session", before_password)
        reply = client.post("/login", data={**fields, "code": wrong, "email": f"someone{n}@example.com"})
        assert reply.status_code == 200 and "not right" in reply.get_data(as_text=True)
        frozen_clock.advance(seconds=1)
    failures = _tx_of(services, EMAIL).failures
    client.set_cookie("idp_session", before_password)
    refused = client.post("/login", data={**fields, "code": code_at(secret, frozen_clock), "email": "x@example.com"})
    assert refused.status_code == 429 and refused.headers["Retry-After"]
    assert _tx_of(services, EMAIL).failures == failures      # no code was checked
    frozen_clock.advance(seconds=60)
    client.set_cookie("idp_session", before_password)
    done = client.post("/login", data={**fields, "code": code_at(secret, frozen_clock)})
    assert done.status_code == 302 and done.location.startswith(rp.redirect_uri), done.get_data(as_text=True)[:500]


def test_resend_limit_sends_nothing(app, factory, rp, services, smtp, frozen_clock):  # noqa: F811
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    browser = Browser(client=app.test_client())
    page, _ = start(browser, rp)
    smtp.wait_for(EMAIL)
    resend = page.form("code")  # the code form carries tx and step; the resend form posts the same
    fields = {k: v for k, v in resend.fields.items() if k in ("csrf_token", "tx", "step")}
    for _ in range(2):
        frozen_clock.advance(seconds=31)
        assert browser.open("/login/resend", "POST", fields).status == 200
    sent = len(smtp.to(EMAIL))
    with services.database.session() as db:
        challenges = db.scalar(sa.select(sa.func.count(OtpChallenge.id)))
    frozen_clock.advance(seconds=31)
    before = snapshot(services)
    refused = browser.open("/login/resend", "POST", fields)
    assert refused.status == 429
    assert snapshot(services) == before and len(smtp.to(EMAIL)) == sent
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(OtpChallenge.id))) == challenges


def test_token_endpoint_json_429_per_client(app, client, factory, rp, services, frozen_clock):  # one window
    headers = basic(rp)
    data = {"grant_type": "authorization_code", "code": "nope", "redirect_uri": rp.redirect_uri,
            "code_verifier": "x" * 43}
    assert [client.post("/token", data=data, headers=headers).status_code for _ in range(2)] == [400, 400]
    response = client.post("/token", data=data, headers=headers)
    assert response.status_code == 429
    body = response.get_json()
    assert body["error"] == "too_many_requests" and "retry after" in body["error_description"]
    assert int(response.headers["Retry-After"]) >= 1 and response.headers["Cache-Control"] == "no-store"
    other = factory.client(redirect_uri="http://127.0.0.1:9001/cb")
    assert client.post("/token", data=data, headers=basic(other)).status_code == 400   # another client


def test_introspection_json_429_per_client(app, client, factory, rp, frozen_clock):  # one window
    for _ in range(2):
        assert client.post("/introspect", data={"token": "x"}, headers=basic(rp)).status_code == 200
    response = client.post("/introspect", data={"token": "x"}, headers=basic(rp))
    assert response.status_code == 429 and response.get_json()["error"] == "too_many_requests"
    assert "Retry-After" in response.headers


def test_get_requests_are_never_limited(app, client):
    for _ in range(10):
        assert client.get("/login").status_code in (200, 302)


# --------------------------------------------------------------------------- the limiter itself

@pytest.mark.parametrize("text, expected", [
    ("20/minute", Limit(20, 60)), ("5/15minutes", Limit(5, 900)), ("1/second", Limit(1, 1)),
    ("100 / hour", Limit(100, 3600)), ("3/DAY", Limit(3, 86400)), ("", None), ("  ", None),
])
def test_parse_limit(text, expected):  # noqa: ANN001
    assert parse_limit(text) == expected


@pytest.mark.parametrize("text", ["20", "20/fortnight", "0/minute", "-1/minute", "5/0minutes", "1/8days", "x/hour"])
def test_bad_limits_are_refused(text):  # noqa: ANN001
    with pytest.raises(LimitError):
        parse_limit(text)


@pytest.mark.parametrize("overrides, message", [
    ({"rate_limit": {"login_per_account": "20 per minute"}}, "rate_limit.login_per_account: expected"),
    ({"rate_limit": {"redis_url": "127.0.0.1:6379"}}, "rate_limit.redis_url: must start with redis://"),
    ({"logging": {"format": "xml"}}, "logging.format: must be one of text, json"),
    ({"passwords": {"min_length": 6}}, "passwords.min_length: must be between 8 and 64"),
    ({"passwords": {"min_length_single_factor": 70}}, "passwords.min_length_single_factor"),
    ({"server": {"worker_class": "gthread", "threads": 16}}, "database.pool_size + database.max_overflow"),
])
def test_config_is_checked(overrides, message, tmp_path):  # noqa: ANN001
    with pytest.raises(ConfigError, match=message.replace("+", r"\+")):
        make_config(f"sqlite:///{tmp_path}/x.db", **overrides)


@BOTH
def test_counts_are_atomic_under_concurrency(services, backend):  # noqa: ANN001
    """20 threads x 10 hits on one key: every count from 1 to 200 handed out exactly once."""
    if backend == "redis":
        limiter = Limiter(RedisBackend(REDIS_URL))
        limiter.backend.prefix = f"idp:rl:test-{uuid.uuid4().hex}:"
    else:
        limiter = Limiter(DatabaseBackend(services.database.engine))
    check = Check("login", "account", f"email:{uuid.uuid4().hex}@example.com", Limit(150, 3600))
    seen: list[int] = []
    lock = threading.Lock()
    barrier = threading.Barrier(20)

    def run() -> None:
        barrier.wait()
        for _ in range(10):
            verdict = limiter.hit([check])
            with lock:
                seen.append(verdict.counts[0])

    threads = [threading.Thread(target=run) for _ in range(20)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert sorted(seen) == list(range(1, 201))
    assert not limiter.hit([check]).allowed
    if backend == "redis":
        _forget(limiter.backend)


def test_expired_rows_are_purged(services, frozen_clock):  # noqa: ANN001
    db_backend = DatabaseBackend(services.database.engine)
    limiter = Limiter(db_backend)
    limiter.hit([Check("send", "ip", "192.0.2.1", Limit(5, 60)), Check("send", "account", "user:1", Limit(5, 3600))])
    frozen_clock.advance(seconds=120)
    assert db_backend.purge() == 1                 # the minute's row went, the hour's stays
    assert bucket_total(services) == 1


class TestRedisDown:
    @pytest.fixture
    def config_overrides(self, backend):  # noqa: ANN001, ANN201
        from tests.support.servers import free_port
        # /authorize itself is limited (and refused while Redis is down): off here, to reach the sign-in form
        return {"rate_limit": {"redis_url": f"redis://127.0.0.1:{free_port()}/0", "authorize_per_ip": ""}}

    @pytest.fixture
    def app(self, config, services):  # noqa: ANN001, ANN201
        from idp.app import create_app
        app = create_app(config, services)
        app.config["TESTING"] = True
        return app

    def test_fails_closed_with_a_clear_page_and_not_ready(self, app, factory, rp, services):
        factory.user(EMAIL)
        client = app.test_client()
        browser = Browser(client=client)
        from tests.support.oidc import authorize_url, pkce_pair
        page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
        assert page.status == 200           # pages that are not limited still work
        before = snapshot(services)
        refused = browser.sign_in(page, EMAIL, PASSWORD)
        assert refused.status == 503 and "cannot check its limits" in refused.text
        assert snapshot(services) == before
        ready = client.get("/readyz")
        assert ready.status_code == 503
        assert any(p.startswith("rate_limit: rate-limit Redis unreachable") for p in ready.get_json()["problems"])
        token = client.post("/token", data={"grant_type": "authorization_code"}, headers=basic(rp))
        assert token.status_code == 503 and token.get_json()["error"] == "temporarily_unavailable"


class TestDisabled:
    @pytest.fixture
    def config_overrides(self, backend):  # noqa: ANN001, ANN201
        return {"rate_limit": {"enabled": False, "login_per_account": "1/hour"}}

    def test_no_limiter_no_table_writes(self, app, client, factory, rp, services):
        assert "idp.ratelimit" not in app.extensions
        browser = Browser(client=client)
        from tests.support.oidc import authorize_url, pkce_pair
        page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
        for _ in range(3):
            page = browser.sign_in(page, EMAIL, "x")
            assert page.status == 200
        assert bucket_total(services) == 0


def test_forgot_password_is_limited_per_address_and_sends_nothing_more(app, factory, services, smtp):  # noqa: F811
    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    page = browser.open("/forgot-password")
    fields = dict(page.form("email").fields)
    statuses = [browser.open("/forgot-password", "POST", {**fields, "email": EMAIL}).status for _ in range(3)]
    assert statuses == [200, 200, 429]
    sent = len(smtp.to(EMAIL))
    assert browser.open("/forgot-password", "POST", {**fields, "email": "Alice@Example.com"}).status == 429
    assert len(smtp.to(EMAIL)) == sent


def test_profile_code_sends_are_limited_per_signed_in_user(app, factory, rp, services, smtp):  # noqa: F811
    from tests.support.forms import forms
    factory.user(EMAIL)
    browser = Browser(client=app.test_client())
    done, _ = start(browser, rp)
    assert signed_in(done, rp)
    statuses = []
    for _ in range(3):
        page = browser.open("/account/security/enable")
        form = next(f for f in forms(page.text) if f.action == "/account/security/enable/email")
        statuses.append(browser.open(form.action, "POST", form.fields).status)
    assert statuses[-1] == 429 and 429 not in statuses[:-1], statuses
