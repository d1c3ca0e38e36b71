"""Filtering (eq co sw pr and or not, value paths), sorting, pagination, attributes, and SCIM errors
with the right status and scimType for bad input — which changes nothing."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.models import AuditEvent, User

from .conftest import ERROR, GROUP, USER, user_body

PEOPLE = [("ann@example.com", "Ann", "Lee", "e-1"), ("bea@example.com", "Bea", "Lam", "e-2"),
          ("cid@example.org", "Cid", "Ng", None), ("dan@example.org", "Dan", "Li", "e-4"),
          ("eve@example.net", "Eve", "Ma", "e-5")]


@pytest.fixture
def people(scim) -> dict[str, str]:  # noqa: ANN001
    ids = {}
    for email, given, family, external in PEOPLE:
        body = user_body(email, given=given, family=family, external_id=external)
        if external is None:
            del body["externalId"]
        reply = scim.post("/Users", body)
        assert reply.status_code == 201, reply.json
        ids[email] = reply.json["id"]
    scim.patch(f"/Users/{ids['dan@example.org']}", {"op": "replace", "path": "active", "value": False})
    return ids


def _names(reply) -> list[str]:  # noqa: ANN001
    assert reply.status_code == 200, reply.json
    return [r["userName"] for r in reply.json["Resources"]]


@pytest.mark.parametrize(("expression", "expected"), [
    ('userName eq "ANN@example.com"', ["ann@example.com"]),                 # userName is case-insensitive
    ('userName co "example.org"', ["cid@example.org", "dan@example.org"]),
    ('userName sw "b"', ["bea@example.com"]),
    ('userName ew ".net"', ["eve@example.net"]),
    ('externalId pr', ["ann@example.com", "bea@example.com", "dan@example.org", "eve@example.net"]),
    ('not (externalId pr)', ["cid@example.org"]),
    ('externalId eq "E-1"', []),                                              # externalId is case-exact
    ('active eq false', ["dan@example.org"]),
    ('userName co "example.org" and active eq true', ["cid@example.org"]),
    ('userName sw "ann" or userName sw "eve"', ["ann@example.com", "eve@example.net"]),
    ('emails[value co "example.net"]', ["eve@example.net"]),
    ('displayName eq "bea lam" or (externalId eq "e-4" and active eq false)', ["bea@example.com", "dan@example.org"]),
    ('userName co "%"', []),                                                  # LIKE wildcards are literal
    ('meta.created gt "2000-01-01T00:00:00Z"', [p[0] for p in PEOPLE]),
])
def test_filters(scim, people, expression, expected):
    assert sorted(_names(scim.get("/Users", filter=expression))) == expected


def test_sorting_and_pages(scim, people):
    everyone = _names(scim.get("/Users", sortBy="userName", sortOrder="descending"))
    assert everyone == sorted(everyone, reverse=True) and len(everyone) == 5
    page = scim.get("/Users", sortBy="userName", startIndex="2", count="2")
    assert (page.json["totalResults"], page.json["startIndex"], page.json["itemsPerPage"]) == (5, 2, 2)
    assert _names(page) == ["bea@example.com", "cid@example.org"]
    assert _names(scim.get("/Users", sortBy="userName", startIndex="5", count="10")) == ["eve@example.net"]
    assert _names(scim.get("/Users", startIndex="9")) == []
    assert scim.get("/Users", count="0").json == {"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                                                   "totalResults": 5, "startIndex": 1, "itemsPerPage": 0,
                                                   "Resources": []}
    # a count above the advertised maximum is cut to it (RFC 7644 §3.4.2.4), a negative one is 0
    assert scim.get("/Users", count="100000").json["itemsPerPage"] == 5
    assert scim.get("/Users", count="-3").json["itemsPerPage"] == 0


def test_attributes_and_excluded_attributes(scim, people):
    reply = scim.get("/Users", filter='userName eq "ann@example.com"', attributes="userName")
    assert set(reply.json["Resources"][0]) == {"schemas", "id", "userName"}
    reply = scim.get(f"/Users/{people['ann@example.com']}", excludedAttributes="emails,name")
    assert "emails" not in reply.json and "name" not in reply.json and reply.json["userName"] == "ann@example.com"


@pytest.mark.parametrize(("params", "scim_type"), [
    ({"filter": 'userName eq'}, "invalidFilter"),
    ({"filter": 'userName zz "a"'}, "invalidFilter"),
    ({"filter": 'nickName eq "a"'}, "invalidFilter"),
    ({"filter": 'active eq "maybe"'}, "invalidFilter"),
    ({"filter": 'meta.created gt "yesterday"'}, "invalidFilter"),
    ({"filter": 'userName eq "' + "a" * 1200 + '"'}, "invalidFilter"),
    ({"count": "ten"}, "invalidValue"),
    ({"sortBy": "title"}, "invalidValue"),
])
def test_bad_queries(scim, people, params, scim_type):
    reply = scim.get("/Users", **params)
    assert reply.status_code == 400
    assert (reply.json["schemas"], reply.json["scimType"]) == ([ERROR], scim_type)
    assert reply.content_type == "application/scim+json"


def _state(services) -> tuple:  # noqa: ANN001
    with services.database.session() as db:
        users = db.execute(sa.select(User.email, User.name, User.is_active).order_by(User.id)).all()
        events = db.scalar(sa.select(sa.func.count(AuditEvent.id)))
        return users, events


@pytest.mark.parametrize(("operation", "status", "scim_type"), [
    ({"op": "replace", "path": "nosuch", "value": "x"}, 400, "invalidPath"),
    ({"op": "replace", "path": "id", "value": "x"}, 400, "mutability"),
    ({"op": "frob", "path": "title", "value": "x"}, 400, "invalidValue"),
    ({"op": "remove"}, 400, "noTarget"),
    ({"op": "replace", "path": 'emails[value co "nowhere"].type', "value": "home"}, 400, "noTarget"),
    ({"op": "replace", "path": "userName", "value": "not an address"}, 400, "invalidValue"),
    ({"op": "replace", "path": "userName", "value": "bea@example.com"}, 409, "uniqueness"),
    ({"op": "replace", "path": "displayName", "value": "Renamed"}, None, None),   # control: this one works
])
def test_bad_patches_change_nothing(scim, services, people, operation, status, scim_type):
    ann = people["ann@example.com"]
    bad = {"op": "replace", "path": "active", "value": False}      # would disable Ann, if it were applied
    before = _state(services)
    reply = scim.patch(f"/Users/{ann}", bad, operation)
    if status is None:
        assert reply.status_code == 200
        return
    assert (reply.status_code, reply.json["scimType"]) == (status, scim_type), reply.json
    assert _state(services) == before


def test_bad_bodies(scim, services, people):
    before = _state(services)
    cases = [
        (scim.post("/Users", {"userName": "x@example.com"}), 400, "invalidValue"),         # no schemas
        (scim.post("/Users", {"schemas": [USER]}), 400, "invalidValue"),                    # no userName
        (scim.post("/Users", {"schemas": [USER], "userName": "x@example.com", "shoeSize": 9}), 400, "invalidValue"),
        (scim.post("/Users", user_body("ann@example.com")), 409, "uniqueness"),
        (scim.post("/Groups", {"schemas": [GROUP], "displayName": "a,b"}), 400, "invalidValue"),
        (scim.post("/Groups", {"schemas": [GROUP], "displayName": "G", "members": [{"value": "nobody"}]}),
         400, "invalidValue"),
        (scim.client.post("/scim/v2/Users", data="{not json", headers=scim._headers(),
                          content_type="application/scim+json"), 400, "invalidSyntax"),
    ]
    for reply, status, scim_type in cases:
        assert (reply.status_code, reply.json.get("scimType")) == (status, scim_type), reply.json
    assert _state(services) == before
    group = scim.post("/Groups", {"schemas": [GROUP], "displayName": "Team"}).json["id"]
    assert scim.post("/Groups", {"schemas": [GROUP], "displayName": "team"}).json["scimType"] == "uniqueness"
    assert scim.get(f"/Groups/{group}").status_code == 200


def test_unknown_endpoints_and_methods(scim):
    assert scim.get("/Nothing").status_code == 404
    assert scim.client.post("/scim/v2/ServiceProviderConfig", headers=scim._headers()).status_code == 405
    assert scim.delete("/Users").status_code == 405


def test_search_by_post(scim, people):
    body = {"schemas": ["urn:ietf:params:scim:api:messages:2.0:SearchRequest"],
            "filter": 'userName co "example.com"', "sortBy": "userName", "sortOrder": "descending",
            "startIndex": 1, "count": 1, "attributes": ["userName"]}
    reply = scim.post("/Users/.search", body)
    assert reply.status_code == 200, reply.json
    assert (reply.json["totalResults"], reply.json["itemsPerPage"]) == (2, 1)
    assert reply.json["Resources"] == [{"schemas": [USER], "id": people["bea@example.com"],
                                        "userName": "bea@example.com"}]
    bad = scim.post("/Users/.search", {**body, "filter": "userName eq"})
    assert (bad.status_code, bad.json["scimType"]) == (400, "invalidFilter")
    assert scim.post("/.search", body).status_code == 501


def test_group_filters_and_sorting(scim, people):
    ann, bea = people["ann@example.com"], people["bea@example.com"]
    for name, members in (("Sales", [ann]), ("Support", [ann, bea]), ("Ops", [])):
        assert scim.post("/Groups", {"schemas": [GROUP], "displayName": name,
                                     "members": [{"value": m} for m in members]}).status_code == 201
    names = lambda reply: [g["displayName"] for g in reply.json["Resources"]]  # noqa: E731
    assert names(scim.get("/Groups", filter='displayName sw "s"', sortBy="displayName")) == ["Sales", "Support"]
    assert names(scim.get("/Groups", filter=f'members[value eq "{bea}"]')) == ["Support"]
    assert names(scim.get("/Groups", filter="members pr", sortBy="displayName", sortOrder="descending")) == [
        "Support", "Sales"]
    assert names(scim.get("/Groups", filter='not (members pr)')) == ["Ops"]
    assert scim.get("/Groups", filter='members[value co "x"]').json["scimType"] == "invalidFilter"


def test_filter_values_are_bound_parameters_not_sql(scim, people):
    for value in ("x' OR '1'='1", "x\\\" OR 1=1 --", "%", "_nn@example.com"):
        reply = scim.get("/Users", filter=f'userName eq "{value}"')
        assert reply.status_code in (200, 400), reply.json
        if reply.status_code == 200:
            assert reply.json["totalResults"] == 0, value
