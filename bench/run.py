"""Throughput of `idp serve` (gunicorn, 2 sync workers) on SQLite and PostgreSQL, per request and per server CPU-second.

    .venv/bin/python bench/run.py            # 3 runs per figure (the median is shown), SQLite and PostgreSQL
    .venv/bin/python bench/run.py --quick    # 1 short run
    .venv/bin/python bench/run.py --backends sqlite --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/run.py --users 5000   # 5,000 extra users in the database (default 1,000)
    .venv/bin/python bench/run.py --scale        # sign-ins per CPU-s with 1,000 and with 100,000 users

Run by hand, never from the tests. Everything stays on 127.0.0.1 and ends by itself (fixed request counts,
timeouts on every request). For each database backend:

1. a temporary instance made with the real command line: `idp init`, `idp db upgrade`, `idp user create`,
   `idp client create --refresh-tokens` (a confidential client); the production argon2id parameters of the
   default config (m=19456 KiB, t=2, p=1). The rate limits stay on (their counters are part of the cost), with
   limits raised far above what one benchmark client sends, so that they count but never refuse;
2. `python -m idp --config FILE serve --workers 2 --port P` (gunicorn, sync workers);
3. a load driver of a few processes (httpx, one request at a time each) runs each figure with a fixed number
   of requests. CPU is read from /proc/<pid>/stat (utime+stime, children included) of the gunicorn master and
   its workers before and after, so "per CPU-s" counts the server's own work only (not the driver's, nor the
   PostgreSQL server's).

Figures: (a) complete password sign-ins (authorize → login page → password → code → /token, PKCE S256, a
fresh browser each) next to an argon2id verify loop at the same parameters measured in this process; (b)
refresh grants with rotation; (c) discovery and JWKS next to a plain Flask "hello" app served by gunicorn
the same way (2 sync workers, access log on); (d) userinfo. Then: the share of a sign-in's server CPU spent in
the argon2id verify; p50/p99 latency of each figure at about half the req/s it reached (paced requests); the
resident set size (VmRSS) of each gunicorn worker after the measured run. `--scale` instead compares sign-ins
per CPU-second with 1,000 and with 100,000 users.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import multiprocessing
import os
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
EMAIL = "bench@example.com"
PASSWORD = "bench password for load tests 2024"   # long enough for a password-only account
REDIRECT_URI = "http://127.0.0.1:9/callback"
CONCURRENCY = 4
TIMEOUT = 30.0
TARGETS = {"signin": 35.0, "refresh": 500.0}        # per server CPU-second
KEYCLOAK_REFRESH_PER_VCPU = 120.0
HELLO_FRACTION = 0.80
RSS_TARGET_MB = 120.0                                # per gunicorn worker
SCALE_USERS = (1_000, 100_000)
SCALE_TOLERANCE = 0.10                              # sign-ins per CPU-s within 10 % at 100k users
HALF_LOAD_SECONDS = {True: 10.0, False: 30.0}       # cap of each paced run (quick, full)

FULL = {"signin": 30, "refresh": 300, "discovery": 500, "jwks": 500, "hello": 500, "userinfo": 500}
QUICK = {"signin": 8, "refresh": 60, "discovery": 120, "jwks": 120, "hello": 120, "userinfo": 120}


# --- hello: the reference app (gunicorn imports this module as `run:hello_app()`) -----------------

def hello_app():  # noqa: ANN201
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def hello() -> str:
        return "Hello, World!"

    return app


# --- processes -----------------------------------------------------------------------------------

def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def idp(config: Path | None, *args: str, stdin: str | None = None) -> str:
    cmd = [PYTHON, "-m", "idp", *(["--config", str(config)] if config else []), *args]
    env = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    result = subprocess.run(cmd, cwd=ROOT, input=stdin, capture_output=True, text=True, env=env, timeout=120)
    if result.returncode != 0:
        raise SystemExit(f"bench: `idp {' '.join(args)}` failed ({result.returncode}):\n{result.stderr}")
    return result.stdout


def wait_up(url: str, proc: subprocess.Popen, log: Path, timeout: float = 60.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if proc.poll() is not None:
            raise SystemExit(f"bench: server exited ({proc.returncode}):\n{log.read_text()[-3000:]}")
        try:
            if httpx.get(url, timeout=1.0).status_code < 500:
                return
        except httpx.HTTPError:
            pass
        time.sleep(0.2)
    raise SystemExit(f"bench: {url} did not come up in {timeout}s")


@contextmanager
def server(cmd: list[str], url: str, log: Path, env: dict[str, str] | None = None):  # noqa: ANN201
    with open(log, "w") as out:
        proc = subprocess.Popen(cmd, cwd=ROOT, stdout=out, stderr=subprocess.STDOUT,
                                env={**{k: v for k, v in os.environ.items() if not k.startswith("IDP_")},
                                     **(env or {})})
        try:
            wait_up(url, proc, log)
            yield proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGTERM)
                try:
                    proc.wait(20)
                except subprocess.TimeoutExpired:
                    proc.kill()
                    proc.wait()


CLK_TCK = os.sysconf("SC_CLK_TCK")


def _stat(pid: int) -> list[str] | None:
    try:
        text = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    return text[text.rfind(")") + 2:].split()


def workers(master: int) -> list[int]:
    """The pids of the gunicorn workers (the master's children)."""
    pids = []
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and int(fields[1]) == master:
                pids.append(int(entry))
    return sorted(pids)


def rss_mb(pid: int) -> float | None:
    """Resident set size (VmRSS of /proc/<pid>/status) in MB."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) / 1024
    except (FileNotFoundError, ProcessLookupError):
        pass
    return None


def server_cpu(master: int) -> float:
    """CPU seconds of the gunicorn master and its workers: utime+stime+cutime+cstime (children included)."""
    ticks = 0
    for pid in [master, *workers(master)]:
        fields = _stat(pid)
        if fields:
            ticks += sum(int(fields[i]) for i in (11, 12, 13, 14))
    return ticks / CLK_TCK


# --- the driver (runs in pool processes) -----------------------------------------------------------

class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[tuple[str, dict[str, str]]] = []

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ANN001
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self.forms.append((a.get("action", ""), {}))
        elif tag == "input" and self.forms and a.get("name"):
            self.forms[-1][1][a["name"]] = a.get("value", "")


def _password_form(html: str) -> tuple[str, dict[str, str]]:
    parser = _Forms()
    parser.feed(html)
    for action, fields in parser.forms:
        if "password" in fields:
            return action, fields
    raise RuntimeError(f"no password form in: {html[:300]}")


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def sign_in(base: str, client_id: str, secret: str, scope: str = "openid profile email") -> dict:
    """One complete sign-in in a fresh browser; returns the token response."""
    verifier, challenge = _pkce()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": scope,
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    with httpx.Client(base_url=base, timeout=TIMEOUT) as browser:
        response = browser.get("/authorize?" + urlencode(params))
        while response.status_code in (302, 303) and not response.headers["location"].startswith(REDIRECT_URI):
            response = browser.get(urljoin(base + "/", response.headers["location"]))
        action, fields = _password_form(response.text)
        response = browser.post(urljoin(str(response.url), action),
                                data={**fields, "email": EMAIL, "password": PASSWORD})
        while response.status_code in (302, 303) and not response.headers["location"].startswith(REDIRECT_URI):
            response = browser.get(urljoin(base + "/", response.headers["location"]))
        location = response.headers.get("location", "")
        if not location.startswith(REDIRECT_URI):
            raise RuntimeError(f"sign-in did not return to the client: {response.status_code} {response.text[:300]}")
        code = parse_qs(urlsplit(location).query)["code"][0]
    with httpx.Client(base_url=base, timeout=TIMEOUT) as rp:
        tokens = rp.post("/token", data={"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                         headers=_basic(client_id, secret))
    if tokens.status_code != 200:
        raise RuntimeError(f"/token: {tokens.status_code} {tokens.text[:300]}")
    return tokens.json()


def task(job: tuple) -> tuple[int, int, object, list[float]]:
    """Run `count` operations of `kind`; returns (ok, errors, result for the next job, latencies of the
    successful ones in s). With `interval` (s) the operations are paced: one every `interval` seconds on a
    schedule that never catches up in bursts, and none starts after `limit` seconds."""
    kind, base, count, client_id, secret, token, interval, limit = job
    ok = errors = 0
    latencies: list[float] = []
    start = due = time.perf_counter()
    with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
        for _ in range(count):
            if interval:
                now = time.perf_counter()
                if now - start > limit:
                    break
                time.sleep(max(0.0, due - now))
                due = max(due, now) + interval
            t0 = time.perf_counter()
            try:
                if kind == "signin":
                    sign_in(base, client_id, secret)
                elif kind == "refresh":
                    reply = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                                      headers=_basic(client_id, secret))
                    if reply.status_code != 200:
                        raise RuntimeError(f"refresh: {reply.status_code} {reply.text[:200]}")
                    token = reply.json()["refresh_token"]
                elif kind == "userinfo":
                    reply = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
                    if reply.status_code != 200:
                        raise RuntimeError(f"userinfo: {reply.status_code}")
                else:
                    path = {"discovery": "/.well-known/openid-configuration", "jwks": "/jwks", "hello": "/"}[kind]
                    if http.get(path).status_code != 200:
                        raise RuntimeError(f"{path} failed")
                ok += 1
                latencies.append(time.perf_counter() - t0)
            except (httpx.HTTPError, RuntimeError) as exc:
                errors += 1
                if errors == 1:
                    print(f"bench: {kind}: {exc}", file=sys.stderr)
    return ok, errors, token, latencies


def prepare(job: tuple) -> dict:
    base, client_id, secret, scope = job
    return sign_in(base, client_id, secret, scope)


# --- measuring -----------------------------------------------------------------------------------

@dataclass
class Sample:
    rate: float           # operations per wall-clock second (whole machine)
    per_cpu: float        # operations per server CPU-second
    errors: int = 0
    latencies: list[float] = field(default_factory=list)   # seconds, successful operations

    def percentile(self, p: int) -> float:
        """The p-th percentile latency in ms (nan without samples)."""
        if len(self.latencies) < 2:
            return self.latencies[0] * 1000 if self.latencies else float("nan")
        return statistics.quantiles(self.latencies, n=100, method="inclusive")[p - 1] * 1000


@dataclass
class Figure:
    samples: list[Sample] = field(default_factory=list)

    @property
    def rate(self) -> float:
        return statistics.median(s.rate for s in self.samples)

    @property
    def per_cpu(self) -> float:
        return statistics.median(s.per_cpu for s in self.samples)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.samples)


def measure(pool, master: int, kind: str, base: str, per_process: int, client_id: str = "",  # noqa: ANN001
            secret: str = "", tokens: list | None = None, rate: float | None = None,
            limit: float = 0.0) -> tuple[Sample, list]:
    """`per_process` operations in each driver process; with `rate`, paced at `rate` operations per second in
    all (each process one every CONCURRENCY/rate s) for at most `limit` s."""
    interval = CONCURRENCY / rate if rate else 0.0
    jobs = [(kind, base, per_process, client_id, secret, (tokens or [None] * CONCURRENCY)[i], interval, limit)
            for i in range(CONCURRENCY)]
    cpu0, t0 = server_cpu(master), time.perf_counter()
    results = pool.map(task, jobs)
    elapsed, cpu = time.perf_counter() - t0, server_cpu(master) - cpu0
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return (Sample(ok / elapsed, ok / cpu if cpu > 0 else float("inf"), errors,
                   [lat for r in results for lat in r[3]]), [r[2] for r in results])


def default_passwords():  # noqa: ANN201
    """The password hasher at the default (production) argon2id parameters."""
    sys.path.insert(0, str(ROOT))
    from idp.config import PasswordsConfig
    from idp.security.passwords import Passwords

    cfg = PasswordsConfig()
    return Passwords(cfg.argon2_memory_kib, cfg.argon2_time_cost, cfg.argon2_parallelism)


def argon2_loop(seconds: float) -> Sample:
    """argon2id verifications at the configured parameters, in this process (one core)."""
    passwords = default_passwords()
    stored = passwords.hash(PASSWORD)
    count = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        assert passwords.verify(stored, PASSWORD)
        count += 1
    return Sample(count / (time.perf_counter() - t0), count / (time.process_time() - cpu0))


# --- instances -----------------------------------------------------------------------------------

def rate_limit_section() -> str:
    """Every limit raised far above what the benchmark sends: counted (same work), never refused."""
    sys.path.insert(0, str(ROOT))
    try:
        from idp.config import RateLimitConfig
    except ImportError:
        return ""
    import dataclasses

    names = [f.name for f in dataclasses.fields(RateLimitConfig) if "_per_" in f.name]
    return "\n[rate_limit]\n" + "".join(f'{name} = "10000000/minute"\n' for name in names)


@contextmanager
def postgres_database(base_url: str):  # noqa: ANN201
    import sqlalchemy as sa

    admin_url = sa.make_url(base_url)
    name = f"idp_bench_{uuid.uuid4().hex[:8]}"
    admin = sa.create_engine(admin_url, isolation_level="AUTOCOMMIT")
    with admin.connect() as conn:
        conn.exec_driver_sql(f'CREATE DATABASE "{name}"')
    try:
        yield admin_url.set(database=name).render_as_string(hide_password=False)
    finally:
        with admin.connect() as conn:
            conn.exec_driver_sql(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        admin.dispose()


@dataclass
class Instance:
    config: Path
    base: str
    port: int
    client_id: str
    secret: str
    log: Path


def add_users(config: Path, count: int) -> None:
    """`count` extra users in the instance's database, in one executemany: unique emails and subjects, in the
    bench user's organisation, all sharing ONE argon2id hash (hashed once)."""
    if count <= 0:
        return
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from idp.config import load_config
    from idp.db import create_engine
    from idp.models.user import User

    table = User.__table__
    engine = create_engine(load_config(config, env={}).database)
    try:
        with engine.begin() as conn:
            bench = conn.execute(sa.select(table.c.organisation_id, table.c.created_at)
                                 .where(table.c.email == EMAIL)).one()
            stored = default_passwords().hash("a password nobody signs in with, shared by bulk users")
            tag = secrets.token_hex(4)
            conn.execute(table.insert(), [
                {"subject": f"bulk-{tag}-{i:07d}", "organisation_id": bench.organisation_id,
                 "email": f"bulk{i}.{tag}@example.com", "name": f"Bulk {i}", "password_hash": stored,
                 "created_at": bench.created_at, "password_changed_at": bench.created_at}
                for i in range(count)])
    finally:
        engine.dispose()


def make_instance(directory: Path, database_url: str | None, users: int = 0) -> Instance:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["init", str(directory), "--issuer", base]
    if database_url:
        args += ["--database-url", database_url]
    idp(None, *args)
    config = directory / "config.toml"
    with open(config, "a") as handle:
        handle.write(rate_limit_section())
    idp(config, "db", "upgrade")
    idp(config, "user", "create", EMAIL, "--name", "Bench", "--password-stdin", stdin=PASSWORD + "\n")
    t0 = time.perf_counter()
    add_users(config, users)
    if users:
        print(f"bench: {users:,} extra users inserted in {time.perf_counter() - t0:.1f}s", file=sys.stderr)
    import json

    created = json.loads(idp(config, "client", "create", "--name", "Bench", "--redirect-uri", REDIRECT_URI,
                             "--refresh-tokens", "--json"))
    return Instance(config, base, port, created["client_id"], created["client_secret"], directory / "server.log")


@contextmanager
def serving(instance: Instance, label: str, pool):  # noqa: ANN001, ANN201
    """`idp serve` (2 sync workers) for the instance, warmed up; yields the gunicorn master's pid."""
    cmd = [PYTHON, "-m", "idp", "--config", str(instance.config), "serve", "--workers", "2", "--port",
           str(instance.port)]
    with server(cmd, instance.base + "/.well-known/openid-configuration", instance.log) as proc:
        print(f"[{label}] server up on {instance.base} (gunicorn master {proc.pid}); warming up", file=sys.stderr)
        pool.map(prepare, prepare_jobs(instance))                     # warm-up: every worker, every path
        yield proc.pid


def prepare_jobs(instance: Instance) -> list[tuple]:
    return [(instance.base, instance.client_id, instance.secret, "openid profile email")] * CONCURRENCY


HALF_LOAD_KINDS = ("signin", "refresh", "discovery", "jwks", "userinfo")


def run_backend(label: str, database_url: str | None, runs: int, counts: dict, pool, hello: tuple,  # noqa: ANN001
                work: Path, users: int = 0, quick: bool = False) -> tuple[dict[str, Figure], dict[int, float]]:
    """The figures, then the half-load latency runs (figures "<kind>@half"); also the workers' RSS in MB."""
    instance = make_instance(work / label, database_url, users)
    figures = {k: Figure() for k in ("signin", "argon2", "refresh", "discovery", "jwks", "hello", "userinfo")}
    hello_url, hello_proc = hello
    ident = (instance.client_id, instance.secret)
    with serving(instance, label, pool) as master:
        for run in range(runs):
            print(f"[{label}] run {run + 1}/{runs}", file=sys.stderr)
            sample, _ = measure(pool, master, "signin", instance.base, counts["signin"], *ident)
            figures["signin"].samples.append(sample)
            figures["argon2"].samples.append(argon2_loop(2.0 if runs > 1 else 1.0))

            chains = [t["refresh_token"] for t in pool.map(prepare, prepare_jobs(instance))]
            sample, chains = measure(pool, master, "refresh", instance.base, counts["refresh"], *ident,
                                     tokens=chains)
            figures["refresh"].samples.append(sample)

            for kind in ("discovery", "jwks"):
                sample, _ = measure(pool, master, kind, instance.base, counts[kind])
                figures[kind].samples.append(sample)
            sample, _ = measure(pool, hello_proc.pid, "hello", hello_url, counts["hello"])
            figures["hello"].samples.append(sample)

            access = [t["access_token"] for t in pool.map(prepare, prepare_jobs(instance))]
            sample, _ = measure(pool, master, "userinfo", instance.base, counts["userinfo"], tokens=access)
            figures["userinfo"].samples.append(sample)
        memory = {pid: rss_mb(pid) for pid in workers(master)}      # after the measured run

        # latency at about half the req/s reached above: paced, bounded in count and in time
        tokens = {"refresh": chains, "userinfo": access}
        for kind in HALF_LOAD_KINDS:
            print(f"[{label}] {kind} at half load", file=sys.stderr)
            sample, _ = measure(pool, master, kind, instance.base, counts[kind], *ident, tokens=tokens.get(kind),
                                rate=figures[kind].rate / 2, limit=HALF_LOAD_SECONDS[quick])
            figures[f"{kind}@half"] = Figure([sample])
    return figures, memory


def run_scale(label: str, database_url: str | None, runs: int, counts: dict, pool, work: Path,  # noqa: ANN001
              users: int) -> Figure:
    """Sign-ins per server CPU-second with `users` extra users in the database."""
    instance = make_instance(work / f"{label}-{users}", database_url, users)
    figure = Figure()
    with serving(instance, f"{label}, {users:,} users", pool) as master:
        for _ in range(runs):
            sample, _ = measure(pool, master, "signin", instance.base, counts["signin"], instance.client_id,
                                instance.secret)
            figure.samples.append(sample)
    return figure


# --- report --------------------------------------------------------------------------------------

def aligned(title: str, header: tuple, rows: list[tuple], left: tuple[int, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths).rstrip())
    lines += ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
    return lines


def table(label: str, figures: dict[str, Figure], counts: dict, memory: dict[int, float | None]) -> str:
    hello = figures["hello"]
    argon2 = figures["argon2"]
    rows: list[tuple[str, str, str, str, str, str]] = []

    def row(name: str, fig: Figure, target: float | None, target_text: str, note: str = "") -> None:
        ratio = fig.per_cpu / target if target else None
        verdict = "-" if ratio is None else ("PASS" if ratio >= 1.0 else "BELOW")
        if fig.errors:
            verdict += f" ({fig.errors} errors)"
        rows.append((name, f"{fig.rate:,.0f}", f"{fig.per_cpu:,.0f}", target_text,
                     "-" if ratio is None else f"{ratio:.2f}", verdict + (f"  {note}" if note else "")))

    row("(a) password sign-ins, code+PKCE→tokens", figures["signin"], TARGETS["signin"], f"≥ {TARGETS['signin']:.0f}",
        f"= {figures['signin'].per_cpu / argon2.per_cpu:.2f} × argon2 loop")
    row("    argon2id verify loop (m=19456,t=2,p=1)", argon2, None, "reference")
    # CPU-s per verify ÷ server CPU-s per sign-in (one verify per sign-in)
    share = figures["signin"].per_cpu / argon2.per_cpu
    rows.append(("    share of sign-in CPU in argon2id verify", "", f"{share:.0%}", "reported only", "-",
                 f"{1000 / argon2.per_cpu:.1f} ms verify / {1000 / figures['signin'].per_cpu:.1f} ms server CPU"))
    row("(b) refresh grants with rotation", figures["refresh"], TARGETS["refresh"], f"≥ {TARGETS['refresh']:.0f}",
        f"Keycloak sizing: {KEYCLOAK_REFRESH_PER_VCPU:.0f}/vCPU")
    target = HELLO_FRACTION * hello.per_cpu
    for kind, name in (("discovery", "(c) discovery document"), ("jwks", "(c) JWKS")):
        row(name, figures[kind], target, f"≥ {target:,.0f} (80% hello)",
            f"req/s = {figures[kind].rate / hello.rate:.0%} of hello")
    row("    plain Flask hello, same gunicorn", hello, None, "reference")
    row("(d) userinfo", figures["userinfo"], None, "-")

    header = ("figure", "req/s", "per CPU-s", "target/CPU-s", "ratio", "result")
    lines = aligned(f"{label}: " + ", ".join(f"{k} {v}" for k, v in counts.items()), header, rows, (0, 3, 5))

    latency_rows = []
    for kind in HALF_LOAD_KINDS:
        fig = figures[f"{kind}@half"]
        sample = fig.samples[0]
        latency_rows.append((kind, f"{figures[kind].rate / 2:,.1f}", f"{fig.rate:,.1f}",
                             str(len(sample.latencies)), f"{sample.percentile(50):,.1f}",
                             f"{sample.percentile(99):,.1f}", f"{fig.errors} errors" if fig.errors else ""))
    lines += [""] + aligned("latency at about half load (paced):",
                            ("figure", "asked req/s", "got req/s", "n", "p50 ms", "p99 ms", ""),
                            latency_rows, (0, 6))

    memory_rows = [(f"gunicorn worker {pid}", "?" if mb is None else f"{mb:,.1f}", f"≤ {RSS_TARGET_MB:.0f} MB",
                    "-" if mb is None else ("PASS" if mb <= RSS_TARGET_MB else "ABOVE"))
                   for pid, mb in memory.items()]
    lines += [""] + aligned("memory after the measured run (VmRSS):", ("process", "RSS MB", "target", "result"),
                            memory_rows, (0, 2, 3))
    return "\n".join(lines)


def scale_table(label: str, figures: dict[int, Figure], counts: dict) -> str:
    small, large = (figures[n] for n in SCALE_USERS)
    rows = [(f"sign-ins, {n:,} extra users", f"{fig.rate:,.1f}", f"{fig.per_cpu:,.1f}",
             f"{fig.errors} errors" if fig.errors else "") for n, fig in figures.items()]
    ratio = large.per_cpu / small.per_cpu
    verdict = "PASS" if abs(ratio - 1) <= SCALE_TOLERANCE else "OUTSIDE"
    rows.append((f"ratio {SCALE_USERS[1]:,} ÷ {SCALE_USERS[0]:,}", "", f"{ratio:.2f}",
                 f"target within {SCALE_TOLERANCE:.0%}: {verdict}"))
    return "\n".join(aligned(f"{label}, scale in users: signin {counts['signin']}",
                              ("figure", "req/s", "per CPU-s", "result"), rows, (0, 3)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run instead of three")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("IDP_BENCH_PG_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
                        help="a PostgreSQL database the benchmark may connect to (a temporary one is created)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instances (logs, configs)")
    parser.add_argument("--users", type=int, default=SCALE_USERS[0],
                        help="extra users bulk-inserted before measuring (default %(default)s)")
    parser.add_argument("--scale", action="store_true",
                        help=f"only sign-ins per CPU-s, with {SCALE_USERS[0]:,} and with {SCALE_USERS[1]:,} users")
    args = parser.parse_args()
    runs, counts = (1, QUICK) if args.quick else (3, FULL)
    work = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    print(f"bench: working in {work}; {runs} run(s); {CONCURRENCY} driver processes; "
          f"{os.cpu_count()} CPUs", file=sys.stderr)
    reports = []
    context = multiprocessing.get_context("fork")
    hello_port = free_port()
    hello_cmd = [PYTHON, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync", "--bind",
                 f"127.0.0.1:{hello_port}", "--access-logfile", "-", "--error-logfile", "-", "--chdir",
                 str(ROOT / "bench"), "run:hello_app()"]
    try:
        with context.Pool(CONCURRENCY) as pool, \
                server(hello_cmd, f"http://127.0.0.1:{hello_port}/", work / "hello.log") as hello_proc:
            hello = (f"http://127.0.0.1:{hello_port}", hello_proc)

            def run(label: str, database) -> str:  # noqa: ANN001  (database(): a context giving a URL or None)
                if args.scale:                     # a database of its own for each user count
                    scaled = {}
                    for n in SCALE_USERS:
                        with database() as url:
                            scaled[n] = run_scale(label, url, runs, counts, pool, work, n)
                    return scale_table(f"{label} ({'median of 3 runs' if runs > 1 else '1 run'})", scaled,
                                       {k: v * CONCURRENCY for k, v in counts.items()})
                with database() as url:
                    figures, memory = run_backend(label, url, runs, counts, pool, hello, work, args.users,
                                                  args.quick)
                return table(f"{label} ({'median of 3 runs' if runs > 1 else '1 run'}; {args.users:,} extra users)",
                             figures, {k: v * CONCURRENCY for k, v in counts.items()}, memory)

            for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
                if backend == "sqlite":
                    report = run("SQLite", lambda: nullcontext(None))
                elif backend == "postgresql":
                    try:
                        report = run("PostgreSQL", lambda: postgres_database(args.pg_url))
                    except Exception as exc:  # noqa: BLE001  (report and go on with the other backend)
                        if isinstance(exc, SystemExit):
                            raise
                        print(f"bench: PostgreSQL skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)
                        continue
                else:
                    raise SystemExit(f"bench: unknown backend {backend!r}")
                reports.append(report)
                print(reports[-1] + "\n", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
