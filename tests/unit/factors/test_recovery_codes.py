"""idp.factors.recovery: ten readable codes of ≥ 50 bits, stored as keyed hashes, single use (also when
two workers use one code at once), a new set invalidates the old one."""
from __future__ import annotations

import math
import re
import threading

import pytest
import sqlalchemy as sa

from idp.factors import recovery
from idp.models import RecoveryCode, User

FORMAT = re.compile(r"^[23456789abcdefghjkmnpqrstuvwxyz]{4}-[23456789abcdefghjkmnpqrstuvwxyz]{4}-"
                    r"[23456789abcdefghjkmnpqrstuvwxyz]{4}$")


def test_generate_ten_readable_codes_stored_only_as_hashes(db, services, user):  # noqa: ANN001
    codes = recovery.generate(db, services, user)
    assert len(codes) == 10 and len(set(codes)) == 10 and all(FORMAT.match(c) for c in codes)
    assert not set("01ilo") & set(recovery.ALPHABET)
    assert math.log2(len(recovery.ALPHABET)) * recovery.GROUPS * recovery.GROUP_LENGTH >= 50
    digests = set(db.scalars(sa.select(RecoveryCode.code_digest).where(RecoveryCode.user_id == user.id)))
    assert digests == {services.pepper.hash(c.replace("-", "")) for c in codes}
    assert not any(c in d or c.replace("-", "") in d for c in codes for d in digests)
    assert recovery.remaining(db, user) == 10


def test_consume_normalises_and_works_once(db, services, user):  # noqa: ANN001
    codes = recovery.generate(db, services, user)
    assert recovery.consume(db, services, user, "  " + codes[0].upper().replace("-", " ") + " ")
    assert not recovery.consume(db, services, user, codes[0])
    assert recovery.consume(db, services, user, codes[1].replace("-", ""))
    for bad in ("", "aaaa-bbbb-cccc", codes[2][:-1], codes[2] + "x", "\uff17" + codes[2][1:]):
        assert not recovery.consume(db, services, user, bad)
    assert recovery.remaining(db, user) == 8


def test_a_new_set_replaces_the_old_one_at_once(db, services, user):  # noqa: ANN001
    old = recovery.generate(db, services, user)
    new = recovery.generate(db, services, user)
    assert not recovery.consume(db, services, user, old[0])
    assert recovery.consume(db, services, user, new[0]) and recovery.remaining(db, user) == 9


def test_codes_belong_to_their_user(factory, db, services, user):  # noqa: ANN001
    code = recovery.generate(db, services, user)[0]
    db.commit()
    bob = db.get(User, factory.user("bob@example.com"))
    assert not recovery.consume(db, services, bob, code)
    assert recovery.consume(db, services, user, code)


def test_two_workers_using_one_code_let_exactly_one_through(services, factory, is_postgres):  # noqa: ANN001
    if not is_postgres:
        pytest.skip("two concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    uid = factory.user("carol@example.com")
    with services.database.session() as db:
        code = recovery.generate(db, services, db.get(User, uid))[0]
    barrier, results = threading.Barrier(4), []

    def worker() -> None:
        with services.database.session() as db:
            user = db.get(User, uid)
            barrier.wait()
            results.append(recovery.consume(db, services, user, code))

    threads = [threading.Thread(target=worker) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, False, False, True]
