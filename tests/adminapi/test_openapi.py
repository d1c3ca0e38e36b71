"""/api/v1/openapi.json: a valid OpenAPI 3.1 description, served without a token, naming every route of
the blueprint with its methods and the scope each view requires."""
from __future__ import annotations

import re

from openapi_spec_validator import validate


def _routes(app) -> dict[str, set[str]]:  # noqa: ANN001
    """Every /api/v1 route as the description writes it ({user_id}), with its methods."""
    found: dict[str, set[str]] = {}
    for rule in app.url_map.iter_rules():
        if rule.endpoint.startswith("adminapi."):
            path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
            found.setdefault(path, set()).update(m.lower() for m in rule.methods - {"HEAD", "OPTIONS"})
    return found


def test_the_description_is_valid_openapi_3_1_and_served_without_a_token(client):
    assert client.get("/api/v1/openapi.json", headers={"Authorization": "Basic YTpi"}).status_code == 200
    response = client.get("/api/v1/openapi.json")
    assert response.status_code == 200 and response.mimetype == "application/json"
    spec = response.get_json()
    validate(spec)
    assert spec["openapi"] == "3.1.0"
    assert spec["servers"] == [{"url": "http://localhost/api/v1"}]
    flow = spec["components"]["securitySchemes"]["oauth2"]["flows"]["clientCredentials"]
    assert flow["tokenUrl"] == "http://localhost/token"
    assert set(flow["scopes"]) == {"idp:users:read", "idp:users:write", "idp:2fa:reset", "idp:settings:write",
                                   "idp:audit:read"}


def test_every_route_of_the_blueprint_is_described_with_its_methods(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    routes = _routes(app)
    assert routes, "the blueprint has no routes?"
    for path, methods in routes.items():
        assert path in spec["paths"], f"{path} is not in the OpenAPI description"
        described = set(spec["paths"][path]) - {"parameters"}
        assert described == methods, f"{path}: described {described}, served {methods}"
    assert set(spec["paths"]) == set(routes)


def test_each_operation_names_the_scope_its_view_requires(app, client):
    spec = client.get("/api/v1/openapi.json").get_json()
    for rule in app.url_map.iter_rules():
        if not rule.endpoint.startswith("adminapi.") or rule.endpoint == "adminapi.openapi":
            continue
        view = app.view_functions[rule.endpoint]
        path = re.sub(r"<(?:[a-z]+:)?([a-z_]+)>", r"{\1}", rule.rule.removeprefix("/api/v1"))
        for method in rule.methods - {"HEAD", "OPTIONS"}:
            operation = spec["paths"][path][method.lower()]
            assert operation["security"] == [{"oauth2": [view.required_scope]}], (path, method)
