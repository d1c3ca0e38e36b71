"""/api/v1/settings/security and /api/v1/audit: the scope, the console's rules (immediate enforcement must
be confirmed; bad values change nothing), the client's own organisation only, and every call audited."""
from __future__ import annotations

import pytest

from tests.admin.helpers import snapshot
from tests.adminapi.conftest import audit_entries


def _without_audit(state: dict) -> dict:
    return {key: value for key, value in state.items() if key != "audit"}


# --- security settings -----------------------------------------------------------------------------------

def test_reading_the_settings_of_the_clients_organisation(orgs, api):
    body = api(("idp:settings:write",))("GET", "/settings/security").get_json()
    assert body["require_2fa"] is True and body["grace_days"] == 7 and body["enforced_since"]
    assert api(("idp:settings:write",), org="globex")("GET", "/settings/security").get_json()["require_2fa"] is False


def test_changing_some_settings_keeps_the_others_and_is_audited(orgs, api, services):
    call = api(("idp:settings:write",))
    response = call("PATCH", "/settings/security", json={"grace_days": 14, "exempt_groups": ["Robots"],
                                                         "allowed_methods": ["totp", "webauthn"]})
    assert response.status_code == 200, response.get_json()
    body = response.get_json()
    assert body["grace_days"] == 14 and body["require_2fa"] is True and body["exempt_groups"] == ["Robots"]
    assert body["allowed_methods"] == ["totp", "webauthn"]
    assert sorted(body["changed"]) == ["allowed_methods", "exempt_groups", "grace_days"]
    entry = audit_entries(services, orgs["acme"].id, "security_settings_changed")[-1]
    assert entry.actor == "client:Fentu FSM" and entry.details["new"]["grace_days"] == 14
    assert _without_audit(snapshot(services, orgs["globex"].id))["settings"][:2] == (False, 0)


def test_immediate_enforcement_needs_confirmation(orgs, api, services):
    call = api(("idp:settings:write",), org="globex")
    refused = call("PATCH", "/settings/security", json={"require_2fa": True, "grace_days": 0})
    assert refused.status_code == 409 and refused.mimetype == "application/problem+json"
    assert refused.get_json()["blocked_users"] == 2 and "confirm_immediate_enforcement" in refused.get_json()["detail"]
    assert snapshot(services, orgs["globex"].id)["settings"][0] is False
    confirmed = call("PATCH", "/settings/security", json={"require_2fa": True, "grace_days": 0,
                                                          "confirm_immediate_enforcement": True})
    assert confirmed.status_code == 200 and confirmed.get_json()["require_2fa"] is True


@pytest.mark.parametrize("body, words", [
    ({"grace_days": 400}, "Grace period"), ({"grace_days": "7"}, "whole number"), ({"require_2fa": "yes"}, "true or false"),
    ({"allowed_methods": ["carrier pigeon"]}, "unknown method"), ({"allowed_methods": []}, "give the methods"),
    ({"exempt_users": ["nobody@acme.example.com"]}, "no user nobody@acme.example.com"),
    ({"exempt_users": ["user@globex.example.com"]}, "no user user@globex.example.com"),
    ({"remember_browser_days": 91}, "Remember this browser"), ({"colour": "red"}, "Unknown field"), ({}, "at least one")])
def test_bad_settings_are_400_and_change_nothing(orgs, api, services, body, words):
    call = api(("idp:settings:write",))
    before = _without_audit(snapshot(services, orgs["acme"].id))
    response = call("PATCH", "/settings/security", json=body)
    assert response.status_code == 400 and response.mimetype == "application/problem+json"
    assert words in response.get_json()["detail"], response.get_json()
    assert _without_audit(snapshot(services, orgs["acme"].id)) == before


def test_settings_need_their_scope(orgs, api, services):
    call = api(("idp:users:read", "idp:users:write", "idp:2fa:reset", "idp:audit:read"))
    assert call("GET", "/settings/security").status_code == 403
    assert call("PATCH", "/settings/security", json={"require_2fa": False}).status_code == 403
    assert snapshot(services, orgs["acme"].id)["settings"][0] is True


# --- audit log -------------------------------------------------------------------------------------------

def test_the_audit_log_in_pages_with_sentences_and_its_reading_is_audited(orgs, api, services):
    call = api(("idp:audit:read", "idp:users:write"))
    call("PATCH", f"/users/{orgs['acme'].user_id}", json={"active": False, "reason": "left"})
    body = call("GET", "/audit?event=user_disabled").get_json()
    assert body["total"] == 1 and body["page"] == 1
    entry = body["entries"][0]
    assert entry["actor"] == "client:Fentu FSM" and entry["target"] == "user@acme.example.com"
    assert entry["reason"] == "left"
    assert entry["sentence"] == "The application Fentu FSM disabled Acme User's account"
    reads = [e for e in audit_entries(services, orgs["acme"].id, "admin_api_request") if e.details["path"] == "/api/v1/audit"]
    assert len(reads) == 1 and reads[0].details["query"] == "event=user_disabled"
    paged = call("GET", "/audit?limit=1&page=2").get_json()
    assert paged["limit"] == 1 and len(paged["entries"]) == 1 and paged["total"] >= 3


def test_the_audit_log_filters_by_person_and_dates(orgs, api):
    call = api(("idp:audit:read", "idp:users:write"))
    call("PATCH", f"/users/{orgs['acme'].user_id}", json={"active": False, "reason": "left"})
    about = call("GET", "/audit?person=user@acme.example.com").get_json()
    assert {e["event"] for e in about["entries"]} == {"user_disabled"}
    assert call("GET", "/audit?until=2000-01-01").get_json()["total"] == 0


def test_the_audit_log_is_the_clients_organisations_only(orgs, api):
    acme = api(("idp:users:write",))
    acme("PATCH", f"/users/{orgs['acme'].user_id}", json={"active": False, "reason": "left"})
    globex = api(("idp:audit:read",), org="globex").__call__("GET", "/audit?event=user_disabled").get_json()
    assert globex["total"] == 0


@pytest.mark.parametrize("query, words", [("since=yesterday", "since: 'yesterday' is not a date"),
                                          ("since=2030-01-02&until=2030-01-01", "end of the date range"),
                                          ("limit=500", "limit: between"), ("user=a", "Unknown query parameter")])
def test_bad_audit_filters_are_400(orgs, api, query, words):
    response = api(("idp:audit:read",))("GET", f"/audit?{query}")
    assert response.status_code == 400 and words in response.get_json()["detail"], response.get_json()


def test_the_audit_log_needs_its_scope(orgs, api):
    assert api(("idp:users:read",))("GET", "/audit").status_code == 403
