"""PostgreSQL: counting a code POST again (an older cookie sent again) holds no bucket row lock while the view
runs, so other accounts' code POSTs from the same address (a NAT, an office proxy) never wait for it.
Found by the attacker review of stop 22: the first version counted in the request's own transaction, which
kept the address's `second_factor` counter row locked until that request ended."""
from __future__ import annotations

import threading
import time

import pytest

from idp.factors import verification
from tests.hardening.helpers import at_the_code_page
from tests.support.browser import Browser
from tests.support.factors import code_at, enrol_totp
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    return factory.client()


def test_a_code_post_with_an_older_cookie_does_not_hold_up_other_accounts_from_the_same_address(
        app, factory, rp, services, is_postgres, monkeypatch, frozen_clock):  # noqa: ANN001
    if not is_postgres:
        pytest.skip("PostgreSQL only: SQLite serialises whole transactions")
    factory.user("mallory@example.com")
    factory.user("bob@example.com")
    enrol_totp(services, "mallory@example.com")
    bob_secret = enrol_totp(services, "bob@example.com")
    mallory, mallory_fields, old_cookie = at_the_code_page(app, rp, "mallory@example.com")
    bob, bob_fields, _ = at_the_code_page(app, rp, "bob@example.com")

    paused, go_on = threading.Event(), threading.Event()
    gate = verification.gate

    def slow_gate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if threading.current_thread().name == "mallory":
            paused.set()     # anything slow in the view: a wait for the user's row lock, a slow query...
            go_on.wait(10)
        return gate(*args, **kwargs)

    monkeypatch.setattr(verification, "gate", slow_gate)

    def replayed() -> None:
        mallory.set_cookie("idp_session", old_cookie)
        mallory.post("/login", data={**mallory_fields, "code": "000000", "email": "x@example.com"})

    thread = threading.Thread(target=replayed, name="mallory")
    thread.start()
    try:
        assert paused.wait(10)
        timing = {}

        def bobs_code() -> None:
            started = time.monotonic()
            timing["status"] = bob.post("/login", data={**bob_fields, "code": code_at(bob_secret, frozen_clock)}).status_code
            timing["seconds"] = time.monotonic() - started

        other = threading.Thread(target=bobs_code, name="bob")
        other.start()
        other.join(3)
        blocked = other.is_alive()
    finally:
        go_on.set()
        thread.join(30)
    other.join(30)
    assert not blocked, "bob's code POST waited for mallory's request (the address's bucket row is locked)"
    assert timing["status"] == 302
