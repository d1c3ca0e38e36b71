"""Issue 13: a wrong password for a real account and any password for an unknown one cost the same database
work (statement for statement) and about the same time, so sign-in timing does not tell whether an account
exists. Same status, same message, same page length were already proven (security_review F-05)."""
from __future__ import annotations

import statistics
import time
import uuid

import httpx
import pytest
import sqlalchemy as sa

from idp.models import User
from idp.security.passwords import Passwords
from tests.support.statements import recorded
from tests.support.browser import Browser
from tests.support.configs import write_config_file
from tests.support.factory import PASSWORD
from tests.support.servers import free_port

from .helpers import LoggedIdpProcess, running

EMAIL = "alice@example.com"
SERVER_ARGON2 = {"argon2_memory_kib": 19456, "argon2_time_cost": 2}


@pytest.fixture
def config_overrides() -> dict:
    return {"rate_limit": {"enabled": False}}


def statements_of_a_wrong_sign_in(app, services, email: str) -> list[str]:  # noqa: ANN001
    """The SQL statements (parameters aside) that one POST of the password form runs."""
    browser = Browser(client=app.test_client())
    page = browser.open("/login/restart")
    with recorded(services.database.engine) as seen:
        answer = browser.sign_in(page, email, "not-the-password")
    assert "not correct" in answer.text
    return seen


def test_known_and_unknown_accounts_run_the_same_statements(app, services, factory):
    factory.user(EMAIL)
    statements_of_a_wrong_sign_in(app, services, "warm@example.com")   # first audit entry of the day etc.
    for _ in range(3):           # first failures, and again once the counters exist
        known = statements_of_a_wrong_sign_in(app, services, EMAIL)
        unknown = statements_of_a_wrong_sign_in(app, services, "nobody@example.com")
        assert len(known) == len(unknown), "\n".join(
            ["known:", *known, "", "unknown:", *unknown])
        assert known == unknown


# --- against `idp serve`: about the same time (median of alternating tries; generous bound) ---------------

def _wrong_sign_in_seconds(http: httpx.Client, email: str) -> float:
    browser = Browser(http=http, base=str(http.base_url).rstrip("/"))
    page = browser.open("/login/restart")
    started = time.perf_counter()
    answer = browser.sign_in(page, email, "not-the-password")
    elapsed = time.perf_counter() - started
    assert "not correct" in answer.text
    return elapsed


def test_known_and_unknown_accounts_take_about_the_same_time(tmp_path, database_url, factory, services):
    factory.user(EMAIL)
    with services.database.session() as db:      # hashed with the server's (production) cost, like its dummy
        user = db.scalar(sa.select(User).where(User.email == EMAIL))
        user.password_hash = Passwords(*SERVER_ARGON2.values(), 1).hash(PASSWORD)
    port = free_port()
    config_file = write_config_file(tmp_path / f"config-{uuid.uuid4().hex[:6]}.toml", database_url,
                                    f"http://127.0.0.1:{port}", rate_limit={"enabled": False},
                                    lockout={"password_free_failures": 100},   # no waits in between
                                    passwords=SERVER_ARGON2)
    with running(LoggedIdpProcess(config_file, port)), \
            httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=30) as http:
        for email in (EMAIL, "nobody@example.com"):       # warm up both paths (and create the counters)
            _wrong_sign_in_seconds(http, email)
        known, unknown = [], []
        for i in range(21):
            pair = [(known, EMAIL), (unknown, f"nobody{i}@example.com")]
            for times, email in (pair if i % 2 else pair[::-1]):
                times.append(_wrong_sign_in_seconds(http, email))
    difference = abs(statistics.median(known) - statistics.median(unknown))
    # a skipped (dummy) password hash would cost most of the median; a few ms of noise are allowed
    assert difference < max(0.03, 0.35 * statistics.median(unknown)), (known, unknown)
