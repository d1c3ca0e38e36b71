"""Authorization codes at the token endpoint (RFC 6749 §4.1.3, RFC 7636, RFC 9700 §2.1.1/§4.8):
single use, 60 s, bound to client, redirect_uri and PKCE challenge; a replay revokes what it issued."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import AuthorizationCode
from tests.support.oidc_client import counts
from tests.support.oidc import pkce_pair


def _refused(reply, error: str = "invalid_grant") -> None:  # noqa: ANN001
    assert (reply.status, reply.error) == (400, error), (reply.status, reply.json)
    assert "access_token" not in reply.json and "id_token" not in reply.json


def test_code_is_single_use_and_a_replay_revokes_every_token_it_issued(make_rp, alice, services):
    rp = make_rp(refresh_tokens=True)
    done = rp.code_for()
    first = rp.exchange(done)
    assert first.status == 200
    assert rp.userinfo(first.json["access_token"]).status == 200
    refreshed = rp.refresh(first.json["refresh_token"])
    assert refreshed.status == 200
    before = counts(services)

    _refused(rp.exchange(done))

    assert counts(services)["tokens"] == before["tokens"]          # nothing new issued
    assert counts(services)["live_tokens"] == 0                    # first token and its rotation revoked
    info = rp.userinfo(first.json["access_token"])
    assert (info.status, info.error) == (401, "invalid_token")
    assert rp.introspect(first.json["access_token"]).json == {"active": False}
    assert rp.userinfo(refreshed.json["access_token"]).status == 401
    _refused(rp.refresh(refreshed.json["refresh_token"]))


def test_replay_by_another_client_changes_nothing(make_rp, alice, services):
    rp, other = make_rp(), make_rp()
    done = rp.code_for()
    first = rp.exchange(done)
    before = counts(services)
    stolen = other.exchange(done, verifier=done.verifier)
    _refused(stolen)
    assert counts(services) == before
    assert rp.userinfo(first.json["access_token"]).status == 200


def test_code_expires_after_60_seconds(rp, services, frozen_clock):
    done = rp.code_for()
    frozen_clock.advance(seconds=61)
    _refused(rp.exchange(done))
    assert counts(services)["tokens"] == 0


def test_code_is_still_good_just_before_60_seconds(rp, frozen_clock):
    done = rp.code_for()
    frozen_clock.advance(seconds=59)
    assert rp.exchange(done).status == 200


def test_code_lifetime_is_stored_as_60_seconds(rp, services):
    rp.code_for()
    with services.database.session() as db:
        row = db.scalar(sa.select(AuthorizationCode))
        assert (row.expires_at - row.created_at).total_seconds() == 60


def test_code_is_bound_to_the_client(make_rp, alice, services):
    rp, other = make_rp(), make_rp()
    done = rp.code_for()
    _refused(other.exchange(done))
    assert counts(services)["tokens"] == 0
    assert rp.exchange(done).status == 200       # the rightful client was not harmed by the attempt


def test_code_is_bound_to_the_redirect_uri(make_rp, alice, services):
    rp = make_rp()
    done = rp.code_for()
    _refused(rp.exchange(done, redirect_uri="http://127.0.0.1:9000/other"))
    assert counts(services)["tokens"] == 0


def test_redirect_uri_is_required_at_the_token_endpoint(rp, services):
    done = rp.code_for()
    _refused(rp.exchange(done, redirect_uri=None))
    assert counts(services)["tokens"] == 0


def test_code_is_bound_to_the_pkce_challenge(rp, services):
    done = rp.code_for()
    other_verifier, _ = pkce_pair()
    _refused(rp.exchange(done, verifier=other_verifier))
    assert counts(services)["tokens"] == 0


def test_missing_code_verifier_is_refused(rp, public_rp, services):
    for client in (rp, public_rp):
        done = client.code_for()
        reply = client.exchange(done, verifier=None)
        _refused(reply, "invalid_request")
    assert counts(services)["tokens"] == 0


def test_malformed_code_verifier_is_refused(rp, services):
    done = rp.code_for()
    _refused(rp.exchange(done, verifier="short"), "invalid_request")
    assert counts(services)["tokens"] == 0


def test_confidential_client_without_pkce_requirement_may_omit_it(make_rp, alice):
    rp = make_rp(require_pkce=False)
    done = rp.code_for(pkce=False)
    assert "code_challenge" not in done.params
    reply = rp.exchange(done, verifier=None)
    assert reply.status == 200 and reply.json["id_token"]


def test_confidential_client_without_pkce_requirement_can_still_use_it(make_rp, alice):
    rp = make_rp(require_pkce=False)
    done = rp.code_for()
    assert rp.exchange(done).status == 200


def test_verifier_for_a_code_issued_without_challenge_is_refused(make_rp, alice, services):
    rp = make_rp(require_pkce=False)
    done = rp.code_for(pkce=False)
    verifier, _ = pkce_pair()
    _refused(rp.exchange(done, verifier=verifier), "invalid_request")
    assert counts(services)["tokens"] == 0


def test_unknown_and_missing_codes_are_refused(rp, services):
    rp.code_for()
    reply = rp._post("/token", {"grant_type": "authorization_code", "code": "not-a-code",
                                "redirect_uri": rp.reg.redirect_uri, "code_verifier": "v" * 43})
    _refused(reply)
    reply = rp._post("/token", {"grant_type": "authorization_code", "redirect_uri": rp.reg.redirect_uri})
    _refused(reply, "invalid_request")
    assert counts(services)["tokens"] == 0


def test_token_responses_are_not_cached(rp):
    reply = rp.exchange(rp.code_for())
    assert reply.headers["Cache-Control"] == "no-store"
    assert reply.headers.get("Pragma") == "no-cache"
    assert reply.json["token_type"] == "Bearer" and reply.json["expires_in"] == 3600


def test_code_is_stored_only_as_a_digest(rp, services):
    done = rp.code_for()
    with services.database.session() as db:
        row = db.scalar(sa.select(AuthorizationCode))
        assert row.code_digest != done.code and done.code not in str(row.__dict__)


def test_public_clients_always_need_pkce(make_rp, alice, services):
    rp = make_rp(public=True, require_pkce=False)            # the flag cannot switch PKCE off for them
    params, _ = rp.params(pkce=False)
    page = rp.open_authorize(params)
    assert page.location and page.location.startswith(rp.reg.redirect_uri)
    from tests.support.oidc_client import query_of

    assert query_of(page.location)["error"] == "invalid_request"
    assert counts(services)["codes"] == 0


def test_a_code_for_a_redirect_uri_withdrawn_since_is_refused(rp, services):
    """An administrator removed the redirect URI between the code and its exchange (a code lives 60 s): no
    tokens for it (the sign-in's own check saw the URI still registered)."""
    done = rp.code_for()
    with services.database.sessions.begin() as db:
        db.execute(sa.text("UPDATE oauth_client SET redirect_uris = :uris WHERE client_id = :client_id"),
                   {"uris": '["https://new.example/cb"]', "client_id": rp.client_id})
    _refused(rp.exchange(done))
    assert counts(services)["tokens"] == 0
