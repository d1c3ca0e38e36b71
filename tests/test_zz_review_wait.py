from __future__ import annotations

from idp.attempts import counters


def test_an_account_past_its_free_failures_must_wait(services):
    lim = counters.limits(services.config, "password")
    allowed = []
    for n in range(6):
        account = f"victim{n}@example.com"
        client = counters.Client(address="203.0.113.7")
        with services.database.session() as db:
            for _ in range(lim.free_failures + 1):
                counters.record_failure(db, services, "password", account, client)
            db.commit()
        with services.database.session() as db:
            other = counters.Client(address=f"198.51.100.{n}")   # an untrusted client elsewhere
            verdict = counters.check(db, services, "password", account, other)
            db.rollback()
        if verdict.allowed:
            allowed.append(account)
    print("free_failures", lim.free_failures, "ALLOWED without waiting:", allowed)
    assert allowed == []
