"""Administration > Settings > Single Sign-On: the Security Settings permission of the same organisation,
the scenario in the product's words, adding and editing providers (write-only secret, encrypted, every
change audited), config-file providers read-only, "Test connection" against a real provider, and a
provider added here signing people in."""
from __future__ import annotations

import json
from collections.abc import Iterator

import httpx
import pytest
import sqlalchemy as sa

from idp.clock import now
from idp.models import AuditEvent, UpstreamIdentity, UpstreamProvider, User, UserPermission
from tests.admin.helpers import add_totp, sign_in
from tests.support.browser import Browser
from tests.support.forms import forms
from tests.support.mini_op import MiniOp, serve

CALLBACK = "http://localhost/federation/callback"
SECRET = "the-client-secret-of-acme"


@pytest.fixture
def issuer() -> str:
    return "http://localhost"      # the Flask test client's address (no live server in this module)


@pytest.fixture
def op() -> Iterator[MiniOp]:
    with serve(MiniOp(redirect_uri=CALLBACK, client_secret=SECRET, email="pat@acme.example.com")) as running:
        yield running


@pytest.fixture
def config_overrides(op) -> dict:  # noqa: ANN001
    return {"providers": [{"organisation": "acme", "name": "acme-config", "display_name": "Acme (config)",
                           "issuer": op.url, "client_id": op.client_id, "client_secret": SECRET,
                           "second_factor": "stack", "domains": ["config.acme.example.com"]}]}


@pytest.fixture
def people(factory) -> dict[str, str]:
    factory.org("acme", domains=("acme.example.com",))
    factory.org("globex", domains=("globex.example.com",))
    factory.user("admin@acme.example.com", org="acme", admin=True)
    factory.user("admin@globex.example.com", org="globex", admin=True)
    users_only = factory.user("helpdesk@acme.example.com", org="acme")
    with factory.services.database.session() as db:
        db.add(UserPermission(user_id=users_only, name="user_management"))
        for email in ("admin@acme.example.com", "admin@globex.example.com", "helpdesk@acme.example.com"):
            add_totp(db, factory.services, db.scalar(sa.select(User).where(User.email == email)))  # issue 13
    return {"acme": "admin@acme.example.com", "globex": "admin@globex.example.com",
            "helpdesk": "helpdesk@acme.example.com"}


@pytest.fixture
def admin(app, people) -> Browser:  # noqa: ANN001
    browser = Browser(client=app.test_client())
    sign_in(browser, people["acme"], "/admin/settings/sso")
    return browser


FORM = {"name": "acme-okta", "display_name": "Acme (Okta)", "issuer": "", "client_id": "mini-client",
        "client_secret": SECRET, "token_endpoint_auth_method": "client_secret_basic", "scopes": "openid profile email",
        "domains": "acme.example.com", "second_factor": "upstream", "claim_email": "email",
        "claim_email_verified": "email_verified", "claim_name": "name", "claim_groups": "", "enabled": "yes"}


def add(admin: Browser, op: MiniOp, **changes: str):  # noqa: ANN201
    page = admin.open("/admin/settings/sso/new")
    return admin.submit(page, "display_name", {**FORM, "issuer": op.url, **changes})


def press(admin: Browser, action: str):  # noqa: ANN201
    """Press the button whose form posts to `action` on the provider's page."""
    page = admin.open("/admin/settings/sso/acme-okta")
    form = next(f for f in forms(page.text) if f.action == action)
    return admin.open(action, "POST", form.fields)


def row(services, name: str = "acme-okta") -> UpstreamProvider | None:  # noqa: ANN001
    with services.database.session() as db:
        found = db.scalar(sa.select(UpstreamProvider).where(UpstreamProvider.name == name))
        db.expunge_all()
        return found


def events(services, event: str) -> list[dict]:  # noqa: ANN001
    with services.database.session() as db:
        return [dict(e.details) for e in db.scalars(sa.select(AuditEvent).where(AuditEvent.event == event)
                                                    .order_by(AuditEvent.id))]


# --------------------------------------------------------------------------- who may

def test_needs_the_security_settings_permission(app, people):
    helpdesk = Browser(client=app.test_client())
    page = sign_in(helpdesk, people["helpdesk"], "/admin/settings/sso")
    assert page.status == 403
    assert helpdesk.client.post("/admin/settings/sso/new", data=FORM).status_code in (400, 403)


def test_the_list_shows_each_scenario_in_the_specs_words(admin, op):
    add(admin, op)
    page = admin.open("/admin/settings/sso")
    assert page.status == 200
    assert "Acme (config)" in page.text and "Set in the server's config file" in page.text
    assert "SSO + Fentu 2FA" in page.text and "Not recommended — configure MFA at the identity provider" in page.text
    assert "Acme (Okta)" in page.text and "SSO only" in page.text
    assert "Fentu FSM 2FA is bypassed" in page.text and "Local login (no SSO)" in page.text


def test_another_organisations_providers_do_not_exist_for_its_admins(app, admin, op, people, services):
    add(admin, op)
    globex = Browser(client=app.test_client())
    page = sign_in(globex, people["globex"], "/admin/settings/sso")
    assert "Acme" not in page.text.split("<main", 1)[1]
    for path in ("/admin/settings/sso/acme-okta", "/admin/settings/sso/acme-config"):
        assert globex.open(path).status == 404
    token = globex.open("/admin/settings/sso/new").form("display_name").fields["csrf_token"]
    for action in ("", "/delete", "/check"):
        response = globex.client.post(f"/admin/settings/sso/acme-okta{action}",
                                      data={**FORM, "display_name": "Hijacked", "csrf_token": token})
        assert response.status_code == 404
    assert row(services).display_name == "Acme (Okta)"


