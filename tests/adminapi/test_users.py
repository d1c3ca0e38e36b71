"""/api/v1/users: each endpoint works with its scope and is 403 without it, sees only the client's own
organisation (another organisation's user is 404), is audited with the client as actor, and refuses bad
input with 400 problem+json changing nothing."""
from __future__ import annotations

from datetime import timedelta

import pytest

from idp import clock
from idp.models import User
from tests.admin.helpers import add_totp, has_totp, snapshot
from tests.adminapi.conftest import ALL_SCOPES, audit_entries


def _without_audit(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != "audit"}


def _problem(response, status: int, words: str) -> None:  # noqa: ANN001
    assert response.status_code == status, response.get_json()
    assert response.mimetype == "application/problem+json"
    body = response.get_json()
    assert body["status"] == status and words in body["detail"], body


@pytest.fixture
def enrolled(orgs, services) -> None:  # noqa: ANN001
    """acme's admin has an authenticator app; acme's user is locked out of their second factor."""
    with services.database.session() as db:
        add_totp(db, services, db.get(User, orgs["acme"].admin_id))
        add_totp(db, services, db.get(User, orgs["globex"].user_id))
        db.get(User, orgs["acme"].user_id).otp_locked_until = clock.now() + timedelta(minutes=30)


# --- list ------------------------------------------------------------------------------------------------

def test_the_list_shows_the_organisations_users_with_their_2fa_state(orgs, enrolled, api, services):
    call = api(("idp:users:read",))
    response = call("GET", "/users")
    assert response.status_code == 200
    body = response.get_json()
    states = {u["email"]: u["two_factor_state"] for u in body["users"]}
    assert states == {"admin@acme.example.com": "enrolled", "user@acme.example.com": "locked"}
    assert body["total"] == 2 and body["page"] == 1 and body["counts"]["enrolled"] == 1
    entry = audit_entries(services, orgs["acme"].id, "admin_api_request")[-1]
    assert entry.actor == "client:Fentu FSM" and entry.details["path"] == "/api/v1/users"
    assert entry.details["status"] == 200 and entry.outcome == "success"


def test_the_list_searches_filters_sorts_and_pages(orgs, enrolled, api):
    call = api(("idp:users:read",))
    assert [u["email"] for u in call("GET", "/users?state=enrolled").get_json()["users"]] == ["admin@acme.example.com"]
    assert [u["email"] for u in call("GET", "/users?q=USER").get_json()["users"]] == ["user@acme.example.com"]
    assert [u["email"] for u in call("GET", "/users?sort=-email").get_json()["users"]] == [
        "user@acme.example.com", "admin@acme.example.com"]
    page = call("GET", "/users?limit=1&page=2").get_json()
    assert page["pages"] == 2 and page["limit"] == 1 and [u["email"] for u in page["users"]] == ["user@acme.example.com"]


@pytest.mark.parametrize("query, words", [("state=happy", "state: one of"), ("sort=password", "sort: one of"),
                                          ("limit=0", "limit: between"), ("page=x", "page: 'x' is not"),
                                          ("search=a", "Unknown query parameter 'search'")])
def test_bad_list_parameters_are_400(orgs, api, query, words):
    _problem(api(("idp:users:read",))("GET", f"/users?{query}"), 400, words)


def test_the_list_needs_users_read(orgs, api):
    _problem(api(("idp:users:write",))("GET", "/users"), 403, "idp:users:read")


# --- one user --------------------------------------------------------------------------------------------

def test_a_user_shows_their_factors_and_enforcement(orgs, enrolled, api):
    body = api(("idp:users:read",))("GET", f"/users/{orgs['acme'].admin_id}").get_json()
    assert body["email"] == "admin@acme.example.com"
    assert [f["kind"] for f in body["two_factor"]["factors"]] == ["totp"]
    assert body["two_factor"]["recovery_codes_left"] == 10 and body["two_factor"]["enforcement"] == "required"
    assert "secret" not in str(body).lower()


