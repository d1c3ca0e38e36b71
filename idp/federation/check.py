"""`idp provider check NAME` and "Test connection": can this provider be used for signing in right now?

Checks, in order, each giving one line: the organisation exists; the provider's email domains are not
another organisation's; the discovery document answers and names the configured issuer (or, multi-tenant,
a `{tenantid}` template); the key set answers with signature keys; the client's credentials are accepted
by the token endpoint (a code exchange with a code that cannot exist: `invalid_grant` means the client
authenticated, `invalid_client` that its id or secret is wrong). Nothing is written anywhere."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING
from urllib.parse import urlencode

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import accounts
from idp.models import OrganisationDomain

from .discovery import Directory, Metadata
from .errors import FederationError
from .login import callback_url, client_auth
from .providers import Provider
from .scenarios import scenario_of

if TYPE_CHECKING:
    from idp.services import Services


@dataclass(frozen=True)
class Line:
    ok: bool
    what: str
    detail: str = ""

    def __str__(self) -> str:
        return f"[{'ok' if self.ok else 'FAIL'}] {self.what}" + (f": {self.detail}" if self.detail else "")


@dataclass(frozen=True)
class Report:
    provider: str
    lines: tuple[Line, ...]

    @property
    def ok(self) -> bool:
        return all(line.ok for line in self.lines)


def check_provider(db: Session, services: "Services", provider: Provider) -> Report:
    lines = [_organisation(db, provider), *_domains(db, provider)]
    directory = Directory()   # always fetch afresh: this is what a first sign-in would see
    try:
        metadata = directory.metadata(provider)
    except FederationError as err:
        lines.append(Line(False, "discovery document", f"{err.problem}: {err.detail}"))
        return Report(provider.name, tuple(lines))
    lines.append(Line(True, "discovery document", f"issuer {metadata.issuer}"))
    lines.append(_keys(directory, provider, metadata))
    lines.append(_client(services, provider, metadata))
    scenario = scenario_of(provider)
    lines.append(Line(True, "redirect URI to register at the provider", callback_url(services.config.issuer)))
    note = f" ({scenario.warning})" if scenario.warning else ""
    lines.append(Line(True, "second factor", f"“{scenario.label}”: {scenario.words}{note}"))
    return Report(provider.name, tuple(lines))


def _organisation(db: Session, provider: Provider) -> Line:
    org = accounts.organisation_by_slug(db, provider.organisation)
    if org is None:
        return Line(False, "organisation", f"{provider.organisation!r} does not exist (idp org create)")
    return Line(True, "organisation", f"{org.slug} ({org.name})")


def _domains(db: Session, provider: Provider) -> list[Line]:
    if not provider.domains:
        return [Line(True, "email domains", "none: people choose the provider's button (no home-realm discovery)")]
    owned = db.execute(sa.select(OrganisationDomain.domain, OrganisationDomain.organisation_id)
                       .where(OrganisationDomain.domain.in_(provider.domains))).all()
    org = accounts.organisation_by_slug(db, provider.organisation)
    foreign = sorted(domain for domain, owner in owned if org is None or owner != org.id)
    if foreign:
        return [Line(False, "email domains", f"{', '.join(foreign)} belong(s) to another organisation")]
    return [Line(True, "email domains", ", ".join(provider.domains) + (" (SSO only)" if provider.sso_only else ""))]


def _keys(directory: Directory, provider: Provider, metadata: Metadata) -> Line:
    try:
        keys = directory.keys(provider, metadata, refresh=True)
    except FederationError as err:
        return Line(False, "signing keys", f"{err.problem}: {err.detail}")
    kids = ", ".join(str(k.kid) for k in keys.keys[:5])
    return Line(True, "signing keys", f"{len(keys.keys)} key(s) at {metadata.jwks_uri} ({kids})")


def _client(services: "Services", provider: Provider, metadata: Metadata) -> Line:
    what = f"client {provider.client_id} ({provider.token_endpoint_auth_method})"
    try:
        auth = client_auth(provider, services.kek, metadata.token_endpoint)
    except FederationError as err:
        return Line(False, what, f"{err.problem}: {err.detail}")
    body = urlencode({"grant_type": "authorization_code", "code": "idp-provider-check-not-a-code",
                      "redirect_uri": callback_url(services.config.issuer), "code_verifier": "x" * 43})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    uri, headers, body = auth.prepare("POST", metadata.token_endpoint, headers, body)
    import httpx  # loaded by the provider check, not by every worker

    try:
        with httpx.Client(timeout=provider.timeout_seconds, follow_redirects=False) as http:
            response = http.post(uri, content=body, headers=headers)
        error = response.json().get("error") if response.headers.get("content-type", "").startswith(
            "application/json") else None
    except (httpx.HTTPError, ValueError, AttributeError) as err:
        return Line(False, what, f"token endpoint {metadata.token_endpoint}: {err.__class__.__name__}")
    if error == "invalid_client" or response.status_code == 401:
        return Line(False, what, "the token endpoint refused the client's credentials (invalid_client): "
                                 "check client_id and the secret or key")
    if error in ("invalid_grant", "invalid_request"):
        return Line(True, what, "credentials accepted by the token endpoint")
    return Line(False, what, f"unexpected answer from the token endpoint: HTTP {response.status_code} {error or ''}")
