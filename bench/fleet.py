"""Fleet benchmark: concurrent sign-ins (password + authenticator app) against real `idp serve` processes.

    .venv/bin/python bench/fleet.py                       # 200 sign-ins, 1 server x 2 workers, SQLite
    .venv/bin/python bench/fleet.py --servers 2 --workers 2 \\
        --database-url postgresql+psycopg://postgres@127.0.0.1:5432/test --sign-ins 400

Everything runs on 127.0.0.1 and ends by itself (a bounded number of sign-ins, each with a timeout). The
database given by --database-url gets a fresh schema in a new database of its own (PostgreSQL: dropped at the
end); by default a temporary SQLite file. Every sign-in comes from its own client address (X-Forwarded-For
through `[server] trusted_proxies = 1`), as behind a load balancer, with the default rate limits.

Each simulated person: GET /authorize on one server, password and code posted on the next server (round
robin), then the code exchanged at /token. With --replay (default) a second sign-in of the same person reaches
the code page at the same time and submits the SAME code at the same moment: exactly one of the two may get
in (single use across workers and servers). Prints a JSON report: sign-ins per second, latency percentiles,
errors, duplicate code acceptances, and the servers' own request counts from /metrics.

`drive()` is also used by tests/hardening/test_load.py.
"""
from __future__ import annotations

import argparse
import json
import statistics
import sys
import tempfile
import threading
import time
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from urllib.parse import urljoin

import httpx
import pyotp

ROOT = Path(__file__).resolve().parents[1]
if str(ROOT) not in sys.path:
    sys.path.insert(0, str(ROOT))


@dataclass(frozen=True)
class Person:
    email: str
    password: str
    totp_secret: str


@dataclass(frozen=True)
class Rp:
    client_id: str
    secret: str
    redirect_uri: str


@dataclass
class Report:
    sign_ins: int = 0                       # people who got in (code exchanged for tokens)
    replays_refused: int = 0                # second submissions of a used code that were refused
    duplicates: int = 0                     # a code accepted twice: must be 0
    errors: list[str] = field(default_factory=list)
    latencies: list[float] = field(default_factory=list)   # seconds per person, first request to tokens
    duration: float = 0.0

    def summary(self) -> dict:
        lat = sorted(self.latencies)

        def pct(p: float) -> float | None:
            return round(lat[min(len(lat) - 1, int(p * len(lat)))], 3) if lat else None

        return {"sign_ins": self.sign_ins, "replays_refused": self.replays_refused, "duplicates": self.duplicates,
                "errors": len(self.errors), "first_errors": self.errors[:5], "duration_s": round(self.duration, 2),
                "sign_ins_per_s": round(self.sign_ins / self.duration, 1) if self.duration else None,
                "latency_s": {"p50": pct(0.5), "p95": pct(0.95), "p99": pct(0.99), "max": pct(1.0),
                              "mean": round(statistics.mean(lat), 3) if lat else None}}


def _forms(html: str):  # noqa: ANN202
    from html.parser import HTMLParser

    found: list[tuple[str, dict[str, str]]] = []

    class Parser(HTMLParser):
        def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ANN001
            a = {k: v or "" for k, v in attrs}
            if tag == "form":
                found.append((a.get("action", ""), {}))
            elif tag == "input" and found and a.get("name") and a.get("type") not in ("checkbox", "radio"):
                found[-1][1][a["name"]] = a.get("value", "")

    Parser().feed(html)
    return found


def _form_with(html: str, field_name: str) -> tuple[str, dict[str, str]]:
    for action, fields in _forms(html):
        if field_name in fields:
            return action, fields
    raise LookupError(f"no form with {field_name!r}")


def _follow(http: httpx.Client, base: str, response: httpx.Response) -> httpx.Response:
    for _ in range(10):
        location = response.headers.get("location")
        if response.status_code not in (301, 302, 303) or not location or not urljoin(base + "/", location).startswith(base):
            return response
        response = http.get(urljoin(base + "/", location))
    return response


def _to_code_page(http: httpx.Client, first: str, second: str, rp: Rp, person: Person) -> tuple[str, str]:
    """Authorize on `first`, password on `second`: the code page's HTML and the PKCE verifier."""
    import base64
    import hashlib
    import secrets
    from urllib.parse import urlencode

    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    query = urlencode({"response_type": "code", "client_id": rp.client_id, "redirect_uri": rp.redirect_uri,
                       "scope": "openid email", "state": secrets.token_hex(4), "nonce": secrets.token_hex(4),
                       "code_challenge": challenge, "code_challenge_method": "S256"})
    page = _follow(http, first, http.get(f"{first}/authorize?{query}"))
    if page.status_code != 200:
        raise RuntimeError(f"authorize: {page.status_code}")
    _, fields = _form_with(page.text, "password")
    page = _follow(http, second, http.post(f"{second}/login", data={**fields, "email": person.email,
                                                                     "password": person.password}))
    if page.status_code != 200 or 'name="code"' not in page.text:
        raise RuntimeError(f"password step: {page.status_code} {page.text[:200]!r}")
    return page.text, verifier


