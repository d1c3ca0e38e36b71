"""A relying party for tests over the Flask test client: authorize, sign in, token calls, row counts.

`Rp` plays the application (back channel: /token, /userinfo, /revoke, /introspect) and drives the
scripted `Browser` through the front channel. Every call returns what a real client would see."""
from __future__ import annotations

import base64
import secrets
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlencode, urlsplit

import sqlalchemy as sa
from joserfc import jwt
from joserfc.jwk import KeySet

from idp.models import AuthorizationCode, BrowserSession, Consent, Token
from idp.services import Services

from .browser import Browser, Page
from .factory import PASSWORD, RegisteredClient
from .oidc import pkce_pair


def counts(services: Services) -> dict[str, int]:
    """Rows that a sign-in or a token request creates: compare before/after to prove nothing changed."""
    with services.database.session() as db:
        return {
            "codes": db.scalar(sa.select(sa.func.count(AuthorizationCode.id))),
            "tokens": db.scalar(sa.select(sa.func.count(Token.id))),
            "live_tokens": db.scalar(sa.select(sa.func.count(Token.id)).where(Token.revoked_at.is_(None))),
            "sessions": db.scalar(sa.select(sa.func.count(BrowserSession.id))),
            "consents": db.scalar(sa.select(sa.func.count(Consent.id))),
        }


def query_of(location: str) -> dict[str, str]:
    return {k: v[0] for k, v in parse_qs(urlsplit(location).query, keep_blank_values=True).items()}


def basic(client_id: str, secret: str) -> dict[str, str]:
    value = base64.b64encode(f"{client_id}:{secret}".encode()).decode()
    return {"Authorization": f"Basic {value}"}


@dataclass
class Reply:
    """A back-channel answer: status, JSON body, headers."""

    status: int
    json: dict
    headers: dict = field(default_factory=dict)

    @property
    def error(self) -> str | None:
        return self.json.get("error") if isinstance(self.json, dict) else None


@dataclass
class Authorization:
    """The outcome of the front channel: the redirect back to the client and what was sent."""

    location: str
    params: dict[str, str]
    verifier: str | None

    @property
    def query(self) -> dict[str, str]:
        return query_of(self.location)

    @property
    def code(self) -> str:
        return self.query["code"]


class Rp:
    """One registered client of the IdP under test, talking to it through the Flask test client."""

    def __init__(self, client, browser: Browser, registered: RegisteredClient, issuer: str) -> None:  # noqa: ANN001
        self.client, self.browser, self.reg, self.issuer = client, browser, registered, issuer

    @property
    def client_id(self) -> str:
        return self.reg.client_id

    # --- front channel -------------------------------------------------------------------------
    def params(self, *, pkce: bool = True, **extra: str | None) -> tuple[dict[str, str], str | None]:
        verifier, challenge = pkce_pair() if pkce else (None, None)
        params = {"response_type": "code", "client_id": self.client_id, "redirect_uri": self.reg.redirect_uri,
                  "scope": "openid profile email", "state": "st-" + secrets.token_hex(4),
                  "nonce": "n-" + secrets.token_hex(4)}
        if challenge:
            params.update(code_challenge=challenge, code_challenge_method="S256")
        params.update({k: v for k, v in extra.items() if v is not None})
        for k in [k for k, v in extra.items() if v is None]:
            params.pop(k, None)
        return params, verifier

    def open_authorize(self, params: dict[str, str], method: str = "GET") -> Page:
        if method == "POST":
            return self.browser.open("/authorize", "POST", params)
        return self.browser.open("/authorize?" + urlencode(params))

    def sign_in(self, email: str = "alice@example.com", password: str = PASSWORD, *, pkce: bool = True,
                method: str = "GET", **extra: str | None) -> Authorization:
        """Authorize, sign in on the password page when asked, and return the redirect to the client."""
        params, verifier = self.params(pkce=pkce, **extra)
        page = self.open_authorize(params, method)
        if page.location is None and page.status == 200 and 'name="password"' in page.text:
            page = self.browser.sign_in(page, email, password)
        assert page.location and page.location.startswith(self.reg.redirect_uri), (page.status, page.text[:1500])
        return Authorization(page.location, params, verifier)

    def code_for(self, email: str = "alice@example.com", **extra: str | None) -> Authorization:
        done = self.sign_in(email, **extra)
        assert "code" in done.query, done.location
        return done

    # --- back channel --------------------------------------------------------------------------
    def _post(self, path: str, data: dict, auth: str = "basic", headers: dict | None = None) -> Reply:
        data = {k: v for k, v in data.items() if v is not None}
        headers = dict(headers or {})
        if auth == "basic":
            headers.update(basic(self.client_id, self.reg.secret or ""))
        elif auth == "post":
            data.update(client_id=self.client_id, client_secret=self.reg.secret or "")
        elif auth == "none":
            data.setdefault("client_id", self.client_id)
        response = self.client.post(path, data=data, headers=headers)
        body = response.get_json(silent=True)
        return Reply(response.status_code, body if body is not None else {}, dict(response.headers))

    def exchange(self, done: Authorization, *, auth: str | None = None, verifier: str | None = "same",
                 redirect_uri: str | None = "same", **extra: str) -> Reply:
        auth = auth or ("none" if self.reg.secret is None else "basic")
        data = {"grant_type": "authorization_code", "code": done.code,
                "redirect_uri": self.reg.redirect_uri if redirect_uri == "same" else redirect_uri,
                "code_verifier": done.verifier if verifier == "same" else verifier, **extra}
        return self._post("/token", data, auth)

    def tokens(self, email: str = "alice@example.com", **extra: str | None) -> dict:
        """A full sign-in to tokens; asserts success."""
        done = self.code_for(email, **extra)
        reply = self.exchange(done)
        assert reply.status == 200, reply.json
        return reply.json

    def refresh(self, refresh_token: str, *, auth: str | None = None, **extra: str) -> Reply:
        auth = auth or ("none" if self.reg.secret is None else "basic")
        return self._post("/token", {"grant_type": "refresh_token", "refresh_token": refresh_token, **extra}, auth)

    def revoke(self, token: str, hint: str | None = None, auth: str = "basic") -> Reply:
        return self._post("/revoke", {"token": token, "token_type_hint": hint}, auth)

    def introspect(self, token: str, hint: str | None = None, auth: str = "basic") -> Reply:
        return self._post("/introspect", {"token": token, "token_type_hint": hint}, auth)

    def userinfo(self, access_token: str, method: str = "GET") -> Reply:
        response = self.client.open("/userinfo", method=method,
                                    headers={"Authorization": f"Bearer {access_token}"})
        body = response.get_json(silent=True)
        return Reply(response.status_code, body if body is not None else {}, dict(response.headers))

    def jwks(self) -> dict:
        return self.client.get("/jwks").get_json()

    def id_token_claims(self, id_token: str) -> dict:
        return jwt.decode(id_token, KeySet.import_key_set(self.jwks()), algorithms=["RS256", "ES256"]).claims

    def id_token_header(self, id_token: str) -> dict:
        import json

        head = id_token.split(".")[0]
        return json.loads(base64.urlsafe_b64decode(head + "=" * (-len(head) % 4)))
