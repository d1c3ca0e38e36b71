"""A tiny OpenID Connect relying party for trying Fentu IdP (authlib's Flask client; authorization code + PKCE).

It implements OpenID Connect Back-Channel Logout 1.0 at /backchannel-logout: a Logout Token from the IdP
(validated against its JWKS) ends this app's session for that `sid`, which the next page view shows.

Run `make run` (it starts this too), or by hand: `python examples/demo_rp.py` with the IdP on
http://localhost:8000. Credentials come from instance/demo.json (written by scripts/demo_seed.py) or from
DEMO_CLIENT_ID / DEMO_CLIENT_SECRET / DEMO_ISSUER. It listens on http://127.0.0.1:9000 (the Flask
development server: fine for this example, never for a real application).
"""
from __future__ import annotations

import json
import os
import secrets
import sys
import threading
import time
from datetime import datetime, timezone
from pathlib import Path
from urllib.parse import urlencode

from authlib.integrations.base_client import OAuthError
from authlib.integrations.flask_client import OAuth
from flask import Flask, redirect, render_template_string, request, session, url_for
from joserfc import jwt
from joserfc.errors import JoseError
from joserfc.jwk import KeySet
from joserfc.jwt import JWTClaimsRegistry

ROOT = Path(__file__).resolve().parent.parent
DEMO_FILE = Path(os.environ.get("DEMO_FILE", ROOT / "instance" / "demo.json"))
HOST, PORT = "127.0.0.1", 9000
RP_URL = f"http://{HOST}:{PORT}"
MFA_ACR = "urn:fentu:acr:mfa"
BACKCHANNEL_EVENT = "http://schemas.openid.net/event/backchannel-logout"


def load_settings() -> dict[str, str]:
    """Issuer and client credentials: the environment first, then instance/demo.json."""
    demo: dict = {}
    if DEMO_FILE.exists():
        demo = json.loads(DEMO_FILE.read_text())
    client = demo.get("client") or {}
    settings = {
        "issuer": (os.environ.get("DEMO_ISSUER") or demo.get("issuer") or "http://localhost:8000").rstrip("/"),
        "client_id": os.environ.get("DEMO_CLIENT_ID") or client.get("client_id", ""),
        "client_secret": os.environ.get("DEMO_CLIENT_SECRET") or client.get("client_secret", ""),
    }
    if not settings["client_id"]:
        sys.exit(f"demo_rp: no client credentials: run `make run` (it writes {DEMO_FILE}) "
                 "or set DEMO_CLIENT_ID and DEMO_CLIENT_SECRET")
    return settings


SETTINGS = load_settings()
ISSUER = SETTINGS["issuer"]

app = Flask(__name__)
app.config.update(
    SECRET_KEY=os.environ.get("DEMO_SECRET_KEY") or secrets.token_urlsafe(32),
    # Cookies are not separated by port: the IdP on :8000 uses `idp_session`, so this app must not.
    SESSION_COOKIE_NAME="demo_rp_session",
    SESSION_COOKIE_HTTPONLY=True,
    SESSION_COOKIE_SAMESITE="Lax",
)

oauth = OAuth(app)
oauth.register(
    "idp",
    client_id=SETTINGS["client_id"],
    client_secret=SETTINGS["client_secret"],
    server_metadata_url=ISSUER + "/.well-known/openid-configuration",
    client_kwargs={"scope": "openid profile email", "code_challenge_method": "S256", "default_timeout": 5},
)

class SessionStore:
    """This app's sign-ins keyed by the IdP's `sid` (the ID token's), so that a Logout Token can end them.
    In memory, for one process: a real application keeps it where all its workers see it."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._rows: dict[str, dict] = {}

    def signed_in(self, sid: str, sub: str) -> None:
        with self._lock:
            self._rows[sid] = {"sub": sub, "ended_at": None}

    def end(self, *, sid: str | None, sub: str | None) -> int:
        """End the session `sid` (when given, and of `sub` when both), or every session of `sub`."""
        with self._lock:
            hits = [row for key, row in self._rows.items() if (sid is None or key == sid)
                    and (sub is None or row["sub"] == sub) and row["ended_at"] is None]
            for row in hits:
                row["ended_at"] = time.time()
            return len(hits)

    def ended(self, sid: str | None) -> bool:
        with self._lock:
            row = self._rows.get(sid or "")
            return row is not None and row["ended_at"] is not None


SESSIONS = SessionStore()

PAGE = """<!doctype html>
<html lang="en">
<head>
  <meta charset="utf-8">
  <meta name="viewport" content="width=device-width, initial-scale=1">
  <title>Demo app · Fentu IdP</title>
