"""OpenID Provider metadata (OpenID Connect Discovery 1.0 §3, RFC 8414) and the JWKS, built once per change."""
from __future__ import annotations

import json

from flask import Response, current_app

from idp.config import AppConfig
from idp.oauth.keys import SUPPORTED_ALGS
from idp.web.context import db, services

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


def _json(key: str, version: object, build) -> Response:  # noqa: ANN001
    """The document for `key`, serialised once per version (per app: tests run several apps)."""
    cache = current_app.extensions.setdefault("idp.documents", {})
    cached = cache.get(key)
    if cached is None or cached[0] != version:
        cached = (version, json.dumps(build(), separators=(",", ":")).encode())
        cache[key] = cached
    response = Response(cached[1], mimetype="application/json")
    response.headers["Cache-Control"] = "public, max-age=300"
    response.headers["Access-Control-Allow-Origin"] = "*"
    return response


@bp.get("/.well-known/openid-configuration")
def openid_configuration() -> Response:
    config = services().config
    return _json("discovery", config.issuer, lambda: metadata(config))


@bp.get("/jwks")
def jwks() -> Response:
    keys = services().keys.get(db)
    return _json("jwks", keys.version, lambda: keys.jwks)
