"""What an upstream provider's settings must satisfy, wherever they are written: the config file's
`[[providers]]` (checked when the config loads) and Administration > Settings > Single Sign-On."""
from __future__ import annotations

import re
from collections.abc import Sequence
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

if TYPE_CHECKING:
    from idp.config import ProviderConfig

NAME = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
SLUG = re.compile(r"^[a-z0-9][a-z0-9-]{0,62}$")
DOMAIN = re.compile(r"^(?=.{1,253}$)([a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?\.)+[a-z]{2,63}$")
LOOPBACK = {"127.0.0.1", "localhost", "::1"}
AUTH_METHODS = ("client_secret_basic", "client_secret_post", "private_key_jwt")
SCENARIOS = ("upstream", "stack", "upstream-or-local")


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