def _submit_code(http: httpx.Client, server: str, html: str, code: str) -> httpx.Response:
    _, fields = _form_with(html, "code")
    return http.post(f"{server}/login", data={**fields, "code": code})


def _one(index: int, servers: list[str], rp: Rp, person: Person, replay: bool, timeout: float,
         start: threading.Barrier, report: Report, lock: threading.Lock) -> None:
    first, second = servers[index % len(servers)], servers[(index + 1) % len(servers)]
    headers = {"X-Forwarded-For": f"198.18.{index // 250}.{index % 250 + 1}"}
    # no keep-alive: a request on a connection the server is closing at that moment fails with a reset
    # (browsers retry those; a benchmark must not count them)
    clients = [httpx.Client(timeout=timeout, headers={**headers, "Connection": "close"},
                            limits=httpx.Limits(max_keepalive_connections=0)) for _ in range(2 if replay else 1)]
    try:
        start.wait(timeout)
        began = time.perf_counter()
        pages = [_to_code_page(clients[0], first, second, rp, person)]
        if replay:
            pages.append(_to_code_page(clients[1], second, first, rp, person))
        code = pyotp.TOTP(person.totp_secret).now()
        answers: list[httpx.Response | None] = [None] * len(pages)
        together = threading.Barrier(len(pages))

        failures: list[str] = []

        def submit(i: int) -> None:
            try:
                together.wait(timeout)
                answers[i] = _submit_code(clients[i], (second, first)[i], pages[i][0], code)
            except Exception as exc:  # noqa: BLE001
                failures.append(f"code submission {i}: {type(exc).__name__}: {exc}")

        helpers = [threading.Thread(target=submit, args=(i,)) for i in range(1, len(pages))]
        for t in helpers:
            t.start()
        submit(0)
        for t in helpers:
            t.join(timeout)
        if failures:
            raise RuntimeError("; ".join(failures))
        winners = [i for i, a in enumerate(answers)
                   if a is not None and a.status_code == 302 and "code=" in a.headers.get("location", "")]
        refused = [i for i, a in enumerate(answers) if a is not None and a.status_code == 200 and "already used" in a.text]
        if len(winners) != 1 or len(winners) + len(refused) != len(answers):
            with lock:
                report.duplicates += max(0, len(winners) - 1)
                report.errors.append(f"{person.email}: code answers "
                                     f"{[(a.status_code if a is not None else None) for a in answers]}")
            if not winners:
                return
        winner = winners[0]
        from urllib.parse import parse_qs, urlsplit
        auth_code = parse_qs(urlsplit(answers[winner].headers["location"]).query)["code"][0]
        token = clients[winner].post(f"{first}/token", auth=(rp.client_id, rp.secret), data={
            "grant_type": "authorization_code", "code": auth_code, "redirect_uri": rp.redirect_uri,
            "code_verifier": pages[winner][1]})
        if token.status_code != 200 or "id_token" not in token.json():
            raise RuntimeError(f"token: {token.status_code} {token.text[:200]!r}")
        with lock:
            report.sign_ins += 1
            report.replays_refused += len(refused)
            report.latencies.append(time.perf_counter() - began)
    except Exception as exc:  # noqa: BLE001 - every failure is reported, none stops the others
        with lock:
            report.errors.append(f"{person.email}: {type(exc).__name__}: {exc}")
    finally:
        for client in clients:
            client.close()


def drive(servers: list[str], rp: Rp, people: list[Person], *, replay: bool = True, timeout: float = 60.0) -> Report:
    """Sign every person in at once (one thread each, released together); bounded by `timeout` per request."""
    report, lock = Report(), threading.Lock()
    start = threading.Barrier(len(people) + 1)
    threads = [threading.Thread(target=_one, args=(i, servers, rp, p, replay, timeout, start, report, lock),
                                daemon=True) for i, p in enumerate(people)]
    for t in threads:
        t.start()
    start.wait(timeout)
    began = time.perf_counter()
    for t in threads:
        t.join(timeout * 6)
    report.duration = time.perf_counter() - began
    if any(t.is_alive() for t in threads):
        report.errors.append("some sign-ins did not finish in time")
    return report


