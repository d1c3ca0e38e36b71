"""Refresh tokens (RFC 6749 §6, RFC 9700 §4.14.2): issued for offline_access or to clients that ask for
them, rotated on every use; presenting a used one refuses it and revokes the whole family."""
from __future__ import annotations

from tests.support.oidc_client import counts

OFFLINE = "openid email offline_access"


def _refused(reply, error: str = "invalid_grant") -> None:  # noqa: ANN001
    assert (reply.status, reply.error) == (400, error), (reply.status, reply.json)
    assert "access_token" not in reply.json


def test_no_refresh_token_without_offline_access(rp):
    tokens = rp.tokens()
    assert "refresh_token" not in tokens


def test_offline_access_gives_a_refresh_token(rp):
    tokens = rp.tokens(scope=OFFLINE)
    assert tokens["refresh_token"] and "offline_access" in tokens["scope"].split()


def test_client_with_issue_refresh_tokens_gets_one_without_offline_access(make_rp, alice):
    rp = make_rp(refresh_tokens=True)
    assert rp.tokens()["refresh_token"]


def test_every_refresh_rotates(rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    seen = {tokens["refresh_token"]}
    current = tokens
    for _ in range(3):
        reply = rp.refresh(current["refresh_token"])
        assert reply.status == 200, reply.json
        assert reply.json["refresh_token"] not in seen and reply.json["access_token"] != current["access_token"]
        assert reply.json["scope"] == current["scope"]
        assert rp.userinfo(reply.json["access_token"]).status == 200
        seen.add(reply.json["refresh_token"])
        current = reply.json
    assert counts(services)["tokens"] == 4


def test_reusing_a_rotated_refresh_token_revokes_the_whole_family(rp, services):
    first = rp.tokens(scope=OFFLINE)
    second = rp.refresh(first["refresh_token"]).json
    third = rp.refresh(second["refresh_token"]).json
    before = counts(services)

    _refused(rp.refresh(first["refresh_token"]))            # the attacker (or the victim) replays

    after = counts(services)
    assert after["tokens"] == before["tokens"]             # nothing new issued
    assert after["live_tokens"] == 0
    _refused(rp.refresh(third["refresh_token"]))            # the newest refresh token stopped working
    for access in (first["access_token"], second["access_token"], third["access_token"]):
        assert (rp.userinfo(access).status, rp.userinfo(access).error) == (401, "invalid_token")
        assert rp.introspect(access).json == {"active": False}


def test_family_revocation_leaves_other_sign_ins_alone(rp, services):
    mine = rp.tokens(scope=OFFLINE)
    other = rp.tokens(scope=OFFLINE)
    rotated = rp.refresh(mine["refresh_token"]).json
    _refused(rp.refresh(mine["refresh_token"]))
    assert rp.userinfo(rotated["access_token"]).status == 401
    assert rp.userinfo(other["access_token"]).status == 200
    assert rp.refresh(other["refresh_token"]).status == 200


def test_refresh_token_is_bound_to_its_client(make_rp, alice, services):
    rp, other = make_rp(), make_rp()
    tokens = rp.tokens(scope=OFFLINE)
    before = counts(services)
    _refused(other.refresh(tokens["refresh_token"]))
    assert counts(services) == before
    assert rp.refresh(tokens["refresh_token"]).status == 200


def test_refresh_with_wrong_secret_is_401_and_does_not_rotate(rp, services):
    tokens = rp.tokens(scope=OFFLINE)
    secret, rp.reg.secret = rp.reg.secret, "wrong"
    reply = rp.refresh(tokens["refresh_token"])
    assert (reply.status, reply.error) == (401, "invalid_client")
    rp.reg.secret = secret
    assert counts(services)["tokens"] == 1
    assert rp.refresh(tokens["refresh_token"]).status == 200


def test_refresh_may_narrow_but_not_widen_the_scope(rp):
    tokens = rp.tokens(scope=OFFLINE)
    _refused(rp.refresh(tokens["refresh_token"], scope="openid email profile offline_access"), "invalid_scope")
    narrowed = rp.refresh(tokens["refresh_token"], scope="openid offline_access")
    assert narrowed.status == 200 and narrowed.json["scope"] == "openid offline_access"
    assert "email" not in rp.userinfo(narrowed.json["access_token"]).json


def test_unknown_refresh_token(rp, services):
    rp.tokens(scope=OFFLINE)
    _refused(rp.refresh("not-a-refresh-token"))
    assert counts(services)["live_tokens"] == 1


def test_refresh_token_expires_after_its_lifetime(rp, frozen_clock):
    tokens = rp.tokens(scope=OFFLINE)
    frozen_clock.advance(days=30, seconds=1)
    _refused(rp.refresh(tokens["refresh_token"]))


def test_refresh_works_after_the_access_token_expired(rp, frozen_clock):
    tokens = rp.tokens(scope=OFFLINE)
    frozen_clock.advance(hours=2)
    assert rp.userinfo(tokens["access_token"]).status == 401
    reply = rp.refresh(tokens["refresh_token"])
    assert reply.status == 200 and rp.userinfo(reply.json["access_token"]).status == 200


def test_disabled_user_cannot_refresh(rp, services):
    import sqlalchemy as sa

    from idp.models import User

    tokens = rp.tokens(scope=OFFLINE)
    with services.database.session() as db:
        db.execute(sa.update(User).values(is_active=False))
    _refused(rp.refresh(tokens["refresh_token"]))
    assert counts(services)["tokens"] == 1


def test_public_client_refreshes_with_rotation(public_rp, services):
    tokens = public_rp.tokens(scope=OFFLINE)
    second = public_rp.refresh(tokens["refresh_token"])
    assert second.status == 200
    _refused(public_rp.refresh(tokens["refresh_token"]))
    _refused(public_rp.refresh(second.json["refresh_token"]))


def test_introspection_tells_rotated_refresh_tokens_apart(rp):
    first = rp.tokens(scope=OFFLINE)
    assert rp.introspect(first["refresh_token"], "refresh_token").json["active"] is True
    second = rp.refresh(first["refresh_token"]).json
    assert rp.introspect(first["refresh_token"], "refresh_token").json == {"active": False}
    assert rp.introspect(first["refresh_token"]).json == {"active": False}
    assert rp.introspect(first["access_token"]).json["active"] is True     # still within its hour
    assert rp.introspect(second["refresh_token"]).json["active"] is True
