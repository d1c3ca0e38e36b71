"""OpenID Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWKS, built once per change
and served with an ETag (mostly by idp.web.oauth.front, before Flask)."""
from __future__ import annotations

import json

from flask import Flask, Response, current_app, request

from idp.config import AppConfig
from idp.oauth.keys import SUPPORTED_ALGS
from idp.web.context import db, services
from idp.web.oauth.front import Documents, InFront, document_response_headers, not_modified
from idp.web.oauth.front_refresh import RefreshInFront

from . import bp


def metadata(config: AppConfig) -> dict:
    issuer = config.issuer
    return {
        "issuer": issuer,
        "authorization_endpoint": f"{issuer}/authorize",
        "token_endpoint": f"{issuer}/token",
        "userinfo_endpoint": f"{issuer}/userinfo",
        "jwks_uri": f"{issuer}/jwks",
        "revocation_endpoint": f"{issuer}/revoke",
        "introspection_endpoint": f"{issuer}/introspect",
        "end_session_endpoint": f"{issuer}/logout",
        "scopes_supported": ["openid", "profile", "email", "offline_access"],
        "response_types_supported": ["code"],
        "response_modes_supported": ["query"],
        "grant_types_supported": ["authorization_code", "refresh_token", "client_credentials"],  # the last: /api/v1 only
        "subject_types_supported": ["public"],
        "id_token_signing_alg_values_supported": list(SUPPORTED_ALGS),
        "token_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                  "private_key_jwt", "none"],
        "token_endpoint_auth_signing_alg_values_supported": ["RS256", "ES256"],
        "revocation_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post", "private_key_jwt"],
        "introspection_endpoint_auth_methods_supported": ["client_secret_basic", "client_secret_post",
                                                          "private_key_jwt"],
        "code_challenge_methods_supported": ["S256"],
        "claims_supported": ["sub", "iss", "aud", "azp", "exp", "iat", "auth_time", "nonce", "sid", "amr", "acr",
                             "email", "email_verified", "name", "preferred_username"],
        "acr_values_supported": [config.policy.acr_password, config.policy.acr_mfa],
        "claims_parameter_supported": False,
        "request_parameter_supported": False,
        "request_uri_parameter_supported": False,
        "require_request_uri_registration": False,
        "authorization_response_iss_parameter_supported": True,
        "prompt_values_supported": ["none", "login", "consent"],
        "frontchannel_logout_supported": False,
        "backchannel_logout_supported": True,            # Back-Channel Logout 1.0 §2.1
        "backchannel_logout_session_supported": True,    # Logout Tokens carry `sid` (and `sub`)
    }


def init_app(app: Flask) -> None:
    """Build the documents once and answer them (and good refreshes) in front of Flask (idp.web.oauth.front)."""
    services = app.extensions["idp"]
    body = json.dumps(metadata(services.config), separators=(",", ":")).encode()
    documents = app.extensions["idp.documents"] = Documents(services, body)
    refresh = RefreshInFront(services, app.extensions.get("idp.ratelimit"))   # after idp.web.rate_limits
    app.wsgi_app = InFront(app.wsgi_app, documents, services, refresh)


def _document(body: bytes, etag: str) -> Response:
    """The same answer as the one in front of Flask, for requests that reach Flask (a query string...)."""
    response = Response(b"", status=304) if not_modified(request.headers.get("If-None-Match"), etag) \
        else Response(body, mimetype="application/json")
    for name, value in document_response_headers(etag, services().config.is_https):
        response.headers[name] = value
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    documents = current_app.extensions["idp.documents"]
    return _document(documents.discovery, documents.discovery_etag)


@bp.get("/jwks")
def jwks() -> Response:
    keys = services().keys.get(db)
    return _document(keys.body, keys.etag)
