"""The audit log: filters, CSV and JSON-lines export (console and CLI), and the hash chain — `verify`
names the first edited or removed entry, a deleted tail is caught through the chain head, and two
writers at once never fork a chain."""
from __future__ import annotations

import csv
import io
import json
import threading
from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp import audit
from idp.audit import Actor, AuditFilter
from idp.models import AuditChainHead, AuditEvent
from tests.admin.helpers import main, sign_in


@pytest.fixture
def log(orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    """acme's chain: 3 days of entries about two users (one day apart), one with a formula-like reason."""
    acme = orgs["acme"]
    start = frozen_clock.current
    with services.database.session() as db:
        for day, (event, who, target, details) in enumerate([
                ("user_disabled", "cli:root", acme.user, {"reason": "left the company"}),
                ("user_enabled", "cli:root", acme.user, {"reason": "=HYPERLINK(\"http://x\")"}),
                ("user_unlocked", f"user:{acme.admin}", acme.admin, {"reason": "typo storm"})]):
            frozen_clock.set(start + timedelta(days=day))
            audit.record(db, event, Actor(who, "203.0.113.7", "agent"), organisation_id=acme.id,
                         target_user_id=acme.user_id if target == acme.user else acme.admin_id, target=target,
                         details=details)
            db.commit()
    frozen_clock.set(start + timedelta(days=3))
    return start


def export(db, org_id, fmt, **filters) -> str:  # noqa: ANN001, ANN003
    return "".join(audit.export_lines(audit.matching(db, org_id, AuditFilter(**filters)), fmt))


def test_export_csv_and_jsonl_hold_every_field_in_chain_order(orgs, log, services):
    with services.database.session() as db:
        rows = list(csv.DictReader(io.StringIO(export(db, orgs["acme"].id, "csv"))))
        lines = [json.loads(line) for line in export(db, orgs["acme"].id, "jsonl").splitlines()]
    assert list(rows[0]) == list(audit.EXPORT_FIELDS)
    assert [r["event"] for r in rows] == [line["event"] for line in lines] == \
        ["user_disabled", "user_enabled", "user_unlocked"]
    assert [int(r["seq"]) for r in rows] == [1, 2, 3]
    first = lines[0]
    assert first["actor"] == "cli:root" and first["ip"] == "203.0.113.7" and first["target"] == orgs["acme"].user
    assert first["details"] == {"reason": "left the company"} and first["prev_digest"] == "0" * 64
    assert lines[1]["prev_digest"] == lines[0]["digest"]
    assert json.loads(rows[0]["details"]) == {"reason": "left the company"}
    # a spreadsheet must not run what someone typed as a reason
    assert rows[1]["details"].startswith("{") and lines[1]["details"]["reason"].startswith("=")
    assert all(not v.startswith(("=", "+", "@")) for r in rows for v in r.values())


def test_export_filters_by_user_event_and_dates(orgs, log, services):
    acme = orgs["acme"]
    with services.database.session() as db:
        def events(**f):  # noqa: ANN003, ANN202
            return [json.loads(x)["event"] for x in export(db, acme.id, "jsonl", **f).splitlines()]
        assert events(user=acme.user) == ["user_disabled", "user_enabled"]
        assert events(user=acme.admin) == ["user_unlocked"]                # actor or target
        assert events(event="user_enabled") == ["user_enabled"]
        day = log.date().isoformat()
        assert events(**_range(since=day, until=day)) == ["user_disabled"]
        assert events(**_range(since=(log + timedelta(days=1)).date().isoformat())) == ["user_enabled", "user_unlocked"]


def _range(since: str | None = None, until: str | None = None) -> dict:
    f = AuditFilter.from_strings(since=since, until=until)
    return {"since": f.since, "until": f.until}


def test_console_filters_and_export_are_audited(browser, orgs, log, services, frozen_clock):
    acme = orgs["acme"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    page = main(browser.open(f"/admin/audit?user={acme.user}"))
    assert "user_disabled" in page and "user_enabled" in page and "typo storm" not in page
    page = main(browser.open("/admin/audit?event=user_unlocked"))
    assert "typo storm" in page and "left the company" not in page
    bad = browser.open("/admin/audit?from=yesterday")
    assert bad.status == 400 and "is not a date" in bad.text
    response = browser.client.get(f"/admin/audit/export?format=jsonl&user={acme.user}")
    assert response.status_code == 200 and response.mimetype == "application/x-ndjson"
    assert "attachment" in response.headers["Content-Disposition"]
    events = [json.loads(line)["event"] for line in response.get_data(as_text=True).splitlines()]
    assert events[:2] == ["user_disabled", "user_enabled"]
    response = browser.client.get("/admin/audit/export?format=csv&event=user_unlocked")
    assert response.mimetype == "text/csv"
    assert [r["event"] for r in csv.DictReader(io.StringIO(response.get_data(as_text=True)))] == ["user_unlocked"]
    exported = [e for e in _all(services, acme.id) if e.event == "audit_exported"]
    assert len(exported) == 2 and exported[0].details["user"] == acme.user and exported[1].details["format"] == "csv"
    assert browser.client.get("/admin/audit/export?format=xml").status_code == 400


def test_cli_export_writes_the_same_rows(idp_cli, orgs, log, tmp_path):
    out = tmp_path / "audit.jsonl"
    result = idp_cli("audit", "export", "--org", "acme", "--format", "jsonl", "--event", "user_disabled",
                     "--since", log.date().isoformat(), "--output", str(out))
    assert result.exit_code == 0, result.output
    lines = [json.loads(x) for x in out.read_text().splitlines()]
    assert [x["event"] for x in lines] == ["user_disabled"]
    csv_out = idp_cli("audit", "export", "--org", "acme", "--user", orgs["acme"].user)
    assert [r["event"] for r in csv.DictReader(io.StringIO(csv_out.output))] == ["user_disabled", "user_enabled"]
    assert idp_cli("audit", "export", "--org", "acme", "--since", "last week").exit_code == 2


def _all(services, org_id):  # noqa: ANN001, ANN202
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.organisation_id == org_id)
                               .order_by(AuditEvent.seq)))
        db.expunge_all()
        return rows


