"""Two organisations side by side: an administrator of one sees and changes nothing of the other — every
page, every form post with a guessed id, the audit log and its export, and every CLI command with --org.
Another organisation's things do not exist (404), they are never "forbidden" (which would confirm them)."""
from __future__ import annotations

import csv
import io
import json

import pytest
import sqlalchemy as sa

from idp.models import AuditEvent, Client, Organisation, User
from tests.admin.helpers import add_totp, csrf_token, main, post, sign_in, snapshot


@pytest.fixture
def world(factory, orgs, services, frozen_clock):  # noqa: ANN001, ANN201
    """Both organisations with a client, a locked user with an authenticator app, and audit entries."""
    from datetime import timedelta

    clients = {slug: factory.client(org=slug, redirect_uri=f"https://{slug}.example.com/cb",
                                    logout_uris=(f"https://{slug}.example.com/",)) for slug in orgs}
    factory.user("ops@globex.example.com", org="globex", groups=("ops",), name="Globex Ops")
    with services.database.session() as db:
        for org in orgs.values():
            user = db.get(User, org.user_id)
            add_totp(db, services, user)
            user.otp_locked_until = frozen_clock.current + timedelta(minutes=30)
            from idp import audit
            audit.record(db, "marker", audit.Actor(f"user:{org.user}"), organisation_id=org.id,
                         target_user_id=org.user_id, target=org.user, details={"org": org.slug})
        pks = {slug: db.scalar(sa.select(Client.id).where(Client.client_id == c.client_id))
               for slug, c in clients.items()}
    return {"clients": clients, "client_pks": pks}


