"""Registering relying parties: redirect URI rules (RFC 9700 §2.1, §4.1.1) and secrets kept as digests."""
from __future__ import annotations

from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import session_memo
from idp.clock import now
from idp.fast_lookup import EntityLookup
from idp.models import Client
from idp.security.secrets import digest, new_token

LOOPBACK = {"127.0.0.1", "localhost", "::1", "[::1]"}


# every request of a sign-in reads its client: one precompiled query (idp.fast_lookup)
_BY_CLIENT_ID = EntityLookup((Client,), lambda columns: columns.where(Client.client_id == sa.bindparam("client_id")))


def by_client_id(db: Session, client_id: str) -> Client | None:
    """The client with this id, active or not; read once per request (idp.session_memo)."""
    return session_memo.remember(db, _memo_key(client_id), (Client.__tablename__,),
                                 lambda: _first(_BY_CLIENT_ID.first_in(db, client_id=client_id)))


def loaded_with(db: Session, client_id: str, client: Client | None) -> None:
    """The client with this id (None: there is none), as another query of this transaction loaded it:
    `by_client_id` answers with it instead of reading it again."""
    session_memo.put(db, _memo_key(client_id), (Client.__tablename__,), client)


def _memo_key(client_id: str) -> tuple[str, str]:
    return ("client", client_id)


def _first(found: tuple | None) -> Client | None:
    return None if found is None else found[0]


def new_client_id() -> str:
    """A random client id that never starts with "-" (a command line would read it as an option)."""
    while (client_id := new_token(18)).startswith("-"):
        pass
    return client_id


class ClientError(ValueError):
    """A refused client registration, with the reason."""


def check_redirect_uri(uri: str, *, development: bool) -> None:
    """Absolute, no fragment; http only for loopback hosts unless the deployment is in development."""
    parts = urlsplit(uri)
    if not parts.scheme or not parts.netloc and parts.scheme in ("http", "https"):
        raise ClientError(f"redirect URI {uri!r} must be absolute")
    if parts.fragment:
        raise ClientError(f"redirect URI {uri!r} must not contain a fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK and not development:
        raise ClientError(f"redirect URI {uri!r} uses plain http on a non-loopback host; use https")
    if parts.scheme in ("javascript", "data", "file"):
        raise ClientError(f"redirect URI {uri!r} uses a forbidden scheme")


def check_backchannel_logout_uri(uri: str, *, development: bool) -> None:
    """Back-Channel Logout 1.0 §2.2: an absolute http(s) URL, no fragment (a query is allowed); https
    unless the host is a loopback one or the deployment is in development, as for redirect URIs."""
    parts = urlsplit(uri)
    if parts.scheme not in ("http", "https") or not parts.hostname:
        raise ClientError(f"back-channel logout URI {uri!r} must be an absolute https URL")
    if parts.fragment or uri.endswith("#"):
        raise ClientError(f"back-channel logout URI {uri!r} must not contain a fragment")
    if parts.scheme == "http" and parts.hostname not in LOOPBACK and not development:
        raise ClientError(f"back-channel logout URI {uri!r} uses plain http on a non-loopback host; use https")
    if len(uri) > 2000:
        raise ClientError("back-channel logout URI is longer than 2000 characters")


def register_client(db: Session, *, name: str, redirect_uris: list[str], logout_uris: list[str] | None = None,
                    public: bool = False, require_pkce: bool = True, require_consent: bool = False,
                    refresh_tokens: bool = False, organisation_id: int | None = None,
                    development: bool = False, backchannel_logout_uri: str | None = None,
                    backchannel_logout_session_required: bool = False,
                    api_only: bool = False) -> tuple[Client, str | None]:
    """The new client and its secret (None for a public client); the secret is stored as a SHA-256 digest.
    An `api_only` client (the administration API's client credentials grant) may have no redirect URI."""
    if api_only and public:
        raise ClientError("an administration API client must be confidential (it authenticates with its secret)")
    if not redirect_uris and not api_only:
        raise ClientError("at least one redirect URI is required")
    for uri in [*redirect_uris, *(logout_uris or [])]:
        check_redirect_uri(uri, development=development)
    if backchannel_logout_uri:
        check_backchannel_logout_uri(backchannel_logout_uri, development=development)
    secret = None if public else new_token(32)
    client = Client(
        client_id=new_client_id(), organisation_id=organisation_id, name=name,
        secret_digest=digest(secret) if secret else None, redirect_uris=list(redirect_uris),
        post_logout_redirect_uris=list(logout_uris or []),
        token_endpoint_auth_method="none" if public else "client_secret_basic",
        require_pkce=True if public else require_pkce, require_consent=require_consent,
        issue_refresh_tokens=refresh_tokens, created_at=now(), backchannel_logout_uri=backchannel_logout_uri or None,
        backchannel_logout_session_required=backchannel_logout_session_required)
    db.add(client)
    db.flush()
    return client, secret
