"""A provider's metadata (OpenID Connect Discovery 1.0 §4) and signing keys (its `jwks_uri`), cached.

The cache is per process and only a cache: every worker may fetch on its own. Metadata is kept for
`METADATA_TTL`; keys until a token names a `kid` they lack, then fetched again (providers rotate keys,
RFC 7517 §4.5) — but at most once a minute per provider for the whole fleet, and first looked up in what
another worker fetched (idp.federation.key_sets, in the database). Every request has a timeout (the
provider's `timeout_seconds`)."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any
from urllib.parse import urlsplit

from joserfc.errors import JoseError
from joserfc.jwk import KeySet

from .errors import FederationError, UpstreamUnavailable
from .key_sets import KeySetStore, current_store
from .providers import LOOPBACK, Provider

if TYPE_CHECKING:
    import httpx

METADATA_TTL = 3600.0
REACHABILITY_TTL = 30.0     # how long "the provider answered" (or did not) is believed
JWKS_TTL = 24 * 3600.0
MAX_DOCUMENT_BYTES = 512 * 1024
TENANT_PLACEHOLDER = "{tenantid}"


@dataclass(frozen=True)
class Metadata:
    """What the sign-in needs from a provider's discovery document."""

    issuer: str
    authorization_endpoint: str
    token_endpoint: str
    jwks_uri: str
    signing_algs: tuple[str, ...] = ("RS256",)
    iss_parameter_supported: bool = False
    raw: dict[str, Any] = field(default_factory=dict, repr=False)


@dataclass
class _Entry:
    value: Any
    fetched_at: float


def call_upstream(provider: Provider, where: str, method: str, url: str, **kwargs: Any) -> httpx.Response:
    """One HTTP request to the provider (its timeout, no redirects); a timeout or a connection failure
    becomes UpstreamUnavailable with a message for the person and `where` for the audit log."""
    import httpx  # loaded by the workers that talk to a provider, not by every worker

    who = provider.display_name
    try:
        with httpx.Client(timeout=provider.timeout_seconds, follow_redirects=False) as http:
            return http.request(method, url, **kwargs)
    except httpx.TimeoutException:
        raise UpstreamUnavailable(f"{who} did not answer in time. Please try again in a few minutes.",
                                  "upstream_timeout", f"{where}: no answer in {provider.timeout_seconds}s") from None
    except httpx.HTTPError as err:
        raise UpstreamUnavailable(f"{who} cannot be reached right now. Please try again in a few minutes.",
                                  "upstream_unreachable", f"{where}: {err.__class__.__name__}") from None


def fetch_json(provider: Provider, url: str, what: str) -> dict[str, Any]:
    """GET a JSON document from the provider; UpstreamUnavailable when it does not answer properly."""
    who = provider.display_name
    response = call_upstream(provider, f"{what} at {url}", "GET", url, headers={"Accept": "application/json"})
    if response.status_code != 200:
        raise UpstreamUnavailable(f"{who} is not answering properly right now. Please try again later.",
                                  "upstream_http_error", f"{what} at {url}: HTTP {response.status_code}")
    if len(response.content) > MAX_DOCUMENT_BYTES:
        raise FederationError(f"{who} is not set up correctly here.", "upstream_bad_document", f"{what} is too large")
    try:
        document = response.json()
    except ValueError:
        document = None
    if not isinstance(document, dict):
        raise FederationError(f"{who} is not set up correctly here.", "upstream_bad_document",
                              f"{what} at {url} is not a JSON object")
    return document


def expected_issuer_template(provider: Provider, issuer: str) -> str | None:
    """For a multi-tenant provider: the discovery `issuer`, which must hold {tenantid}."""
    return issuer if provider.multi_tenant and TENANT_PLACEHOLDER in issuer else None


def endpoint_problem(provider: Provider, url: str) -> str | None:
    """An endpoint must use https, like the issuer (plain http only when the issuer itself is on this machine)."""
    parts, issuer = urlsplit(url), urlsplit(provider.issuer)
    if parts.scheme == "https" and parts.hostname:
        return None
    if parts.scheme == "http" and issuer.scheme == "http" and parts.hostname in LOOPBACK:
        return None
    return f"{url[:200]!r} must be an https URL"


def parse_metadata(provider: Provider, document: dict[str, Any]) -> Metadata:
    """The needed fields, checked: the issuer must be the one configured (Discovery §4.3)."""
    who = provider.display_name
    missing = [k for k in ("issuer", "authorization_endpoint", "token_endpoint", "jwks_uri")
               if not isinstance(document.get(k), str) or not document.get(k)]
    if missing:
        raise FederationError(f"{who} is not set up correctly here.", "upstream_bad_document",
                              f"discovery document lacks {', '.join(missing)}")
    for key in ("authorization_endpoint", "token_endpoint", "jwks_uri"):
        problem = endpoint_problem(provider, document[key])
        if problem:
            raise FederationError(f"{who} is not set up correctly here.", "upstream_bad_document", f"{key} {problem}")
    issuer = document["issuer"]
    if provider.multi_tenant:
        if TENANT_PLACEHOLDER not in issuer:
            raise FederationError(f"{who} is not set up correctly here.", "wrong_issuer",
                                  f"multi_tenant is set but the discovery issuer {issuer!r} has no "
                                  f"{TENANT_PLACEHOLDER}")
    elif issuer.rstrip("/") != provider.issuer.rstrip("/"):
        raise FederationError(f"{who} is not set up correctly here.", "wrong_issuer",
                              f"discovery says issuer {issuer!r}, configured {provider.issuer!r}")
    algs = document.get("id_token_signing_alg_values_supported") or ["RS256"]
    return Metadata(issuer=issuer, authorization_endpoint=document["authorization_endpoint"],
                    token_endpoint=document["token_endpoint"], jwks_uri=document["jwks_uri"],
                    signing_algs=tuple(a for a in algs if isinstance(a, str)),
                    iss_parameter_supported=document.get("authorization_response_iss_parameter_supported") is True,
                    raw=document)


