"""Cross-Origin-Opener-Policy: same-origin on every response (pages, errors, JSON): a page of another
origin that opened the IdP in a window cannot reach it through window.opener (and the other way round)."""
from __future__ import annotations

import pytest


@pytest.mark.parametrize("path", ["/login", "/forgot-password", "/authorize", "/nowhere",
                                  "/.well-known/openid-configuration", "/jwks"])
def test_every_response_isolates_its_browsing_context(client, path):  # noqa: ANN001
    response = client.get(path)
    assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin", (path, response.status_code)


def test_back_channel_errors_carry_it_too(client):  # noqa: ANN001
    response = client.post("/token", data={"grant_type": "authorization_code"})
    assert response.headers.get("Cross-Origin-Opener-Policy") == "same-origin"
