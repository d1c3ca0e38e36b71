"""Issue 14's figures in one run: server CPU per operation of `idp serve` as ratios against references measured in
the same run, SQL statements per operation, VmRSS per worker, latency at half load; SQLite and PostgreSQL.

    .venv/bin/python bench/run.py            # 3 runs per figure (the median is shown), SQLite and PostgreSQL
    .venv/bin/python bench/run.py --quick    # 1 short run
    .venv/bin/python bench/run.py --backends sqlite --pg-url postgresql+psycopg://postgres@127.0.0.1:5432/test
    .venv/bin/python bench/run.py --users 5000   # 5,000 users with password + authenticator app (default 1,000)
    .venv/bin/python bench/run.py --scale        # sign-ins with 1,000 and with 100,000 users
    .venv/bin/python bench/run.py --redis redis://127.0.0.1:6379/15   # rate-limit counters in Redis

Run by hand, never from the tests. Everything stays on 127.0.0.1 and ends by itself (fixed request counts,
timeouts on every request). For each database backend:

1. a temporary instance made with the real command line (`idp init`, `idp db upgrade`, `idp user create`,
   `idp client create --refresh-tokens`), the production argon2id parameters of the default config, every rate
   limit on but raised far above the load (counted, never refusing); then N users (default 1,000) with a password
   and a confirmed authenticator app (TOTP), bulk-inserted (one executemany for the users, one for their factors,
   secrets encrypted with the instance's own key-encryption key);
2. SQL statements per operation, counted in this process: the real app built from the instance's config
   (`create_app(load_config(...))`) on the instance's own database, driven by the same driver code through an
   HTTP-free WSGI client, a SQLAlchemy `before_cursor_execute` listener counting (BEGIN/SAVEPOINT/RELEASE not);
3. `python -m idp --config FILE serve --workers 2 --port P` (gunicorn, sync workers) and a load driver of a few
   processes (httpx, one request at a time each); the server's CPU is read from /proc/<pid>/stat (utime+stime,
   children included) of the gunicorn master and its workers before and after each figure;
4. the references, in the same run: an argon2id verify loop at the instance's parameters (in this process) and a
   plain Flask "hello" app on the same gunicorn settings (2 sync workers, access log on).

The driver signs in like a browser: it follows redirects and fills whichever page shows a password form or a
one-time-code form (found by their fields: type=password, autocomplete="one-time-code"). Each driver process owns
a disjoint slice of the TOTP users, visits it round-robin, and never submits a code for a (user, time step) it
already submitted one for: it waits for the next step instead.
"""
from __future__ import annotations

import argparse
import base64
import hashlib
import json
import logging
import multiprocessing
import os
import random
import secrets
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from contextlib import contextmanager, nullcontext
from dataclasses import dataclass, field, replace
from html.parser import HTMLParser
from pathlib import Path
from urllib.parse import parse_qs, urlencode, urljoin, urlsplit

import httpx
import pyotp

ROOT = Path(__file__).resolve().parents[1]
PYTHON = sys.executable
EMAIL = "bench@example.com"                          # the password-only user (no second factor)
PASSWORD = "bench password for load tests 2024"      # every user's password (long enough for a password-only account)
REDIRECT_URI = "http://127.0.0.1:9/callback"
CONCURRENCY = 4
TIMEOUT = 30.0
SCALE_USERS = (1_000, 100_000)
SCALE_TOLERANCE = 0.10                              # CPU per sign-in within 10 % at 100k users (bench's own check)
HALF_LOAD_SECONDS = {True: 10.0, False: 30.0}       # cap of each paced run (quick, full)
COUNTED_REPEATS = 3                                 # in-process operations per figure for the SQL count (median)

KINDS = ("signin2fa", "signin", "refresh", "discovery", "jwks", "userinfo")
SIGN_INS = ("signin2fa", "signin")
NAMES = {"signin2fa": "full 2FA sign-in (password + TOTP, code+PKCE → tokens)",
         "signin": "password-only sign-in (code+PKCE → tokens)",
         "refresh": "refresh grant with rotation", "discovery": "discovery document", "jwks": "JWKS",
         "userinfo": "userinfo", "argon2": "argon2id verify", "hello": "Flask hello"}
# issue 14's goals: server CPU per operation ≤ factor × the reference's CPU per operation (measured in the same run)
GOALS = {"signin2fa": ("argon2", 1.6), "signin": ("argon2", 1.35), "refresh": ("hello", 3.0),
         "discovery": ("hello", 1.25), "jwks": ("hello", 1.25), "userinfo": ("hello", 2.0)}
SQL_GOALS = {"signin2fa": 20}                       # statements per operation
RSS_GOAL_MB = 90.0                                  # VmRSS per gunicorn worker after the run

FULL = {"signin2fa": 30, "signin": 30, "refresh": 300, "discovery": 500, "jwks": 500, "hello": 500, "userinfo": 500}
QUICK = {"signin2fa": 8, "signin": 8, "refresh": 60, "discovery": 120, "jwks": 120, "hello": 120, "userinfo": 120}


# --- hello: the reference app (gunicorn imports this module as `run:hello_app()`) -----------------

