"""Administration > Clients > (a client) > Back-channel logout: register, check and remove the address."""
from __future__ import annotations

import pytest
import sqlalchemy as sa

from idp.models import AuditEvent, Client
from tests.admin.conftest import orgs  # noqa: F401  (fixture: acme and globex with their administrators)
from tests.admin.helpers import sign_in

ACTION = "backchannel_logout_uri"


@pytest.fixture
def acme_admin(browser, orgs, services, frozen_clock):  # noqa: ANN001, ANN201, F811
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    return browser


def _client(services, client_id: str) -> Client:  # noqa: ANN001
    with services.database.session() as db:
        row = db.scalar(sa.select(Client).where(Client.client_id == client_id))
        db.expunge_all()
        return row


def test_set_check_and_remove_the_back_channel_logout_uri(acme_admin, factory, orgs, services):  # noqa: F811
    rp = factory.client(org="acme", redirect_uri="https://app.example.com/cb", logout_uris=())
    pk = _client(services, rp.client_id).id
    page = acme_admin.open(f"/admin/clients/{pk}")
    assert "Back-channel logout" in page.text
    bad = acme_admin.submit(page, ACTION, {ACTION: "http://app.example.com/logout"})
    assert bad.status == 400 and "plain http" in bad.text and 'id="backchannel-error"' in bad.text
    bad = acme_admin.submit(page, ACTION, {ACTION: "https://app.example.com/logout#x"})
    assert bad.status == 400 and "fragment" in bad.text
    assert _client(services, rp.client_id).backchannel_logout_uri is None           # nothing changed
    saved = acme_admin.submit(page, ACTION, {ACTION: "https://app.example.com/logout",
                                             "backchannel_logout_session_required": "yes"})
    assert "Saved." in saved.text
    row = _client(services, rp.client_id)
    assert (row.backchannel_logout_uri, row.backchannel_logout_session_required) == \
        ("https://app.example.com/logout", True)
    with services.database.session() as db:
        entry = db.scalars(sa.select(AuditEvent).where(AuditEvent.event == "client_updated")
                           .order_by(AuditEvent.id.desc())).first()
        assert entry.details["new"]["backchannel_logout_uri"] == "https://app.example.com/logout"
    removed = acme_admin.submit(acme_admin.open(f"/admin/clients/{pk}"), ACTION, {ACTION: ""})
    assert "Saved." in removed.text and _client(services, rp.client_id).backchannel_logout_uri is None


def test_another_organisations_client_cannot_be_changed(acme_admin, factory, orgs, services):  # noqa: F811
    rp = factory.client(org="globex", redirect_uri="https://app.example.com/cb", logout_uris=())
    pk = _client(services, rp.client_id).id
    page = acme_admin.open("/admin/clients")
    token = page.form("csrf_token").fields["csrf_token"] if 'name="csrf_token"' in page.text else ""
    reply = acme_admin.open(f"/admin/clients/{pk}/backchannel", "POST",
                            {"csrf_token": token, ACTION: "https://evil.example.com/"})
    assert reply.status == 404
    assert _client(services, rp.client_id).backchannel_logout_uri is None
