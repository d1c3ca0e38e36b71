"""Throughput of `idp serve` (gunicorn, 2 sync workers) on SQLite and PostgreSQL, per request and per server CPU-second.

    .venv/bin/python bench/run.py            # 3 runs per figure (the median is shown), SQLite and PostgreSQL
    .venv/bin/python bench/run.py --quick    # 1 short run
    .venv/bin/python bench/run.py --backends sqlite --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test

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
the same way (2 sync workers, access log on); (d) userinfo.
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
from contextlib import contextmanager
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


def server_cpu(master: int) -> float:
    """CPU seconds of the gunicorn master and its workers: utime+stime+cutime+cstime (children included)."""
    pids = [master]
    for entry in os.listdir("/proc"):
        if entry.isdigit():
            fields = _stat(int(entry))
            if fields and int(fields[1]) == master:
                pids.append(int(entry))
    ticks = 0
    for pid in pids:
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


def task(job: tuple) -> tuple[int, int, object]:
    """Run `count` operations of `kind`; returns (ok, errors, result for the next job)."""
    kind, base, count, client_id, secret, token = job
    ok = errors = 0
    with httpx.Client(base_url=base, timeout=TIMEOUT) as http:
        for _ in range(count):
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
            except (httpx.HTTPError, RuntimeError) as exc:
                errors += 1
                if errors == 1:
                    print(f"bench: {kind}: {exc}", file=sys.stderr)
    return ok, errors, token


def prepare(job: tuple) -> dict:
    base, client_id, secret, scope = job
    return sign_in(base, client_id, secret, scope)


# --- measuring -----------------------------------------------------------------------------------

@dataclass
class Sample:
    rate: float           # operations per wall-clock second (whole machine)
    per_cpu: float        # operations per server CPU-second
    errors: int = 0


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
            secret: str = "", tokens: list | None = None) -> tuple[Sample, list]:
    jobs = [(kind, base, per_process, client_id, secret, (tokens or [None] * CONCURRENCY)[i])
            for i in range(CONCURRENCY)]
    cpu0, t0 = server_cpu(master), time.perf_counter()
    results = pool.map(task, jobs)
    elapsed, cpu = time.perf_counter() - t0, server_cpu(master) - cpu0
    ok = sum(r[0] for r in results)
    errors = sum(r[1] for r in results)
    return Sample(ok / elapsed, ok / cpu if cpu > 0 else float("inf"), errors), [r[2] for r in results]


def argon2_loop(seconds: float) -> Sample:
    """argon2id verifications at the configured parameters, in this process (one core)."""
    sys.path.insert(0, str(ROOT))
    from idp.config import PasswordsConfig
    from idp.security.passwords import Passwords

    cfg = PasswordsConfig()
    passwords = Passwords(cfg.argon2_memory_kib, cfg.argon2_time_cost, cfg.argon2_parallelism)
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


def make_instance(directory: Path, database_url: str | None) -> Instance:
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
    import json

    created = json.loads(idp(config, "client", "create", "--name", "Bench", "--redirect-uri", REDIRECT_URI,
                             "--refresh-tokens", "--json"))
    return Instance(config, base, port, created["client_id"], created["client_secret"], directory / "server.log")


def run_backend(label: str, database_url: str | None, runs: int, counts: dict, pool, hello: tuple,  # noqa: ANN001
                work: Path) -> dict[str, Figure]:
    instance = make_instance(work / label, database_url)
    figures = {k: Figure() for k in ("signin", "argon2", "refresh", "discovery", "jwks", "hello", "userinfo")}
    cmd = [PYTHON, "-m", "idp", "--config", str(instance.config), "serve", "--workers", "2", "--port",
           str(instance.port)]
    hello_url, hello_proc = hello
    with server(cmd, instance.base + "/.well-known/openid-configuration", instance.log) as proc:
        master = proc.pid
        print(f"[{label}] server up on {instance.base} (gunicorn master {master}); warming up", file=sys.stderr)
        ident = (instance.client_id, instance.secret)
        prepare_jobs = [(instance.base, *ident, "openid profile email")] * CONCURRENCY
        pool.map(prepare, prepare_jobs)                               # warm-up: every worker, every path
        for kind in ("discovery", "jwks", "userinfo"):
            pass
        for run in range(runs):
            print(f"[{label}] run {run + 1}/{runs}", file=sys.stderr)
            sample, _ = measure(pool, master, "signin", instance.base, counts["signin"], *ident)
            figures["signin"].samples.append(sample)
            figures["argon2"].samples.append(argon2_loop(2.0 if runs > 1 else 1.0))

            chains = [t["refresh_token"] for t in pool.map(prepare, prepare_jobs)]
            sample, _ = measure(pool, master, "refresh", instance.base, counts["refresh"], *ident, tokens=chains)
            figures["refresh"].samples.append(sample)

            for kind in ("discovery", "jwks"):
                sample, _ = measure(pool, master, kind, instance.base, counts[kind])
                figures[kind].samples.append(sample)
            sample, _ = measure(pool, hello_proc.pid, "hello", hello_url, counts["hello"])
            figures["hello"].samples.append(sample)

            access = [t["access_token"] for t in pool.map(prepare, prepare_jobs)]
            sample, _ = measure(pool, master, "userinfo", instance.base, counts["userinfo"], tokens=access)
            figures["userinfo"].samples.append(sample)
    return figures


# --- report --------------------------------------------------------------------------------------

def table(label: str, figures: dict[str, Figure], counts: dict) -> str:
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
    row("(b) refresh grants with rotation", figures["refresh"], TARGETS["refresh"], f"≥ {TARGETS['refresh']:.0f}",
        f"Keycloak sizing: {KEYCLOAK_REFRESH_PER_VCPU:.0f}/vCPU")
    target = HELLO_FRACTION * hello.per_cpu
    for kind, name in (("discovery", "(c) discovery document"), ("jwks", "(c) JWKS")):
        row(name, figures[kind], target, f"≥ {target:,.0f} (80% hello)",
            f"req/s = {figures[kind].rate / hello.rate:.0%} of hello")
    row("    plain Flask hello, same gunicorn", hello, None, "reference")
    row("(d) userinfo", figures["userinfo"], None, "-")

    header = ("figure", "req/s", "per CPU-s", "target/CPU-s", "ratio", "result")
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(6)]
    lines = [f"{label}: " + ", ".join(f"{k} {v}" for k, v in counts.items())]
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)))
    lines.append("  ".join("-" * w for w in widths))
    lines += ["  ".join(c.ljust(w) if i in (0, 3, 5) else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))) for r in rows]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run instead of three")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("IDP_BENCH_PG_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
                        help="a PostgreSQL database the benchmark may connect to (a temporary one is created)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instances (logs, configs)")
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
            for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
                if backend == "sqlite":
                    figures = run_backend("SQLite", None, runs, counts, pool, hello, work)
                elif backend == "postgresql":
                    try:
                        with postgres_database(args.pg_url) as url:
                            figures = run_backend("PostgreSQL", url, runs, counts, pool, hello, work)
                    except Exception as exc:  # noqa: BLE001  (report and go on with the other backend)
                        if isinstance(exc, SystemExit):
                            raise
                        print(f"bench: PostgreSQL skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)
                        continue
                else:
                    raise SystemExit(f"bench: unknown backend {backend!r}")
                label = "SQLite" if backend == "sqlite" else "PostgreSQL"
                reports.append(table(f"{label} ({'median of 3 runs' if runs > 1 else '1 run'})", figures,
                                     {k: v * CONCURRENCY for k, v in counts.items()}))
                print(reports[-1] + "\n", file=sys.stderr)
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