def test_another_organisations_user_is_404_for_every_endpoint(orgs, enrolled, api, services):
    call = api(ALL_SCOPES)
    other = orgs["globex"].user_id
    before = snapshot(services, orgs["globex"].id)
    for method, path, body in [("GET", f"/users/{other}", None), ("PATCH", f"/users/{other}", {"active": False, "reason": "x"}),
                               ("POST", f"/users/{other}/reset-2fa", {"reason": "x"}),
                               ("POST", f"/users/{other}/unlock", {}), ("GET", "/users/not-a-number", None)]:
        _problem(call(method, path, json=body), 404, "no such user")
    assert snapshot(services, orgs["globex"].id) == before
    assert has_totp(services, "user@globex.example.com")


# --- invite ----------------------------------------------------------------------------------------------

def test_inviting_creates_the_account_and_emails_it(orgs, api, mailbox, services):
    response = api(("idp:users:write",))("POST", "/users", json={"email": "New@Acme.example.com", "name": "Nia New"})
    assert response.status_code == 202
    assert response.get_json()["email"] == "new@acme.example.com"
    assert "choose your password" in mailbox.to("new@acme.example.com")[0].body.lower()
    entry = audit_entries(services, orgs["acme"].id, "user_invited")[-1]
    assert entry.actor == "client:Fentu FSM" and entry.target == "new@acme.example.com"


def test_an_address_with_an_account_elsewhere_gets_the_same_answer_and_no_account(orgs, factory, api, mailbox,
                                                                                   services):
    """An organisation must not learn who has an account in another one: the owner is told instead."""
    factory.user("pat@example.org", org="globex")
    call = api(("idp:users:write",))
    new = call("POST", "/users", json={"email": "sam@example.org"})
    elsewhere = call("POST", "/users", json={"email": "pat@example.org"})
    assert (new.status_code, elsewhere.status_code) == (202, 202)
    assert {k: v for k, v in new.get_json().items() if k != "email"} == {
        k: v for k, v in elsewhere.get_json().items() if k != "email"}
    assert factory.get_user("pat@example.org").organisation_id == orgs["globex"].id
    assert "Someone tried to invite this address" in mailbox.to("pat@example.org")[0].body


def test_an_address_of_another_organisations_domain_is_refused_and_nothing_created(orgs, api, mailbox, services):
    call = api(("idp:users:write",))
    before = _without_audit(snapshot(services, orgs["acme"].id))
    taken = call("POST", "/users", json={"email": "user@globex.example.com"})
    assert taken.status_code == 400 and "belong to another organisation" in taken.get_json()["detail"]
    assert _without_audit(snapshot(services, orgs["acme"].id)) == before


@pytest.mark.parametrize("body, words", [({"email": "not an address"}, "email"), ({"name": "No Email"}, "'email' is required"),
                                         ({"email": "a@acme.example.com", "admin": True}, "Unknown field 'admin'"),
                                         ({"email": 42}, "email: expected a string"), ([1], "JSON object")])
def test_a_bad_invitation_is_400_and_creates_nothing(orgs, api, mailbox, services, body, words):
    call = api(("idp:users:write",))
    before = _without_audit(snapshot(services, orgs["acme"].id))
    _problem(call("POST", "/users", json=body), 400, words)
    assert _without_audit(snapshot(services, orgs["acme"].id)) == before and mailbox.outbox == []


def test_inviting_needs_users_write(orgs, api, mailbox, services):
    _problem(api(("idp:users:read",))("POST", "/users", json={"email": "n@acme.example.com"}), 403, "idp:users:write")
    assert mailbox.outbox == []


# --- disable / enable ------------------------------------------------------------------------------------

def test_disabling_and_enabling_a_user(orgs, api, services):
    call = api(("idp:users:write",))
    user_id = orgs["acme"].user_id
    response = call("PATCH", f"/users/{user_id}", json={"active": False, "reason": "left the company"})
    assert response.status_code == 200 and response.get_json()["active"] is False
    entry = audit_entries(services, orgs["acme"].id, "user_disabled")[-1]
    assert entry.actor == "client:Fentu FSM" and entry.details["reason"] == "left the company"
    assert call("PATCH", f"/users/{user_id}", json={"active": True}).get_json()["active"] is True
    assert audit_entries(services, orgs["acme"].id, "user_enabled")[-1].actor == "client:Fentu FSM"


