"""Lock order (PostgreSQL): a SCIM deactivation while the account checks a code waits for the sign-in and
wins. A sign-in locks its login transaction, then the user's row (the code check); SCIM's update wrote the
user's attributes (a rename) or its link row (whose foreign key locks the user's row) before it stopped the
user's sign-ins, so the two deadlocked: SCIM answered 503 and the account stayed active while the person
signed in. Found by the second attacker review of stop 22 (PUT and PATCH) and the third (a POST that takes
over an existing account)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.factors import verification
from idp.models import User
from tests.hardening.helpers import at_the_code_page
from tests.scim.conftest import Scim, make_token, user_body
from tests.support.factors import EMAIL, code_at, enrol_totp, rp  # noqa: F401 (fixture)
from tests.support.pg_locks import hold, race


def _provisioned_while_a_code_is_checked(app, rp, services, monkeypatch, frozen_clock, provision) -> None:  # noqa: ANN001
    """The account checks a code (held with its login transaction locked, the user's row not yet) while
    `provision()` (a SCIM request, its status returned) disables it: SCIM waits and wins."""
    secret = enrol_totp(services, EMAIL)
    signin_client, fields, _ = at_the_code_page(app, rp)
    held = hold(monkeypatch, verification, "gate")
    app.config["PROPAGATE_EXCEPTIONS"] = False

    def sign_in() -> int:
        return signin_client.post("/login", data={**fields, "code": code_at(secret, frozen_clock)}).status_code

    signed_in, provisioned = race(services.database.engine, held, sign_in, provision)
    assert provisioned in (200, 201), (signed_in, provisioned)
    assert signed_in not in (500, 503), (signed_in, provisioned)
    with services.database.session() as db:
        assert db.scalar(sa.select(User.is_active).where(User.email == EMAIL)) is False


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
    scim = Scim(client, make_token(services, "default"))
    scim_id = scim.get("/Users", filter=f'userName eq "{EMAIL}"').json["Resources"][0]["id"]
    if linked:      # the account was written by SCIM before: its scim_user row exists
        assert scim.patch(f"/Users/{scim_id}", {"op": "replace", "path": "displayName", "value": "A"}).status_code == 200
    _provisioned_while_a_code_is_checked(app, rp, services, monkeypatch, frozen_clock,
                                         lambda: scim.patch(f"/Users/{scim_id}", *operations).status_code)


@pytest.mark.parametrize("rename", [False, True], ids=["link only", "link and rename"])
def test_a_scim_create_that_takes_over_and_disables_an_account_while_it_checks_a_code_waits_and_wins(  # noqa: PLR0913
        app, client, factory, rp, services, is_postgres, monkeypatch, frozen_clock, rename):  # noqa: F811
    if not is_postgres:
        pytest.skip("PostgreSQL only")
    factory.user(EMAIL, name="Alice")
    scim = Scim(client, make_token(services, "default"))
    body = user_body(EMAIL, given="Renamed" if rename else "Alice", family="Person")
    body["active"] = False
    _provisioned_while_a_code_is_checked(app, rp, services, monkeypatch, frozen_clock,
                                         lambda: scim.post("/Users", body).status_code)
