"""Issue 13: the account-wide limit holds under concurrent guesses on several workers (PostgreSQL, real row
locks): of many wrong passwords sent at once, exactly as many are checked as the limit allows, and every
later one is refused without being checked."""
from __future__ import annotations

import threading
import uuid

import httpx
import pytest
import sqlalchemy as sa

from idp.models import AttemptCounter
from tests.support.browser import Browser
from tests.support.configs import write_config_file
from tests.support.servers import free_port

from .helpers import LoggedIdpProcess, running

EMAIL, LIMIT, GUESSES = "alice@example.com", 6, 16


def test_concurrent_wrong_passwords_never_exceed_the_limit(tmp_path, database_url, is_postgres, factory, services):
    if not is_postgres:
        pytest.skip("needs PostgreSQL (IDP_TEST_DATABASE_URL): SQLite serialises whole requests")
    factory.user(EMAIL)
    port = free_port()
    config_file = write_config_file(
        tmp_path / f"config-{uuid.uuid4().hex[:6]}.toml", database_url, f"http://127.0.0.1:{port}",
        rate_limit={"enabled": False}, server={"worker_class": "gthread", "threads": 4},
        lockout={"password_free_failures": LIMIT, "password_max_failures": LIMIT, "trusted_max_failures": LIMIT})
    base = f"http://127.0.0.1:{port}"
    with running(LoggedIdpProcess(config_file, port, workers=2)):
        browsers = [Browser(http=httpx.Client(base_url=base, timeout=30), base=base) for _ in range(GUESSES)]
        pages = [b.open("/login/restart") for b in browsers]
        barrier, answers = threading.Barrier(GUESSES, timeout=20), []

        def guess(b: Browser, page) -> None:  # noqa: ANN001
            barrier.wait()
            answers.append(b.sign_in(page, EMAIL, f"wrong-{uuid.uuid4().hex[:6]}").text)

        threads = [threading.Thread(target=guess, args=pair) for pair in zip(browsers, pages, strict=True)]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
        for b in browsers:
            b.http.close()
    checked = sum("not correct" in a for a in answers)
    refused = sum("paused" in a and "not correct" not in a for a in answers)
    assert (checked, refused) == (LIMIT, GUESSES - LIMIT), answers[:1]
    with services.database.session() as db:
        failures = db.scalar(sa.select(AttemptCounter.failures).where(AttemptCounter.scope == "account"))
    assert failures == LIMIT


def test_first_tries_racing_on_shared_counters_never_deadlock(is_postgres, services):
    """Tries that share some counters (one account from several addresses, two tabs from one address)
    arriving together while the counters are being created: each locks all of its counters in one
    statement, in key order, so none waits for another in a cycle (PostgreSQL would abort one with a
    deadlock error: a server error for the person signing in)."""
    if not is_postgres:
        pytest.skip("needs PostgreSQL (IDP_TEST_DATABASE_URL): SQLite serialises whole transactions")
    from idp.attempts import counters

    errors: list[BaseException] = []

    def attempt(account: str, address: str, barrier: threading.Barrier) -> None:
        db = services.database.sessions()
        try:
            barrier.wait()
            client = counters.Client(address=address)
            counters.check(db, services, "password", account, client)
            counters.record_failure(db, services, "password", account, client)
            db.commit()
        except BaseException as exc:  # noqa: BLE001 - collected, the test fails on any
            errors.append(exc)
            db.rollback()
        finally:
            db.close()

    for round_ in range(40):
        account = f"race{round_}-{uuid.uuid4().hex[:6]}@example.com"
        tries = [(account, f"192.0.2.{i % 3}") for i in range(6)]
        barrier = threading.Barrier(len(tries), timeout=20)
        threads = [threading.Thread(target=attempt, args=(*t, barrier)) for t in tries]
        for t in threads:
            t.start()
        for t in threads:
            t.join(60)
    assert not errors, errors[:3]