# --------------------------------------------------------------------------- stand-alone run

def setup_people(services, count: int, password: str) -> tuple[Rp, list[Person]]:  # noqa: ANN001
    """`count` people with a password and an authenticator app, and a confidential client."""
    from idp import accounts
    from idp.clients import register_client
    from idp.factors import enrolled, totp
    from idp.migrate import ensure_default_organisation
    from idp.oauth.keys import ensure_signing_keys

    people = []
    with services.database.session() as db:
        org = ensure_default_organisation(db)
        ensure_signing_keys(db, services.kek)
        client, secret = register_client(db, name="Fleet bench", redirect_uris=["http://127.0.0.1:9/callback"],
                                         logout_uris=[], public=False, require_pkce=True, require_consent=False,
                                         refresh_tokens=False, organisation_id=org.id)
        rp = Rp(client.client_id, secret, "http://127.0.0.1:9/callback")
        for i in range(count):
            email = f"bench{i}@example.com"
            user = accounts.create_user(db, services.passwords, email, organisation=org, password=password)
            factor = totp.start_enrolment(db, services, user)
            enrolled.activate(db, user, factor)
            people.append(Person(email, password, totp.factor_secret(services, factor)))
    return rp, people


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--servers", type=int, default=1)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--worker-class", choices=("sync", "gthread"), default="sync")
    parser.add_argument("--threads", type=int, default=4, help="per worker, with --worker-class gthread")
    parser.add_argument("--sign-ins", type=int, default=200)
    parser.add_argument("--no-replay", action="store_true", help="one sign-in per person (no duplicate-code race)")
    parser.add_argument("--database-url", default="", help="PostgreSQL server URL (a database of its own is made)")
    parser.add_argument("--redis-url", default="", help="keep the rate-limit counters in Redis")
    parser.add_argument("--timeout", type=float, default=60.0)
    args = parser.parse_args(argv)
    if not 1 <= args.sign_ins <= 2000 or not 1 <= args.servers <= 8:
        parser.error("--sign-ins 1..2000 and --servers 1..8")

    from idp.services import build_services
    from tests.hardening.helpers import LoggedIdpProcess, running
    from tests.support.configs import make_config, write_config_file
    from tests.support.databases import PostgresTestDatabase, create_sqlite_schema
    from tests.support.servers import free_port

    work = Path(tempfile.mkdtemp(prefix="idp-fleet-"))
    pg = None
    if args.database_url:
        pg = PostgresTestDatabase(args.database_url)
        pg.create_schema()
        url = pg.url
    else:
        url = f"sqlite:///{work / 'idp.db'}"
        create_sqlite_schema(url)
    try:
        password = "fleet bench passphrase " + uuid.uuid4().hex[:6]
        ports = [free_port() for _ in range(args.servers)]
        overrides = {"server": {"trusted_proxies": 1, "worker_class": args.worker_class, "threads": args.threads},
                     "database": {"pool_size": max(5, args.threads), "max_overflow": 5},
                     "rate_limit": {"redis_url": args.redis_url}}
        services = build_services(make_config(url, issuer=f"http://127.0.0.1:{ports[0]}", **overrides))
        rp, people = setup_people(services, args.sign_ins, password)
        services.database.dispose()
        config_file = write_config_file(work / "config.toml", url, f"http://127.0.0.1:{ports[0]}", **overrides)
        procs = [LoggedIdpProcess(config_file, port, workers=args.workers) for port in ports]
        with running(*procs):
            report = drive([p.url for p in procs], rp, people, replay=not args.no_replay, timeout=args.timeout)
            metrics = httpx.get(procs[0].url + "/metrics", timeout=10).text
        summary = report.summary()
        summary["setup"] = {"servers": args.servers, "workers": args.workers, "worker_class": args.worker_class,
                            "database": "postgresql" if pg else "sqlite", "replay": not args.no_replay,
                            "rate_limit_backend": "redis" if args.redis_url else "database"}
        summary["server_metrics"] = {line.split(" ")[0]: float(line.split(" ")[1]) for line in metrics.splitlines()
                                     if line.startswith(("idp_sign_ins_total", "idp_rate_limit_hits_total",
                                                         "idp_tokens_issued_total"))}
        print(json.dumps(summary, indent=2))
        return 0 if not report.errors and not report.duplicates else 1
    finally:
        if pg is not None:
            pg.drop()


if __name__ == "__main__":
    sys.exit(main())
