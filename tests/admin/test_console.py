"""The console as an administrator sees it over HTTP: the Users list by 2FA state (filters, counts, sorting,
pages, a constant number of queries per page), the audit log in sentences with its verification, and the
"Remember this browser" setting on the Security page and in `idp settings`."""
from __future__ import annotations

import re
from datetime import timedelta

import pytest
import sqlalchemy as sa

from idp.models import AuditEvent, Organisation, User
from tests.support.statements import recorded
from tests.admin.helpers import (
    add_totp,
    audit_events,
    csrf_token,
    main,
    post,
    sign_in,
    snapshot,
)


@pytest.fixture
def acme_admin(browser, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    return browser


@pytest.fixture
def people(factory, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    """acme requires 2FA with 7 days of grace since now: one of each state."""
    factory.user("enrolled@acme.example.com", org="acme", name="Erin Enrolled")
    factory.user("grace@acme.example.com", org="acme", name="Gina Grace")
    factory.user("overdue@acme.example.com", org="acme", name="Otto Overdue")
    factory.user("exempt@acme.example.com", org="acme", name="Ezra Exempt", groups=("contractors",))
    factory.user("locked@acme.example.com", org="acme", name="Lola Locked")
    with services.database.session() as db:
        by = {u.email: u for u in db.scalars(sa.select(User))}
        add_totp(db, services, by["enrolled@acme.example.com"])
        add_totp(db, services, by["locked@acme.example.com"])
        by["locked@acme.example.com"].otp_locked_until = frozen_clock.current + timedelta(hours=1)
        org = db.get(Organisation, orgs["acme"].id)
        org.exempt_groups = ["contractors"]
        # overdue: created long before enforcement started, and enforcement began 30 days ago with 7 days' grace
        org.enforced_since = frozen_clock.current - timedelta(days=30)
        for email in by:
            if email != "grace@acme.example.com" and email.endswith("acme.example.com"):
                by[email].created_at = frozen_clock.current - timedelta(days=60)
    return by


def _emails(html: str) -> list[str]:
    return re.findall(r'<th scope="row"><a href="/admin/users/\d+">([^<]+)</a>', html)


@pytest.mark.parametrize("state, expected", [
    ("enrolled", ["admin@acme.example.com", "enrolled@acme.example.com", "locked@acme.example.com"]),
    ("grace", ["grace@acme.example.com"]),
    ("overdue", ["overdue@acme.example.com", "user@acme.example.com"]),
    ("exempt", ["exempt@acme.example.com"]),
    ("locked", ["locked@acme.example.com"]),
])
def test_filter_the_users_by_their_two_factor_state(acme_admin, people, state, expected):
    html = main(acme_admin.open(f"/admin/users?state={state}"))
    assert _emails(html) == expected


def test_the_rollout_numbers_and_each_rows_state_come_with_the_list(acme_admin, people):
    html = main(acme_admin.open("/admin/users"))
    numbers = dict(re.findall(r'data-state="(\w+)"[^>]*><strong>(\d+)</strong>', html))
    assert numbers == {"enrolled": "3", "grace": "1", "overdue": "2", "exempt": "1", "locked": "1"}
    row = html.split("grace@acme.example.com", 1)[1].split("</tr>", 1)[0]
    assert '<span class="pill grace">In grace</span>' in row
    row = html.split("overdue@acme.example.com", 1)[1].split("</tr>", 1)[0]
    assert '<span class="pill overdue">Overdue</span>' in row


def test_an_extension_gives_grace_and_a_reset_takes_it_away(acme_admin, people, services, frozen_clock):
    """The SQL of the list follows idp.enforcement: a personal extension reopens the grace period; an
    administrator's 2FA reset while enforced ends it at once, even for someone who joined yesterday."""
    from idp.enforcement import enforcement_status
    with services.database.session() as db:
        overdue = db.get(User, people["overdue@acme.example.com"].id)
        overdue.grace_extended_until = frozen_clock.current + timedelta(days=2)
        joined = db.get(User, people["grace@acme.example.com"].id)
        joined.created_at = frozen_clock.current - timedelta(days=1)
        joined.second_factor_reset_at = frozen_clock.current - timedelta(minutes=5)
        assert enforcement_status(db, overdue, frozen_clock.current).state.value == "grace"
        assert enforcement_status(db, joined, frozen_clock.current).state.value == "required"
    assert _emails(main(acme_admin.open("/admin/users?state=grace"))) == ["overdue@acme.example.com"]
    assert "grace@acme.example.com" in _emails(main(acme_admin.open("/admin/users?state=overdue")))


def test_the_user_page_says_the_same_state_as_the_list(acme_admin, people):
    for email, label in (("overdue@acme.example.com", "Overdue"), ("grace@acme.example.com", "In grace"),
                         ("locked@acme.example.com", "Locked"), ("exempt@acme.example.com", "Exempt"),
                         ("enrolled@acme.example.com", "Enrolled")):
        html = main(acme_admin.open(f"/admin/users/{people[email].id}"))
        state = re.search(r'<dd id="two-factor-state">(.*?)</dd>', html, re.DOTALL).group(1)
        assert f">{label}</span>" in state, (email, state)


def test_sort_and_pages_keep_the_search_and_filter(acme_admin, factory, orgs):
    for i in range(30):
        factory.user(f"worker{i:02d}@acme.example.com", org="acme", name=f"Worker {i:02d}")
    html = main(acme_admin.open("/admin/users?q=worker&sort=name&dir=desc"))
    assert _emails(html)[:2] == ["worker29@acme.example.com", "worker28@acme.example.com"]
    assert "30 users matching" in html
    next_link = re.search(r'<a class="button" href="([^"]+)" rel="next">', html).group(1).replace("&amp;", "&")
    assert "q=worker" in next_link and "sort=name" in next_link and "dir=desc" in next_link
    second = main(acme_admin.open(next_link))
    assert _emails(second) == ["worker04@acme.example.com", "worker03@acme.example.com",
                               "worker02@acme.example.com", "worker01@acme.example.com",
                               "worker00@acme.example.com"]
    bad = acme_admin.open("/admin/users?state=nonsense&sort=password_hash&page=abc")
    assert bad.status == 200 and "32 users" in main(bad)      # unknown values: the default view, no error


def test_a_page_of_users_costs_the_same_queries_for_5_or_60_users(acme_admin, factory, services):
    """No query per row: the state of each user comes from the page's own query."""
    engine = services.database.engine

    def queries(path: str) -> int:
        with recorded(engine) as seen:
            assert acme_admin.open(path).status == 200
        return len(seen)

    few = queries("/admin/users")
    for i in range(60):
        factory.user(f"bulk{i:02d}@acme.example.com", org="acme")
    assert queries("/admin/users") == few


# --- the audit log ---------------------------------------------------------------------------------------

def test_the_audit_log_reads_as_sentences_with_the_reason(acme_admin, orgs, services):
    token = csrf_token(acme_admin)
    with services.database.session() as db:
        db.get(User, orgs["acme"].user_id).name = "Bob Builder"
    assert post(acme_admin, f"/admin/users/{orgs['acme'].user_id}/disable",
                {"reason": "lost phone (ticket #42)"}, token).status_code == 302
    html = main(acme_admin.open("/admin/audit"))
    assert "Acme Admin disabled Bob Builder&#39;s account — reason: lost phone (ticket #42)" in html
    assert "&#34;reason&#34;" not in html and '{"' not in html           # no raw JSON anywhere
    assert "Acme Admin signed in" in html


def test_every_event_kind_has_its_own_sentence():
    """Each event the code records (grep audit.record) reads as a sentence of its own, not the fallback."""
    from pathlib import Path

    from idp.administration.audit_text import SENTENCES
    root = Path(__file__).resolve().parents[2] / "idp"
    source = "\n".join(p.read_text() for p in root.rglob("*.py"))
    recorded = set(re.findall(r'audit\.record\(\s*\w+(?:\(\))?,\s*"([a-z_]+)"', source))
    recorded |= set(re.findall(r'record_change\("([a-z_]+)"', source))
    recorded |= set(re.findall(r'_record\("([a-z_]+)"', source))
    recorded |= set(re.findall(r'event="([a-z_]+)"', source))
    recorded |= {"user_enabled", "user_disabled", "client_enabled", "client_disabled"}
    assert len(recorded) > 40
    assert sorted(recorded - set(SENTENCES)) == []


def test_verifying_the_chain_on_the_audit_page(acme_admin, orgs, services):
    intact = main(acme_admin.open("/admin/audit?verify=1"))
    assert 'id="chain-state"' in intact and "Intact" in intact and "nothing was changed or removed" in intact
    with services.database.session() as db:
        first = db.scalar(sa.select(AuditEvent).where(AuditEvent.organisation_id == orgs["acme"].id)
                          .order_by(AuditEvent.seq))
        first.details = {**(first.details or {}), "edited": True}
    broken = main(acme_admin.open("/admin/audit?verify=1"))
    state = re.search(r'id="chain-state".*?</p>', broken, re.S).group(0)
    assert "Broken" in state and f"Entry #{first.seq} (sign_in, " in state and "was changed after it was written" in state


def test_audit_filters_by_event_person_and_dates(acme_admin, orgs, frozen_clock):
    today = frozen_clock.current.date().isoformat()
    html = main(acme_admin.open(f"/admin/audit?event=sign_in&user={orgs['acme'].admin}&from={today}&to={today}"))
    assert "Acme Admin signed in" in html and "1 entry." in html
    bad = acme_admin.open("/admin/audit?from=yesterday")
    assert bad.status == 400


# --- Remember this browser --------------------------------------------------------------------------------

def test_remember_this_browser_on_the_security_page(acme_admin, orgs, services):
    page = acme_admin.open("/admin/settings/security")
    assert 'name="remember_browser_days"' in page.text and "never the password" in page.text
    form = {"require_2fa": "yes", "grace_days": "7", "allowed_methods": ["totp", "email", "sms", "webauthn"],
            "remember_browser_days": "30"}
    saved = acme_admin.submit(page, "grace_days", form)
    assert "Security settings saved." in saved.text
    with services.database.session() as db:
        assert db.get(Organisation, orgs["acme"].id).remember_browser_days == 30
    entry = audit_events(services, orgs["acme"].id, "security_settings_changed")[-1]
    assert entry.details["changed"] == ["remember_browser_days"]
    before = snapshot(services, orgs["acme"].id)
    refused = acme_admin.submit(acme_admin.open("/admin/settings/security"), "grace_days",
                                {**form, "remember_browser_days": "400"})
    assert refused.status == 400
    assert '<p class="field-error" id="remember-error">Remember this browser: between 0 (off) and 90 days' in refused.text
    assert snapshot(services, orgs["acme"].id) == before
    with services.database.session() as db:
        assert db.get(Organisation, orgs["acme"].id).remember_browser_days == 30


def test_a_form_without_the_field_keeps_remember_this_browser(acme_admin, orgs, services):
    with services.database.session() as db:
        db.get(Organisation, orgs["acme"].id).remember_browser_days = 14
    token = csrf_token(acme_admin)
    post(acme_admin, "/admin/settings/security", {"require_2fa": "yes", "grace_days": "3",
                                                  "allowed_methods": "totp"}, token)
    with services.database.session() as db:
        org = db.get(Organisation, orgs["acme"].id)
        assert org.grace_days == 3 and org.remember_browser_days == 14


def test_idp_settings_set_and_show_remember_browser_days(idp_cli, orgs, services):
    assert "remember_browser_days: 0 (off" in idp_cli("settings", "show", "--org", "acme").output
    result = idp_cli("settings", "set", "remember_browser_days=30", "--org", "acme")
    assert result.exit_code == 0 and "Saved remember_browser_days for acme." in result.output
    assert "remember_browser_days: 30 (a browser may skip the second factor for 30 days)" in \
        idp_cli("settings", "show", "--org", "acme").output
    assert '"remember_browser_days": 30' in idp_cli("settings", "show", "--org", "acme", "--json").output
    refused = idp_cli("settings", "set", "remember_browser_days=-1", "--org", "acme")
    assert refused.exit_code == 2 and "between 0 (off) and 90 days" in refused.output