def hello_app():  # noqa: ANN201
    from flask import Flask

    app = Flask("hello")

    @app.get("/")
    def hello() -> str:
        return "Hello, World!"

    return app


# --- processes -----------------------------------------------------------------------------------

def gunicorn_command(port: int, target: str) -> list[str]:
    """gunicorn serving `target` (a factory in bench/, e.g. "run:hello_app()") as `idp serve` serves the IdP:
    2 sync workers, access log on."""
    return [PYTHON, "-m", "gunicorn", "--workers", "2", "--worker-class", "sync", "--bind", f"127.0.0.1:{port}",
            "--access-logfile", "-", "--error-logfile", "-", "--chdir", str(ROOT / "bench"), target]


def hello_server(port: int, log: Path):  # noqa: ANN201
    """The Flask "hello" reference on `port`, served by gunicorn_command (a context giving the process)."""
    return server(gunicorn_command(port, "run:hello_app()"), f"http://127.0.0.1:{port}/", log)


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


@contextmanager
def working_directory(path: Path):  # noqa: ANN201
    before = os.getcwd()
    os.chdir(path)
    try:
        yield
    finally:
        os.chdir(before)


# --- the driver: forms found by their fields, whichever page returns them ----------------------------

@dataclass
class Form:
    action: str
    inputs: list[dict[str, str]] = field(default_factory=list)

    def field(self, role: str) -> str | None:
        """The name of the input playing `role`: password, code (one-time code) or username."""
        for attrs in self.inputs:
            kind, auto = attrs.get("type", "text").lower(), attrs.get("autocomplete", "").lower()
            if (role == "password" and kind == "password") or (role == "code" and auto == "one-time-code") or \
                    (role == "username" and (auto == "username" or kind == "email")):
                return attrs.get("name")
        return None

    def values(self) -> dict[str, str]:
        """What a browser submits as is: every named input (hidden ones included), check boxes only if checked."""
        return {a["name"]: a.get("value", "") for a in self.inputs
                if a.get("name") and (a.get("type", "").lower() not in ("checkbox", "radio") or "checked" in a)}


