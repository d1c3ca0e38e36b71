"""idp.factors.enrolled: listing and removing factors, email/SMS enrolment with a confirmation code,
phone number validation (E.164), masked addresses and numbers."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.factors import enrolled, totp
from idp.models import OtpChallenge, SecondFactor, User
from tests.support.smtp import code_in, email_config, smtp  # noqa: F401 (fixture)


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


HERE = "the-enrolment"  # a binding (idp.factors.binding): where a code may be used


def test_masks():
    assert enrolled.mask_email("jane@example.com") == "j\u2022\u2022\u2022@example.com"
    assert enrolled.mask_email("nobody") == "\u2022\u2022\u2022"
    assert enrolled.mask_phone("+447911123456") == "+44 \u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202256"
    assert enrolled.mask_phone("+14155552671") == "+1 \u2022\u2022\u2022\u2022\u2022\u2022\u2022\u202271"


@pytest.mark.parametrize("given,expected", [("+44 7911 123456", "+447911123456"), ("+1 (415) 555-2671", "+14155552671"),
                                            ("0049 151 23456789", None), ("07911 123456", None), ("hello", None),
                                            ("+44 20 7946 0000", None), ("", None)])
def test_phone_numbers(given, expected):  # noqa: ANN001
    if expected is None:
        with pytest.raises(enrolled.FactorError, match="phone number|landline"):
            enrolled.normalise_phone(given)
    else:
        assert enrolled.normalise_phone(given) == expected
    assert enrolled.normalise_phone("07911 123456", "GB") == "+447911123456"


def test_sms_enrolment_confirms_with_the_texted_code(db, services, user, texts):  # noqa: ANN001
    old = enrolled.new_pending(db, user, "sms", "+447400123456")
    enrolled.activate(db, user, old)
    factor, sent = enrolled.start_sms_enrolment(db, services, user, "+44 7911 123456", bound_to=HERE)
    assert sent.ok and factor.target == "+447911123456" and factor.confirmed_at is None
    code = texts.sent[-1][1].split()[0]
    wrong = enrolled.confirm_side_channel_enrolment(db, services, user, factor.id, sent.challenge_id, "000000"
                                                    if code != "000000" else "111111", bound_to=HERE)
    assert not wrong.ok and wrong.wrong_code
    assert enrolled.confirm_side_channel_enrolment(db, services, user, factor.id, sent.challenge_id, code, bound_to=HERE).ok
    assert [f.target for f in enrolled.active_factors(db, user)] == ["+447911123456"]   # one per kind


def test_email_enrolment_and_a_code_of_another_factor(db, services, user, smtp):  # noqa: ANN001, F811
    with pytest.raises(enrolled.FactorError):
        enrolled.start_email_enrolment(db, services, user, "not an address", bound_to=HERE)
    factor, sent = enrolled.start_email_enrolment(db, services, user, bound_to=HERE)
    code = code_in(smtp.wait_for("alice@example.com"))
    stray = OtpChallenge(user_id=user.id, factor_id=None, channel="email", purpose="confirm", code_digest="x",
                         created_at=factor.created_at, expires_at=factor.created_at)
    db.add(stray)
    db.flush()
    gone = enrolled.confirm_side_channel_enrolment(db, services, user, factor.id, stray.id, code, bound_to=HERE)
    assert not gone.ok and gone.message == enrolled.ENROL_GONE
    assert enrolled.confirm_side_channel_enrolment(db, services, user, factor.id, sent.challenge_id, code, bound_to=HERE).ok


def test_active_factors_in_order_and_removal(factory, db, services, user):  # noqa: ANN001
    for kind, target in (("sms", "+447911123456"), ("email", user.email)):
        enrolled.activate(db, user, enrolled.new_pending(db, user, kind, target))
    app = totp.start_enrolment(db, services, user)
    enrolled.activate(db, user, app)
    totp.start_enrolment(db, services, user)                                    # pending: not listed
    assert [f.kind for f in enrolled.active_factors(db, user)] == ["totp", "email", "sms"]
    db.commit()
    bob = db.get(User, factory.user("bob@example.com"))
    assert enrolled.remove_factor(db, bob, app.id) is None
    removed = enrolled.remove_factor(db, user, app.id)
    assert removed is not None and removed.kind == "totp"
    assert [f.kind for f in enrolled.active_factors(db, user)] == ["email", "sms"]
    assert db.scalar(sa.select(sa.func.count(SecondFactor.id)).where(SecondFactor.user_id == user.id)) == 3
