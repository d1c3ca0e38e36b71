"""The floor under issue 14's sign-in ratios: the same four requests with only the work no sign-in can skip.

    .venv/bin/python bench/floor.py            # 3 rounds (the median is shown)
    .venv/bin/python bench/floor.py --quick    # 1 short round

Run by hand, never from the tests; SQLite only, everything on 127.0.0.1. In one run, alternating:

* the product: `idp serve` (2 sync gunicorn workers) on an instance made as bench/run.py makes it (the real
  command line, 1,000 users with a password and an authenticator app);
* the floor: a small Flask app (`floor_app` below) on the same gunicorn settings, serving the same users from a
  SQLite file of its own: `GET /authorize` (the request checked, a login transaction inserted, a password page
  rendered), `POST /login` (the password checked with argon2id at the same parameters; an authenticator-app page),
  `POST /login` (the TOTP code checked against the decrypted secret, its time step claimed, a code inserted,
  the redirect), `POST /token` (client secret, the code claimed, PKCE S256, a token row, an RS256 ID token);
* the argon2id verify loop of bench/run.py (the reference of the issue's ratios).

Both are driven by bench/run.py's own driver (a browser that fills whichever form a page shows, codes never
replayed) and measured the same way (server CPU from /proc). The floor has none of the product's other work:
no flow engine or policy, no CSRF token, no rate limits, no lockout counters, no audit log, no browser session,
no authlib, no ORM. It is a lower bound for what a Flask app on gunicorn can do, not a design to copy."""
from __future__ import annotations

import argparse
import base64
import hashlib
import hmac
import json
import multiprocessing
import os
import secrets
import shutil
import sqlite3
import sys
import tempfile
import time
from pathlib import Path

import run as bench
from run import Drive, Figure, Slice

CLIENT_ID = "floor-client"
FLOOR_DIR = "IDP_FLOOR_DIR"            # where the floor app finds its database, key and client (set for gunicorn)

PAGE = """<!doctype html><html lang="en"><head><meta charset="utf-8"><title>{{ title }}</title></head><body>
<h1>{{ title }}</h1>{% if message %}<p role="alert">{{ message }}</p>{% endif %}
<form method="post" action="/login">{% if step == "password" %}
<input type="email" name="email" autocomplete="username" required>
<input type="password" name="password" autocomplete="current-password" required>{% else %}
<input type="text" name="code" inputmode="numeric" autocomplete="one-time-code" required>{% endif %}
<input type="hidden" name="step" value="{{ step }}"><button type="submit">Continue</button></form></body></html>"""

SCHEMA = """
CREATE TABLE user_account (id INTEGER PRIMARY KEY, email TEXT UNIQUE NOT NULL, subject TEXT NOT NULL,
    password_hash TEXT NOT NULL, totp_secret BLOB, last_step INTEGER);
CREATE TABLE login_transaction (id INTEGER PRIMARY KEY, handle_digest TEXT UNIQUE NOT NULL, params TEXT NOT NULL,
    user_id INTEGER, stage TEXT NOT NULL, auth_time INTEGER, amr TEXT);
CREATE TABLE authorization_code (id INTEGER PRIMARY KEY, code_digest TEXT UNIQUE NOT NULL, user_id INTEGER NOT NULL,
    redirect_uri TEXT NOT NULL, code_challenge TEXT NOT NULL, nonce TEXT, auth_time INTEGER NOT NULL,
    amr TEXT NOT NULL, used_at INTEGER);
CREATE TABLE oauth_token (id INTEGER PRIMARY KEY, access_digest TEXT UNIQUE NOT NULL, refresh_digest TEXT UNIQUE,
    user_id INTEGER NOT NULL, scope TEXT NOT NULL, issued_at INTEGER NOT NULL);
"""


