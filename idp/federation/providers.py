"""Upstream providers: those of the config file (`[[providers]]`, read-only) and those an organisation's
administrators add (table upstream_provider, client secret encrypted), as one `Provider` shape.

One set of rules (`field_problems`) checks both: the config loader refuses a bad file, the admin page
refuses a bad form, each with the key and the reason."""
from __future__ import annotations

import re
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp.identifiers import ascii_domain
from idp.models import UpstreamProvider

from .errors import UnknownProvider

if TYPE_CHECKING:
    from idp.config import AppConfig, ProviderConfig
    from idp.security.encryption import KeyEncryption

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SCENARIOS = ("upstream", "stack", "upstream-or-local")
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


# --- the rules ---------------------------------------------------------------------------------------

def _url_problem(url: str) -> str | None:
    parts = urlsplit(url)
    if parts.scheme not in ("https", "http") or not parts.hostname:
        return "must be an absolute https URL"
    if parts.scheme == "http" and parts.hostname not in LOOPBACK:
        return "must use https (plain http is only accepted for a provider on this machine)"
    if parts.query or parts.fragment:
        return "must not have a query or fragment"
    return None


def field_problems(values: dict[str, Any]) -> list[tuple[str, str]]:
    """(key, reason) for each rule `values` (the keys of a provider) breaks; empty when all is well."""
    problems: list[tuple[str, str]] = []

    def need(key: str, ok: bool, reason: str) -> None:
        if not ok:
            problems.append((key, reason))

    need("name", bool(NAME.match(values.get("name") or "")),
         "use lower-case letters, digits and '-' (at most 63), e.g. \"contoso-entra\"")
    need("display_name", 0 < len((values.get("display_name") or "").strip()) <= 100,
         "write the name people see on the button, e.g. \"Contoso (Entra ID)\" (at most 100 characters)")
    need("organisation", bool(SLUG.match(values.get("organisation") or "")), "must be an organisation's slug")
    issuer_problem = _url_problem(values.get("issuer") or "")
    need("issuer", issuer_problem is None, issuer_problem or "")
    need("client_id", bool((values.get("client_id") or "").strip()),
         "is required (from the provider's app registration)")
    method = values.get("token_endpoint_auth_method")
    need("token_endpoint_auth_method", method in AUTH_METHODS, f"must be one of {', '.join(AUTH_METHODS)}")
    if method in ("client_secret_basic", "client_secret_post"):
        need("client_secret", bool(values.get("has_secret") or values.get("client_secret")),
             f"is required with {method}")
    if method == "private_key_jwt":
        need("private_key_file", bool(values.get("private_key_file")),
             "is required with private_key_jwt (a PEM or JWK file with the private key)")
    scopes = list(values.get("scopes") or [])
    need("scopes", "openid" in scopes, 'must include "openid"')
    domains = list(values.get("domains") or [])
    bad = [d for d in domains if not DOMAIN.match(d)]
    need("domains", not bad, f"{bad[0]!r} is not a lower-case domain name" if bad else "")
    need("domains", len(set(domains)) == len(domains), "lists a domain twice")
    need("second_factor", values.get("second_factor") in SCENARIOS, f"must be one of {', '.join(SCENARIOS)}")
    claims = values.get("claims") or {}
    need("claims.email", bool(claims.get("email")), "must name the claim holding the email address")
    if values.get("multi_tenant"):
        tenants = list(values.get("allowed_tenants") or [])
        need("allowed_tenants", bool(tenants) and all(isinstance(t, str) and t.strip() for t in tenants),
             "must list the tenant ids (`tid`) allowed to sign in: a multi-tenant provider would otherwise "
             "let anyone with an account at that provider into this organisation")
    timeout = values.get("timeout_seconds", 10.0)
    need("timeout_seconds", isinstance(timeout, (int, float)) and 0 < timeout <= 60, "must be between 0 and 60 seconds")
    need("sso_only", not values.get("sso_only") or bool(domains),
         "needs `domains`: SSO-only applies to the people of those email domains")
    return problems


def _config_values(item: "ProviderConfig") -> dict[str, Any]:
    return {
        "name": item.name, "display_name": item.display_name, "organisation": item.organisation,
        "issuer": item.issuer, "client_id": item.client_id, "client_secret": item.client_secret,
        "token_endpoint_auth_method": item.token_endpoint_auth_method, "private_key_file": item.private_key_file,
        "scopes": item.scopes, "domains": item.domains, "second_factor": item.second_factor,
        "claims": vars(item.claims), "multi_tenant": item.multi_tenant, "allowed_tenants": item.allowed_tenants,
        "timeout_seconds": item.timeout_seconds, "sso_only": item.sso_only,
    }


def config_problems(items: Sequence["ProviderConfig"]) -> list[tuple[str, str]]:
    """The problems of the config file's `[[providers]]`, keyed `providers[2].issuer`."""
    problems: list[tuple[str, str]] = []
    names: dict[str, int] = {}
    domains: dict[str, int] = {}
    for index, item in enumerate(items):
        where = f"providers[{index}]"
        problems += [(f"{where}.{key}", reason) for key, reason in field_problems(_config_values(item))]
        if item.name in names:
            problems.append((f"{where}.name", f"{item.name!r} is already the name of providers[{names[item.name]}]"))
        names.setdefault(item.name, index)
        for domain in item.domains:
            if domain in domains and domains[domain] != index:
                problems.append((f"{where}.domains", f"{domain} is already routed to providers[{domains[domain]}]"))
            domains.setdefault(domain, index)
    return problems


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
    return Provider(
        name=row.name, display_name=row.display_name, organisation=row.organisation.slug, issuer=row.issuer,
        client_id=row.client_id, token_endpoint_auth_method=row.token_endpoint_auth_method,
        scopes=tuple(row.scopes or ()), domains=tuple(row.domains or ()),
        claims=ClaimMapping(**{k: v for k, v in (row.claims or {}).items() if k in ClaimMapping.__dataclass_fields__}),
        link_existing_by_email=row.link_existing_by_email, second_factor=row.second_factor,
        mfa_acr_values=tuple(row.mfa_acr_values or ()), sso_only=row.sso_only, multi_tenant=row.multi_tenant,
        allowed_tenants=tuple(row.allowed_tenants or ()), enabled=row.enabled, source=ADMIN, id=row.id,
        client_secret_encrypted=row.client_secret_encrypted)


def configured(config: "AppConfig") -> list[Provider]:
    return [from_config(item) for item in config.providers]


def managed(db: Session) -> list[Provider]:
    return [from_row(row) for row in db.scalars(sa.select(UpstreamProvider).order_by(UpstreamProvider.name))]


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
    row = db.scalar(sa.select(UpstreamProvider).where(UpstreamProvider.name == name))
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
