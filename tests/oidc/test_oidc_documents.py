"""Discovery and the JWKS as a client and a cache see them: an ETag and Cache-Control on every answer,
304 Not Modified when If-None-Match names the current document, and the same security headers, request
id and access line as every other response."""
from __future__ import annotations

import logging

import pytest

PATHS = ["/.well-known/openid-configuration", "/jwks"]
# per response; and Flask's `Vary: Cookie` (a request hook read the session), which the documents never need
PER_RESPONSE = {"X-Request-ID", "Content-Length", "Date", "Vary"}


@pytest.mark.parametrize("path", PATHS)
def test_documents_carry_an_etag_and_may_be_cached(client, path):
    response = client.get(path)
    assert response.status_code == 200 and response.mimetype == "application/json"
    assert response.headers["Cache-Control"] == "public, max-age=300"
    assert response.headers["ETag"].startswith('"') and response.headers["ETag"].endswith('"')
    assert client.get(path).headers["ETag"] == response.headers["ETag"]     # the same document, the same tag


@pytest.mark.parametrize("path", PATHS)
def test_if_none_match_with_the_current_etag_is_answered_304(client, path):
    etag = client.get(path).headers["ETag"]
    for sent in (etag, f"W/{etag}", f'"other", {etag}', "*"):
        response = client.get(path, headers={"If-None-Match": sent})
        assert response.status_code == 304, sent
        assert response.data == b""
        assert response.headers["ETag"] == etag and response.headers["Cache-Control"] == "public, max-age=300"
        assert response.headers["Cross-Origin-Opener-Policy"] == "same-origin"
    changed = client.get(path, headers={"If-None-Match": '"something-else"'})
    assert changed.status_code == 200 and changed.get_json()


@pytest.mark.parametrize("path", PATHS)
def test_documents_have_the_headers_of_any_response(client, path):
    """Answered before Flask or by Flask (a query string goes to Flask): the same headers and values."""
    fast = client.get(path, headers={"X-Request-ID": "rp-check-1"})
    slow = client.get(path + "?x=1", headers={"X-Request-ID": "rp-check-2"})
    assert fast.headers["X-Request-ID"] == "rp-check-1" and slow.headers["X-Request-ID"] == "rp-check-2"
    assert fast.data == slow.data
    same = {k: v for k, v in fast.headers.items() if k not in PER_RESPONSE}
    assert same == {k: v for k, v in slow.headers.items() if k not in PER_RESPONSE}
    for name in ("Content-Security-Policy", "X-Frame-Options", "X-Content-Type-Options", "Referrer-Policy",
                 "Access-Control-Allow-Origin"):
        assert fast.headers[name], name


@pytest.mark.parametrize("path", PATHS)
def test_documents_are_logged_and_counted(client, caplog, path):
    with caplog.at_level(logging.INFO, logger="idp.access"):
        client.get(path, headers={"X-Request-ID": "doc-log-1"})
    lines = [r for r in caplog.records if r.name == "idp.access"]
    assert [r.getMessage().rsplit(" ", 1)[0] for r in lines] == [f"GET {path} 200"]
    assert lines[0].request_id == "doc-log-1" and lines[0].http["path"] == path
    endpoint = lines[0].http["endpoint"]
    metrics = client.get("/metrics").get_data(as_text=True)
    assert f'endpoint="{endpoint}",method="GET",status="200"' in metrics


def test_head_gives_the_headers_without_a_body(client):
    response = client.head("/jwks")
    assert response.status_code == 200 and response.data == b""
    assert response.headers["ETag"] == client.get("/jwks").headers["ETag"]


def test_userinfo_is_the_same_whichever_way_it_is_answered(rp, caplog):
    """A good GET is answered before Flask; with a query string it goes through Flask: same answer."""
    access_token = rp.tokens()["access_token"]
    bearer = {"Authorization": f"Bearer {access_token}"}
    caplog.clear()
    with caplog.at_level(logging.INFO, logger="idp.access"):
        fast = rp.client.get("/userinfo", headers={**bearer, "X-Request-ID": "ui-1"})
    slow = rp.client.get("/userinfo?x=1", headers=bearer)
    assert fast.status_code == slow.status_code == 200
    assert fast.get_json() == slow.get_json() and fast.get_json()["sub"]
    same = {k: v for k, v in fast.headers.items() if k not in PER_RESPONSE}
    assert same == {k: v for k, v in slow.headers.items() if k not in PER_RESPONSE}
    assert fast.headers["Cache-Control"] == "no-store" and fast.headers["X-Request-ID"] == "ui-1"
    lines = [r.getMessage().rsplit(" ", 1)[0] for r in caplog.records if r.name == "idp.access"]
    assert lines == ["GET /userinfo 200", "GET /userinfo 200"]     # one line each, either way