def _digest(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


def _hasher(parameters: dict[str, int]):  # noqa: ANN202
    """argon2id (argon2-cffi) at the instance's parameters: memory_cost (KiB), time_cost, parallelism."""
    from argon2 import PasswordHasher, Type

    return PasswordHasher(type=Type.ID, **parameters)


# --- the floor app (gunicorn imports this module as `floor:floor_app()`) --------------------------------------

def floor_app():  # noqa: ANN201, C901 - one small app, read top to bottom
    import pyotp
    from argon2.exceptions import VerificationError
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM
    from flask import Flask, abort, jsonify, redirect, render_template_string, request
    from joserfc import jwt
    from joserfc.jwk import RSAKey

    home = Path(os.environ[FLOOR_DIR])
    setup = json.loads((home / "floor.json").read_text())
    key = RSAKey.import_key((home / "key.pem").read_bytes())
    aead = AESGCM(bytes.fromhex(setup["aead_key"]))
    hasher = _hasher(setup["argon2"])
    app = Flask("floor")
    local: dict[str, sqlite3.Connection] = {}

    def db() -> sqlite3.Connection:        # one connection per worker process, opened after the fork
        if "db" not in local:
            conn = sqlite3.connect(home / "floor.sqlite", isolation_level=None, timeout=30)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            local["db"] = conn
        return local["db"]

    def page(step: str, message: str = "") -> str:
        title = "Sign in" if step == "password" else "Enter the code from your authenticator app"
        return render_template_string(PAGE, title=title, step=step, message=message)

    @app.get("/authorize")
    def authorize():  # noqa: ANN202
        args = request.args
        if (args.get("response_type") != "code" or args.get("client_id") != CLIENT_ID
                or args.get("redirect_uri") != setup["redirect_uri"] or args.get("code_challenge_method") != "S256"
                or not args.get("code_challenge") or "openid" not in args.get("scope", "").split()):
            abort(400)
        handle = secrets.token_urlsafe(32)
        conn = db()
        conn.execute("BEGIN IMMEDIATE")
        conn.execute("INSERT INTO login_transaction (handle_digest, params, stage) VALUES (?, ?, 'password')",
                     (_digest(handle), json.dumps(dict(args))))
        conn.execute("COMMIT")
        response = app.make_response(page("password"))
        response.set_cookie("tx", handle, httponly=True, samesite="Lax")
        return response

    @app.post("/login")
    def login():  # noqa: ANN202
        conn = db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            tx = conn.execute("SELECT id, params, user_id, stage, auth_time FROM login_transaction "
                              "WHERE handle_digest = ?", (_digest(request.cookies.get("tx", "")),)).fetchone()
            if tx is None or tx[3] != request.form.get("step"):
                abort(400)
            answer = password_step(conn, tx) if tx[3] == "password" else code_step(conn, tx)
            conn.execute("COMMIT")
            return answer
        except BaseException:
            conn.execute("ROLLBACK")
            raise

    def password_step(conn: sqlite3.Connection, tx: tuple):  # noqa: ANN202
        user = conn.execute("SELECT id, password_hash, totp_secret FROM user_account WHERE email = ?",
                            (request.form.get("email", "").strip().lower(),)).fetchone()
        try:
            right = user is not None and hasher.verify(user[1], request.form.get("password", ""))
        except VerificationError:
            right = False
        if not right:
            return page("password", "The email address or password is not correct.")
        if user[2] is None:
            return issue_code(conn, tx, user[0], int(time.time()), ["pwd"])
        conn.execute("UPDATE login_transaction SET user_id = ?, stage = 'code', auth_time = ? WHERE id = ?",
                     (user[0], int(time.time()), tx[0]))
        return page("code")

    def code_step(conn: sqlite3.Connection, tx: tuple):  # noqa: ANN202
        secret = conn.execute("SELECT totp_secret FROM user_account WHERE id = ?", (tx[2],)).fetchone()[0]
        totp = pyotp.TOTP(aead.decrypt(secret[:12], secret[12:], None).decode())
        code, now = request.form.get("code", ""), time.time()
        step = next((s for s in (int(now) // 30 + d for d in (0, -1, 1))
                     if hmac.compare_digest(totp.generate_otp(s), code)), None)
        if step is None or conn.execute(
                "UPDATE user_account SET last_step = ? WHERE id = ? AND (last_step IS NULL OR last_step < ?)",
                (step, tx[2], step)).rowcount != 1:
            return page("code", "That code is not correct.")
        return issue_code(conn, tx, tx[2], tx[4], ["pwd", "otp", "mfa"])

    def issue_code(conn: sqlite3.Connection, tx: tuple, user_id: int, auth_time: int, amr: list[str]):  # noqa: ANN202
        params, code = json.loads(tx[1]), secrets.token_urlsafe(32)
        conn.execute("INSERT INTO authorization_code (code_digest, user_id, redirect_uri, code_challenge, nonce, "
                     "auth_time, amr) VALUES (?, ?, ?, ?, ?, ?, ?)",
                     (_digest(code), user_id, params["redirect_uri"], params["code_challenge"], params.get("nonce"),
                      auth_time, json.dumps(amr)))
        conn.execute("UPDATE login_transaction SET stage = 'done' WHERE id = ?", (tx[0],))
        return redirect(f"{params['redirect_uri']}?code={code}&state={params.get('state', '')}", 302)

    @app.post("/token")
    def token():  # noqa: ANN202
        scheme, _, value = request.headers.get("Authorization", "").partition(" ")
        client_id, _, secret = base64.b64decode(value).decode().partition(":") if scheme == "Basic" else ("", "", "")
        if client_id != CLIENT_ID or not hmac.compare_digest(_digest(secret), setup["secret_digest"]):
            return jsonify(error="invalid_client"), 401
        if request.form.get("grant_type") == "refresh_token":
            return refreshed()
        form, issued = request.form, int(time.time())
        conn = db()
        conn.execute("BEGIN IMMEDIATE")
        try:
            code = conn.execute("UPDATE authorization_code SET used_at = ? WHERE code_digest = ? AND used_at IS NULL "
                                "RETURNING user_id, redirect_uri, code_challenge, nonce, auth_time, amr",
                                (issued, _digest(form.get("code", "")))).fetchone()
            verifier = base64.urlsafe_b64encode(hashlib.sha256(form.get("code_verifier", "").encode()).digest())
            if (code is None or form.get("grant_type") != "authorization_code" or form.get("redirect_uri") != code[1]
                    or not hmac.compare_digest(verifier.rstrip(b"=").decode(), code[2])):
                conn.execute("ROLLBACK")
                return jsonify(error="invalid_grant"), 400
            subject, email = conn.execute("SELECT subject, email FROM user_account WHERE id = ?", (code[0],)).fetchone()
            access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            conn.execute("INSERT INTO oauth_token (access_digest, refresh_digest, user_id, scope, issued_at) "
                         "VALUES (?, ?, ?, ?, ?)", (_digest(access), _digest(refresh), code[0], "openid", issued))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        claims = {"iss": setup["issuer"], "sub": subject, "aud": CLIENT_ID, "iat": issued, "exp": issued + 300,
                  "auth_time": code[4], "nonce": code[3], "amr": json.loads(code[5]), "email": email}
        id_token = jwt.encode({"alg": "RS256", "kid": "floor"}, claims, key)
        response = jsonify(access_token=access, token_type="Bearer", expires_in=3600, refresh_token=refresh,
                           id_token=id_token, scope="openid")
        response.headers["Cache-Control"] = "no-store"
        return response

    def refreshed():  # noqa: ANN202
        """Rotation: the old refresh token claimed (one conditional UPDATE), a new pair inserted."""
        conn, issued = db(), int(time.time())
        conn.execute("BEGIN IMMEDIATE")
        try:
            old = conn.execute("UPDATE oauth_token SET refresh_digest = NULL WHERE refresh_digest = ? "
                               "RETURNING user_id, scope", (_digest(request.form.get("refresh_token", "")),)).fetchone()
            if old is None:
                conn.execute("ROLLBACK")
                return jsonify(error="invalid_grant"), 400
            access, refresh = secrets.token_urlsafe(32), secrets.token_urlsafe(32)
            conn.execute("INSERT INTO oauth_token (access_digest, refresh_digest, user_id, scope, issued_at) "
                         "VALUES (?, ?, ?, ?, ?)", (_digest(access), _digest(refresh), old[0], old[1], issued))
            conn.execute("COMMIT")
        except BaseException:
            if conn.in_transaction:
                conn.execute("ROLLBACK")
            raise
        response = jsonify(access_token=access, token_type="Bearer", expires_in=3600, refresh_token=refresh,
                           scope=old[1])
        response.headers["Cache-Control"] = "no-store"
        return response

    return app


# --- setting the floor up beside a product instance -----------------------------------------------------------

def make_floor(home: Path, instance: bench.Instance, base: str) -> tuple[str, str]:
    """The floor's database (the instance's users: the bench user without, the TOTP users with their secret,
    encrypted; the instance's argon2id parameters), its RSA key and setup; returns (client_id, client_secret)."""
    from cryptography.hazmat.primitives import serialization
    from cryptography.hazmat.primitives.asymmetric import rsa
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

    home.mkdir(parents=True, exist_ok=True)
    key = rsa.generate_private_key(public_exponent=65537, key_size=2048)
    (home / "key.pem").write_bytes(key.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                                     serialization.NoEncryption()))
    aead_key, secret = AESGCM.generate_key(bit_length=256), secrets.token_urlsafe(32)
    _, passwords = bench.passwords_of(instance.config)
    argon2 = {"memory_cost": passwords.argon2_memory_kib, "time_cost": passwords.argon2_time_cost,
              "parallelism": passwords.argon2_parallelism}
    (home / "floor.json").write_text(json.dumps({"issuer": base, "redirect_uri": bench.REDIRECT_URI,
                                                 "secret_digest": _digest(secret), "aead_key": aead_key.hex(),
                                                 "argon2": argon2}))
    aead = AESGCM(aead_key)
    stored = _hasher(argon2).hash(bench.PASSWORD)
    book = json.loads(instance.people.read_text())
    if (book["digits"], book["period"], book["algorithm"].upper()) != (6, 30, "SHA1"):
        raise SystemExit("bench/floor.py: the floor checks 6-digit, 30-second SHA1 codes only")
    rows = [(bench.EMAIL, "floor-bench", stored, None)]
    for i, (email, plain) in enumerate(book["users"]):
        nonce = os.urandom(12)
        rows.append((email, f"floor-{i}", stored, nonce + aead.encrypt(nonce, plain.encode(), None)))
    with sqlite3.connect(home / "floor.sqlite") as conn:
        conn.execute("PRAGMA journal_mode=WAL")
        conn.executescript(SCHEMA)
        conn.executemany("INSERT INTO user_account (email, subject, password_hash, totp_secret) VALUES (?, ?, ?, ?)",
                         rows)
    return CLIENT_ID, secret


def floor_server(home: Path, port: int):  # noqa: ANN201
    return bench.server(bench.gunicorn_command(port, "floor:floor_app()"), f"http://127.0.0.1:{port}/authorize",
                        home / "server.log", env={FLOOR_DIR: str(home)})


FIGURES = ("product signin2fa", "floor signin2fa", "product signin", "floor signin", "argon2",
           "product refresh", "floor refresh", "hello")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short round instead of three")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instances (logs, configs)")
    args = parser.parse_args()
    rounds, counts = (1, bench.QUICK) if args.quick else (3, bench.FULL)
    work = Path(tempfile.mkdtemp(prefix="idp-floor-"))
    figures = {name: Figure() for name in FIGURES}
    try:
        instance = bench.make_instance(work / "product", None, bench.SCALE_USERS[0])
        product = bench.new_drive(instance)
        floor_port, hello_port = bench.free_port(), bench.free_port()
        floor_base = f"http://127.0.0.1:{floor_port}"
        client_id, secret = make_floor(work / "floor", instance, floor_base)
        floor = Drive(floor_base, client_id, secret, [Slice(str(instance.people), i) for i in range(bench.CONCURRENCY)])
        with multiprocessing.get_context("fork").Pool(bench.CONCURRENCY) as pool, \
                bench.serving(instance, "product", pool, product) as master, \
                floor_server(work / "floor", floor_port) as floor_proc, \
                bench.hello_server(hello_port, work / "hello.log") as hello_proc:
            servers = {"product": (master, product), "floor": (floor_proc.pid, floor)}
            for kind in bench.SIGN_INS:        # warm-up
                bench.run_kind(pool, floor_proc.pid, floor, kind, 1)
            for number in range(rounds):
                print(f"[floor] round {number + 1}/{rounds}", file=sys.stderr)
                for kind in bench.SIGN_INS:
                    for name, (pid, drive) in servers.items():
                        figures[f"{name} {kind}"].samples.append(bench.run_kind(pool, pid, drive, kind, counts[kind]))
                figures["argon2"].samples.append(bench.argon2_loop(instance.config, 2.0 if rounds > 1 else 1.0))
                for name, (pid, drive) in servers.items():
                    bench.fresh_tokens(pool, drive)
                    figures[f"{name} refresh"].samples.append(
                        bench.run_kind(pool, pid, drive, "refresh", counts["refresh"]))
                figures["hello"].samples.append(bench.run_kind(pool, hello_proc.pid, product, "hello", counts["hello"],
                                                               base=f"http://127.0.0.1:{hello_port}"))
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print(report(figures, rounds))


def report(figures: dict[str, Figure], rounds: int) -> str:
    rows = []
    for name in FIGURES:
        figure = figures[name]
        reference = "hello" if name.endswith(("refresh", "hello")) else "argon2"
        rows.append((bench.NAMES[reference] + " (a reference)" if name == reference else name,
                     f"{figure.cpu_ms:.2f} ms", f"{figure.ratio(figures[reference]):.2f}× {bench.NAMES[reference]}",
                     f"{figure.errors} failed" if figure.errors else ""))
    how = "median of 3 rounds" if rounds > 1 else "1 round"
    return "\n".join(bench.aligned(f"Server CPU per operation, SQLite ({how}; ratio = ÷ the reference of the same round)",
                                   ("figure", "CPU ms/op", "ratio", ""), rows, (0, 2)))


if __name__ == "__main__":
    main()
