"""Every Administration page and form: 403 without its permission (and nothing changes), 400 without the
CSRF token (and nothing changes); sign-in required (the flow runs, then back to the page)."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.models import Client, User, UserPermission
from tests.admin.helpers import add_totp, csrf_token, path_of, post, sign_in
from tests.admin.helpers import snapshot
from tests.support.factory import PASSWORD

UM, SS, AR, CM, SYS = "user_management", "security_settings", "audit_read", "client_management", "system_admin"

PAGES = [
    ("/admin/users", UM), ("/admin/users/new", UM), ("/admin/users/{user}", UM), ("/admin/users/{user}/reset-2fa", UM),
    ("/admin/settings/security", SS), ("/admin/settings/security/rollout", SS),
    ("/admin/clients", CM), ("/admin/clients/new", CM), ("/admin/clients/{client}", CM),
    ("/admin/audit", AR), ("/admin/audit/export?format=csv", AR), ("/admin/audit/export?format=jsonl", AR),
    ("/admin/organisations", SYS),
]

FORMS = [
    ("/admin/users/new", UM, {"email": "new@globex.example.com", "name": "New"}),
    ("/admin/users/{user}/reset-2fa", UM, {"reason": "x", "confirm_reset": "yes"}),
    ("/admin/users/{user}/unlock", UM, {"reason": "x"}),
    ("/admin/users/{user}/disable", UM, {"reason": "x"}),
    ("/admin/users/{disabled}/enable", UM, {"reason": "x"}),
    ("/admin/users/{invited}/invite", UM, {}),
    ("/admin/users/{user}/grace", SS, {"days": "5", "reason": "x"}),
    ("/admin/settings/security", SS, {"require_2fa": "yes", "grace_days": "3", "allowed_methods": "totp"}),
    ("/admin/clients/new", CM, {"name": "New app", "redirect_uris": "https://new.example.com/cb"}),
    ("/admin/clients/{client}", CM, {"name": "Renamed", "redirect_uris": "https://globex.example.com/cb2"}),
    ("/admin/clients/{client}/rotate", CM, {"grace_hours": "1"}),
    ("/admin/clients/{client}/disable", CM, {}),
    ("/admin/clients/{disabled_client}/enable", CM, {}),
    ("/admin/organisations", SYS, {"slug": "newco", "name": "Newco"}),
    ("/admin/organisations/switch", SYS, {"organisation_id": "{acme}"}),
]


@pytest.fixture
def ids(factory, orgs, services, mailbox, frozen_clock):  # noqa: ANN001, ANN201
    """globex with a user to act on (enrolled, locked), a disabled one, an invited one, two clients; and one
    globex admin per permission that holds every permission but that one."""
    from datetime import timedelta

    globex = orgs["globex"]
    enabled = factory.client(org="globex", redirect_uri="https://globex.example.com/cb")
    disabled = factory.client(org="globex", redirect_uri="https://globex.example.com/old")
    factory.user("disabled@globex.example.com", org="globex")
    factory.user("invited@globex.example.com", password=None, org="globex")
    for perm in (UM, SS, AR, CM, "none"):
        factory.user(f"without-{perm}@globex.example.com", org="globex")
    with services.database.session() as db:
        by = {u.email: u for u in db.scalars(sa.select(User))}
        by["disabled@globex.example.com"].is_active = False
        target = by[globex.user]
        add_totp(db, services, target)
        target.otp_locked_until = frozen_clock.current + timedelta(minutes=30)
        for perm in (UM, SS, AR, CM, "none"):
            user = by[f"without-{perm}@globex.example.com"]
            user.permissions = [UserPermission(name=p) for p in (UM, SS, AR, CM) if p != perm and perm != "none"]
            add_totp(db, services, user)
        clients = {c.client_id: c for c in db.scalars(sa.select(Client))}
        clients[disabled.client_id].is_active = False
        return {"user": target.id, "disabled": by["disabled@globex.example.com"].id,
                "invited": by["invited@globex.example.com"].id, "client": clients[enabled.client_id].id,
                "disabled_client": clients[disabled.client_id].id, "acme": orgs["acme"].id}


def without(permission: str) -> str:
    return f"without-{permission}@globex.example.com"


def fill(template: str, ids: dict) -> str:
    return template.format(**ids)


@pytest.mark.parametrize(("path", "permission"), PAGES)
def test_pages_need_their_permission(browser, ids, services, frozen_clock, path, permission):
    who = without(permission if permission != SYS else UM)
    sign_in(browser, who, services=services, frozen=frozen_clock)
    page = browser.open(fill(path, ids))
    assert page.status == 403 and "does not have permission" in page.text


@pytest.mark.parametrize(("path", "permission", "data"), FORMS)
def test_forms_need_their_permission_and_change_nothing(browser, orgs, ids, services, mailbox, frozen_clock,
                                                        path, permission, data):
    who = without(permission if permission != SYS else UM)
    sign_in(browser, who, services=services, frozen=frozen_clock)
    token = csrf_token(browser)
    before = (snapshot(services, orgs["globex"].id), snapshot(services, orgs["acme"].id))
    sent = len(mailbox.outbox)
    response = post(browser, fill(path, ids), {k: fill(v, ids) for k, v in data.items()}, token)
    assert response.status_code == 403
    assert (snapshot(services, orgs["globex"].id), snapshot(services, orgs["acme"].id)) == before
    assert len(mailbox.outbox) == sent


@pytest.mark.parametrize(("path", "permission", "data"), FORMS + [("/admin/reauth", UM, {"next": "/admin/"})])
def test_forms_without_the_csrf_token_are_refused_and_change_nothing(browser, orgs, ids, services, mailbox,
                                                                     frozen_clock, idp_cli, path, permission, data):
    idp_cli("user", "grant", orgs["globex"].admin, "system_admin", "--org", "globex")
    sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock)
    before = (snapshot(services, orgs["globex"].id), snapshot(services, orgs["acme"].id))
    response = post(browser, fill(path, ids), {k: fill(v, ids) for k, v in data.items()})
    assert response.status_code == 400 and "This form has expired" in response.get_data(as_text=True)
    forged = post(browser, fill(path, ids), {k: fill(v, ids) for k, v in data.items()}, token="forged")
    assert forged.status_code == 400
    assert (snapshot(services, orgs["globex"].id), snapshot(services, orgs["acme"].id)) == before


def test_someone_without_any_admin_permission_gets_403_everywhere(browser, ids, orgs, services, frozen_clock):
    sign_in(browser, without("none"), services=services, frozen=frozen_clock, target="/account/security")
    assert "Administration</a>" not in browser.open("/account/security").text       # no link in the menu
    token = csrf_token(browser, "/account/security")
    for path, _ in PAGES + [("/admin/", None)]:
        assert browser.open(fill(path, ids)).status == 403, path
    for path, _, data in FORMS + [("/admin/reauth", None, {"next": "/admin/"})]:
        assert post(browser, fill(path, ids), {k: fill(v, ids) for k, v in data.items()}, token).status_code == 403


def test_the_menu_shows_administration_to_administrators(browser, orgs, services, frozen_clock):
    page = sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock, target="/account/security")
    assert '<a href="/admin/">Administration</a>' in page.text


def test_signed_out_the_sign_in_flow_runs_then_returns_to_the_admin_page(browser, orgs, services, frozen_clock):
    page = browser.open("/admin/settings/security")
    assert 'name="password"' in page.text and path_of(page.url) == "/login"
    frozen_clock.advance(seconds=31)
    page = browser.sign_in(page, orgs["globex"].admin, PASSWORD)
    from tests.admin.helpers import code_for, totp_secret
    done = browser.submit(page, "code", {"code": code_for(totp_secret(services, orgs["globex"].admin))})
    assert path_of(done.url) == "/admin/settings/security" and "Require Two-Factor Authentication" in done.text
    # a posted form while signed out goes to the sign-in, and nothing is saved
    other = type(browser)(client=browser.client.application.test_client())
    token = csrf_token(other, "/login")
    response = post(other, "/admin/settings/security", {"require_2fa": "yes", "grace_days": "0",
                                                         "allowed_methods": "totp", "confirm_zero_grace": "yes"}, token)
    assert response.status_code == 302 and path_of(response.headers["Location"]) == "/login"


@pytest.mark.parametrize("target", ["//evil.example.com/", "/\\evil.example.com", "https://evil.example.com/",
                                    "/\t/evil.example.com"])
def test_next_never_leaves_the_server(browser, orgs, services, frozen_clock, target):
    from urllib.parse import quote
    page = browser.open("/login?next=" + quote(target))
    if "\t" in target:      # a control character in any parameter is refused before any view runs
        assert page.status == 400 and path_of(page.url) == "/login"
        return
    page = browser.sign_in(page, orgs["globex"].user, PASSWORD)
    assert path_of(page.url) == "/account/security"
