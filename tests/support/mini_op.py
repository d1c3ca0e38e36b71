"""A small but real OpenID provider for tests whose ID tokens must be wrong on purpose.

It serves discovery, a JWKS, /authorize (no login page: it approves at once, or answers with the
`error` the test sets) and /token (client authentication, single-use codes, PKCE S256), over real HTTP
(`serve()` runs it in a ThreadedServer). The ID token it signs is a normal one, then changed as the
test says: `claims` are merged in, `drop` removed, `sign_with` signs with another key, `kid` names
another key id. `issuer_template` turns it into an Entra ID-style multi-tenant provider."""
from __future__ import annotations

import base64
import hashlib
import secrets
import time
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlencode

from flask import Flask, abort, jsonify, redirect, request
from joserfc import jwt
from joserfc.jwk import RSAKey

from .servers import ReservedPort, ThreadedServer


def rsa_key(kid: str) -> RSAKey:
    return RSAKey.generate_key(2048, parameters={"kid": kid, "alg": "RS256", "use": "sig"}, private=True)


@dataclass
class MiniOp:
    client_id: str = "mini-client"
    client_secret: str = "mini-secret"
    redirect_uri: str = ""
    url: str = ""
    issuer_template: str | None = None        # e.g. "{url}/{tenantid}/v2.0": multi-tenant, like Entra ID
    tenant: str = "tenant-1"
    subject: str = "mini-user-1"
    email: str = "pat@mini.example.org"
    email_verified: bool = True
    amr: list[str] | None = field(default_factory=lambda: ["pwd"])
    claims: dict[str, Any] = field(default_factory=dict)
    drop: set[str] = field(default_factory=set)
    error: str | None = None                  # /authorize answers error=<this>
    key: RSAKey = field(default_factory=lambda: rsa_key("mini-1"))
    published: list[RSAKey] = field(default_factory=list)
    sign_with: RSAKey | None = None
    kid: str | None = None
    token_requests: int = 0
    jwks_requests: int = 0
    _codes: dict[str, dict[str, Any]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.published = self.published or [self.key]

    # --- what the provider says about itself --------------------------------------------------
    @property
    def discovery_issuer(self) -> str:
        return self.issuer_template.format(url=self.url, tenantid="{tenantid}") if self.issuer_template else self.url

    @property
    def token_issuer(self) -> str:
        return self.issuer_template.format(url=self.url, tenantid=self.tenant) if self.issuer_template else self.url

    def rotate(self) -> RSAKey:
        """A new signing key, published alone (the old one is gone from the JWKS)."""
        self.key = rsa_key(f"mini-{secrets.token_hex(3)}")
        self.published = [self.key]
        return self.key

    def id_token(self, nonce: str | None) -> str:
        now = int(time.time())
        claims: dict[str, Any] = {"iss": self.token_issuer, "sub": self.subject, "aud": self.client_id,
                                  "iat": now, "exp": now + 300, "auth_time": now, "email": self.email,
                                  "email_verified": self.email_verified, "name": "Pat Mini"}
        if nonce is not None:
            claims["nonce"] = nonce
        if self.amr is not None:
            claims["amr"] = list(self.amr)
        if self.issuer_template:
            claims["tid"] = self.tenant
        claims.update(self.claims)
        for name in self.drop:
            claims.pop(name, None)
        signer = self.sign_with or self.key
        header = {"alg": "RS256", "kid": self.kid or signer.kid, "typ": "JWT"}
        return jwt.encode(header, claims, signer)

    # --- the HTTP side --------------------------------------------------------------------------
    def app(self) -> Flask:
        app = Flask("mini_op")
        app.add_url_rule("/.well-known/openid-configuration", "discovery", self._discovery)
        app.add_url_rule("/jwks", "jwks", self._jwks)
        app.add_url_rule("/authorize", "authorize", self._authorize)
        app.add_url_rule("/token", "token", self._token, methods=["POST"])
        return app

    def _discovery(self):  # noqa: ANN202
        return jsonify({"issuer": self.discovery_issuer, "authorization_endpoint": f"{self.url}/authorize",
                        "token_endpoint": f"{self.url}/token", "jwks_uri": f"{self.url}/jwks",
                        "response_types_supported": ["code"], "subject_types_supported": ["public"],
                        "id_token_signing_alg_values_supported": ["RS256"]})

    def _jwks(self):  # noqa: ANN202
        self.jwks_requests += 1
        return jsonify({"keys": [k.as_dict(private=False) for k in self.published]})

    def _authorize(self):  # noqa: ANN202
        args = request.args
        if args.get("client_id") != self.client_id or args.get("redirect_uri") != self.redirect_uri:
            abort(400)
        if self.error:
            return redirect(f"{self.redirect_uri}?{urlencode({'error': self.error, 'state': args.get('state', '')})}")
        code = secrets.token_urlsafe(24)
        self._codes[code] = {"nonce": args.get("nonce"), "challenge": args.get("code_challenge"),
                             "redirect_uri": args.get("redirect_uri")}
        return redirect(f"{self.redirect_uri}?{urlencode({'code': code, 'state': args.get('state', '')})}")

    def _token(self):  # noqa: ANN202
        self.token_requests += 1
        auth = request.authorization
        form = request.form
        client = (auth.username, auth.password) if auth else (form.get("client_id"), form.get("client_secret"))
        if client != (self.client_id, self.client_secret):
            return jsonify({"error": "invalid_client"}), 401
        grant = self._codes.pop(request.form.get("code", ""), None)
        if grant is None or request.form.get("redirect_uri") != grant["redirect_uri"]:
            return jsonify({"error": "invalid_grant"}), 400
        verifier = request.form.get("code_verifier", "")
        expected = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        if expected != grant["challenge"]:
            return jsonify({"error": "invalid_grant", "error_description": "PKCE verification failed"}), 400
        return jsonify({"access_token": secrets.token_urlsafe(24), "token_type": "Bearer", "expires_in": 300,
                        "id_token": self.id_token(grant["nonce"])})


@contextmanager
def serve(op: MiniOp) -> Iterator[MiniOp]:
    """Run `op` on a port of its own of 127.0.0.1 (its `url` is set accordingly) until the block ends."""
    port = ReservedPort()
    try:
        op.url = f"http://127.0.0.1:{port.number}"
        with ThreadedServer(op.app(), port):
            yield op
    finally:
        port.close()