</head>
<body>
  <header><h1>Demo app</h1><p>A relying party signing in with Fentu IdP at <code>{{ issuer }}</code>.</p></header>
  <main>
  {% if signed_out_by_idp %}
    <p role="status" id="backchannel-notice">You were signed out: your session at the identity provider ended
      (it told this app by back-channel logout).</p>
  {% endif %}
  {% if problem %}
    <section role="alert">
      <h2>{{ problem.title }}</h2>
      <p>{{ problem.detail }}</p>
    </section>
  {% endif %}
  {% if claims %}
    <h2>Signed in as {{ claims.get("name") or claims.get("email") or claims.sub }}</h2>
    <table>
      <tr><th scope="row">sub</th><td><code>{{ claims.sub }}</code></td></tr>
      <tr><th scope="row">email</th><td>{{ claims.get("email", "(not released)") }}
        {% if claims.get("email_verified") is not none %}({{ "verified" if claims.email_verified else "not verified" }}){% endif %}</td></tr>
      <tr><th scope="row">amr</th><td><code>{{ claims.get("amr", []) | join(", ") or "(none)" }}</code></td></tr>
      <tr><th scope="row">acr</th><td><code>{{ claims.get("acr", "(none)") }}</code></td></tr>
      <tr><th scope="row">auth_time</th><td><code>{{ claims.get("auth_time", "(none)") }}</code>
        {% if auth_time %} = {{ auth_time }}{% endif %}</td></tr>
    </table>
    <ul>
      <li><a href="{{ url_for('login', mfa=1) }}">Sign in again with two factors</a>
        (requests <code>acr_values={{ mfa_acr }}</code>)</li>
      <li><a href="{{ security_url }}">Profile &gt; Security</a> (at the identity provider)</li>
      <li><a href="{{ url_for('logout') }}">Sign out</a> (here and at the identity provider)</li>
    </ul>
    <details><summary>All ID token claims</summary><pre>{{ claims_json }}</pre></details>
  {% else %}
    <p>You are not signed in.</p>
    <form method="get" action="{{ url_for('login') }}"><button type="submit">Sign in</button></form>
  {% endif %}
  </main>
</body>
</html>
"""


def render(problem: dict | None = None, status: int = 200):  # noqa: ANN201
    signed_out_by_idp = bool(session.get("claims")) and SESSIONS.ended(session.get("sid"))
    if signed_out_by_idp:
        session.clear()
    claims = session.get("claims")
    auth_time = None
    if claims and isinstance(claims.get("auth_time"), (int, float)):
        moment = datetime.fromtimestamp(claims["auth_time"], tz=timezone.utc)
        ago = max(0, int(time.time() - claims["auth_time"]))
        auth_time = f"{moment:%Y-%m-%d %H:%M:%S} UTC ({_ago(ago)})"
    security_url = ISSUER + "/account/security?" + urlencode(
        {"client_id": SETTINGS["client_id"], "return_to": RP_URL + "/"})
    return render_template_string(
        PAGE, issuer=ISSUER, claims=claims, auth_time=auth_time, problem=problem, mfa_acr=MFA_ACR,
        signed_out_by_idp=signed_out_by_idp,
        security_url=security_url, claims_json=json.dumps(claims, indent=2, sort_keys=True) if claims else "",
    ), status


def _ago(seconds: int) -> str:
    if seconds < 60:
        return f"{seconds} s ago"
    if seconds < 3600:
        return f"{seconds // 60} min ago"
    return f"{seconds // 3600} h {seconds % 3600 // 60} min ago"


def unreachable(exc: Exception):  # noqa: ANN201
    app.logger.warning("identity provider unreachable: %s", exc)
    return render({"title": "Sign-in is unavailable",
                   "detail": f"The identity provider is not reachable at {ISSUER}. Is it running? ({type(exc).__name__})"},
                  503)


@app.before_request
def canonical_host():  # noqa: ANN201
    """The registered redirect URI is exactly http://127.0.0.1:9000/callback: serve every page from there."""
    if request.host_url.rstrip("/") != RP_URL and request.endpoint != "backchannel_logout":
        return redirect(RP_URL + request.full_path.rstrip("?"))
    return None


