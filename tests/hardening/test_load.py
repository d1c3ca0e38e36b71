"""A bounded load test: 200 concurrent sign-ins with an authenticator app against `idp serve --workers 2`
on 127.0.0.1 (each person from an address of their own through a trusted proxy, default rate limits).
Zero errors, and zero duplicate code acceptance: every person's code is submitted twice at the same moment,
from two sign-ins on different servers/workers, and exactly one gets in.

Marked `load`; part of the normal run (it ends by itself within a few tens of seconds on a quiet 2-core
machine); `-m "not load"` leaves it out. The same driver: bench/fleet.py.
"""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from bench.fleet import Person, Rp, drive
from idp.models import AuditEvent
from tests.support.configs import write_config_file
from tests.support.factors import enrol_totp
from tests.support.factory import PASSWORD
from tests.support.servers import free_port

from .helpers import LoggedIdpProcess

pytestmark = [pytest.mark.load, pytest.mark.timeout(300)]
PEOPLE = 200


def test_200_concurrent_sign_ins_with_totp(tmp_path, database_url, services, factory):
    rp = factory.client(redirect_uri="http://127.0.0.1:9/callback")
    people = []
    for i in range(PEOPLE):
        email = f"load{i}@example.com"
        factory.user(email)
        people.append(Person(email, PASSWORD, enrol_totp(services, email)))
    port = free_port()
    config_file = write_config_file(tmp_path / "config.toml", database_url, f"http://127.0.0.1:{port}",
                                    server={"trusted_proxies": 1})
    with LoggedIdpProcess(config_file, port, workers=2) as server:
        report = drive([server.url], Rp(rp.client_id, rp.secret, rp.redirect_uri), people, timeout=90)
    summary = report.summary()
    print(f"\nload: {summary}")
    assert report.errors == [] and report.duplicates == 0, summary
    assert report.sign_ins == PEOPLE and report.replays_refused == PEOPLE
    with services.database.session() as db:
        signed = db.scalar(sa.select(sa.func.count()).where(AuditEvent.event == "sign_in", AuditEvent.outcome == "success"))
    assert signed == PEOPLE
