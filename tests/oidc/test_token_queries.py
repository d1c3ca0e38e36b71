"""How many SQL statements the back-channel hot paths cost: a refresh, a userinfo call, a code exchange.

A refresh (answered before Flask, idp.web.oauth.front_refresh) is one indexed lookup (the token with its
user, sign-in and client), one conditional update (the rotation), one insert (the new token) and the rate
limit's one upsert, in one transaction; userinfo is one lookup. Elsewhere rate limiting (idp.ratelimit)
adds its own statements to /token; they are counted apart so those tests only follow the grant's own work."""
from __future__ import annotations

import re
import threading

from tests.web.test_signin_queries import counted

OFFLINE = "openid email offline_access"


def _own(statements: list[str]) -> list[str]:
    """The grant's statements: without rate limiting's counters (and their own transaction's setting on
    PostgreSQL), and without reading the signing keys (each worker reads them once every few seconds,
    idp.oauth.keys.KeyRing, not once per request)."""
    return [s for s in statements
            if not re.search(r"\b(rate_limit\w*|signing_key)\b|^SET LOCAL synchronous_commit", s.strip())]


def _listing(statements: list[str]) -> str:
    return "\n".join(" ".join(s.split())[:160] for s in statements)


def test_a_refresh_is_one_lookup_one_update_one_insert_and_the_rate_limit(rp, services):
    refresh_token = rp.tokens(scope=OFFLINE)["refresh_token"]
    with counted(services) as statements:
        reply = rp.refresh(refresh_token)
    assert reply.status == 200, reply.json
    work = [s for s in statements if not re.match(r"\s*(COMMIT|ROLLBACK)\b", s, re.IGNORECASE)]
    # the token (with user, sign-in and client), the rotation, the insert, the rate limit's counters
    assert len(work) == 4, _listing(statements)
    assert [s.lstrip().split()[0].upper() for s in work] == ["SELECT", "UPDATE", "INSERT", "INSERT"], _listing(work)
    assert "rate_limit_bucket" in work[-1] and "oauth_client" in work[0], _listing(work)


def test_userinfo_is_one_lookup(rp, services):
    access_token = rp.tokens()["access_token"]
    with counted(services, transaction_control=True) as statements:
        reply = rp.userinfo(access_token)
    assert reply.status == 200
    # outside any transaction: no BEGIN (SQLite: no write lock, see the next test) and no ROLLBACK
    assert len(statements) == 1 and "oauth_token" in statements[0], _listing(statements)


def test_userinfo_answers_while_a_writer_holds_the_lock(rp, services):
    """A sign-in writing at the same moment (SQLite: one writer at a time) does not hold userinfo up."""
    access_token = rp.tokens()["access_token"]
    with services.database.engine.connect() as writer:
        writer.begin()                       # SQLite: BEGIN IMMEDIATE (idp.db), the write lock is taken
        writer.exec_driver_sql("UPDATE user_account SET name = name")
        answered = []
        asking = threading.Thread(target=lambda: answered.append(rp.userinfo(access_token)), daemon=True)
        asking.start()
        asking.join(timeout=10)
        finished_first = bool(answered)
        writer.rollback()
    asking.join(timeout=30)
    assert finished_first, "userinfo waited for the writer"
    assert answered[0].status == 200


def test_a_code_exchange_reads_the_code_once(rp, services):
    done = rp.code_for()
    with counted(services) as statements:
        reply = rp.exchange(done)
    assert reply.status == 200, reply.json
    own = _own(statements)
    assert len(own) <= 4, _listing(own)   # the client, the code (with user and session id), its use, the insert
