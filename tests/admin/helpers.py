"""Helpers for the Administration tests: a captured mailbox, authenticator apps, signing in through the
real flow, raw form posts, snapshots of what an administrator could change, the audit log."""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from urllib.parse import urlsplit

import pyotp
import sqlalchemy as sa

from idp import clock
from idp.factors import enrolled, recovery, totp
from idp.models import AuditEvent, Client, Organisation, SecondFactor, User
from tests.support.browser import Browser, Page
from tests.support.factory import PASSWORD


# --- mail ---------------------------------------------------------------------------------------------

@dataclass
class Mail:
    to: str
    subject: str
    body: str


@dataclass
class FakeMailer:
    """Stands in for the SMTP mailer: `enabled`, and every message kept in `outbox`."""

    enabled: bool = True
    outbox: list[Mail] = field(default_factory=list)

    def send(self, to: str, subject: str, body: str) -> None:
        self.outbox.append(Mail(to, subject, body))

    def to(self, address: str) -> list[Mail]:
        return [m for m in self.outbox if m.to == address]


# --- two organisations ----------------------------------------------------------------------------------

@dataclass
class Org:
    slug: str
    id: int
    admin: str        # every admin permission (and an authenticator app)
    user: str         # a plain user
    admin_id: int
    user_id: int


# --- authenticator apps ---------------------------------------------------------------------------------

def add_totp(db, services, user: User) -> str:  # noqa: ANN001
    """A confirmed authenticator app (and ten recovery codes) for `user`; returns the secret."""
    factor = totp.start_enrolment(db, services, user)
    enrolled.activate(db, user, factor)
    recovery.generate(db, services, user)
    db.flush()
    return totp.factor_secret(services, factor)


def totp_secret(services, email: str) -> str:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        factor = db.scalar(sa.select(SecondFactor).where(SecondFactor.user_id == user.id,
                                                         SecondFactor.kind == "totp",
                                                         SecondFactor.confirmed_at.is_not(None)))
        return totp.factor_secret(services, factor)


def has_totp(services, email: str) -> bool:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(SecondFactor.id)).join(User, User.id == SecondFactor.user_id).where(
            User.email == email, SecondFactor.kind == "totp", SecondFactor.confirmed_at.is_not(None))) > 0


def code_for(secret: str, when: datetime | None = None) -> str:
    return pyotp.TOTP(secret.replace(" ", "")).at(when or clock.now())


# --- signing in through the real flow ---------------------------------------------------------------------

def sign_in(browser: Browser, email: str, target: str = "/admin/", services=None,  # noqa: ANN001
            password: str = PASSWORD, frozen=None) -> Page:  # noqa: ANN001
    """Open `target` signed out: the flow runs (password, then the authenticator app when the user has one,
    the grace notice when shown), and the browser comes back to `target`. Administrators need a second
    factor used in the session (issue 13): give them one (add_totp) and this signs in with it."""
    if services is None and browser.client is not None:    # the app's own (tests share them)
        services = browser.client.application.extensions["idp"]
    page = browser.open(target)
    page = browser.sign_in(page, email, password)
    for _ in range(4):
        if 'name="code"' in page.text and 'id="totp-secret"' not in page.text and has_totp(services, email):
            if frozen is not None:
                frozen.advance(seconds=31)
            page = browser.submit(page, "code", {"code": code_for(totp_secret(services, email))})
        elif 'name="action" value="continue"' in page.text:
            page = browser.submit(page, "step", {}, button=("action", "continue"))
        else:
            break
    return page


def enrol_totp(browser: Browser, page: Page) -> tuple[Page, str]:
    """Complete the forced enrolment shown on `page` with an authenticator app; returns the next page."""
    if 'value="totp"' in page.text and 'name="method"' in page.text:
        page = browser.submit(page, "stage", {}, button=("method", "totp"))
    match = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', page.text)
    assert match, page.text[:3000]
    secret = match.group(1).replace(" ", "")
    page = browser.submit(page, "code", {"code": code_for(secret)})
    assert 'name="saved"' in page.text, page.text[:3000]
    page = browser.submit(page, "stage", {}, button=("saved", "yes"))
    return page, secret


def csrf_token(browser: Browser, path: str = "/admin/") -> str:
    page = browser.open(path)
    match = re.search(r'name="csrf_token" value="([^"]+)"', page.text)
    assert match, page.text[:2000]
    return match.group(1)


def post(browser: Browser, path: str, data: dict, token: str | None = None):  # noqa: ANN201
    """A raw form post (no redirects followed) with this browser's cookies."""
    payload = dict(data)
    if token is not None:
        payload["csrf_token"] = token
    return browser.client.post(path, data=payload, follow_redirects=False)


def path_of(url: str | None) -> str:
    return urlsplit(url or "").path


def main(page: Page) -> str:
    """The page's <main> only (the header names the signed-in user)."""
    return page.text.split("<main", 1)[-1].split("</main>", 1)[0]


def checked(html: str, name: str) -> list[str]:
    """The values of the ticked checkboxes called `name` (the form reader skips checkboxes)."""
    values = []
    for tag in re.findall(r"<input[^>]*>", html):
        if 'type="checkbox"' in tag and f'name="{name}"' in tag and re.search(r"\schecked\b", tag):
            values.append(re.search(r'value="([^"]*)"', tag).group(1))
    return values


def submit_settings(browser: Browser, page: Page, **values):  # noqa: ANN003, ANN201
    """Post the Security form of `page` as shown (ticked boxes included), with `values` changed."""
    form = {"allowed_methods": checked(page.text, "allowed_methods"),
            "require_2fa": "yes" if checked(page.text, "require_2fa") else "", **values}
    return browser.submit(page, "grace_days", form)


# --- what an administrator could change, and the audit log ----------------------------------------------------

def snapshot(services, org_id: int) -> dict:  # noqa: ANN001
    """Everything of one organisation an administrator could change."""
    with services.database.session() as db:
        org = db.get(Organisation, org_id)
        users = {u.email: (u.is_active, u.exempt_from_2fa, u.grace_extended_until, u.otp_locked_until,
                           sorted(u.group_names), sorted(u.permission_names), u.password_hash)
                 for u in db.scalars(sa.select(User).where(User.organisation_id == org_id))}
        factors = db.scalar(sa.select(sa.func.count(SecondFactor.id)).join(User, User.id == SecondFactor.user_id)
                            .where(User.organisation_id == org_id))
        clients = [(c.name, c.redirect_uris, c.secret_digest, c.is_active)
                   for c in db.scalars(sa.select(Client).where(Client.organisation_id == org_id))]
        audit_count = db.scalar(sa.select(sa.func.count(AuditEvent.id)).where(AuditEvent.organisation_id == org_id))
        return {"settings": (org.require_2fa, org.grace_days, org.enforced_since, org.allowed_methods,
                             org.exempt_groups), "users": users, "factors": factors, "clients": clients,
                "audit": audit_count}


def audit_events(services, org_id: int | None = None, event: str | None = None) -> list[AuditEvent]:  # noqa: ANN001
    with services.database.session() as db:
        query = sa.select(AuditEvent).order_by(AuditEvent.organisation_id, AuditEvent.seq)
        if org_id is not None:
            query = query.where(AuditEvent.organisation_id == org_id)
        if event is not None:
            query = query.where(AuditEvent.event == event)
        rows = list(db.scalars(query))
        db.expunge_all()
        return rows


@dataclass
class CliResult:
    exit_code: int
    output: str
