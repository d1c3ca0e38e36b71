""""Forgot password?" gives nothing away by its timing and never waits for the mail server: the request does the
same database work for an account and for an unknown address (one queued job), the link is mailed after the
response (idp.outbox), and a mail server that takes 2 s to answer does not slow the page."""
from __future__ import annotations

import threading
import time

import pytest
import sqlalchemy as sa

from idp.models import AccountToken, OutboxJob
from tests.support.statements import recorded
from tests.support.browser import Browser
from tests.support.slow_smtp import slow_smtp  # noqa: F401  (fixture: 2 s to accept a message)
from tests.support.smtp import email_config, smtp  # noqa: F401  (fixture: a real SMTP server)

EMAIL = "alice@example.com"
UNKNOWN = "nobody@example.com"


@pytest.fixture
def live_app(app):  # noqa: ANN001, ANN201
    """The app as a server runs it: jobs leave from the worker's drainer thread, not in the request."""
    app.testing = False
    yield app
    app.extensions["idp.outbox"].stop()


def ask(browser: Browser, email: str):  # noqa: ANN201
    page = browser.open("/forgot-password")
    return browser.submit(page, "email", {"email": email})


def statements_of_request(services, browser: Browser, email: str) -> list[str]:  # noqa: ANN001
    """The SQL the request itself runs (this thread only: the drainer's delivery comes after, elsewhere)."""
    page = browser.open("/forgot-password")
    with recorded(services.database.engine, this_thread_only=True) as seen:
        done = browser.submit(page, "email", {"email": email})
    assert done.status == 200 and "Check your email" in done.text
    return seen


def jobs(services, status: str | None = None) -> int:  # noqa: ANN001
    with services.database.session() as db:
        query = sa.select(sa.func.count(OutboxJob.id))
        return db.scalar(query.where(OutboxJob.status == status) if status else query)


def wait_until_sent(services, total: int, timeout: float = 10.0) -> None:  # noqa: ANN001
    deadline = time.monotonic() + timeout
    while jobs(services, "done") < total:
        assert time.monotonic() < deadline, "the queued jobs were not delivered"
        time.sleep(0.05)


class TestEqualWork:
    @pytest.fixture
    def config_overrides(self, smtp):  # noqa: ANN001, ANN201, F811
        return {"email": email_config(smtp)}

    def test_known_and_unknown_addresses_run_the_same_statements(self, live_app, factory, services, smtp):  # noqa: ANN001, F811
        factory.user(EMAIL, name="Alice")
        browser = Browser(client=live_app.test_client())
        ask(browser, "warm-up@example.com")
        unknown = statements_of_request(services, browser, UNKNOWN)
        known = statements_of_request(services, browser, EMAIL)
        assert known == unknown
        assert sum(s.lstrip().upper().startswith("INSERT INTO OUTBOX_JOB") for s in known) == 1
        assert not any("account_token" in s for s in known), "the link is made after the response, by the job"
        # after the response: the link reaches the account, nothing goes to the unknown address
        assert "/reset-password/" in smtp.wait_for(EMAIL, "Reset your").get_body(("plain",)).get_content()
        wait_until_sent(services, 4)        # 3 "reset requested" jobs + 1 mail
        assert smtp.to(UNKNOWN) == [] and len(smtp.messages) == 1

    def test_the_queued_request_holds_no_plain_address_or_link(self, live_app, factory, services, smtp):  # noqa: ANN001, F811
        factory.user(EMAIL, name="Alice")
        ask(Browser(client=live_app.test_client()), EMAIL)
        link = smtp.wait_for(EMAIL, "Reset your").get_body(("plain",)).get_content()
        token = link.split("/reset-password/")[1].split()[0]
        with services.database.session() as db:
            stored = b"".join(db.scalars(sa.select(OutboxJob.payload)))
            assert db.scalar(sa.select(sa.func.count(AccountToken.id))) == 1
        assert EMAIL.encode() not in stored and token.encode() not in stored


class TestSlowMailServer:
    @pytest.fixture
    def config_overrides(self, slow_smtp):  # noqa: ANN001, ANN201, F811
        return {"email": {**email_config(slow_smtp), "timeout_seconds": 10.0}}

    def test_a_slow_mail_server_does_not_slow_the_page(self, live_app, factory, services, slow_smtp):  # noqa: ANN001, F811
        factory.user(EMAIL, name="Alice")
        browser = Browser(client=live_app.test_client())
        page = browser.open("/forgot-password")
        began = time.monotonic()
        done = browser.submit(page, "email", {"email": EMAIL})
        took = time.monotonic() - began
        assert "Check your email" in done.text
        assert took < 0.5, f"the page waited for the mail server ({took:.2f} s)"
        assert slow_smtp.to(EMAIL) == []                      # not yet: it is on its way
        mail = slow_smtp.wait_for(EMAIL, "Reset your", timeout=10)
        assert "/reset-password/" in mail.get_body(("plain",)).get_content()
