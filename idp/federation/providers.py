"""Upstream providers: those of the config file (`[[providers]]`, read-only) and those an organisation's
administrators add (table upstream_provider, client secret encrypted), as one `Provider` shape.

One set of rules (`field_problems`) checks both: the config loader refuses a bad file, the admin page
refuses a bad form, each with the key and the reason."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Session, joinedload

from idp.fast_lookup import Lookup
from idp.identifiers import ascii_domain
from idp.models import Organisation, UpstreamProvider
from idp.provider_rules import AUTH_METHODS, DOMAIN, LOOPBACK, NAME, SCENARIOS, SLUG, config_problems, field_problems  # noqa: F401 (re-exported: the rules live beside the config)

from .errors import UnknownProvider

if TYPE_CHECKING:
    from idp.config import AppConfig, ProviderConfig
    from idp.security.encryption import KeyEncryption

CONFIG = "config"
ADMIN = "admin"


@dataclass(frozen=True)
class ClaimMapping:
    """Which ID token claims hold the email address, whether it is verified, the name and the groups."""

    email: str = "email"
    email_verified: str = "email_verified"
    name: str = "name"
    groups: str = ""


@dataclass(frozen=True)
class Provider:
    """An upstream OpenID provider as a sign-in uses it, wherever it was defined (`source`)."""

    name: str
    display_name: str
    organisation: str
    issuer: str
    client_id: str
    token_endpoint_auth_method: str = "client_secret_basic"
    scopes: tuple[str, ...] = ("openid", "profile", "email")
    domains: tuple[str, ...] = ()
    claims: ClaimMapping = field(default_factory=ClaimMapping)
    link_existing_by_email: bool = False
    second_factor: str = "upstream-or-local"
    mfa_acr_values: tuple[str, ...] = ()
    sso_only: bool = False
    multi_tenant: bool = False
    allowed_tenants: tuple[str, ...] = ()
    timeout_seconds: float = 10.0
    enabled: bool = True
    source: str = CONFIG
    id: int | None = None
    private_key_file: str = ""
    client_secret_plain: str = field(default="", repr=False)
    client_secret_encrypted: bytes | None = field(default=None, repr=False)

    @property
    def has_secret(self) -> bool:
        return bool(self.client_secret_plain or self.client_secret_encrypted)

    def client_secret(self, kek: "KeyEncryption") -> str:
        """The client secret in clear, for the token request only."""
        if self.client_secret_encrypted:
            return kek.decrypt(self.client_secret_encrypted).decode()
        return self.client_secret_plain

    @property
    def discovery_url(self) -> str:
        return self.issuer.rstrip("/") + "/.well-known/openid-configuration"


# --- loading ---------------------------------------------------------------------------------------

def from_config(item: "ProviderConfig") -> Provider:
    return Provider(
        name=item.name, display_name=item.display_name, organisation=item.organisation, issuer=item.issuer,
        client_id=item.client_id, token_endpoint_auth_method=item.token_endpoint_auth_method,
        scopes=tuple(item.scopes), domains=tuple(d.lower() for d in item.domains),
        claims=ClaimMapping(**vars(item.claims)), link_existing_by_email=item.link_existing_by_email,
        second_factor=item.second_factor, mfa_acr_values=tuple(item.mfa_acr_values), sso_only=item.sso_only,
        multi_tenant=item.multi_tenant, allowed_tenants=tuple(item.allowed_tenants),
        timeout_seconds=float(item.timeout_seconds), source=CONFIG, private_key_file=item.private_key_file,
        client_secret_plain=item.client_secret)


def from_row(row: UpstreamProvider) -> Provider:
    return _from_columns(row, row.organisation.slug)


def _from_columns(row: UpstreamProvider | tuple, organisation: str) -> Provider:
    """A provider from a row's columns (the ORM's instance or `_MANAGED`'s named tuple) and its organisation."""
    return Provider(
        name=row.name, display_name=row.display_name, organisation=organisation, issuer=row.issuer,
        client_id=row.client_id, token_endpoint_auth_method=row.token_endpoint_auth_method,
        scopes=tuple(row.scopes or ()), domains=tuple(row.domains or ()),
        claims=ClaimMapping(**{k: v for k, v in (row.claims or {}).items() if k in ClaimMapping.__dataclass_fields__}),
        link_existing_by_email=row.link_existing_by_email, second_factor=row.second_factor,
        mfa_acr_values=tuple(row.mfa_acr_values or ()), sso_only=row.sso_only, multi_tenant=row.multi_tenant,
        allowed_tenants=tuple(row.allowed_tenants or ()), enabled=row.enabled, source=ADMIN, id=row.id,
        client_secret_encrypted=row.client_secret_encrypted)