# --------------------------------------------------------------------------- adding and editing

def test_adding_a_provider_stores_the_secret_encrypted_and_never_shows_it(admin, op, services):
    page = add(admin, op)
    assert page.status == 200 and "Added Acme (Okta)" in page.text and SECRET not in page.text
    saved = row(services)
    assert saved.client_secret_encrypted and SECRET.encode() not in saved.client_secret_encrypted
    assert services.kek.decrypt(saved.client_secret_encrypted).decode() == SECRET
    created = events(services, "sso_provider_created")
    assert created[-1]["provider"] == "acme-okta" and created[-1]["client_secret_set"] is True
    assert SECRET not in json.dumps(created)


def test_editing_keeps_the_secret_unless_a_new_one_is_given_and_audits_each_change(admin, op, services):
    page = add(admin, op)
    before = row(services).client_secret_encrypted
    page = admin.submit(page, "display_name", {**FORM, "issuer": op.url, "client_secret": "",
                                              "display_name": "Acme Okta", "second_factor": "stack"})
    assert "Saved." in page.text
    assert row(services).client_secret_encrypted == before and row(services).second_factor == "stack"
    changed = events(services, "sso_provider_changed")[-1]
    assert changed["changed"] == ["display_name", "second_factor"]
    assert changed["before"]["second_factor"] == "upstream" and changed["after"]["second_factor"] == "stack"
    admin.submit(page, "display_name", {**FORM, "issuer": op.url, "display_name": "Acme Okta",
                                        "second_factor": "stack", "client_secret": "a-new-secret"})
    assert services.kek.decrypt(row(services).client_secret_encrypted) == b"a-new-secret"
    assert events(services, "sso_provider_changed")[-1]["changed"] == ["client_secret"]
    assert "a-new-secret" not in json.dumps(events(services, "sso_provider_changed"))


@pytest.mark.parametrize("changes, message", [
    ({"domains": "globex.example.com"}, "globex.example.com belongs to another organisation"),
    ({"domains": "config.acme.example.com"}, "config.acme.example.com is already routed to provider acme-config"),
    ({"name": "acme-config"}, "&#39;acme-config&#39; is already the name of another provider"),
    ({"multi_tenant": "yes"}, "must list the tenant ids"),
    ({"issuer": "http://okta.example.com"}, "must use https"),
    ({"client_secret": ""}, "is required with client_secret_basic"),
    ({"second_factor": ""}, "choose how two-factor authentication works"),
])
def test_a_bad_form_is_refused_and_nothing_is_saved(admin, op, services, changes, message):
    page = add(admin, op, **changes)
    assert page.status == 400 and "Nothing was saved" in page.text and message in page.text, page.text[:4000]
    assert row(services, changes.get("name", "acme-okta")) is None or changes.get("name") == "acme-config"
    assert events(services, "sso_provider_created") == []


def test_config_file_providers_are_read_only(admin, services):
    page = admin.open("/admin/settings/sso/acme-config")
    assert page.status == 200 and "set in the server's config file" in page.text
    assert 'name="display_name"' not in page.text
    token = page.form("csrf_token").fields["csrf_token"]
    assert admin.client.post("/admin/settings/sso/acme-config", data={**FORM, "csrf_token": token}).status_code == 404
    assert admin.client.post("/admin/settings/sso/acme-config/delete", data={"csrf_token": token}).status_code == 404


def test_deleting_unlinks_the_accounts_but_keeps_them(admin, op, services, factory):
    page = add(admin, op)
    user_id = factory.user("pat@acme.example.com", org="acme")
    with services.database.session() as db:
        db.add(UpstreamIdentity(provider="acme-okta", subject="sub-1", issuer=op.url, user_id=user_id,
                                created_at=now()))
    page = press(admin, "/admin/settings/sso/acme-okta/delete")
    assert "no longer linked" in page.text and row(services) is None
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(UpstreamIdentity.id))) == 0 and db.get(User, user_id) is not None
    assert events(services, "sso_provider_deleted")[-1]["accounts_unlinked"] == 1


# --------------------------------------------------------------------------- test connection, sign-in

def test_test_connection_runs_the_check_and_is_audited(admin, op, services):
    page = add(admin, op)
    page = press(admin, "/admin/settings/sso/acme-okta/check")
    assert "Acme (Okta) is ready for sign-in" in page.text and "credentials accepted" in page.text
    assert events(services, "sso_provider_checked")[-1] == {"provider": "acme-okta", "problems": []}
    op.client_secret = "rotated-at-the-provider"
    page = press(admin, "/admin/settings/sso/acme-okta/check")
    assert "cannot be used for signing in yet" in page.text and "refused the client" in page.text


def test_a_provider_added_here_signs_people_in(app, admin, op, services):
    add(admin, op, sso_only="yes")
    person = Browser(client=app.test_client())
    page = person.open("/login")
    page = person.sign_in(page, "pat@acme.example.com", "")
    assert "Your organisation signs you in through Acme (Okta)" in page.text
    page = person.submit(page, "provider", {})
    assert page.location and page.location.startswith(op.url)             # to the provider, over real HTTP
    answer = httpx.get(page.location, follow_redirects=False).headers["location"]
    page = person.open(answer)
    assert page.status == 200 and "Security" in page.text, page.text[:2000]  # signed in: Profile > Security
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == "pat@acme.example.com"))
        assert user.organisation.slug == "acme"
        assert db.scalar(sa.select(UpstreamIdentity.provider).where(UpstreamIdentity.user_id == user.id)) == "acme-okta"
