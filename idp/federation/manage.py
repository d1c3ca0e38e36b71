"""Providers managed by an organisation's administrators (Administration > Settings > Single Sign-On).

The same rules as the config file (providers.field_problems), plus what only the database knows: the
name is free (config file and table), the email domains are not another organisation's nor routed to
another provider. The client secret is write-only: stored encrypted with the key-encryption key, kept
when the form leaves it empty, never shown or audited. Every change is audited with the fields changed."""
from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit
from idp.audit import Actor
from idp.clock import now
from idp.models import Organisation, OrganisationDomain, UpstreamIdentity, UpstreamProvider

from .providers import AUTH_METHODS, SCENARIOS, all_providers, field_problems

if TYPE_CHECKING:
    from idp.services import Services

FORM_AUTH_METHODS = tuple(m for m in AUTH_METHODS if m != "private_key_jwt")  # keys only in the config file
CLAIM_KEYS = ("email", "email_verified", "name", "groups")
EDITABLE = ("display_name", "issuer", "client_id", "token_endpoint_auth_method", "scopes", "domains", "claims",
            "link_existing_by_email", "second_factor", "mfa_acr_values", "sso_only", "multi_tenant",
            "allowed_tenants", "enabled")
LABELS = {"name": "Name", "display_name": "Button label", "issuer": "Issuer URL", "client_id": "Client ID",
          "client_secret": "Client secret", "token_endpoint_auth_method": "Client authentication",
          "scopes": "Scopes", "domains": "Email domains", "claims.email": "Email claim",
          "second_factor": "Two-factor authentication", "allowed_tenants": "Allowed tenants",
          "sso_only": "SSO only", "organisation": "Organisation", "timeout_seconds": "Timeout"}


class ProviderProblems(ValueError):
    """The form was refused; `problems` lists (field, reason) and nothing was changed."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        super().__init__("; ".join(f"{LABELS.get(k, k)}: {r}" for k, r in problems))
        self.problems = problems


@dataclass(frozen=True)
class Saved:
    row: UpstreamProvider
    changed: tuple[str, ...]


def _words(raw: str | None) -> list[str]:
    return [w for w in re.split(r"[\s,]+", (raw or "").strip()) if w]


def values_from_form(form: Mapping[str, str]) -> dict[str, Any]:
    """The provider's keys from the admin form (checkboxes present = true)."""
    flag = lambda key: form.get(key) in ("yes", "on", "true", "1")  # noqa: E731
    return {
        "name": (form.get("name") or "").strip().lower(),
        "display_name": (form.get("display_name") or "").strip(),
        "issuer": (form.get("issuer") or "").strip(),
        "client_id": (form.get("client_id") or "").strip(),
        "client_secret": form.get("client_secret") or "",
        "token_endpoint_auth_method": form.get("token_endpoint_auth_method") or "client_secret_basic",
        "scopes": _words(form.get("scopes")) or ["openid", "profile", "email"],
        "domains": [d.lower() for d in _words(form.get("domains"))],
        "claims": {k: (form.get(f"claim_{k}") or "").strip() for k in CLAIM_KEYS},
        "link_existing_by_email": flag("link_existing_by_email"),
        "second_factor": form.get("second_factor") or "",
        "mfa_acr_values": _words(form.get("mfa_acr_values")),
        "sso_only": flag("sso_only"),
        "multi_tenant": flag("multi_tenant"),
        "allowed_tenants": _words(form.get("allowed_tenants")),
        "enabled": flag("enabled"),
    }


def values_of(row: UpstreamProvider) -> dict[str, Any]:
    """The form's values for an existing row (never the secret)."""
    return {"name": row.name, **{k: getattr(row, k) for k in EDITABLE}, "client_secret": "",
            "claims": {k: (row.claims or {}).get(k, "") for k in CLAIM_KEYS}}


