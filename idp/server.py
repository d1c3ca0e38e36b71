"""Running under gunicorn: one app per worker, built after fork, refusing to start on invalid policies."""
from __future__ import annotations

import logging
import signal

import os

from gunicorn.app.base import BaseApplication
from gunicorn.arbiter import Arbiter

from idp.config import AppConfig, load_config

log = logging.getLogger("idp.server")


class IdpGunicorn(BaseApplication):
    def __init__(self, config_path: str | None, options: dict) -> None:
        self.config_path = config_path
        self.options = options
        super().__init__()

    def load_config(self) -> None:
        for key, value in self.options.items():
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


def build_wsgi_app(config_path: str | None):  # noqa: ANN201
    """The app for one worker; SIGHUP in a worker reloads the policy files."""
    from idp.app import create_app

    app = create_app(load_config(config_path))
    store = app.extensions["idp.policies"]
    signal.signal(signal.SIGHUP, lambda *_: store.reload())
    return app


def run_gunicorn(config_path: str | None, config: AppConfig, host: str, port: int, workers: int) -> None:
    """Check everything in the parent first, so a bad config or policy stops the start, then serve."""
    from idp.app import create_app

    create_app(config)  # raises on invalid policy files: refuse to start
    options = {
        "bind": f"{host}:{port}", "workers": workers, "worker_class": config.server.worker_class,
        "threads": config.server.threads, "timeout": config.server.timeout, "preload_app": False,
        "accesslog": "-", "errorlog": "-", "forwarded_allow_ips": "127.0.0.1" if config.server.trusted_proxies else "",
    }
    IdpGunicorn(config_path, options).run()