class _Forms(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self.open = False

    def handle_starttag(self, tag: str, attrs: list) -> None:  # noqa: ANN001
        if tag == "form":
            self.forms.append(Form(dict(attrs).get("action") or ""))
            self.open = True
        elif tag == "input" and self.open:
            self.forms[-1].inputs.append({k: v or "" for k, v in attrs})

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self.open = False


def sign_in_form(html: str) -> tuple[Form, str] | None:
    """The page's form asking for a one-time code, a password or (identifier first) an email, and which."""
    parser = _Forms()
    parser.feed(html)
    for role in ("code", "password", "username"):
        for form in parser.forms:
            if form.field(role):
                return form, role
    return None


@dataclass
class Person:
    email: str
    password: str
    code: Callable[[], str] | None = None      # the next one-time code (users with an authenticator app)


BENCH_PERSON = Person(EMAIL, PASSWORD)

_BOOKS: dict[str, dict] = {}


def _book(path: str) -> dict:
    """The TOTP users' file (emails, secrets, visiting order), read once per process."""
    if path not in _BOOKS:
        _BOOKS[path] = json.loads(Path(path).read_text())
    return _BOOKS[path]


@dataclass
class Slice:
    """One driver's own share of the TOTP users (the slices are disjoint), visited round-robin. `used` keeps, per
    user, the last time step a code was submitted for: a code is made only for a later step, so the driver never
    submits the same code (same user, same step) twice; when a user comes round again within a step, it waits."""

    path: str
    number: int
    cursor: int = 0
    used: dict[int, int] = field(default_factory=dict)
    waits: int = 0

    def next_person(self) -> Person:
        book = _book(self.path)
        mine = book["order"][self.number::book["slices"]]
        index = mine[self.cursor % len(mine)]
        self.cursor += 1
        period = book["period"]
        while (now := time.time()) // period <= self.used.get(index, -1):    # this step's code was submitted
            self.waits += 1
            time.sleep(period - now % period + 0.05)
        email, secret = book["users"][index]
        otp = pyotp.TOTP(secret, digits=book["digits"], interval=period,
                         digest=getattr(hashlib, book["algorithm"].lower()))

        def code() -> str:
            step = int(time.time()) // period
            if step <= self.used.get(index, -1):
                raise RuntimeError(f"refusing to replay the code of step {step} for {email}")
            self.used[index] = step
            return otp.generate_otp(step)

        return Person(email, book["password"], code)


def _pkce() -> tuple[str, str]:
    verifier = secrets.token_urlsafe(48)
    challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
    return verifier, challenge


def _basic(client_id: str, secret: str) -> dict[str, str]:
    return {"Authorization": "Basic " + base64.b64encode(f"{client_id}:{secret}".encode()).decode()}


def _at_client(response: httpx.Response) -> bool:
    return response.is_redirect and response.headers["location"].startswith(REDIRECT_URI)


def _follow(browser: httpx.Client, response: httpx.Response) -> httpx.Response:
    for _ in range(10):
        if not response.is_redirect or _at_client(response):
            return response
        response = browser.get(urljoin(str(response.url), response.headers["location"]))
    raise RuntimeError(f"too many redirects, last to {response.headers.get('location')}")


def _fill(form: Form, role: str, person: Person) -> dict[str, str]:
    data = form.values()
    if form.field("username"):
        data[form.field("username")] = person.email
    if role == "password":
        data[form.field("password")] = person.password
    if role == "code":
        if person.code is None:
            raise RuntimeError(f"asked for a one-time code for {person.email}, who has no second factor")
        data[form.field("code")] = person.code()
    return data


def sign_in(connect: Callable[[], httpx.Client], client_id: str, secret: str, person: Person,
            scope: str = "openid profile email") -> dict:
    """One complete sign-in in a fresh browser (`connect()`), then the code redeemed; returns the token response.
    Each form is submitted at most once: a form shown again (a refused password or code) is an error."""
    verifier, challenge = _pkce()
    params = {"response_type": "code", "client_id": client_id, "redirect_uri": REDIRECT_URI, "scope": scope,
              "state": secrets.token_urlsafe(8), "nonce": secrets.token_urlsafe(8),
              "code_challenge": challenge, "code_challenge_method": "S256"}
    submitted: list[str] = []
    with connect() as browser:
        response = _follow(browser, browser.get("/authorize?" + urlencode(params)))
        while not _at_client(response):
            found = sign_in_form(response.text) if response.status_code == 200 else None
            if found is None or found[1] in submitted:
                raise RuntimeError(f"sign-in stuck at {response.url} ({response.status_code}, after {submitted}): "
                                   f"{response.text[:300]}")
            form, role = found
            submitted.append(role)
            response = _follow(browser, browser.post(urljoin(str(response.url), form.action),
                                                     data=_fill(form, role, person)))
        if ("code" in submitted) != (person.code is not None):
            raise RuntimeError(f"{person.email}: expected {'no ' if person.code is None else ''}code step, "
                               f"got {submitted}")
        code = parse_qs(urlsplit(response.headers["location"]).query)["code"][0]
    with connect() as rp:
        tokens = rp.post("/token", data={"grant_type": "authorization_code", "code": code,
                                         "redirect_uri": REDIRECT_URI, "code_verifier": verifier},
                         headers=_basic(client_id, secret))
    if tokens.status_code != 200:
        raise RuntimeError(f"/token: {tokens.status_code} {tokens.text[:300]}")
    return tokens.json()


PATHS = {"discovery": "/.well-known/openid-configuration", "jwks": "/jwks", "hello": "/"}


def operate(kind: str, http: httpx.Client, connect: Callable[[], httpx.Client], client_id: str, secret: str,
            token: str | None, person: Person) -> str | None:
    """One operation of `kind`; returns the token to use next (a refresh chain moves on)."""
    if kind in SIGN_INS:
        sign_in(connect, client_id, secret, person)
    elif kind == "refresh":
        reply = http.post("/token", data={"grant_type": "refresh_token", "refresh_token": token},
                          headers=_basic(client_id, secret))
        if reply.status_code != 200:
            raise RuntimeError(f"refresh: {reply.status_code} {reply.text[:200]}")
        return reply.json()["refresh_token"]
    elif kind == "userinfo":
        reply = http.get("/userinfo", headers={"Authorization": f"Bearer {token}"})
        if reply.status_code != 200:
            raise RuntimeError(f"userinfo: {reply.status_code}")
    elif http.get(PATHS[kind]).status_code != 200:
        raise RuntimeError(f"{PATHS[kind]} failed")
    return token


@dataclass
class Job:
    """What one driver process does for one figure; comes back with its token and slice moved on."""

    kind: str
    base: str
    count: int
    client_id: str = ""
    secret: str = ""
    token: str | None = None
    people: Slice | None = None
    interval: float = 0.0        # paced: one operation every `interval` s ...
    limit: float = 0.0           # ... none started after `limit` s


def task(job: Job) -> tuple[int, int, Job, list[float]]:
    """Run the job; returns (ok, errors, the job moved on, latencies of the successful operations in s). A paced
    job keeps a schedule that never catches up in bursts. A 2FA user is picked (and waited for, if it must)
    before the operation's clock starts."""
    ok = errors = 0
    latencies: list[float] = []
    start = due = time.perf_counter()

    def connect() -> httpx.Client:
        return httpx.Client(base_url=job.base, timeout=TIMEOUT)

    with connect() as http:
        for _ in range(job.count):
            if job.interval:
                now = time.perf_counter()
                if now - start > job.limit:
                    break
                time.sleep(max(0.0, due - now))
                due = max(due, now) + job.interval
            person = job.people.next_person() if job.kind == "signin2fa" else BENCH_PERSON
            t0 = time.perf_counter()
            try:
                job.token = operate(job.kind, http, connect, job.client_id, job.secret, job.token, person)
                ok += 1
                latencies.append(time.perf_counter() - t0)
            except (httpx.HTTPError, RuntimeError) as exc:
                errors += 1
                if errors == 1:
                    print(f"bench: {job.kind}: {exc}", file=sys.stderr)
    return ok, errors, job, latencies


def prepare(job: Job) -> dict:
    """A password-only sign-in whose tokens the refresh and userinfo figures use."""
    return sign_in(lambda: httpx.Client(base_url=job.base, timeout=TIMEOUT), job.client_id, job.secret,
                   BENCH_PERSON)


# --- measuring -----------------------------------------------------------------------------------

@dataclass
class Sample:
    rate: float           # operations per wall-clock second (whole machine)
    per_cpu: float        # operations per server CPU-second
    errors: int = 0
    latencies: list[float] = field(default_factory=list)   # seconds, successful operations

    @property
    def cpu_ms(self) -> float:
        """Server CPU per operation in ms."""
        return 1000 / self.per_cpu if self.per_cpu else float("inf")

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
    def cpu_ms(self) -> float:
        return statistics.median(s.cpu_ms for s in self.samples)

    @property
    def errors(self) -> int:
        return sum(s.errors for s in self.samples)

    def ratio(self, reference: Figure) -> float:
        """Median over the runs of (CPU per operation ÷ the reference's CPU per operation in the same run)."""
        return statistics.median(s.cpu_ms / r.cpu_ms for s, r in zip(self.samples, reference.samples, strict=True))


@dataclass
class Drive:
    """What the driver processes carry from figure to figure: their slices of TOTP users, their tokens."""

    base: str
    client_id: str
    secret: str
    slices: list[Slice]
    tokens: dict[str, list[str | None]] = field(default_factory=dict)

    def jobs(self, kind: str, count: int, base: str | None = None) -> list[Job]:
        tokens = self.tokens.get(kind, [None] * CONCURRENCY)
        return [Job(kind, base or self.base, count, self.client_id, self.secret, tokens[i],
                    self.slices[i] if kind == "signin2fa" else None) for i in range(CONCURRENCY)]

    def take_back(self, jobs: list[Job]) -> None:
        if jobs[0].kind == "signin2fa":
            self.slices = [j.people for j in jobs]
        if jobs[0].kind in ("refresh", "userinfo"):
            self.tokens[jobs[0].kind] = [j.token for j in jobs]


def measure(pool, master: int, jobs: list[Job], rate: float | None = None, limit: float = 0.0) -> tuple[Sample, list[Job]]:  # noqa: ANN001
    """The jobs in parallel, one per driver process; with `rate`, paced at `rate` operations per second in all
    (each process one every CONCURRENCY/rate s) for at most `limit` s."""
    if rate:
        jobs = [replace(j, interval=CONCURRENCY / rate, limit=limit) for j in jobs]
    cpu0, t0 = server_cpu(master), time.perf_counter()
    results = pool.map(task, jobs)
    elapsed, cpu = time.perf_counter() - t0, server_cpu(master) - cpu0
    ok = sum(r[0] for r in results)
    sample = Sample(ok / elapsed, ok / cpu if cpu > 0 else float("inf"), sum(r[1] for r in results),
                    [lat for r in results for lat in r[3]])
    return sample, [replace(r[2], interval=0.0, limit=0.0) for r in results]


def run_kind(pool, master: int, drive: Drive, kind: str, count: int, base: str | None = None,  # noqa: ANN001
             rate: float | None = None, limit: float = 0.0) -> Sample:
    sample, jobs = measure(pool, master, drive.jobs(kind, count, base), rate, limit)
    drive.take_back(jobs)
    return sample


def passwords_of(config: Path):  # noqa: ANN201
    """The instance's password hasher (its argon2id parameters: the production defaults of `idp init`)."""
    sys.path.insert(0, str(ROOT))
    from idp.config import load_config
    from idp.security.passwords import Passwords

    cfg = load_config(config, env={}).passwords
    return Passwords(cfg.argon2_memory_kib, cfg.argon2_time_cost, cfg.argon2_parallelism), cfg


def argon2_loop(config: Path, seconds: float) -> Sample:
    """argon2id verifications at the instance's parameters, in this process (one core)."""
    passwords, _ = passwords_of(config)
    stored = passwords.hash(PASSWORD)
    count = 0
    cpu0, t0 = time.process_time(), time.perf_counter()
    while time.perf_counter() - t0 < seconds:
        assert passwords.verify(stored, PASSWORD)
        count += 1
    return Sample(count / (time.perf_counter() - t0), count / (time.process_time() - cpu0))


# --- SQL statements per operation, in process ---------------------------------------------------------

@dataclass
class Counted:
    totals: list[int]                          # statements per operation (transaction control not counted)
    requests: list[tuple[str, int]]            # the last operation's statements per request
    cpu_ms: list[float]                        # this process's CPU per operation: the app and the driver

    @property
    def median(self) -> float:
        return statistics.median(self.totals)


TRANSACTION_CONTROL = ("BEGIN", "SAVEPOINT", "RELEASE", "ROLLBACK TO")


def count_statements(instance: Instance, drive: Drive, repeats: int = COUNTED_REPEATS) -> dict[str, Counted]:
    """Each figure's operation run in this process against the instance's database, by the real app built from
    the instance's config (as a gunicorn worker builds it) behind an HTTP-free WSGI client: one warm-up, then
    `repeats` counted operations. The 2FA sign-ins use driver slice 0 (its replay guard included)."""
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from idp.app import create_app
    from idp.config import load_config

    log: list[list] = []                      # [request, statements], one per request
    me = threading.get_ident()                # the requests' thread (not a background thread's statements)

    def count(conn, cursor, statement, parameters, context, executemany) -> None:  # noqa: ANN001, PLR0913
        if log and threading.get_ident() == me and not statement.lstrip().upper().startswith(TRANSACTION_CONTROL):
            log[-1][1] += 1

    def mark(request: httpx.Request) -> None:
        log.append([f"{request.method} {request.url.path}", 0])

    with working_directory(ROOT):             # as the server runs (a relative policy directory)
        app = create_app(load_config(instance.config, env={}))
        logging.getLogger("idp.access").setLevel(logging.WARNING)     # no access lines from this process
        drainer = app.extensions.get("idp.outbox")
        if drainer is not None:               # no outbox thread in this process: the server's workers deliver
            drainer.stop()
        engine = app.extensions["idp"].database.engine
        transport = httpx.WSGITransport(app=app)

        def connect() -> httpx.Client:
            return httpx.Client(transport=transport, base_url=instance.base, event_hooks={"request": [mark]})

        from idp import fast_lookup

        def count_fast(statement, driver_connection) -> None:  # noqa: ANN001 - idp.fast_lookup bypasses the events
            count(None, None, statement, None, None, False)

        sa.event.listen(engine, "before_cursor_execute", count)
        fast_lookup.listeners.append(count_fast)
        results: dict[str, Counted] = {}
        try:
            tokens = sign_in(connect, instance.client_id, instance.secret, BENCH_PERSON)
            token_of = {"refresh": tokens["refresh_token"], "userinfo": tokens["access_token"]}
            with connect() as http:
                for kind in KINDS:
                    totals, cpu = [], []
                    for i in range(repeats + 1):
                        person = drive.slices[0].next_person() if kind == "signin2fa" else BENCH_PERSON
                        log.clear()
                        started = time.process_time()
                        token_of[kind] = operate(kind, http, connect, instance.client_id, instance.secret,
                                                 token_of.get(kind), person)
                        if i:
                            cpu.append((time.process_time() - started) * 1000)
                            totals.append(sum(n for _, n in log))
                    results[kind] = Counted(totals, [(r, n) for r, n in log], cpu)
        finally:
            sa.event.remove(engine, "before_cursor_execute", count)
            fast_lookup.listeners.remove(count_fast)
            app.extensions["idp"].database.dispose()
    return results


# --- instances -----------------------------------------------------------------------------------

def rate_limit_section(redis_url: str = "") -> str:
    """Every limit raised far above what the benchmark sends: counted (same work), never refused; the counters in
    Redis when `redis_url` is given (`[rate_limit] redis_url`), else in the database."""
    sys.path.insert(0, str(ROOT))
    try:
        from idp.config import RateLimitConfig
    except ImportError:
        return ""
    import dataclasses

    names = [f.name for f in dataclasses.fields(RateLimitConfig) if "_per_" in f.name]
    where = f'redis_url = "{redis_url}"\n' if redis_url else ""
    return "\n[rate_limit]\n" + where + "".join(f'{name} = "10000000/minute"\n' for name in names)


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
    people: Path                 # the TOTP users' file (see add_totp_users)


def add_totp_users(config: Path, count: int, people: Path) -> None:
    """`count` users, each with the password PASSWORD and a confirmed authenticator app, in the bench user's
    organisation: one executemany for the users (all sharing ONE argon2id hash, hashed once at the instance's
    parameters), one for their factor rows (as idp.factors.totp.start_enrolment + enrolled.activate leave them:
    a secret from totp.new_secret, encrypted with the instance's own key-encryption key). The emails, secrets and
    a shuffled visiting order go to `people` (JSON) for the driver."""
    sys.path.insert(0, str(ROOT))
    import sqlalchemy as sa

    from idp.config import load_config
    from idp.factors import totp
    from idp.models import SecondFactor, User
    from idp.services import build_services

    cfg = load_config(config, env={})
    services = build_services(cfg)
    users, factors = User.__table__, SecondFactor.__table__
    tag = secrets.token_hex(4)
    emails = [f"user{i}.{tag}@example.com" for i in range(count)]
    plain = [totp.new_secret() for _ in range(count)]
    try:
        with services.database.engine.begin() as conn:
            bench = conn.execute(sa.select(users.c.organisation_id, users.c.created_at)
                                 .where(users.c.email == EMAIL)).one()
            stored = services.passwords.hash(PASSWORD)
            conn.execute(users.insert(), [
                {"subject": f"bench-{tag}-{i:07d}", "organisation_id": bench.organisation_id, "email": email,
                 "name": f"User {i}", "password_hash": stored, "created_at": bench.created_at,
                 "password_changed_at": bench.created_at} for i, email in enumerate(emails)])
            ids = dict(conn.execute(sa.select(users.c.email, users.c.id)
                                    .where(users.c.subject.like(f"bench-{tag}-%"))).all())
            totp_cfg = cfg.totp
            conn.execute(factors.insert(), [
                {"user_id": ids[email], "kind": totp.KIND, "name": "Authenticator App",
                 "secret_encrypted": services.kek.encrypt(secret.encode("ascii")), "digits": totp_cfg.digits,
                 "period": totp_cfg.period, "algorithm": totp_cfg.algorithm, "offset_steps": 0, "data": {},
                 "created_at": bench.created_at, "confirmed_at": bench.created_at}
                for email, secret in zip(emails, plain, strict=True)])
    finally:
        services.database.dispose()
    order = list(range(count))
    random.Random(count).shuffle(order)          # round-robin over all users, consecutive sign-ins far apart
    people.write_text(json.dumps({"password": PASSWORD, "digits": totp_cfg.digits, "period": totp_cfg.period,
                                  "algorithm": totp_cfg.algorithm, "slices": CONCURRENCY, "order": order,
                                  "users": [list(p) for p in zip(emails, plain, strict=True)]}))


def make_instance(directory: Path, database_url: str | None, users: int, redis_url: str = "") -> Instance:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    args = ["init", str(directory), "--issuer", base]
    if database_url:
        args += ["--database-url", database_url]
    idp(None, *args)
    config = directory / "config.toml"
    with open(config, "a") as handle:
        handle.write(rate_limit_section(redis_url))
    idp(config, "db", "upgrade")
    idp(config, "user", "create", EMAIL, "--name", "Bench", "--password-stdin", stdin=PASSWORD + "\n")
    t0 = time.perf_counter()
    add_totp_users(config, users, directory / "people.json")
    print(f"bench: {users:,} users with password + authenticator app inserted in {time.perf_counter() - t0:.1f}s",
          file=sys.stderr)
    created = json.loads(idp(config, "client", "create", "--name", "Bench", "--redirect-uri", REDIRECT_URI,
                             "--refresh-tokens", "--json"))
    return Instance(config, base, port, created["client_id"], created["client_secret"], directory / "server.log",
                    directory / "people.json")


def new_drive(instance: Instance) -> Drive:
    if CONCURRENCY > len(_book(str(instance.people))["order"]):
        raise SystemExit(f"bench: --users must be at least {CONCURRENCY} (one slice of users per driver process)")
    return Drive(instance.base, instance.client_id, instance.secret,
                 [Slice(str(instance.people), i) for i in range(CONCURRENCY)])


@contextmanager
def serving(instance: Instance, label: str, pool, drive: Drive):  # noqa: ANN001, ANN201
    """`idp serve` (2 sync workers) for the instance, warmed up (every worker, both sign-ins, tokens for the
    refresh and userinfo figures); yields the gunicorn master's pid."""
    cmd = [PYTHON, "-m", "idp", "--config", str(instance.config), "serve", "--workers", "2", "--port",
           str(instance.port)]
    with server(cmd, instance.base + "/.well-known/openid-configuration", instance.log) as proc:
        print(f"[{label}] server up on {instance.base} (gunicorn master {proc.pid}); warming up", file=sys.stderr)
        for kind in SIGN_INS:
            run_kind(pool, proc.pid, drive, kind, 1)
        yield proc.pid


def fresh_tokens(pool, drive: Drive) -> None:  # noqa: ANN001
    """A new refresh chain and access token per driver process (password-only sign-ins)."""
    replies = pool.map(prepare, drive.jobs("signin", 1))
    drive.tokens = {"refresh": [t["refresh_token"] for t in replies], "userinfo": [t["access_token"] for t in replies]}


@dataclass
class Result:
    figures: dict[str, Figure]
    counted: dict[str, Counted]
    memory: dict[int, float | None]
    waits: int
    users: int


def run_backend(label: str, database_url: str | None, runs: int, counts: dict, pool, hello: tuple,  # noqa: ANN001
                work: Path, users: int, quick: bool, redis_url: str = "") -> Result:
    """The statement counts, the figures and references (`runs` times), then the half-load latency runs
    (figures "<kind>@half"); the workers' RSS in MB after the measured runs."""
    instance = make_instance(work / label, database_url, users, redis_url)
    drive = new_drive(instance)
    print(f"[{label}] counting SQL statements per operation (in process)", file=sys.stderr)
    counted = count_statements(instance, drive)
    figures = {k: Figure() for k in (*KINDS, "argon2", "hello")}
    hello_url, hello_proc = hello
    with serving(instance, label, pool, drive) as master:
        for run in range(runs):
            print(f"[{label}] run {run + 1}/{runs}", file=sys.stderr)
            for kind in SIGN_INS:
                figures[kind].samples.append(run_kind(pool, master, drive, kind, counts[kind]))
            figures["argon2"].samples.append(argon2_loop(instance.config, 2.0 if runs > 1 else 1.0))
            fresh_tokens(pool, drive)
            for kind in ("refresh", "discovery", "jwks", "userinfo"):
                figures[kind].samples.append(run_kind(pool, master, drive, kind, counts[kind]))
            figures["hello"].samples.append(run_kind(pool, hello_proc.pid, drive, "hello", counts["hello"],
                                                     base=hello_url))
        memory = {pid: rss_mb(pid) for pid in workers(master)}      # after the measured runs

        for kind in KINDS:     # latency at about half the req/s reached above: paced, bounded in count and time
            print(f"[{label}] {kind} at half load", file=sys.stderr)
            sample = run_kind(pool, master, drive, kind, counts[kind], rate=figures[kind].rate / 2,
                              limit=HALF_LOAD_SECONDS[quick])
            figures[f"{kind}@half"] = Figure([sample])
    return Result(figures, counted, memory, sum(s.waits for s in drive.slices), users)


def run_scale(label: str, database_url: str | None, runs: int, counts: dict, pool, work: Path,  # noqa: ANN001
              users: int, redis_url: str = "") -> dict[str, Figure]:
    """Both sign-ins' server CPU with `users` TOTP users in the database."""
    instance = make_instance(work / f"{label}-{users}", database_url, users, redis_url)
    drive = new_drive(instance)
    figures = {kind: Figure() for kind in SIGN_INS}
    with serving(instance, f"{label}, {users:,} users", pool, drive) as master:
        for _ in range(runs):
            for kind in SIGN_INS:
                figures[kind].samples.append(run_kind(pool, master, drive, kind, counts[kind]))
    return figures


# --- report --------------------------------------------------------------------------------------

def aligned(title: str, header: tuple, rows: list[tuple], left: tuple[int, ...]) -> list[str]:
    widths = [max(len(r[i]) for r in [header, *rows]) for i in range(len(header))]
    lines = [title] if title else []
    lines.append("  ".join(h.ljust(w) for h, w in zip(header, widths, strict=True)).rstrip())
    lines.append("  ".join("-" * w for w in widths).rstrip())
    lines += ["  ".join(c.ljust(w) if i in left else c.rjust(w)
                        for i, (c, w) in enumerate(zip(r, widths, strict=True))).rstrip() for r in rows]
    return lines


def _verdict(ok: bool, errors: int = 0) -> str:
    return ("PASS" if ok else "ABOVE") + (f" ({errors} errors)" if errors else "")


def goal_rows(label: str, result: Result) -> list[tuple]:
    """backend | figure | measured | reference | ratio | goal | result, for every goal of issue 14."""
    figures, rows = result.figures, []
    for kind, (ref, factor) in GOALS.items():
        fig, reference = figures[kind], figures[ref]
        ratio = fig.ratio(reference)
        rows.append((label, NAMES[kind], f"{fig.cpu_ms:,.2f} ms", f"{NAMES[ref]} {reference.cpu_ms:,.2f} ms",
                     f"{ratio:.2f}×", f"≤ {factor:g}×", _verdict(ratio <= factor, fig.errors)))
    for kind, limit in SQL_GOALS.items():
        n = result.counted[kind].median
        rows.append((label, f"SQL statements per {NAMES[kind].split(' (')[0]}", f"{n:g}", "-", "-", f"≤ {limit}",
                     _verdict(n <= limit)))
    sizes = [mb for mb in result.memory.values() if mb is not None]
    largest = max(sizes) if sizes else float("nan")
    rows.append((label, f"VmRSS per worker (largest of {len(sizes)})", f"{largest:,.1f} MB", "-", "-",
                 f"≤ {RSS_GOAL_MB:g} MB", _verdict(largest <= RSS_GOAL_MB)))
    return rows


def goals_table(results: dict[str, Result], runs: int) -> str:
    rows = [row for label, result in results.items() for row in goal_rows(label, result)]
    title = (f"Issue 14 goals (server CPU per operation; ratio = CPU per operation ÷ the reference's in the same run, "
             f"{'median of ' + str(runs) + ' runs' if runs > 1 else '1 run'})")
    return "\n".join(aligned(title, ("backend", "figure", "measured", "reference", "ratio", "goal", "result"),
                             rows, (0, 1, 3, 5, 6)))


def detail_table(label: str, result: Result, counts: dict) -> str:
    figures, counted = result.figures, result.counted
    rows = []
    for kind in (*KINDS, "argon2", "hello"):
        fig = figures[kind]
        inside = counted.get(kind)
        rows.append((NAMES[kind], str(counts.get(kind, "-")), f"{fig.rate:,.1f}", f"{fig.per_cpu:,.1f}",
                     f"{fig.cpu_ms:,.2f}", "-" if inside is None else f"{inside.median:g}",
                     "-" if inside is None else f"{statistics.median(inside.cpu_ms):,.2f}",
                     f"{fig.errors} errors" if fig.errors else ""))
    lines = aligned(f"{label}: {result.users:,} users with password + authenticator app; 2FA sign-ins waited for "
                    f"a new TOTP step {result.waits} times",
                    ("figure", "ops/run", "req/s", "per CPU-s", "CPU ms/op", "SQL/op", "in-process CPU ms/op", ""),
                    rows, (0, 7))
    for kind in SIGN_INS:
        per_request = ", ".join(f"{r} {n}" for r, n in counted[kind].requests)
        lines.append(f"SQL statements of one {NAMES[kind].split(' (')[0]}: {per_request}")

    latency_rows = []
    for kind in KINDS:
        fig = figures[f"{kind}@half"]
        sample = fig.samples[0]
        latency_rows.append((NAMES[kind], f"{figures[kind].rate / 2:,.1f}", f"{fig.rate:,.1f}",
                             str(len(sample.latencies)), f"{sample.percentile(50):,.1f}",
                             f"{sample.percentile(99):,.1f}", f"{fig.errors} errors" if fig.errors else ""))
    lines += [""] + aligned("latency at about half load (paced):",
                            ("figure", "asked req/s", "got req/s", "n", "p50 ms", "p99 ms", ""),
                            latency_rows, (0, 6))

    memory_rows = [(f"gunicorn worker {pid}", "?" if mb is None else f"{mb:,.1f}") for pid, mb in result.memory.items()]
    lines += [""] + aligned("memory after the measured runs (VmRSS):", ("process", "RSS MB"), memory_rows, (0,))
    return "\n".join(lines)


def scale_table(label: str, figures: dict[int, dict[str, Figure]], counts: dict) -> str:
    small, large = SCALE_USERS
    rows = []
    for kind in SIGN_INS:
        for n in SCALE_USERS:
            fig = figures[n][kind]
            rows.append((NAMES[kind], f"{n:,}", f"{fig.rate:,.1f}", f"{fig.cpu_ms:,.1f}",
                         f"{fig.errors} errors" if fig.errors else ""))
        ratio = figures[large][kind].cpu_ms / figures[small][kind].cpu_ms
        verdict = "PASS" if abs(ratio - 1) <= SCALE_TOLERANCE else "OUTSIDE"
        rows.append((f"  CPU per sign-in, {large:,} ÷ {small:,} users", "", "", f"{ratio:.2f}",
                     f"within {SCALE_TOLERANCE:.0%}: {verdict}"))
    return "\n".join(aligned(f"{label}, scale in users (TOTP users in the database); sign-ins per run: "
                             f"{counts['signin2fa']} 2FA, {counts['signin']} password-only",
                             ("figure", "users", "req/s", "CPU ms/op", "result"), rows, (0, 4)))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--quick", action="store_true", help="one short run instead of three")
    parser.add_argument("--backends", default="sqlite,postgresql", help="comma-separated: sqlite, postgresql")
    parser.add_argument("--pg-url", default=os.environ.get("IDP_BENCH_PG_URL",
                                                          "postgresql+psycopg://postgres@127.0.0.1:5432/test"),
                        help="a PostgreSQL database the benchmark may connect to (a temporary one is created)")
    parser.add_argument("--keep", action="store_true", help="keep the temporary instances (logs, configs)")
    parser.add_argument("--users", type=int, default=SCALE_USERS[0],
                        help="users with password + authenticator app (default %(default)s)")
    parser.add_argument("--scale", action="store_true",
                        help=f"only the sign-ins, with {SCALE_USERS[0]:,} and with {SCALE_USERS[1]:,} users")
    parser.add_argument("--redis", default="", metavar="URL",
                        help="keep the rate-limit counters in this Redis ([rate_limit] redis_url), not the database")
    args = parser.parse_args()
    runs, counts = (1, QUICK) if args.quick else (3, FULL)
    work = Path(tempfile.mkdtemp(prefix="idp-bench-"))
    print(f"bench: working in {work}; {runs} run(s); {CONCURRENCY} driver processes; "
          f"{os.cpu_count()} CPUs", file=sys.stderr)
    results: dict[str, Result] = {}
    reports: list[str] = []
    context = multiprocessing.get_context("fork")
    hello_port = free_port()
    total = {k: v * CONCURRENCY for k, v in counts.items()}
    how = "median of 3 runs" if runs > 1 else "1 run"
    try:
        with context.Pool(CONCURRENCY) as pool, \
                hello_server(hello_port, work / "hello.log") as hello_proc:
            hello = (f"http://127.0.0.1:{hello_port}", hello_proc)

            def run(label: str, database) -> None:  # noqa: ANN001  (database(): a context giving a URL or None)
                if args.scale:                     # a database of its own for each user count
                    scaled = {}
                    for n in SCALE_USERS:
                        with database() as url:
                            scaled[n] = run_scale(label, url, runs, counts, pool, work, n, args.redis)
                    reports.append(scale_table(f"{label} ({how})", scaled, total))
                else:
                    with database() as url:
                        results[label] = run_backend(label, url, runs, counts, pool, hello, work, args.users,
                                                     args.quick, args.redis)
                    reports.append(detail_table(f"{label} ({how})", results[label], total))
                print(reports[-1] + "\n", file=sys.stderr)

            for backend in [b.strip() for b in args.backends.split(",") if b.strip()]:
                if backend == "sqlite":
                    run("SQLite", lambda: nullcontext(None))
                elif backend == "postgresql":
                    try:
                        run("PostgreSQL", lambda: postgres_database(args.pg_url))
                    except Exception as exc:  # noqa: BLE001  (report and go on with the other backend)
                        print(f"bench: PostgreSQL skipped: {exc.__class__.__name__}: {exc}", file=sys.stderr)
                else:
                    raise SystemExit(f"bench: unknown backend {backend!r}")
    finally:
        if not args.keep:
            shutil.rmtree(work, ignore_errors=True)
    if results:
        reports.insert(0, goals_table(results, runs))
    print("\n\n".join(reports))


if __name__ == "__main__":
    main()
