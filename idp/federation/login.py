"""The authorization code flow against an upstream provider, as its client (OpenID Connect Core §3.1).

`start` builds the authorization URL with PKCE S256 (RFC 7636), `state` and `nonce` and returns what
must be kept until the provider sends the browser back (nonce and verifier encrypted with the
key-encryption key, the state as a digest). `finish` checks the answer (state, error, RFC 9207 `iss`),
redeems the code at the token endpoint (client_secret_basic/post or private_key_jwt, RFC 7523) and
validates the ID token (idp.federation.id_token). Every failure is a FederationError; nothing here
writes to the database."""
from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import urlencode

from authlib.common.urls import add_params_to_uri
from authlib.oauth2.auth import ClientAuth
from authlib.oauth2.rfc7523 import PrivateKeyJWT
from authlib.oauth2.rfc7636 import create_s256_code_challenge
from joserfc.errors import JoseError
from joserfc.jwk import ECKey, RSAKey, import_key

from idp.security.encryption import KeyEncryption
from idp.security.secrets import digest, digest_matches, new_token

from .discovery import DIRECTORY, TENANT_PLACEHOLDER, Directory, Metadata, call_upstream
from .errors import FederationError, UpstreamUnavailable
from .id_token import UpstreamSignIn, validate_id_token
from .providers import Provider

__all__ = ["CALLBACK_PATH", "UpstreamSignIn", "callback_url", "check_answer", "client_auth", "finish",
           "redeem_code", "start", "validate_id_token"]

MAX_PENDING_SECONDS = 30 * 60


# --- the authorization request -------------------------------------------------------------------

CALLBACK_PATH = "/federation/callback"


def callback_url(issuer: str) -> str:
    """Where every provider sends the browser back: register it at the provider as the redirect URI."""
    return issuer.rstrip("/") + CALLBACK_PATH


def start(provider: Provider, metadata: Metadata, kek: KeyEncryption, redirect_uri: str, *, now: datetime,
          prompt: str | None = None, max_age: int | None = None, acr_values: tuple[str, ...] = (),
          login_hint: str | None = None) -> tuple[str, dict[str, Any]]:
    """The URL to send the browser to, and the pending request to keep (no secret in clear in it).
    `prompt="login"` and `max_age` ask the provider to authenticate the person again; its answer is
    then checked (auth_time), so a provider that ignores them cannot hand back an old sign-in."""
    state, nonce, verifier = new_token(), new_token(), new_token(48)
    params: dict[str, str] = {
        "response_type": "code", "client_id": provider.client_id, "redirect_uri": redirect_uri,
        "scope": " ".join(provider.scopes), "state": state, "nonce": nonce,
        "code_challenge": create_s256_code_challenge(verifier), "code_challenge_method": "S256",
    }
    if prompt:
        params["prompt"] = prompt
    if max_age is not None:
        params["max_age"] = str(max_age)
    if acr_values:
        params["acr_values"] = " ".join(acr_values)
    if login_hint:
        params["login_hint"] = login_hint
    pending = {
        "provider": provider.name, "state_digest": digest(state), "redirect_uri": redirect_uri,
        "nonce": kek.encrypt(nonce.encode()).decode(), "verifier": kek.encrypt(verifier.encode()).decode(),
        "started_at": int(now.timestamp()), "max_age": max_age, "acr_values": list(acr_values),
        "prompt_login": prompt == "login",
    }
    return add_params_to_uri(metadata.authorization_endpoint, list(params.items())), pending


# --- the answer ----------------------------------------------------------------------------------

def check_answer(provider: Provider, metadata: Metadata, pending: dict[str, Any] | None,
                 answer: dict[str, str], *, now: datetime) -> str:
    """The authorization code, once the answer is known to belong to the pending request."""
    who = provider.display_name
    if not pending or pending.get("provider") != provider.name:
        raise FederationError(f"This answer from {who} does not belong to a sign-in in progress here. "
                              "Please start again.", "no_pending_request")
    if not answer.get("state") or not digest_matches(answer["state"], pending["state_digest"]):
        raise FederationError(f"This answer from {who} does not belong to this sign-in (it may be old, or "
                              "from another browser tab). Please start again.", "wrong_state")
    if int(now.timestamp()) - int(pending.get("started_at", 0)) > MAX_PENDING_SECONDS:
        raise FederationError(f"Signing in at {who} took too long. Please start again.", "expired_request")
    _check_iss_parameter(provider, metadata, answer.get("iss"))
    error = answer.get("error")
    if error == "access_denied":
        raise FederationError(f"{who} did not sign you in: it was cancelled or refused there. Nothing was changed.",
                              "access_denied", (answer.get("error_description") or "")[:300])
    if error:
        raise FederationError(f"{who} could not sign you in ({error[:60]}). Nothing was changed. Please try again, "
                              "or contact your administrator.", "upstream_error",
                              f"{error[:60]}: {(answer.get('error_description') or '')[:300]}")
    code = answer.get("code")
    if not code:
        raise FederationError(f"{who} sent you back without a sign-in. Please start again.", "missing_code")
    return code


