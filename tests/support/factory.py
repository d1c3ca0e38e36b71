"""Creating organisations, users and clients for a test, committed, through the real domain code."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa

from idp import accounts
from idp.clients import register_client
from idp.clock import now
from idp.models import Organisation, OrganisationDomain, User, UserGroup
from idp.services import Services

PASSWORD = "correct horse battery staple"


@dataclass
class RegisteredClient:
    client_id: str
    secret: str | None
    redirect_uri: str


class Factory:
    def __init__(self, services: Services) -> None:
        self.services = services

    def org(self, slug: str, name: str | None = None, domains: tuple[str, ...] = (), **settings) -> int:
        with self.services.database.session() as db:
            org = Organisation(slug=slug, name=name or slug.title(), created_at=now(), allowed_methods=[],
                               exempt_groups=[], domains=[OrganisationDomain(domain=d) for d in domains], **settings)
            db.add(org)
            db.flush()
            return org.id

    def user(self, email: str = "alice@example.com", password: str | None = PASSWORD, *, org: str = "default",
             name: str = "", admin: bool = False, groups: tuple[str, ...] = ()) -> int:
        with self.services.database.session() as db:
            organisation = accounts.organisation_by_slug(db, org)
            user = accounts.create_user(db, self.services.passwords, email, organisation=organisation, name=name,
                                        password=password, admin=admin)
            user.groups = [UserGroup(name=g) for g in groups]
            return user.id

    def client(self, redirect_uri: str = "http://127.0.0.1:9000/callback", *, public: bool = False,
               require_pkce: bool = True, consent: bool = False, refresh_tokens: bool = False,
               logout_uris: tuple[str, ...] = ("http://127.0.0.1:9000/",), org: str | None = None) -> RegisteredClient:
        """A deployment-wide client by default (like Fentu FSM); `org` makes it that organisation's own."""
        with self.services.database.session() as db:
            organisation = accounts.organisation_by_slug(db, org) if org else None
            client, secret = register_client(db, name="Test app", redirect_uris=[redirect_uri],
                                             logout_uris=list(logout_uris), public=public, require_pkce=require_pkce,
                                             require_consent=consent, refresh_tokens=refresh_tokens,
                                             organisation_id=organisation.id if organisation else None)
            return RegisteredClient(client.client_id, secret, redirect_uri)

    def get_user(self, email: str) -> User:
        with self.services.database.session() as db:
            user = db.scalar(sa.select(User).where(User.email == email))
            db.expunge_all()
            return user
