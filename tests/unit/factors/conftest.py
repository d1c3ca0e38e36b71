"""Fixtures for the second-factor domain tests: a database session (committed at the end) and a user."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from sqlalchemy.orm import Session

from idp.models import User


@pytest.fixture
def db(services) -> Iterator[Session]:  # noqa: ANN001
    with services.database.session() as session:
        yield session


@pytest.fixture
def user(factory, db) -> User:  # noqa: ANN001
    return db.get(User, factory.user("alice@example.com", name="Alice"))


class Recorder:
    """An SMS sender that keeps what it was asked to send (or fails, when `fail` is set)."""

    enabled = True

    def __init__(self) -> None:
        self.sent: list[tuple[str, str]] = []
        self.fail = False

    def send(self, to: str, message: str) -> None:
        from idp.delivery import DeliveryError
        if self.fail:
            raise DeliveryError("the test gateway is down")
        self.sent.append((to, message))


@pytest.fixture
def texts(services) -> Recorder:  # noqa: ANN001
    """Replace the SMS sender of `services` with a Recorder."""
    services.sms = Recorder()
    return services.sms
