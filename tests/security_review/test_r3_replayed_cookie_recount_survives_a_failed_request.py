"""A code guess sent with an older cookie (one that names no user) is counted again for the transaction's
user, and that count stands even when the request then fails: it is committed at once, as the hook's own
count is ("failing requests cannot be used to guess past the limit", tests/hardening/test_rate_limits.py).
Found by the attacker review of stop 22: the first version counted in the request's own transaction,
which a database error rolled back. Modelled failure: a wrong code is compared, then a database error (503)."""
from __future__ import annotations

import pytest
from sqlalchemy.exc import OperationalError

from idp.factors import totp
from tests.hardening.helpers import EMAIL, at_the_code_page
from tests.support.browser import Browser
from tests.support.factors import code_at, enrol_totp
from tests.support.oidc import authorize_url, pkce_pair

TIGHT = {"login_per_ip": "50/minute", "login_per_account": "50/minute", "second_factor_per_ip": "50/minute",
         "second_factor_per_account": "3/minute"}


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"rate_limit": {**TIGHT, "redis_url": ""}}


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


def _failing_after_a_wrong_code(monkeypatch) -> None:  # noqa: ANN001
    original = totp.verify

    def verify(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        result = original(*args, **kwargs)
        if not result.ok:
            # a database error after the comparison (a deadlock, a lost connection): 503, rolled back
            raise OperationalError("UPDATE ...", {}, Exception("deadlock detected"))
        return result

    monkeypatch.setattr(totp, "verify", verify)


@pytest.mark.parametrize("cookie", ["current", "from before the password"])
def test_code_guesses_that_end_in_a_database_error_still_count_for_the_account(
        app, factory, rp, services, frozen_clock, monkeypatch, cookie):  # noqa: ANN001
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    client, fields, before_password = at_the_code_page(app, rp)
    _failing_after_a_wrong_code(monkeypatch)
    wrong = f"{(int(code_at(secret, frozen_clock)) + 7) % 1_000_000:06d}"
    for n in range(3):
        if cookie != "current":
            client.set_cookie("idp_session", before_password)
        reply = client.post("/login", data={**fields, "code": wrong, "email": f"someone{n}@example.com"})
        assert reply.status_code == 503
    if cookie != "current":
        client.set_cookie("idp_session", before_password)
    fourth = client.post("/login", data={**fields, "code": wrong, "email": "someone9@example.com"})
    assert fourth.status_code == 429, "a fourth guess for the account was checked"
