"""Running under gunicorn: one app per worker, built after fork, refusing to start on invalid policies."""
from __future__ import annotations

import logging
import os
import shutil
import signal
import sys
import tempfile

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter
from gunicorn.glogging import Logger

from idp.config import AppConfig, load_config

log = logging.getLogger("idp.server")


class IdpGunicorn(BaseApplication):
    def __init__(self, config_path: str | None, options: dict) -> None:
        self.config_path = config_path
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
            if key in self.cfg.settings:  # settings of newer gunicorn versions are skipped on older ones
                self.cfg.set(key, value)

    def load(self):  # noqa: ANN201
        return build_wsgi_app(self.config_path)

    def run(self) -> None:
        PolicyReloadingArbiter(self).run()


class PolicyReloadingArbiter(Arbiter):
    """SIGHUP asks every worker to reload the policy files (each keeps its flows if the new ones are
    invalid), instead of gunicorn's restart, which would stop the server on a bad file."""

    def handle_hup(self) -> None:
        self.log.info("SIGHUP: reloading policy files in every worker")
        for pid in list(self.WORKERS):
            try:
                os.kill(pid, signal.SIGHUP)
            except ProcessLookupError:
                pass


class AppWritesAccessLines(Logger):
    """gunicorn's logger without gunicorn's access line: the app writes one per request itself
    (idp.web.observability). gunicorn would otherwise work out every field of its own line for each request
    (our `logconfig_dict` turns its access log on), only for the `gunicorn.access` logger to drop it."""

    def access(self, resp, req, environ, request_time) -> None:  # noqa: ANN001
        return None


def build_wsgi_app(config_path: str | None):  # noqa: ANN201
    """The app for one worker; SIGHUP in a worker reloads the policy files."""
    from idp.app import create_app

    app = create_app(load_config(config_path))
    logging.getLogger("idp").propagate = False  # its own handler prints; gunicorn's root handler would repeat it
    store = app.extensions["idp.policies"]
    signal.signal(signal.SIGHUP, lambda *_: store.reload())
    return app


def run_gunicorn(config_path: str | None, config: AppConfig, host: str, port: int, workers: int) -> None:
    """Check everything here first, so a bad config or policy stops the start; then replace this process
    (same pid) with a fresh interpreter that runs gunicorn: its workers fork from a master that imported
    only what serving needs, not the command line, migrations or this check's app (all of which a forked
    worker would otherwise carry in its resident memory)."""
    from idp.app import create_app

    metrics_dir = prepare_metrics_dir()  # before any app exists: every worker writes its metrics there
    try:
        create_app(config)  # raises on invalid policy files: refuse to start
    except BaseException:
        metrics_dir.cleanup()
        raise
    log.info("serving on %s:%s with %s %s worker(s) x %s thread(s); database pool %s+%s per worker",
             host, port, workers, config.server.worker_class,
             config.server.threads if config.server.worker_class == "gthread" else 1,
             config.database.pool_size, config.database.max_overflow)
    for stream in (sys.stdout, sys.stderr):
        stream.flush()
    os.execve(sys.executable, [sys.executable, "-m", "idp.server", config_path or "", host, str(port),
                               str(workers), "owned" if metrics_dir.owned else "given"], server_environment())


# Each worker's malloc: one arena per process (a worker's background threads, e.g. the outbox drainer, would
# each get an arena of their own, and their freed memory stays with it; about 1 MB per worker), and blocks of
# 4 MB or more always mmap()ed, so they go back to the system when freed (glibc would otherwise raise its
# threshold after the first such free and keep later ones, e.g. argon2id's 19 MB work area when a password
# is hashed, on the heap for good). Verifying a password maps argon2id's work area itself, on transparent
# huge pages (idp.security.argon2_area); glibc's `hugetlb` tunable is not used: it puts the whole heap on
# huge pages, about 2 MB more per worker. A GLIBC_TUNABLES set in the environment (even empty) is left as it is.
TUNABLES = "glibc.malloc.arena_max=1:glibc.malloc.mmap_threshold=4194304"


def server_environment() -> dict[str, str]:
    env = dict(os.environ)
    env.setdefault("GLIBC_TUNABLES", TUNABLES)
    return env


def main(argv: list[str]) -> None:
    """`python -m idp.server CONFIG HOST PORT WORKERS owned|given` (what `idp serve` execs after its checks)."""
    config_path, host, port, workers, metrics = argv
    config_path = config_path or None
    config = load_config(config_path)
    metrics_dir = _MetricsDir(os.environ["PROMETHEUS_MULTIPROC_DIR"], owned=metrics == "owned")
    try:
        _empty(metrics_dir.path)  # the check's app may have written values: none of them count
        _preload_modules()
        IdpGunicorn(config_path, gunicorn_options(config, host, int(port), int(workers))).run()
    finally:
        metrics_dir.cleanup()


def _preload_modules() -> None:
    """Import the app's modules (not the app: each worker builds its own after the fork) so that the workers
    share these pages with the master instead of each loading them again, and start faster; gc.freeze()
    keeps the garbage collector from writing to (and so copying) the shared objects in every worker."""
    import gc

    import idp.app  # noqa: F401

    gc.freeze()


def gunicorn_options(config: AppConfig, host: str, port: int, workers: int) -> dict:
    from idp.web.observability.logging import gunicorn_logconfig

    return {
        "bind": f"{host}:{port}", "workers": workers, "worker_class": config.server.worker_class,
        # gunicorn silently turns "sync" into "gthread" when threads > 1: threads only for gthread
        "threads": config.server.threads if config.server.worker_class == "gthread" else 1,
        "timeout": config.server.timeout, "preload_app": False,
        "accesslog": None, "errorlog": "-",  # one access line per request comes from idp.web.observability
        "logger_class": AppWritesAccessLines,
        "logconfig_dict": gunicorn_logconfig(config.logging.format, config.logging.level),
        "forwarded_allow_ips": "127.0.0.1" if config.server.trusted_proxies else "",
        "child_exit": _child_exit,
        # gunicorn >= 25: no runtime control socket (one fixed path per OS user: two servers on one
        # host would take over each other's; and nobody should resize an IdP through a side door)
        "control_socket_disable": True,
    }


class _MetricsDir:
    def __init__(self, path: str, owned: bool) -> None:
        self.path, self.owned = path, owned

    def cleanup(self) -> None:
        if self.owned:
            shutil.rmtree(self.path, ignore_errors=True)


def prepare_metrics_dir() -> _MetricsDir:
    """PROMETHEUS_MULTIPROC_DIR for the workers: the one in the environment (emptied: values of an earlier
    run must not be added to this one's), else a new temporary folder removed when the server stops."""
    given = os.environ.get("PROMETHEUS_MULTIPROC_DIR")
    if given:
        os.makedirs(given, exist_ok=True)
        _empty(given)
        return _MetricsDir(given, owned=False)
    path = tempfile.mkdtemp(prefix="idp-metrics-")
    os.environ["PROMETHEUS_MULTIPROC_DIR"] = path
    return _MetricsDir(path, owned=True)


def _empty(path: str) -> None:
    for name in os.listdir(path):
        if name.endswith(".db"):
            os.remove(os.path.join(path, name))


def _child_exit(server, worker) -> None:  # noqa: ANN001
    """A worker ended: its live gauges go (its counters stay counted)."""
    from prometheus_client import multiprocess

    multiprocess.mark_process_dead(worker.pid)


if __name__ == "__main__":
    main(sys.argv[1:])
