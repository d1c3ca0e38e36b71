"""Email addresses as identifiers (one normal form: NFKC, case-folded, IDNA domain; no mixed-script
look-alikes) through the CLI, Administration > Users and the sign-in; and an invitation to an address
that has an account in another organisation, answered exactly like one to a new address."""
from __future__ import annotations

import sqlalchemy as sa

from idp.models import AuditEvent, Invitation, User
from tests.admin.helpers import sign_in
from tests.hardening.helpers import start
from tests.support.factory import PASSWORD

FULL_WIDTH_J = "\uff4a"          # ｊ FULLWIDTH LATIN SMALL LETTER J
CYRILLIC_A = "\u0430"            # а CYRILLIC SMALL LETTER A


def user_count(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(User.id)))


def emails(services) -> set[str]:  # noqa: ANN001
    with services.database.session() as db:
        return set(db.scalars(sa.select(User.email)))


# --- the CLI ---------------------------------------------------------------------------------------

def test_cli_refuses_a_full_width_look_alike_of_an_existing_address(idp_cli, orgs, services):
    assert idp_cli("user", "create", "judy@acme.example.com", "--org", "acme").exit_code == 0
    before = user_count(services)
    twin = idp_cli("user", "create", f"{FULL_WIDTH_J}udy@ACME.example.com", "--org", "acme")
    assert twin.exit_code == 2 and "judy@acme.example.com already has an account" in twin.output, twin.output
    assert user_count(services) == before


def test_cli_refuses_a_mixed_script_local_part_and_stores_the_normal_form(idp_cli, orgs, services):
    before = user_count(services)
    mixed = idp_cli("user", "create", f"j{CYRILLIC_A}ne@acme.example.com", "--org", "acme")
    assert mixed.exit_code == 2 and "mixes Cyrillic and Latin letters" in mixed.output, mixed.output
    assert user_count(services) == before
    created = idp_cli("user", "create", "Ren\u00e9e@B\u00fccher.example", "--org", "acme")
    assert created.exit_code == 0, created.output
    assert "ren\u00e9e@b\u00fccher.example" in emails(services)


# --- Administration > Users --------------------------------------------------------------------------

def test_admin_cannot_create_a_look_alike_of_an_address_in_the_organisation(browser, orgs, services, mailbox,
                                                                            frozen_clock):
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    page = browser.open("/admin/users/new")
    twin = browser.submit(page, "email", {"email": "\uff35SER@acme.example.com"})     # Ｕ: user@acme...
    assert twin.status == 400 and "already has an account in this organisation" in twin.text, twin.text[:2000]
    mixed = browser.submit(page, "email", {"email": f"p{CYRILLIC_A}t@acme.example.com"})
    assert mixed.status == 400 and "mixes Cyrillic and Latin letters" in mixed.text
    assert not mailbox.outbox and len(emails(services)) == 4


# --- the sign-in -------------------------------------------------------------------------------------

def test_sign_in_finds_the_account_whatever_the_width_or_case_typed(browser, factory):
    factory.user("judy@example.com")
    rp = factory.client()
    done, _ = start(browser, rp, f"{FULL_WIDTH_J.upper()}UDY@EXAMPLE.COM", PASSWORD)
    assert done.location and done.location.startswith(rp.redirect_uri), (done.status, done.text[:2000])


# --- invitations: no enumeration across organisations -------------------------------------------------

def test_inviting_an_address_of_another_organisation_answers_as_for_a_new_one(browser, orgs, services, mailbox,
                                                                             frozen_clock):
    sign_in(browser, orgs["acme"].admin, services=services, frozen=frozen_clock)
    taken = "someone@elsewhere.example.org"
    with services.database.session() as db:
        owner_id = db.scalar(sa.select(User.id).where(User.email == orgs["globex"].user))
        db.get(User, owner_id).email = taken
    fresh = "newcomer@elsewhere.example.org"

    def invite(address: str):  # noqa: ANN202
        page = browser.open("/admin/users/new")
        answer = browser.client.post("/admin/users/new", data={**page.form("email").fields, "email": address,
                                                              "name": "Someone"})
        return answer, browser.open(answer.headers["Location"]).text

    before = user_count(services)
    answers, shown = zip(invite(fresh), invite(taken.upper()), strict=True)
    assert [a.status_code for a in answers] == [302, 302]
    assert [a.headers["Location"].replace("newcomer", "X").replace("someone", "X") for a in answers] == \
        ["/admin/users?q=X@elsewhere.example.org"] * 2
    assert all("An invitation to choose a password was emailed to" in s for s in shown)
    assert "cannot be used" not in shown[1] and "globex" not in shown[1].lower()
    assert user_count(services) == before + 1                            # only the fresh address got one
    with services.database.session() as db:
        invited = db.scalars(sa.select(Invitation.user_id)).all()
        assert owner_id not in invited and db.get(User, owner_id).organisation_id == orgs["globex"].id
        blocked = db.scalars(sa.select(AuditEvent).where(AuditEvent.event == "invitation_blocked")).all()
        assert [(e.organisation_id, e.target_user_id) for e in blocked] == [(orgs["globex"].id, owner_id)]
    [told] = mailbox.to(taken)
    assert "Someone tried to invite this address" in told.body and "Acme" in told.body
    assert "/invitation/" not in told.body                               # nothing usable in it
    assert "/invitation/" in mailbox.to(fresh)[0].body