# --- verifying the chain ------------------------------------------------------------------------------------

def test_an_intact_chain_verifies(orgs, log, services, idp_cli):
    with services.database.session() as db:
        result = audit.verify(db, orgs["acme"].id)
    assert result.intact and result.checked == 3
    out = idp_cli("audit", "verify", "--org", "acme")
    assert out.exit_code == 0 and "acme: intact (3 entries)" in out.output
    every = idp_cli("audit", "verify")
    assert every.exit_code == 0 and "globex: intact" in every.output and "(deployment): intact" in every.output


def test_verify_names_an_edited_entry(orgs, log, services, idp_cli):
    with services.database.session() as db:   # someone with database access rewrites history
        db.execute(sa.update(AuditEvent).where(AuditEvent.organisation_id == orgs["acme"].id, AuditEvent.seq == 2)
                   .values(details={"reason": "nothing to see"}))
    with services.database.session() as db:
        result = audit.verify(db, orgs["acme"].id)
    assert not result.intact and result.broken_seq == 2 and "entry #2" in result.problem and "changed" in result.problem
    out = idp_cli("audit", "verify", "--org", "acme")
    assert out.exit_code == 1 and "BROKEN at entry #2" in out.output


def test_verify_names_a_deleted_entry_in_the_middle(orgs, log, services, idp_cli):
    with services.database.session() as db:
        db.execute(sa.delete(AuditEvent).where(AuditEvent.organisation_id == orgs["acme"].id, AuditEvent.seq == 2))
    with services.database.session() as db:
        result = audit.verify(db, orgs["acme"].id)
    assert not result.intact and result.broken_seq == 2 and "entry #2 is missing" in result.problem
    assert idp_cli("audit", "verify", "--org", "acme").exit_code == 1


def test_verify_finds_a_deleted_last_entry_through_the_chain_head(orgs, log, services, idp_cli):
    with services.database.session() as db:
        db.execute(sa.delete(AuditEvent).where(AuditEvent.organisation_id == orgs["acme"].id, AuditEvent.seq == 3))
    with services.database.session() as db:
        assert audit.verify_chain(db, orgs["acme"].id) is None      # the entries alone look fine
        result = audit.verify(db, orgs["acme"].id)
    assert not result.intact and result.broken_seq == 3 and "deleted from the end" in result.problem
    out = idp_cli("audit", "verify", "--org", "acme")
    assert out.exit_code == 1 and "BROKEN at entry #3" in out.output


def test_verify_notices_a_forged_head_or_a_removed_head(orgs, log, services):
    key = f"org:{orgs['acme'].id}"
    with services.database.session() as db:
        db.execute(sa.delete(AuditEvent).where(AuditEvent.organisation_id == orgs["acme"].id, AuditEvent.seq == 3))
        head = db.get(AuditChainHead, key)
        head.seq = 2                                  # the intruder also rewinds the head, but cannot forge #2's digest
    with services.database.session() as db:
        result = audit.verify(db, orgs["acme"].id)
    assert not result.intact and "does not match entry #2" in result.problem
    with services.database.session() as db:
        db.execute(sa.delete(AuditChainHead).where(AuditChainHead.organisation_key == key))
    with services.database.session() as db:
        assert "head is missing" in audit.verify(db, orgs["acme"].id).problem