def configured(config: "AppConfig") -> list[Provider]:
    return [from_config(item) for item in config.providers]


# Every administrator-added provider with its organisation's slug: one precompiled query (idp.fast_lookup) per
# sign-in page that offers providers, however many organisations have one (most often none at all).
_MANAGED = Lookup(sa.select(*UpstreamProvider.__table__.columns, Organisation.slug.label("organisation_slug"))
                  .join(Organisation, Organisation.id == UpstreamProvider.organisation_id)
                  .order_by(UpstreamProvider.name))


def managed(db: Session) -> list[Provider]:
    """Every administrator-added provider, by name, in `db`'s transaction."""
    return [_from_columns(row, row.organisation_slug) for row in _MANAGED.all_in(db)]


def all_providers(db: Session, config: "AppConfig", *, enabled_only: bool = False) -> list[Provider]:
    """Config-file providers first, then administrators' ones; a name in the config file wins."""
    from_file = configured(config)
    taken = {p.name for p in from_file}
    every = from_file + [p for p in managed(db) if p.name not in taken]
    return [p for p in every if p.enabled] if enabled_only else every


def find(db: Session, config: "AppConfig", name: str | None) -> Provider | None:
    """The enabled provider called `name`, or None."""
    if not name:
        return None
    for item in config.providers:
        if item.name == name:
            return from_config(item)
    row = db.scalar(sa.select(UpstreamProvider).options(joinedload(UpstreamProvider.organisation))
                    .where(UpstreamProvider.name == name))
    return from_row(row) if row is not None and row.enabled else None


def get(db: Session, config: "AppConfig", name: str | None) -> Provider:
    """The enabled provider called `name`; UnknownProvider otherwise (callers fail closed)."""
    provider = find(db, config, name)
    if provider is None:
        raise UnknownProvider(f"no upstream provider named {name!r} is configured")
    return provider


def email_domain(email: str) -> str:
    """The domain as configured domains are written (lower-case, IDNA A-labels)."""
    return ascii_domain(email)


def for_email(db: Session, config: "AppConfig", email: str) -> Provider | None:
    """Home-realm discovery: the enabled provider whose domains include the email's domain — never one of
    another organisation than the existing account's (an account stays with its own organisation)."""
    domain = email_domain(email)
    if not domain or "@" not in email:
        return None
    from idp.accounts import find_by_email

    existing = find_by_email(db, email)
    for provider in all_providers(db, config, enabled_only=True):
        if domain in provider.domains and (existing is None or existing.organisation.slug == provider.organisation):
            return provider
    return None


def domain_owners(db: Session, config: "AppConfig", domains: Iterable[str]) -> dict[str, str]:
    """For each of `domains` routed to a provider already: domain -> provider name."""
    wanted = set(domains)
    owners: dict[str, str] = {}
    for provider in all_providers(db, config):
        for domain in provider.domains:
            if domain in wanted:
                owners.setdefault(domain, provider.name)
    return owners


def scenario_for(provider_name: str, db: Session | None = None,
                 config: "AppConfig | None" = None) -> tuple[str, str]:
    """(scenario, words) of a provider: see idp.federation.scenarios.scenario_for (here for `idp policy explain`)."""
    from .scenarios import scenario_for as words_for

    return words_for(provider_name, db, config)
