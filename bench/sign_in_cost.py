"""What one full sign-in costs inside the app: SQL statements and CPU, password + authenticator app, code flow
with PKCE, code redeemed for tokens. In-process (Flask test client, a SQLite file or PostgreSQL), so the
figures compare code, not servers: run it on two commits to see a change's effect. By hand, never in tests.

    .venv/bin/python bench/sign_in_cost.py                 # 30 sign-ins on SQLite
    .venv/bin/python bench/sign_in_cost.py --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test"""
from __future__ import annotations

import argparse
import statistics
import sys
import tempfile
import time
from pathlib import Path

import pyotp
import sqlalchemy as sa

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from idp.app import create_app  # noqa: E402
from idp.migrate import ensure_default_organisation  # noqa: E402
from idp.oauth.keys import ensure_signing_keys  # noqa: E402
from idp.services import build_services  # noqa: E402
from tests.support.browser import Browser  # noqa: E402
from tests.support.configs import make_config  # noqa: E402
from tests.support.databases import PostgresTestDatabase, create_sqlite_schema, sqlite_url  # noqa: E402
from tests.support.factors import enrol_totp  # noqa: E402
from tests.support.factory import PASSWORD, Factory  # noqa: E402
from tests.support.oidc import authorize_url, pkce_pair  # noqa: E402


def database(args: argparse.Namespace, folder: Path) -> tuple[str, object]:
    if args.pg_url:
        pg = PostgresTestDatabase(args.pg_url)
        pg.create_schema()
        return pg.url, pg
    url = sqlite_url(folder)
    create_sqlite_schema(url)
    return url, None


def sign_in(app, rp, email: str, secret: str) -> None:  # noqa: ANN001
    browser = Browser(client=app.test_client())
    verifier, challenge = pkce_pair()
    page = browser.sign_in(browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge)), email, PASSWORD)
    done = browser.submit(page, "code", {"code": pyotp.TOTP(secret).now()})
    code = done.location.split("code=")[1].split("&")[0]
    answer = app.test_client().post("/token", data={
        "grant_type": "authorization_code", "code": code, "redirect_uri": rp.redirect_uri,
        "code_verifier": verifier, "client_id": rp.client_id, "client_secret": rp.secret})
    assert answer.status_code == 200, answer.get_data(as_text=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--sign-ins", type=int, default=30)
    parser.add_argument("--pg-url", default="")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        url, pg = database(args, Path(folder))
        config = make_config(url, issuer="http://localhost", rate_limit={"enabled": False})
        services = build_services(config)
        with services.database.session() as db:
            ensure_default_organisation(db)
            ensure_signing_keys(db, services.kek)
        app = create_app(config, services)
        factory = Factory(services)
        rp = factory.client()
        people = []
        for i in range(args.sign_ins + 1):
            email = f"user{i}@example.com"
            factory.user(email)
            people.append((email, enrol_totp(services, email)))
        statements = [0]
        sa.event.listen(services.database.engine, "before_cursor_execute",
                        lambda *a, **k: statements.__setitem__(0, statements[0] + 1))
        sign_in(app, rp, *people[0])                      # warm-up (templates, keys)
        counts, cpu = [], []
        for email, secret in people[1:]:
            statements[0] = 0
            started = time.process_time()
            sign_in(app, rp, email, secret)
            cpu.append((time.process_time() - started) * 1000)
            counts.append(statements[0])
        services.database.dispose()
        if pg is not None:
            pg.drop()
    print(f"full sign-in (password + authenticator app, code + PKCE -> tokens), {args.sign_ins} sign-ins, "
          f"{'PostgreSQL' if args.pg_url else 'SQLite'}")
    print(f"  SQL statements per sign-in: median {statistics.median(counts):.0f} (min {min(counts)}, max {max(counts)})")
    print(f"  CPU per sign-in (whole process, incl. argon2id): median {statistics.median(cpu):.1f} ms")


if __name__ == "__main__":
    main()