def test_acme_admin_sees_nothing_of_globex_in_the_console(browser, orgs, world, services, frozen_clock):
    acme, globex = orgs["acme"], orgs["globex"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    everything = "".join(main(browser.open(path)) for path in (
        "/admin/", "/admin/users", "/admin/users?q=globex", "/admin/users?q=ops", "/admin/settings/security",
        "/admin/settings/security/rollout?list=enrolled", "/admin/settings/security/rollout?list=not_enrolled",
        "/admin/settings/security/rollout?list=exempt", "/admin/settings/security/rollout?list=locked",
        "/admin/clients", "/admin/audit", "/admin/audit?event=marker"))
    leaks = [globex.user, globex.admin, "ops@globex", "Globex User", "Globex Ops", "Globex Admin",
             world["clients"]["globex"].client_id, "&#34;org&#34;: &#34;globex&#34;", '"org": "globex"']
    assert [leak for leak in leaks if leak in everything] == []
    assert acme.user in everything and world["clients"]["acme"].client_id in everything
    assert "0 users matching" in browser.open("/admin/users?q=globex").text
    by_user = main(browser.open(f"/admin/audit?user={globex.user}"))
    assert "0 entries" in by_user and "marker" not in by_user.split("</form>", 1)[1].split("Export", 1)[0] + \
        by_user.split("entries.", 1)[1]


@pytest.mark.parametrize("path", [
    "/admin/users/{user}", "/admin/users/{user}/reset-2fa", "/admin/clients/{client}",
])
def test_pages_of_another_organisation_are_not_found(browser, orgs, world, services, frozen_clock, path):
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    url = path.format(user=orgs["globex"].user_id, client=world["client_pks"]["globex"])
    page = browser.open(url)
    assert page.status == 404 and orgs["globex"].user not in page.text and "Globex" not in page.text
    assert browser.open(path.format(user=999999, client=999999)).status == 404   # same answer as a missing one


POSTS = [
    ("/admin/users/{user}/reset-2fa", {"reason": "x", "confirm_reset": "yes"}),
    ("/admin/users/{user}/unlock", {"reason": "x"}),
    ("/admin/users/{user}/disable", {"reason": "x"}),
    ("/admin/users/{user}/enable", {"reason": "x"}),
    ("/admin/users/{user}/invite", {}),
    ("/admin/users/{user}/grace", {"days": "5", "reason": "x"}),
    ("/admin/clients/{client}", {"name": "hijacked", "redirect_uris": "https://evil.example.com/cb"}),
    ("/admin/clients/{client}/rotate", {"grace_hours": "0"}),
    ("/admin/clients/{client}/disable", {}),
    ("/admin/clients/{client}/enable", {}),
]


@pytest.mark.parametrize(("path", "data"), POSTS)
def test_form_posts_with_a_guessed_id_of_another_organisation_change_nothing(
        browser, orgs, world, services, mailbox, frozen_clock, path, data):
    globex = orgs["globex"]
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    token = csrf_token(browser)
    before = snapshot(services, globex.id)
    response = post(browser, path.format(user=globex.user_id, client=world["client_pks"]["globex"]), data, token)
    assert response.status_code == 404, response.get_data(as_text=True)[:500]
    assert snapshot(services, globex.id) == before
    assert not mailbox.to(globex.user)


def test_settings_of_one_organisation_never_touch_the_other(browser, orgs, world, services, frozen_clock):
    acme, globex = orgs["acme"], orgs["globex"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    before = snapshot(services, globex.id)
    from tests.admin.helpers import submit_settings
    page = browser.open("/admin/settings/security")
    refused = submit_settings(browser, page, exempt_users=globex.user)
    assert refused.status == 400 and f"no user {globex.user} in this organisation" in refused.text
    saved = submit_settings(browser, browser.open("/admin/settings/security"), grace_days="3",
                            exempt_groups="ops", allowed_methods=["totp"])
    assert "Security settings saved." in saved.text
    assert snapshot(services, globex.id) == before
    with services.database.session() as db:
        assert db.get(Organisation, acme.id).exempt_groups == ["ops"]
        assert db.get(Organisation, globex.id).exempt_groups == []


def test_the_audit_export_holds_only_the_own_organisation(browser, orgs, world, services, frozen_clock):
    acme, globex = orgs["acme"], orgs["globex"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    for fmt in ("csv", "jsonl"):
        for query in ("", f"&user={globex.user}", "&event=marker"):
            body = browser.client.get(f"/admin/audit/export?format={fmt}{query}").get_data(as_text=True)
            lines = body.splitlines()[1 if fmt == "csv" else 0:]
            assert all('"event":"audit_exported"' in line or ",audit_exported," in line
                                 for line in lines if "globex" in line.lower()), body
            if query:
                assert not [line for line in lines if "marker" in line and "globex" in line]
    rows = list(csv.DictReader(io.StringIO(browser.client.get("/admin/audit/export?format=csv&event=marker")
                                           .get_data(as_text=True))))
    assert [r["target"] for r in rows] == [acme.user]


def test_organisations_are_only_for_the_deployment_operator(browser, orgs, world, services, frozen_clock):
    acme, globex = orgs["acme"], orgs["globex"]
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    token = csrf_token(browser)
    assert browser.open("/admin/organisations").status == 403
    assert post(browser, "/admin/organisations/switch", {"organisation_id": str(globex.id)}, token).status_code == 403
    assert post(browser, "/admin/organisations", {"slug": "evil", "name": "Evil"}, token).status_code == 403
    assert "globex" not in main(browser.open("/admin/users")).lower()
    with services.database.session() as db:
        assert db.scalar(sa.select(Organisation).where(Organisation.slug == "evil")) is None


def test_the_deployment_operator_manages_every_organisation(browser, orgs, world, services, frozen_clock, idp_cli):
    acme, globex = orgs["acme"], orgs["globex"]
    assert idp_cli("user", "grant", acme.admin, "system_admin", "--org", "acme").exit_code == 0
    sign_in(browser, acme.admin, services=services, frozen=frozen_clock)
    page = browser.open("/admin/organisations")
    assert page.status == 200 and "Globex" in page.text
    switched = browser.submit(page, "organisation_id", {"organisation_id": str(globex.id)})
    assert "You are now administering Globex" in switched.text
    assert globex.user in main(browser.open("/admin/users"))
    assert browser.open(f"/admin/users/{globex.user_id}").status == 200
    created = browser.submit(browser.open("/admin/organisations"), "slug",
                             {"slug": "initech", "name": "Initech", "domains": "initech.example.com"})
    assert "Created organisation Initech" in created.text
    with services.database.session() as db:
        org = db.scalar(sa.select(Organisation).where(Organisation.slug == "initech"))
        assert [d.domain for d in org.domains] == ["initech.example.com"]
        entry = db.scalar(sa.select(AuditEvent).where(AuditEvent.organisation_id == org.id))
        assert entry.event == "organisation_created" and entry.actor == f"user:{acme.admin}"


# --- the command line with --org ------------------------------------------------------------------------------

CLI = [
    ("user", "reset-2fa", "{email}", "--reason", "x"),
    ("user", "unlock", "{email}"),
    ("user", "disable", "{email}", "--reason", "x"),
    ("user", "enable", "{email}"),
    ("user", "grant", "{email}", "audit_read"),
    ("user", "revoke", "{email}", "audit_read"),
    ("group", "add", "{email}", "finance"),
    ("group", "remove", "{email}", "ops"),
]


@pytest.mark.parametrize("command", CLI)
def test_cli_with_org_does_not_reach_another_organisations_user(idp_cli, orgs, world, services, mailbox, command):
    globex = orgs["globex"]
    before = snapshot(services, globex.id)
    for email in (globex.user, "ops@globex.example.com"):
        result = idp_cli(*[a.format(email=email) for a in command], "--org", "acme")
        assert result.exit_code == 2 and f"There is no user {email} in this organisation" in result.output
    assert snapshot(services, globex.id) == before and not mailbox.outbox


def test_cli_settings_and_audit_stay_in_their_organisation(idp_cli, orgs, world, services):
    globex = orgs["globex"]
    before = snapshot(services, globex.id)
    shown = json.loads(idp_cli("settings", "show", "--org", "acme", "--json").output)
    assert shown["organisation"] == "acme" and shown["require_2fa"] is True and shown["grace_days"] == 7
    refused = idp_cli("settings", "set", f"exempt_users={globex.user}", "--org", "acme")
    assert refused.exit_code == 2 and f"no user {globex.user} in this organisation" in refused.output
    assert idp_cli("settings", "set", "grace_days=10", "--org", "acme").exit_code == 0
    for args in (("--user", globex.user), ("--event", "marker"), ()):
        for fmt in ("csv", "jsonl"):
            out = idp_cli("audit", "export", "--org", "acme", "--format", fmt, *args)
            leaked = [line for line in out.output.splitlines()
                      if "globex" in line.lower() and "audit_exported" not in line]
            assert out.exit_code == 0 and leaked == []
    assert snapshot(services, globex.id)["settings"] == before["settings"]
    assert snapshot(services, globex.id)["users"] == before["users"]


def test_cli_needs_org_when_there_are_several(idp_cli, orgs, world):
    for args in (("settings", "show"), ("user", "unlock", orgs["acme"].user), ("audit", "export"),
                 ("group", "add", orgs["acme"].user, "x")):
        result = idp_cli(*args)
        assert result.exit_code == 2 and "--org" in result.output
