"""What a page says about where you are: the organisation's branding (name, logo, accent colour) and, on
sign-in pages, the application you are signing in to and the account you are signing in as.

Views may call `sign_in_context(tx, user)` / `page_branding(tx, user)` themselves; templates get both as
Jinja globals (base.html and login_base.html call them with the `tx` and `user` the view rendered with)."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from flask import Flask, url_for
from flask_login import current_user

from idp import clients
from idp.models import Client, LoginTransaction, Organisation, User
from idp.web.context import db

PRODUCT = "Fentu FSM"


@dataclass(frozen=True)
class PageBranding:
    """How the page presents itself: `name` in the header, an optional logo, an optional theme stylesheet."""

    name: str = PRODUCT
    logo_url: str | None = None
    theme_url: str | None = None
    organisation: str | None = None   # the organisation's slug when the branding is theirs


@dataclass(frozen=True)
class SignInContext:
    """"user@example.com · to continue to Fentu FSM" on sign-in pages."""

    application: str | None = None    # the client's name; None when signing in to the IdP's own pages
    account: str | None = None        # the email once the flow knows who is signing in


def _client(tx: LoginTransaction | None) -> Client | None:
    if not isinstance(tx, LoginTransaction) or not tx.client_id:
        return None
    return clients.by_client_id(db(), tx.client_id)


def sign_in_context(tx: Any = None, user: Any = None) -> SignInContext:
    client = _client(tx)
    application = client.name if client is not None and tx.purpose == "authorize" else None
    account = user.email if isinstance(user, User) else None
    return SignInContext(application=application, account=account)


def _organisation_id(tx: Any, user: Any) -> int | None:
    """Whose branding: the user the sign-in identified, else the organisation the client is bound to, else
    the signed-in person's (account pages). Never an organisation guessed from unproven input."""
    if isinstance(user, User):
        return user.organisation_id
    client = _client(tx)
    if client is not None and client.organisation_id is not None:
        return client.organisation_id
    if isinstance(tx, LoginTransaction):
        return None            # a sign-in that has not identified anyone yet: the neutral look
    if current_user and current_user.is_authenticated:
        return current_user.organisation_id
    return None


def branding_of(organisation_id: int | None) -> PageBranding:
    if organisation_id is None:
        return PageBranding()
    org = db().get(Organisation, organisation_id)
    row = org.branding if org is not None else None     # loaded with the account at sign-in
    if row is None or org is None:
        return PageBranding()
    logo = (url_for("site.logo", slug=org.slug, v=row.logo_digest[:16]) if row.logo_digest else None)
    theme = (url_for("site.theme", slug=org.slug, v=row.accent_colour.lstrip("#")) if row.accent_colour else None)
    return PageBranding(name=row.display_name or PRODUCT, logo_url=logo, theme_url=theme, organisation=org.slug)


def page_branding(tx: Any = None, user: Any = None) -> PageBranding:
    return branding_of(_organisation_id(tx, user))


def init_app(app: Flask) -> None:
    app.add_template_global(sign_in_context, "sign_in_context")
    app.add_template_global(page_branding, "page_branding")
