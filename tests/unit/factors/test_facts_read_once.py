"""A user's second factors and recovery codes are read once per request, and read again as soon as the request
changes them: an answer never outlives a write (idp.session_memo)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.enforcement import has_second_factor
from idp.factors import enrolled, recovery
from idp.models import SecondFactor, User
from tests.support.factors import enrol_totp
from tests.support.statements import recorded

EMAIL = "alice@example.com"


@pytest.fixture
def db(factory, services):  # noqa: ANN001, ANN201
    """A request's session, for a user who set up an authenticator app (before the session began)."""
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    with services.database.session() as session:
        yield session


@pytest.fixture
def user(db):  # noqa: ANN001, ANN201
    return db.scalar(sa.select(User).where(User.email == EMAIL))


def test_asking_again_in_one_request_costs_no_statement(db, services, user):  # noqa: ANN001
    recovery.generate(db, services, user)
    with recorded(db.get_bind()) as seen:
        answers = [(len(enrolled.active_factors(db, user)), has_second_factor(db, user),
                    recovery.remaining(db, user)) for _ in range(3)]
    assert answers == [(1, True, 10)] * 3
    assert len(seen) == 1, seen      # the factors, with the count of the codes


def test_the_count_of_codes_read_with_the_factors_follows_a_used_code(db, services, user):  # noqa: ANN001
    codes = recovery.generate(db, services, user)
    db.commit()
    assert has_second_factor(db, user) and recovery.remaining(db, user) == 10
    assert recovery.consume(db, services, user, codes[0])
    assert recovery.remaining(db, user) == 9


def test_a_removed_factor_is_seen_at_once_in_the_same_request(db, services, user):  # noqa: ANN001
    factor = enrolled.active_factors(db, user)[0]
    assert has_second_factor(db, user)
    enrolled.remove_factor(db, user, factor.id)
    assert not has_second_factor(db, user) and enrolled.active_factors(db, user) == []


def test_a_bulk_delete_and_a_used_code_are_seen_at_once(db, services, user):  # noqa: ANN001
    codes = recovery.generate(db, services, user)
    assert recovery.remaining(db, user) == 10 and has_second_factor(db, user)
    assert recovery.consume(db, services, user, codes[0])
    assert recovery.remaining(db, user) == 9
    db.execute(sa.delete(SecondFactor).where(SecondFactor.user_id == user.id))
    assert not has_second_factor(db, user)


def test_nothing_is_kept_after_the_transaction_ends(db, services, user):  # noqa: ANN001
    assert has_second_factor(db, user)
    db.commit()
    with recorded(db.get_bind()) as seen:
        assert has_second_factor(db, user)
    assert any("second_factor" in s for s in seen)


def test_a_removal_not_yet_flushed_is_seen_too(db, services, user):  # noqa: ANN001
    factor = enrolled.active_factors(db, user)[0]
    assert has_second_factor(db, user)
    db.delete(factor)                       # no flush: the next question must still see it gone
    assert not has_second_factor(db, user)
