"""idp.factors.totp: RFC 6238 test vectors, oathtool as an independent implementation, input shapes,
the window and learned offset, the replay guard (also across two workers), clock drift, enrolment."""
from __future__ import annotations

import base64
import hashlib
import shutil
import subprocess
import threading
from datetime import UTC, datetime, timedelta

import pyotp
import pytest
import sqlalchemy as sa

from idp.clock import now
from idp.factors import totp
from idp.models import SecondFactor, User

RFC_SEEDS = {"SHA1": b"12345678901234567890", "SHA256": b"12345678901234567890123456789012",
             "SHA512": b"1234567890123456789012345678901234567890123456789012345678901234"}
RFC_VECTORS = [  # RFC 6238 Appendix B: time, SHA1, SHA256, SHA512 (8 digits)
    (59, "94287082", "46119246", "90693936"),
    (1111111109, "07081804", "68084774", "25091201"),
    (1111111111, "14050471", "67062674", "99943326"),
    (1234567890, "89005924", "91819424", "93441116"),
    (2000000000, "69279037", "90698825", "38618901"),
    (20000000000, "65353130", "77737706", "47863826"),
]


def factor_with(db, services, user, secret: str, *, digits: int = 6, algorithm: str = "SHA1",  # noqa: ANN001
                confirmed: bool = True) -> SecondFactor:
    factor = SecondFactor(user_id=user.id, kind="totp", secret_encrypted=services.kek.encrypt(secret.encode()),
                          digits=digits, period=30, algorithm=algorithm, offset_steps=0, data={},
                          created_at=now(), confirmed_at=now() if confirmed else None)
    db.add(factor)
    db.flush()
    return factor


def at(seconds: float) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


@pytest.mark.parametrize("algorithm", ["SHA1", "SHA256", "SHA512"])
def test_rfc6238_vectors(db, services, user, algorithm):  # noqa: ANN001
    secret = base64.b32encode(RFC_SEEDS[algorithm]).decode()
    column = 1 + ["SHA1", "SHA256", "SHA512"].index(algorithm)
    for vector in RFC_VECTORS:                     # a fresh factor each: no replay guard between vectors
        factor = factor_with(db, services, user, secret, digits=8, algorithm=algorithm)
        assert totp.verify(db, services, factor, vector[column], at(vector[0])) == totp.TotpCheck(True), vector


def test_rfc6238_code_is_refused_far_from_its_time(db, services, user):  # noqa: ANN001
    factor = factor_with(db, services, user, base64.b32encode(RFC_SEEDS["SHA1"]).decode(), digits=8)
    check = totp.verify(db, services, factor, "89005924", at(1234567890 + 3600))
    assert not check.ok and check.drift_steps is None


def oathtool(secret: str, when: datetime, *extra: str) -> str:
    if shutil.which("oathtool") is None:
        pytest.skip("oathtool is not installed (Debian package oathtool; `make system-deps`)")
    result = subprocess.run(["oathtool", "-b", secret, "--now", f"@{int(when.timestamp())}", *extra],
                            capture_output=True, text=True, check=True, timeout=10)
    return result.stdout.strip()


@pytest.mark.parametrize("algorithm,digits", [("SHA1", 6), ("SHA256", 8), ("SHA512", 7)])
def test_codes_from_oathtool_are_accepted(db, services, user, algorithm, digits):  # noqa: ANN001
    secret = totp.new_secret()
    factor = factor_with(db, services, user, secret, digits=digits, algorithm=algorithm)
    when = at(1_700_000_000)
    extra = [f"--totp={algorithm}", "-d", str(digits)]
    reference = pyotp.TOTP(secret, digits=digits, digest=getattr(hashlib, algorithm.lower()))
    assert oathtool(secret, when, *extra) == reference.at(when)
    assert totp.verify(db, services, factor, oathtool(secret, when, *extra), when).ok
    later = when + timedelta(seconds=30)
    assert totp.verify(db, services, factor, oathtool(secret, later, *extra), later).ok