def _problems(db: Session, services: "Services", org: Organisation, values: dict[str, Any],
              row: UpstreamProvider | None) -> list[tuple[str, str]]:
    checked = {**values, "organisation": org.slug, "has_secret": bool(row and row.client_secret_encrypted)}
    problems = field_problems(checked)
    if values["token_endpoint_auth_method"] not in FORM_AUTH_METHODS:
        problems.append(("token_endpoint_auth_method", "private_key_jwt providers are set up in the config file"))
    if values["second_factor"] not in SCENARIOS:
        problems.append(("second_factor", "choose how two-factor authentication works with this provider"))
    others = [p for p in all_providers(db, services.config) if row is None or p.name != row.name]
    if row is None and any(p.name == values["name"] for p in others):
        problems.append(("name", f"{values['name']!r} is already the name of another provider"))
    routed = {d: p.name for p in others for d in p.domains}
    owned = dict(db.execute(sa.select(OrganisationDomain.domain, OrganisationDomain.organisation_id)
                            .where(OrganisationDomain.domain.in_(values["domains"] or [""]))).all())
    for domain in values["domains"]:
        if domain in routed:
            problems.append(("domains", f"{domain} is already routed to provider {routed[domain]}"))
        elif domain in owned and owned[domain] != org.id:
            problems.append(("domains", f"{domain} belongs to another organisation"))
        elif domain not in owned:
            # only the operator can say a domain is the organisation's (`idp org create --domain`); otherwise
            # one tenant's admin could route another tenant's people (or gmail.com) to their own provider
            problems.append(("domains", f"{domain} is not registered as one of {org.name}'s domains; ask the "
                                        "operator to add it to the organisation first"))
    return problems


def create(db: Session, services: "Services", org: Organisation, values: dict[str, Any], actor: Actor) -> Saved:
    problems = _problems(db, services, org, values, None)
    if problems:
        raise ProviderProblems(problems)
    current = now()
    row = UpstreamProvider(organisation_id=org.id, name=values["name"], created_at=current, updated_at=current,
                           **{k: values[k] for k in EDITABLE},
                           client_secret_encrypted=_encrypt(services, values["client_secret"]))
    db.add(row)
    db.flush()
    audit.record(db, "sso_provider_created", actor, organisation_id=org.id, target=row.name,
                 details={"provider": row.name, "issuer": row.issuer, "domains": row.domains,
                          "second_factor": row.second_factor, "sso_only": row.sso_only,
                          "link_existing_by_email": row.link_existing_by_email,
                          "client_secret_set": row.client_secret_encrypted is not None})
    return Saved(row, ("created",))


def update(db: Session, services: "Services", row: UpstreamProvider, values: dict[str, Any], actor: Actor) -> Saved:
    org = db.get(Organisation, row.organisation_id)
    problems = _problems(db, services, org, {**values, "name": row.name}, row)
    if problems:
        raise ProviderProblems(problems)
    changed = [k for k in EDITABLE if getattr(row, k) != values[k]]
    details: dict[str, Any] = {"provider": row.name, "changed": changed,
                               "before": {k: getattr(row, k) for k in changed},
                               "after": {k: values[k] for k in changed}}
    for key in changed:
        setattr(row, key, values[key])
    if values["client_secret"]:
        row.client_secret_encrypted = _encrypt(services, values["client_secret"])
        changed.append("client_secret")   # the value itself is never audited
    if changed:
        row.updated_at = now()
        audit.record(db, "sso_provider_changed", actor, organisation_id=org.id, target=row.name, details=details)
    return Saved(row, tuple(changed))


def delete(db: Session, row: UpstreamProvider, actor: Actor) -> int:
    """Remove the provider and the links of accounts to it (the accounts stay); returns how many links."""
    unlinked = db.execute(sa.delete(UpstreamIdentity).where(UpstreamIdentity.provider == row.name)).rowcount
    audit.record(db, "sso_provider_deleted", actor, organisation_id=row.organisation_id, target=row.name,
                 details={"provider": row.name, "issuer": row.issuer, "accounts_unlinked": unlinked})
    db.delete(row)
    db.flush()
    return unlinked


def _encrypt(services: "Services", secret: str) -> bytes | None:
    return services.kek.encrypt(secret.encode()) if secret else None