def test_chains_of_organisations_are_independent(orgs, log, services):
    with services.database.session() as db:
        audit.record(db, "x", Actor("cli:root"), organisation_id=orgs["globex"].id)
    with services.database.session() as db:
        db.execute(sa.update(AuditEvent).where(AuditEvent.organisation_id == orgs["acme"].id, AuditEvent.seq == 1)
                   .values(actor="cli:someone-else"))
    with services.database.session() as db:
        assert not audit.verify(db, orgs["acme"].id).intact
        assert audit.verify(db, orgs["globex"].id).intact


# --- two writers at once -------------------------------------------------------------------------------------

def test_two_writers_at_once_never_fork_the_chain(orgs, services, is_postgres):
    """Two threads, each with its own connection, append to one chain at the same time (on PostgreSQL the
    head row lock serialises them; on SQLite the database lock does)."""
    org_id = orgs["globex"].id
    per_thread = 25
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            barrier.wait()
            session = services.database.sessions()          # one long-lived session, many commits
            try:
                for i in range(per_thread):
                    audit.record(session, "concurrent", Actor(f"cli:{name}"), organisation_id=org_id,
                                 details={"i": i})
                    session.commit()
            finally:
                session.close()
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    _two_writers(writer, errors)
    with services.database.session() as db:
        rows = list(db.scalars(sa.select(AuditEvent).where(AuditEvent.organisation_id == org_id)
                               .order_by(AuditEvent.seq)))
        result = audit.verify(db, org_id)
    concurrent = [r for r in rows if r.event == "concurrent"]
    assert len(concurrent) == 2 * per_thread
    assert [r.seq for r in rows] == list(range(1, len(rows) + 1))
    assert result.intact, result.problem



def _two_writers(writer, errors: list[BaseException]) -> None:  # noqa: ANN001
    """Run writer("a") and writer("b") in two threads at once; neither may have failed."""
    threads = [threading.Thread(target=writer, args=(n,)) for n in ("a", "b")]
    for t in threads:
        t.start()
    for t in threads:
        t.join(60)
    assert not errors, errors


def test_two_writers_start_a_new_chain_at_once(services, frozen_clock):
    """The first entries of an organisation that has no chain yet, from two connections at once: the chain
    head is created once (by whichever writer comes first) and the other writer continues it."""
    from idp.models import Organisation

    with services.database.session() as db:
        org = Organisation(slug="initech", name="Initech", created_at=frozen_clock.current)
        db.add(org)
        db.flush()
        org_id = org.id
    barrier = threading.Barrier(2)
    errors: list[BaseException] = []

    def writer(name: str) -> None:
        try:
            barrier.wait()
            for i in range(5):
                with services.database.session() as db:
                    audit.record(db, "concurrent", Actor(f"cli:{name}"), organisation_id=org_id, details={"i": i})
        except BaseException as exc:  # noqa: BLE001
            errors.append(exc)

    _two_writers(writer, errors)
    with services.database.session() as db:
        result = audit.verify(db, org_id)
        head = db.get(AuditChainHead, f"org:{org_id}")
    assert result.intact and result.checked == 10, result.problem
    assert head.seq == 10

WRITER = """
import sys
from idp import audit
from idp.audit import Actor
from idp.services import build_services
from tests.support.configs import make_config

url, org_id, name, count = sys.argv[1], int(sys.argv[2]), sys.argv[3], int(sys.argv[4])
services = build_services(make_config(url))
for i in range(count):
    with services.database.session() as db:
        audit.record(db, "concurrent", Actor(f"cli:{name}"), organisation_id=org_id, details={"i": i})
services.database.dispose()
"""


@pytest.mark.postgres_only
def test_two_processes_at_once_never_fork_the_chain(orgs, services, is_postgres, database_url):
    if not is_postgres:
        pytest.skip("several processes share one database only on PostgreSQL here")
    import subprocess
    import sys

    from tests.support.configs import ROOT

    org_id = orgs["globex"].id
    procs = [subprocess.Popen([sys.executable, "-c", WRITER, database_url, str(org_id), name, "20"], cwd=ROOT,
                              stdout=subprocess.PIPE, stderr=subprocess.STDOUT) for name in ("p1", "p2", "p3")]
    for proc in procs:
        output, _ = proc.communicate(timeout=120)
        assert proc.returncode == 0, output.decode()
    with services.database.session() as db:
        result = audit.verify(db, org_id)
        count = db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.organisation_id == org_id,
                                                                          AuditEvent.event == "concurrent"))
    assert count == 60 and result.intact, result.problem