def test_new_secret_provisioning_uri_qr_and_grouping():
    secret = totp.new_secret()
    assert len(secret) == 32 and len(base64.b32decode(secret)) * 8 == 160 and secret != totp.new_secret()
    uri = totp.provisioning_uri(secret, "alice@example.com", "Fentu FSM", 6, 30, "SHA1")
    assert uri.startswith("otpauth://totp/Fentu%20FSM:alice%40example.com?")
    parsed = pyotp.parse_uri(uri)
    assert (parsed.secret, parsed.name, parsed.issuer) == (secret, "alice@example.com", "Fentu FSM")
    assert "algorithm=SHA256" in totp.provisioning_uri(secret, "a@b.c", "X", 8, 30, "SHA256")
    svg = totp.qr_svg(uri)
    assert svg.startswith("<svg") and "<?xml" not in svg and svg.rstrip().endswith("</svg>")
    assert totp.grouped("JBSWY3DPEHPK3PXP") == "JBSW Y3DP EHPK 3PXP"


SHAPES = ["\u0661\u0662\u0663\u0664\u0665\u0666", "\uff11\uff12\uff13\uff14\uff15\uff16", "+12345", "-12345",
          "1234567", "12345", "12a456", "", "\u00b9\u00b2\u00b3456", "12\u00a03456"]


def test_anything_but_ascii_digits_is_refused_before_any_comparison(db, services, user, monkeypatch):  # noqa: ANN001
    factor = factor_with(db, services, user, totp.new_secret())
    compared = []
    monkeypatch.setattr(totp.hmac, "compare_digest", lambda a, b: compared.append(a) or False)
    for code in SHAPES:
        check = totp.verify(db, services, factor, code, now())
        assert not check.ok and "digits 0-9 only" in check.message and compared == [], repr(code)


def test_spaces_are_ignored_and_comparison_is_constant_time(db, services, user, monkeypatch):  # noqa: ANN001
    secret = totp.new_secret()
    factor = factor_with(db, services, user, secret)
    real, compared = totp.hmac.compare_digest, []
    monkeypatch.setattr(totp.hmac, "compare_digest", lambda a, b: compared.append(a) or real(a, b))
    code = pyotp.TOTP(secret).at(now())
    assert totp.verify(db, services, factor, f" {code[:3]} {code[3:]} ", now()).ok
    assert len(compared) == 3   # every step of the window compared, not stopping at the match


def test_window_replay_and_older_steps(db, services, user):  # noqa: ANN001
    secret = totp.new_secret()
    factor = factor_with(db, services, user, secret)
    t = at(1_700_000_010)
    assert totp.verify(db, services, factor, pyotp.TOTP(secret).at(t - timedelta(seconds=30)), t).ok
    replay = totp.verify(db, services, factor, pyotp.TOTP(secret).at(t - timedelta(seconds=30)), t)
    assert not replay.ok and replay.message == totp.REPLAYED
    assert totp.verify(db, services, factor, pyotp.TOTP(secret).at(t), t).ok
    older = totp.verify(db, services, factor, pyotp.TOTP(secret).at(t - timedelta(seconds=30)), t)
    assert not older.ok
    db.refresh(factor)
    assert factor.last_step == int(t.timestamp()) // 30 and factor.last_used_at == t


def test_the_window_cannot_be_dragged_ahead(db, services, user):  # noqa: ANN001
    """Issue 12, item 4: a code of the next step is accepted (inside the normal ±1 window) and its offset is
    recorded, but the window never moves: 60 s ahead stays refused and the current code keeps working."""
    secret = totp.new_secret()
    factor = factor_with(db, services, user, secret)
    t = at(1_700_000_010)
    assert totp.verify(db, services, factor, pyotp.TOTP(secret).at(t + timedelta(seconds=30)), t).ok
    assert factor.offset_steps == 1
    later = t + timedelta(minutes=5)
    ahead = totp.verify(db, services, factor, pyotp.TOTP(secret).at(later + timedelta(seconds=60)), later)
    assert not ahead.ok and ahead.drift_steps == 2 and "ahead" in ahead.message
    assert totp.verify(db, services, factor, pyotp.TOTP(secret).at(later), later).ok
    db.refresh(factor)
    assert factor.offset_steps == 0