@app.get("/")
def index():  # noqa: ANN201
    if not session.get("claims"):
        try:
            oauth.idp.load_server_metadata()  # fetched once, then cached
        except (OSError, ValueError) as exc:  # requests' errors are OSErrors; ValueError: not JSON
            return unreachable(exc)
    return render()


@app.get("/login")
def login():  # noqa: ANN201
    extra = {"acr_values": MFA_ACR} if request.args.get("mfa") else {}
    try:
        return oauth.idp.authorize_redirect(url_for("callback", _external=True), **extra)
    except (OSError, ValueError) as exc:
        return unreachable(exc)


@app.get("/callback")
def callback():  # noqa: ANN201
    try:
        token = oauth.idp.authorize_access_token()
    except OAuthError as exc:  # an error response from the IdP, or a state that does not match
        return render({"title": "Sign-in did not complete",
                       "detail": f"{exc.error}: {exc.description or 'no description'}"}, 400)
    except OSError as exc:
        return unreachable(exc)
    except Exception as exc:  # e.g. an ID token that fails validation (signature, nonce, audience, expiry)
        app.logger.exception("sign-in failed")
        return render({"title": "Sign-in failed", "detail": f"The token response was rejected: {exc}"}, 400)
    session["claims"] = dict(token["userinfo"])
    session["id_token"] = token["id_token"]
    session["sid"] = token["userinfo"].get("sid")
    if session["sid"]:
        SESSIONS.signed_in(session["sid"], token["userinfo"]["sub"])
    return redirect(url_for("index"))


def _issuer_keys(refresh: bool = False) -> KeySet:
    """The IdP's JWKS (fetched once and cached by authlib; again when a token names a key we do not know)."""
    return KeySet.import_key_set(oauth.idp.fetch_jwk_set(force=refresh))


def validate_logout_token(token: str) -> dict:
    """OpenID Connect Back-Channel Logout 1.0 §2.6: signature (the IdP's JWKS), typ, iss, aud, iat/exp, the
    backchannel-logout event, `sub` and/or `sid`, and no `nonce`. ValueError (or JoseError) when refused."""
    try:
        decoded = jwt.decode(token, _issuer_keys(), algorithms=["RS256", "ES256"])
    except JoseError:
        decoded = jwt.decode(token, _issuer_keys(refresh=True), algorithms=["RS256", "ES256"])  # keys rotated
    if decoded.header.get("typ") != "logout+jwt":
        raise ValueError("not a Logout Token (typ)")
    claims = decoded.claims
    JWTClaimsRegistry(leeway=30, iss={"essential": True, "value": ISSUER},
                      aud={"essential": True, "value": SETTINGS["client_id"]},
                      iat={"essential": True}, exp={"essential": True}).validate(claims)
    events = claims.get("events")
    if not isinstance(events, dict) or not isinstance(events.get(BACKCHANNEL_EVENT), dict):
        raise ValueError("no back-channel logout event")
    if "nonce" in claims:
        raise ValueError("a Logout Token must not carry a nonce")
    if not claims.get("sid") and not claims.get("sub"):
        raise ValueError("neither sid nor sub")
    return claims


@app.post("/backchannel-logout")
def backchannel_logout():  # noqa: ANN201
    """The IdP says a session ended (server to server): end ours for that `sid` (or that `sub`)."""
    try:
        claims = validate_logout_token(request.form.get("logout_token", ""))
    except (JoseError, ValueError) as exc:
        app.logger.warning("Logout Token refused: %s", exc)
        return {"error": "invalid_request", "error_description": "the Logout Token is not valid"}, 400, \
            {"Cache-Control": "no-store"}
    ended = SESSIONS.end(sid=claims.get("sid"), sub=claims.get("sub") if not claims.get("sid") else None)
    app.logger.info("back-channel logout: %s session(s) ended", ended)
    return "", 200, {"Cache-Control": "no-store"}


@app.get("/logout")
def logout():  # noqa: ANN201
    """RP-initiated logout: forget the local session, then ask the IdP to end its session too."""
    id_token = session.get("id_token")
    session.clear()
    if not id_token:
        return redirect(url_for("index"))
    query = urlencode({"id_token_hint": id_token, "post_logout_redirect_uri": RP_URL + "/"})
    return redirect(f"{ISSUER}/logout?{query}")


if __name__ == "__main__":
    print(f"Demo app on {RP_URL}/ (identity provider: {ISSUER}, client_id {SETTINGS['client_id']})", flush=True)
    app.run(host=HOST, port=PORT, debug=False, use_reloader=False)
