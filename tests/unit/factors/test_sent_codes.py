"""idp.factors.codes: codes sent by email (a real SMTP server) and SMS (a recording sender): keyed hash,
expiry, wrong tries, single use, resend throttle, delivery failures, and never a code in the log."""
from __future__ import annotations

import logging
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.factors import codes, enrolled
from idp.models import OtpChallenge, User
from tests.support.smtp import code_in, down_email_config, email_config, smtp  # noqa: F401 (fixture)


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


@pytest.fixture
def email_factor(db, user):  # noqa: ANN001, ANN201
    factor = enrolled.new_pending(db, user, "email", user.email)
    enrolled.activate(db, user, factor)
    return factor


HERE = "the-challenge"  # a binding (idp.factors.binding): where a code may be used


def sent_code(smtp, count: int = 1) -> str:  # noqa: ANN001, F811
    return code_in(smtp.wait_for("alice@example.com", count=count))


def test_send_by_email_and_check_once(db, services, user, email_factor, smtp, frozen_clock):  # noqa: ANN001, F811
    result = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE)
    assert result.ok and result.challenge_id
    code = sent_code(smtp)
    row = db.get(OtpChallenge, result.challenge_id)
    assert row.code_digest == services.pepper.hash(code) and code not in row.code_digest
    assert row.expires_at == frozen_clock.current + timedelta(minutes=10)
    assert codes.check_code(db, services, user, result.challenge_id, code, bound_to=HERE).ok
    again = codes.check_code(db, services, user, result.challenge_id, code, bound_to=HERE)
    assert not again.ok and again.new_code_needed and not again.wrong_code


def test_expired_code_is_refused_without_counting(db, services, user, email_factor, smtp,  # noqa: ANN001, F811
                                                   frozen_clock):
    challenge = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE).challenge_id
    frozen_clock.advance(minutes=10)
    check = codes.check_code(db, services, user, challenge, sent_code(smtp), bound_to=HERE)
    assert not check.ok and check.message == codes.EXPIRED and not check.wrong_code


def test_five_wrong_tries_use_the_code_up(db, services, user, email_factor, smtp):  # noqa: ANN001, F811
    challenge = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE).challenge_id
    code = sent_code(smtp)
    wrong = f"{(int(code) + 1) % 10 ** 6:06d}"
    messages = [codes.check_code(db, services, user, challenge, wrong, bound_to=HERE).message for _ in range(4)]
    assert [m.rsplit(". ", 1)[-1] for m in messages] == ["4 tries left.", "3 tries left.", "2 tries left.",
                                                          "1 try left."]
    last = codes.check_code(db, services, user, challenge, "１２３４５６", bound_to=HERE)       # not digits: still a try
    assert last.wrong_code and last.new_code_needed and last.message == codes.LAST_WRONG
    assert not codes.check_code(db, services, user, challenge, code, bound_to=HERE).ok


def test_a_new_code_replaces_the_old_and_resends_are_throttled(db, services, user, email_factor,  # noqa: ANN001
                                                                smtp,  # noqa: F811
                                                                frozen_clock):
    first = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE)
    too_soon = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE)
    assert not too_soon.ok and too_soon.retry_after == 30 and "30 seconds" in too_soon.message
    frozen_clock.advance(seconds=30)
    second = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE)
    assert second.ok
    assert codes.check_code(db, services, user, first.challenge_id, sent_code(smtp), bound_to=HERE).message == codes.EXPIRED
    assert codes.check_code(db, services, user, second.challenge_id, sent_code(smtp, 2), bound_to=HERE).ok
    for _ in range(3):
        frozen_clock.advance(seconds=30)
        assert codes.send_code(db, services, user, email_factor, "login", bound_to=HERE).ok
    frozen_clock.advance(seconds=30)
    hourly = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE)
    assert not hourly.ok and "Too many codes were sent in the last hour" in hourly.message
    frozen_clock.advance(minutes=59)
    assert codes.send_code(db, services, user, email_factor, "login", bound_to=HERE).ok


def test_sms_code_and_no_code_in_any_log(db, services, user, texts, caplog, smtp):  # noqa: ANN001, F811
    factor = enrolled.new_pending(db, user, "sms", "+447911123456")
    caplog.set_level(logging.DEBUG)
    result = codes.send_code(db, services, user, factor, "enrol", bound_to=HERE)
    (to, message), = texts.sent
    code = message.split()[0]
    assert to == "+447911123456" and "set-up code" in message and message.endswith(f"@localhost #{code}")
    assert codes.check_code(db, services, user, result.challenge_id, code, bound_to=HERE).ok
    assert code not in caplog.text and "sms enrol code sent" in caplog.text


def test_failed_delivery_keeps_nothing(db, services, user, texts):  # noqa: ANN001
    factor = enrolled.new_pending(db, user, "sms", "+447911123456")
    texts.fail = True
    result = codes.send_code(db, services, user, factor, "login", bound_to=HERE)
    assert not result.ok and result.message.startswith("We couldn't send the code.")
    assert db.scalar(sa.select(sa.func.count(OtpChallenge.id))) == 0
    texts.fail = False
    assert codes.send_code(db, services, user, factor, "login", bound_to=HERE).ok          # a failure does not count as a send


class TestMailServerDown:
    @pytest.fixture
    def config_overrides(self):  # noqa: ANN201
        return {"email": down_email_config()}

    def test_smtp_down(self, db, services, user, caplog):  # noqa: ANN001
        result = codes.send_code(db, services, user, None, "confirm", bound_to=HERE)
        assert not result.ok and result.message == codes.NOT_SENT
        assert "not delivered" in caplog.text and db.scalar(sa.select(sa.func.count(OtpChallenge.id))) == 0


def test_check_is_for_the_challenges_own_user(factory, db, services, user, email_factor, smtp):  # noqa: ANN001, F811
    challenge = codes.send_code(db, services, user, email_factor, "login", bound_to=HERE).challenge_id
    db.commit()
    bob = db.get(User, factory.user("bob@example.com"))
    assert codes.check_code(db, services, bob, challenge, sent_code(smtp), bound_to=HERE).message == codes.GONE
    assert codes.check_code(db, services, user, None, sent_code(smtp), bound_to=HERE).new_code_needed


def test_two_workers_with_the_right_code_let_exactly_one_through(services, factory, is_postgres,  # noqa: ANN001
                                                                 smtp):  # noqa: F811
    if not is_postgres:
        pytest.skip("two concurrent writers need PostgreSQL (SQLite serialises the whole database)")
    uid = factory.user("alice@example.com")
    with services.database.session() as db:
        challenge = codes.send_code(db, services, db.get(User, uid), None, "confirm", bound_to=HERE).challenge_id
    code, barrier, results = sent_code(smtp), threading.Barrier(3), []

    def worker() -> None:
        with services.database.session() as db:
            user = db.get(User, uid)
            barrier.wait()
            results.append(codes.check_code(db, services, user, challenge, code, bound_to=HERE).ok)

    threads = [threading.Thread(target=worker) for _ in range(3)]
    for t in threads:
        t.start()
    for t in threads:
        t.join(30)
    assert sorted(results) == [False, False, True]
