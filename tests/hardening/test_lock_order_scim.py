"""Lock order (PostgreSQL): a SCIM deactivation while the account checks a code waits for the sign-in and
wins. A sign-in locks its login transaction, then the user's row (the code check); SCIM's update wrote the
user's attributes (a rename) or its link row (whose foreign key locks the user's row) before it stopped the
user's sign-ins, so the two deadlocked: SCIM answered 503 and the account stayed active while the person
signed in. Found by the second attacker review of stop 22 (PUT and PATCH) and the third (a POST that takes
over an existing account)."""
from __future__ import annotations

import threading

import pytest
import sqlalchemy as sa

from idp.factors import verification
from idp.models import User
from tests.hardening.helpers import at_the_code_page
from tests.scim.conftest import Scim, make_token, user_body
from tests.support.factors import EMAIL, code_at, enrol_totp, rp  # noqa: F401 (fixture)
from tests.support.pg_locks import until_someone_waits


@pytest.mark.parametrize("linked", [False, True], ids=["unlinked", "linked"])
@pytest.mark.parametrize("operations", [
    [{"op": "replace", "path": "displayName", "value": "Renamed"},
     {"op": "replace", "path": "active", "value": False}],
    [{"op": "replace", "path": "active", "value": False}],
], ids=["rename and deactivate", "deactivate only (first SCIM write: scim_user row inserted)"])
def test_scim_deactivation_while_a_code_is_checked_waits_and_wins(app, client, factory, rp, services,  # noqa: F811
                                                                  is_postgres, monkeypatch, frozen_clock,
                                                                  operations, linked):
    if not is_postgres:
        pytest.skip("PostgreSQL only")
    factory.user(EMAIL, name="Alice")
    secret = enrol_totp(services, EMAIL)
    scim = Scim(client, make_token(services, "default"))
    scim_id = scim.get("/Users", filter=f'userName eq "{EMAIL}"').json["Resources"][0]["id"]
    if linked:      # the account was written by SCIM before: its scim_user row exists
        assert scim.patch(f"/Users/{scim_id}", {"op": "replace", "path": "displayName", "value": "A"}).status_code == 200
    signin_client, fields, _ = at_the_code_page(app, rp)
    paused, go_on, outcome = threading.Event(), threading.Event(), {}
    gate = verification.gate

    def pausing_gate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if threading.current_thread().name == "sign-in" and not paused.is_set():
            paused.set()        # the login transaction is locked, the user's row not yet
            go_on.wait(10)
        return gate(*args, **kwargs)

    monkeypatch.setattr(verification, "gate", pausing_gate)
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def sign_in() -> None:
        try:
            outcome["sign-in"] = signin_client.post(
                "/login", data={**fields, "code": code_at(secret, frozen_clock)}).status_code
        except Exception as exc:  # noqa: BLE001
            outcome["sign-in"] = type(exc).__name__

    def provision() -> None:
        try:
            reply = scim.patch(f"/Users/{scim_id}", *operations)
            outcome["scim"] = reply.status_code
        except Exception as exc:  # noqa: BLE001
            outcome["scim"] = type(exc).__name__

    signing_in = threading.Thread(target=sign_in, name="sign-in")
    signing_in.start()
    assert paused.wait(10)
    provisioning = threading.Thread(target=provision, name="scim")
    provisioning.start()
    until_someone_waits(services.database.engine)
    go_on.set()
    signing_in.join(30)
    provisioning.join(30)
    assert outcome.get("scim") == 200, outcome
    assert outcome.get("sign-in") not in (500, 503), outcome
    with services.database.session() as db:
        assert db.scalar(sa.select(User.is_active).where(User.email == EMAIL)) is False


@pytest.mark.parametrize("rename", [False, True], ids=["link only", "link and rename"])
def test_a_scim_create_that_takes_over_and_disables_an_account_while_it_checks_a_code_waits_and_wins(app, client, factory, rp, services,  # noqa: F811
                                                                        is_postgres, monkeypatch, frozen_clock,
                                                                        rename):
    if not is_postgres:
        pytest.skip("PostgreSQL only")
    factory.user(EMAIL, name="Alice")
    secret = enrol_totp(services, EMAIL)
    scim = Scim(client, make_token(services, "default"))
    signin_client, fields, _ = at_the_code_page(app, rp)
    paused, go_on, outcome = threading.Event(), threading.Event(), {}
    gate = verification.gate

    def pausing_gate(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        if threading.current_thread().name == "sign-in" and not paused.is_set():
            paused.set()        # the login transaction is locked, the user's row not yet
            go_on.wait(10)
        return gate(*args, **kwargs)

    monkeypatch.setattr(verification, "gate", pausing_gate)
    app.config["PROPAGATE_EXCEPTIONS"] = False
    body = user_body(EMAIL, given="Renamed" if rename else "Alice", family="Person")
    body["active"] = False

    def sign_in() -> None:
        try:
            outcome["sign-in"] = signin_client.post(
                "/login", data={**fields, "code": code_at(secret, frozen_clock)}).status_code
        except Exception as exc:  # noqa: BLE001
            outcome["sign-in"] = type(exc).__name__

    def provision() -> None:
        try:
            reply = scim.post("/Users", body)
            outcome["scim"] = reply.status_code
            outcome["scim-body"] = reply.get_data(as_text=True)[:300]
        except Exception as exc:  # noqa: BLE001
            outcome["scim"] = type(exc).__name__

    signing_in = threading.Thread(target=sign_in, name="sign-in")
    signing_in.start()
    assert paused.wait(10)
    provisioning = threading.Thread(target=provision, name="scim")
    provisioning.start()
    until_someone_waits(services.database.engine)
    go_on.set()
    signing_in.join(30)
    provisioning.join(30)
    assert outcome.get("scim") in (200, 201), outcome
    assert outcome.get("sign-in") not in (500, 503), outcome
    with services.database.session() as db:
        assert db.scalar(sa.select(User.is_active).where(User.email == EMAIL)) is False
