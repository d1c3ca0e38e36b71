"""PostgreSQL: a limited request's count is committed at once on the connection the request then keeps. The
upsert runs alone (autocommit: no BEGIN, no COMMIT), so a request checks out one pooled connection (one
pre-ping) instead of two, the count is visible to every worker while the view still runs, and no bucket row
stays locked. Before, the count's commit gave the connection back to the pool and the view's first query
checked one out again: two checkouts, two pre-pings, a BEGIN and a COMMIT more per limited request."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from idp.factors import verification
from idp.models import RateLimitBucket
from tests.hardening.helpers import at_the_code_page
from tests.support.factors import code_at, enrol_totp

EMAIL = "alice@example.com"


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


@pytest.fixture
def postgres_only(is_postgres) -> None:  # noqa: ANN001
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite has no pre-ping and serialises whole transactions")


@pytest.fixture
def checkouts(services):  # noqa: ANN001, ANN201
    """Every checkout of the app's connection pool while the test runs."""
    seen: list[int] = []

    def note(*_args) -> None:  # noqa: ANN002
        seen.append(1)

    sa.event.listen(services.database.engine.pool, "checkout", note)
    yield seen
    sa.event.remove(services.database.engine.pool, "checkout", note)


def test_a_code_post_checks_out_one_connection(app, factory, rp, services, postgres_only, checkouts,
                                                frozen_clock):  # noqa: ANN001
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    client, fields, _ = at_the_code_page(app, rp, EMAIL)
    checkouts.clear()
    done = client.post("/login", data={**fields, "code": code_at(secret, frozen_clock)})
    assert done.status_code == 302 and "code=" in done.headers["Location"]
    assert len(checkouts) == 1


def test_the_count_is_visible_and_unlocked_while_the_view_runs(app, factory, rp, services, postgres_only,
                                                                monkeypatch, frozen_clock):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    client, fields, _ = at_the_code_page(app, rp, EMAIL)
    paused, go_on = threading.Event(), threading.Event()
    gate = verification.gate

    def slow_gate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        paused.set()                     # the view runs: the request's count is done
        go_on.wait(10)
        return gate(*args, **kwargs)

    monkeypatch.setattr(verification, "gate", slow_gate)
    answer: dict[str, int] = {}
    thread = threading.Thread(target=lambda: answer.update(status=client.post(
        "/login", data={**fields, "code": "000000"}).status_code))
    thread.start()
    try:
        assert paused.wait(10)
        with services.database.engine.connect() as conn:
            rows = conn.execute(sa.select(RateLimitBucket.key, RateLimitBucket.count)
                                .where(RateLimitBucket.key.like("second_factor:%"))
                                .with_for_update(nowait=True)).all()     # fails at once if a row is locked
            conn.rollback()
    finally:
        go_on.set()
        thread.join(30)
    assert sorted(count for _, count in rows) == [1, 1]     # per address and per account, committed
    assert answer["status"] == 200                          # "not correct": the page again