def test_the_current_code_works_whatever_offset_was_stored(db, services, user):  # noqa: ANN001
    secret = totp.new_secret()
    factor = factor_with(db, services, user, secret)
    factor.offset_steps = services.config.totp.max_learned_offset_steps   # e.g. left by an older release
    db.flush()
    t = at(1_700_000_010)
    far = totp.verify(db, services, factor, pyotp.TOTP(secret).at(t + timedelta(seconds=120)), t)
    assert not far.ok
    assert totp.verify(db, services, factor, pyotp.TOTP(secret).at(t), t).ok


@pytest.mark.parametrize("seconds,words", [(-180, "about 3 minutes behind"), (120, "about 2 minutes ahead"),
                                           (-60, "about 1 minute behind")])
def test_clock_drift_is_recognised_but_refused(db, services, user, seconds, words):  # noqa: ANN001
    secret = totp.new_secret()
    factor = factor_with(db, services, user, secret)
    t = at(1_700_000_010)
    check = totp.verify(db, services, factor, pyotp.TOTP(secret).at(t + timedelta(seconds=seconds)), t)
    assert not check.ok and check.drift_steps == seconds // 30
    assert check.message == (f"Your device clock looks {words}. Turn on automatic date and time "
                             "(Settings > Date & Time > Automatic) and try again.")
    db.refresh(factor)
    assert factor.last_step is None and factor.offset_steps == 0


def test_start_enrolment_replaces_the_pending_one_and_encrypts_the_secret(db, services, user):  # noqa: ANN001
    first_secret = totp.factor_secret(services, totp.start_enrolment(db, services, user))
    second = totp.start_enrolment(db, services, user)
    rows = db.scalars(sa.select(SecondFactor).where(SecondFactor.user_id == user.id)).all()
    assert rows == [second] and second.confirmed_at is None and second.kind == "totp"
    secret = totp.factor_secret(services, second)
    assert secret != first_secret
    assert secret.encode() not in second.secret_encrypted and len(secret) == 32


def exists(db, factor_id: int) -> bool:  # noqa: ANN001
    return db.scalar(sa.select(SecondFactor.id).where(SecondFactor.id == factor_id)) is not None


@pytest.fixture
def bob_id(factory) -> int:  # noqa: ANN001
    return factory.user("bob@example.com")   # before the test's session starts writing (SQLite)


def test_confirm_enrolment(bob_id, db, services, user):  # noqa: ANN001
    bob = db.get(User, bob_id)
    old = factor_with(db, services, user, totp.new_secret())
    pending = totp.start_enrolment(db, services, user)
    code = pyotp.TOTP(totp.factor_secret(services, pending)).at(now())
    wrong = totp.confirm_enrolment(db, services, user, pending.id, f"{(int(code) + 1) % 10 ** 6:06d}")
    assert not wrong.ok and "scan the QR code again" in wrong.message and pending.confirmed_at is None
    assert totp.confirm_enrolment(db, services, bob, pending.id, code).message == totp.ENROL_GONE
    assert totp.confirm_enrolment(db, services, user, pending.id, code).ok
    assert pending.confirmed_at is not None and not exists(db, old.id)


def test_two_workers_with_the_same_code_let_exactly_one_through(services, factory, is_postgres):  # noqa: ANN001
    if not is_postgres:
        pytest.skip("two concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    uid = factory.user("carol@example.com")
    secret = totp.new_secret()
    with services.database.session() as db:
        factor_id = factor_with(db, services, db.get(User, uid), secret).id
    when, barrier, results = now(), threading.Barrier(2), []

    def worker() -> None:
        with services.database.session() as db:
            factor = db.get(SecondFactor, factor_id)
            barrier.wait()
            results.append(totp.verify(db, services, factor, pyotp.TOTP(secret).at(when), when).ok)

    threads = [threading.Thread(target=worker) for _ in range(2)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, True]