def _check_iss_parameter(provider: Provider, metadata: Metadata, iss: str | None) -> None:
    """RFC 9207: when the provider names itself in the answer, it must be the provider we asked."""
    if iss is None:
        if metadata.iss_parameter_supported:
            raise FederationError(f"The answer from {provider.display_name} could not be verified. Please start again.",
                                  "missing_iss", "the provider announces RFC 9207 but sent no iss")
        return
    if TENANT_PLACEHOLDER in metadata.issuer:
        return  # checked on the ID token, with its tid
    if iss != metadata.issuer:
        raise FederationError(f"The answer did not come from {provider.display_name}. Please start again.",
                              "wrong_iss_parameter", f"iss={iss[:200]!r}, expected {metadata.issuer!r}")


# --- the token request ---------------------------------------------------------------------------

def client_auth(provider: Provider, kek: KeyEncryption, token_endpoint: str) -> ClientAuth:
    if provider.token_endpoint_auth_method == "private_key_jwt":
        key = load_private_key(provider.private_key_file)
        alg = "ES256" if isinstance(key, ECKey) else "RS256"
        headers = {name: key.get(name) for name in ("kid", "x5t", "x5t#S256") if key.get(name)} or None
        return ClientAuth(provider.client_id, key, PrivateKeyJWT(token_endpoint, headers=headers, alg=alg))
    return ClientAuth(provider.client_id, provider.client_secret(kek), provider.token_endpoint_auth_method)


def load_private_key(path: str) -> RSAKey | ECKey:
    """The client's private key for private_key_jwt: a JWK (JSON, its `kid` is sent) or a PEM file."""
    unusable = FederationError("Single sign-on is not set up correctly here.", "private_key_unreadable",
                               f"{path}: not an RSA or EC private key")
    try:
        data = Path(path).read_bytes()
    except OSError as err:
        raise FederationError("Single sign-on is not set up correctly here.", "private_key_unreadable",
                              f"{path}: {err.strerror}") from None
    attempts = [lambda: import_key(json.loads(data))] if data.lstrip().startswith(b"{") else \
        [lambda: import_key(data, "RSA"), lambda: import_key(data, "EC")]
    for attempt in attempts:
        try:
            key = attempt()
        except (JoseError, ValueError, TypeError):
            continue
        if isinstance(key, (RSAKey, ECKey)) and key.is_private:
            return key
    raise unusable


def redeem_code(provider: Provider, metadata: Metadata, kek: KeyEncryption, code: str,
                pending: dict[str, Any]) -> dict[str, Any]:
    """The token response for `code` (with the PKCE verifier); FederationError when refused."""
    who = provider.display_name
    verifier = kek.decrypt(pending["verifier"].encode()).decode()
    body = urlencode({"grant_type": "authorization_code", "code": code, "redirect_uri": pending["redirect_uri"],
                      "code_verifier": verifier})
    headers = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "application/json"}
    uri, headers, body = client_auth(provider, kek, metadata.token_endpoint).prepare(
        "POST", metadata.token_endpoint, headers, body)
    response = call_upstream(provider, "token endpoint", "POST", uri, content=body, headers=headers)
    try:
        answer = response.json()
    except ValueError:
        answer = None
    if response.status_code >= 500 or not isinstance(answer, dict):
        raise UpstreamUnavailable(f"{who} is not answering properly right now. Please try again later.",
                                  "upstream_http_error", f"token endpoint: HTTP {response.status_code}")
    if response.status_code != 200 or "error" in answer:
        error = str(answer.get("error", f"HTTP {response.status_code}"))[:60]
        raise FederationError(f"{who} refused to complete the sign-in. Please start again, or contact your "
                              "administrator if it keeps happening.", "token_request_refused",
                              f"{error}: {str(answer.get('error_description') or '')[:300]}")
    if not isinstance(answer.get("id_token"), str):
        raise FederationError(f"{who} did not say who signed in. Please contact your administrator.",
                              "no_id_token", "the token response has no id_token (is the openid scope allowed?)")
    return answer


def finish(provider: Provider, kek: KeyEncryption, pending: dict[str, Any] | None, answer: dict[str, str], *,
           now: datetime, directory: Directory = DIRECTORY) -> UpstreamSignIn:
    """The whole callback: check the answer, redeem the code, validate the ID token."""
    metadata = directory.metadata(provider)
    code = check_answer(provider, metadata, pending, answer, now=now)
    tokens = redeem_code(provider, metadata, kek, code, pending)
    nonce = kek.decrypt(pending["nonce"].encode()).decode()
    return validate_id_token(provider, metadata, tokens["id_token"], nonce=nonce, now=now,
                             authenticated_after=fresh_sign_in_since(pending, now), directory=directory)


def fresh_sign_in_since(pending: dict[str, Any], now: datetime) -> int | None:
    """When the person must have signed in at the provider, if the application asked for a fresh sign-in:
    after we sent them there (prompt=login), and no longer than max_age seconds ago (OIDC Core §3.1.2.1);
    the later of the two. None when neither was asked."""
    bounds = []
    if pending.get("prompt_login"):
        bounds.append(int(pending["started_at"]))
    if pending.get("max_age") is not None:
        bounds.append(int(now.timestamp()) - int(pending["max_age"]))
    return max(bounds) if bounds else None