@pytest.mark.parametrize("body, words", [({"active": False}, "Reason"), ({"active": "no", "reason": "x"}, "true or false"),
                                         ({"reason": "x"}, "'active' is required"), ({"active": False, "email": "x"}, "Unknown")])
def test_a_bad_change_is_400_and_changes_nothing(orgs, api, services, body, words):
    call = api(("idp:users:write",))
    before = _without_audit(snapshot(services, orgs["acme"].id))
    _problem(call("PATCH", f"/users/{orgs['acme'].user_id}", json=body), 400, words)
    assert _without_audit(snapshot(services, orgs["acme"].id)) == before


def test_disabling_needs_users_write(orgs, api, services):
    call = api(("idp:users:read", "idp:2fa:reset"))
    before = _without_audit(snapshot(services, orgs["acme"].id))
    _problem(call("PATCH", f"/users/{orgs['acme'].user_id}",
                                                       json={"active": False, "reason": "x"}), 403, "idp:users:write")
    assert _without_audit(snapshot(services, orgs["acme"].id)) == before


# --- reset 2FA -------------------------------------------------------------------------------------------

def test_resetting_2fa_removes_the_factors_with_the_reason(orgs, enrolled, api, services):
    response = api(("idp:2fa:reset",))("POST", f"/users/{orgs['acme'].admin_id}/reset-2fa",
                                       json={"reason": "lost phone (ticket #42)"})
    assert response.status_code == 200, response.get_json()
    assert response.get_json()["factors_removed"] == ["totp"] and response.get_json()["recovery_codes_removed"] == 10
    assert not has_totp(services, "admin@acme.example.com")
    entry = audit_entries(services, orgs["acme"].id, "second_factor_reset")[-1]
    assert entry.actor == "client:Fentu FSM" and entry.details["reason"] == "lost phone (ticket #42)"


@pytest.mark.parametrize("body, words", [({}, "'reason' is required"), ({"reason": "   "}, "Reason"),
                                         ({"reason": "x" * 501}, "at most 500")])
def test_a_reset_without_a_usable_reason_is_400_and_changes_nothing(orgs, enrolled, api, services, body, words):
    call = api(("idp:2fa:reset",))
    before = _without_audit(snapshot(services, orgs["acme"].id))
    _problem(call("POST", f"/users/{orgs['acme'].admin_id}/reset-2fa", json=body), 400, words)
    assert _without_audit(snapshot(services, orgs["acme"].id)) == before
    assert has_totp(services, "admin@acme.example.com")


def test_resetting_needs_its_own_scope(orgs, enrolled, api, services):
    _problem(api(("idp:users:write", "idp:users:read"))("POST", f"/users/{orgs['acme'].admin_id}/reset-2fa",
                                                         json={"reason": "x"}), 403, "idp:2fa:reset")
    assert has_totp(services, "admin@acme.example.com")


# --- unlock ----------------------------------------------------------------------------------------------

def test_unlocking_lifts_the_lock(orgs, enrolled, api, services):
    call = api(("idp:users:write", "idp:users:read"))
    user_id = orgs["acme"].user_id
    assert call("GET", f"/users/{user_id}").get_json()["two_factor"]["locked_until"] is not None
    response = call("POST", f"/users/{user_id}/unlock", json={"reason": "called the help desk"})
    assert response.status_code == 200 and response.get_json() == {"was_locked": True}
    assert call("GET", f"/users/{user_id}").get_json()["two_factor"]["locked_until"] is None
    assert audit_entries(services, orgs["acme"].id, "user_unlocked")[-1].actor == "client:Fentu FSM"


def test_unlocking_needs_users_write(orgs, enrolled, api, services):
    _problem(api(("idp:users:read",))("POST", f"/users/{orgs['acme'].user_id}/unlock"), 403, "idp:users:write")
    assert audit_entries(services, orgs["acme"].id, "user_unlocked") == []