class Directory:
    """Per-process cache of provider metadata and key sets, keyed by the configured issuer."""

    def __init__(self, clock: Callable[[], float] = time.monotonic) -> None:
        self._clock = clock
        self._lock = threading.Lock()
        self._metadata: dict[tuple[str, str], _Entry] = {}
        self._jwks: dict[str, _Entry] = {}
        self._reachable: dict[tuple[str, str], _Entry] = {}

    def clear(self) -> None:
        with self._lock:
            self._metadata.clear()
            self._jwks.clear()
            self._reachable.clear()

    def metadata(self, provider: Provider) -> Metadata:
        key = (provider.issuer, provider.name)
        with self._lock:
            entry = self._metadata.get(key)
            if entry is not None and self._clock() - entry.fetched_at < METADATA_TTL:
                return entry.value
        value = parse_metadata(provider, fetch_json(provider, provider.discovery_url, "discovery document"))
        with self._lock:
            self._metadata[key] = _Entry(value, self._clock())
        return value

    def reachable_metadata(self, provider: Provider) -> Metadata:
        """Before a browser is sent to the provider: its metadata, and that it answers. Fetching the metadata
        is the check; cached metadata says nothing about now, so the authorization endpoint's host gets a
        quick request (the provider's timeout; any answer below HTTP 500 will do). The outcome is believed
        for REACHABILITY_TTL seconds. UpstreamUnavailable when it does not answer."""
        key = (provider.issuer, provider.name)
        with self._lock:
            entry = self._metadata.get(key)
            cached = entry is not None and self._clock() - entry.fetched_at < METADATA_TTL
            seen = self._reachable.get(key)
        if not cached:
            return self.metadata(provider)
        if seen is None or self._clock() - seen.fetched_at >= REACHABILITY_TTL:
            seen = _Entry(self._probe(provider, entry.value), self._clock())
            with self._lock:
                self._reachable[key] = seen
        if isinstance(seen.value, UpstreamUnavailable):
            raise seen.value
        return entry.value

    @staticmethod
    def _probe(provider: Provider, metadata: Metadata) -> UpstreamUnavailable | None:
        url = metadata.authorization_endpoint
        try:
            response = call_upstream(provider, f"authorization endpoint {url}", "GET", url)
        except UpstreamUnavailable as err:
            return err
        if response.status_code >= 500:
            return UpstreamUnavailable(f"{provider.display_name} is not answering properly right now. Please try "
                                       "again in a few minutes.", "upstream_http_error",
                                       f"authorization endpoint {url}: HTTP {response.status_code}")
        return None

    def keys(self, provider: Provider, metadata: Metadata, *, refresh: bool = False) -> KeySet:
        """The provider's key set (fetched again when `refresh`, or when older than JWKS_TTL)."""
        with self._lock:
            entry = self._jwks.get(metadata.jwks_uri)
            if entry is not None and not refresh and self._clock() - entry.fetched_at < JWKS_TTL:
                return entry.value
        document = fetch_json(provider, metadata.jwks_uri, "key set (jwks_uri)")
        usable = {"keys": [k for k in document.get("keys", []) if _usable(k)]}
        keys = self._remember(provider, metadata, usable)
        store = current_store()
        if store is not None:
            store.save(provider.name, metadata.jwks_uri, usable)
        return keys

    def _remember(self, provider: Provider, metadata: Metadata, document: dict[str, Any]) -> KeySet:
        try:
            keys = KeySet.import_key_set(document)
        except (JoseError, ValueError, TypeError) as err:
            raise FederationError(f"{provider.display_name} is not set up correctly here.", "upstream_bad_jwks",
                                  f"key set at {metadata.jwks_uri} cannot be read: {err}") from None
        with self._lock:
            self._jwks[metadata.jwks_uri] = _Entry(keys, self._clock())
        return keys

    def key_for(self, provider: Provider, metadata: Metadata, kid: str | None) -> KeySet:
        """A key set holding `kid`: the cached one, else the one another worker stored, else fetched again
        if no worker did so for this provider in the last minute (key rotation). Otherwise the cached keys
        (without `kid`: the token is refused). No shared store (no request): never fetched again."""
        keys = self.keys(provider, metadata)
        if kid is None or _has_kid(keys, kid):
            return keys
        store = current_store()
        if store is None:
            return keys
        stored = self._stored(store, provider, metadata, kid)
        if stored is not None:
            return stored
        if not store.claim_refetch(provider.name, metadata.jwks_uri):
            return keys
        return self.keys(provider, metadata, refresh=True)

    def _stored(self, store: KeySetStore, provider: Provider, metadata: Metadata, kid: str) -> KeySet | None:
        """The key set another worker fetched, when it holds `kid` (it then replaces this worker's cache)."""
        found = store.load(provider.name, metadata.jwks_uri)
        if found is None or not any(isinstance(k, dict) and k.get("kid") == kid for k in found[0].get("keys", [])):
            return None
        return self._remember(provider, metadata, found[0])


def _usable(jwk: Any) -> bool:
    """Signature keys only (no `use`, or use=sig); skips encryption keys and unknown key types."""
    return isinstance(jwk, dict) and jwk.get("use", "sig") == "sig" and jwk.get("kty") in ("RSA", "EC", "OKP")


def _has_kid(keys: KeySet, kid: str) -> bool:
    return any(getattr(key, "kid", None) == kid for key in keys.keys)


DIRECTORY = Directory()
