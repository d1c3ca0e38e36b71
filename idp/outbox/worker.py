"""Draining the queue: claim due jobs, deliver each outside any transaction, record the result.

`drain()` is what every worker (and `idp outbox drain`) runs. `Drainer` is one per process: a daemon thread,
woken after a request that queued something and otherwise sweeping every `sweep_interval_seconds`, so a slow
mail server never delays a page nor holds a write transaction open. Several workers and servers may drain
at once: claims are atomic (idp.outbox.queue)."""
from __future__ import annotations

import logging
import os
import threading
from dataclasses import dataclass
from typing import TYPE_CHECKING

from idp import audit
from idp.audit import Actor
from idp.delivery import DeliveryError
from idp.security.encryption import DecryptionError

from . import queue
from .registry import UnknownKind, dead_hook, require

if TYPE_CHECKING:
    from idp.services import Services

log = logging.getLogger(__name__)
BATCH = 1          # one job per claim: a lease then only has to outlive one delivery
SYSTEM = Actor(name="system:outbox")


@dataclass
class DrainResult:
    sent: int = 0
    retried: int = 0
    dead: int = 0

    @property
    def total(self) -> int:
        return self.sent + self.retried + self.dead


def drain(services: "Services", max_jobs: int = 200) -> DrainResult:
    """Deliver due jobs until none is left (or `max_jobs`); jobs a handler queues are sent in the same pass."""
    result = DrainResult()
    while result.total < max_jobs:
        with services.database.session() as db:
            jobs = queue.claim(db, services.config.outbox, limit=min(BATCH, max_jobs - result.total))
        if not jobs:
            break
        for job in jobs:
            _run(services, job, result)
    return result


def _run(services: "Services", job: queue.Claimed, result: DrainResult) -> None:
    final, payload = False, None
    try:
        deliver = require(job.kind)
        payload = queue.decrypt(services.kek, job)
        deliver(services, payload)
    except (DeliveryError, UnknownKind) as exc:      # UnknownKind: only a newer version knows it (rolling deploy)
        error = str(exc)
    except DecryptionError:
        error, final = "the payload cannot be decrypted with this key-encryption key", True
    except Exception as exc:  # noqa: BLE001 - a handler bug must not stop the queue; its text may hold a secret
        log.error("outbox job %s (%s): its handler raised %s (message not logged)", job.id, job.kind,
                  type(exc).__name__)
        error = f"unexpected {type(exc).__name__}"
    else:
        with services.database.session() as db:
            queue.finish(db, job)
        result.sent += 1
        return
    _failed(services, job, error, final, result, payload)


def _failed(services: "Services", job: queue.Claimed, error: str, final: bool, result: DrainResult,
            payload: dict | None = None) -> None:
    with services.database.session() as db:
        status = queue.fail(db, job, error, services.config.outbox, final=final)
        if status == "dead":
            log.error("outbox job %s (%s) is dead after %s attempt(s): %s", job.id, job.kind, job.attempts, error)
            audit.record(db, "outbox_job_dead", SYSTEM, organisation_id=None, outcome="failure",
                         details={"job": job.id, "kind": job.kind, "attempts": job.attempts, "error": error})
            hook = dead_hook(job.kind)
            if hook is not None and payload is not None:
                hook(db, services, payload)
            result.dead += 1
            return
    log.warning("outbox job %s (%s) attempt %s failed, will retry: %s", job.id, job.kind, job.attempts, error)
    result.retried += 1


class Drainer:
    """This process's background drainer (started lazily, again after a fork: gunicorn workers)."""

    def __init__(self, services: "Services") -> None:
        self.services = services
        self._wake = threading.Event()
        self._lock = threading.Lock()
        self._thread: threading.Thread | None = None
        self._pid = 0
        self._stopped = False

    def ensure_running(self) -> None:
        if self._stopped or (self._pid == os.getpid() and self._thread is not None and self._thread.is_alive()):
            return
        with self._lock:
            if self._pid != os.getpid() or self._thread is None or not self._thread.is_alive():
                self._pid = os.getpid()
                self._wake = threading.Event()
                self._thread = threading.Thread(target=self._loop, name="idp-outbox", daemon=True)
                self._thread.start()

    def wake(self) -> None:
        """A request committed new jobs: deliver them now (returns at once)."""
        self.ensure_running()
        self._wake.set()

    def stop(self, timeout: float = 10.0) -> None:
        """No more draining in this process (tests; a job being delivered is finished first)."""
        self._stopped = True
        self._wake.set()
        if self._thread is not None and self._pid == os.getpid():
            self._thread.join(timeout)

    def _loop(self) -> None:
        interval = self.services.config.outbox.sweep_interval_seconds
        while True:
            woken = self._wake.wait(interval)
            self._wake.clear()
            if self._stopped:
                return
            try:
                drain(self.services)
                if not woken:
                    with self.services.database.session() as db:
                        queue.purge(db, self.services.config.outbox)
            except Exception as exc:  # noqa: BLE001 - e.g. the database is down: the next sweep tries again
                log.warning("outbox: draining failed (%s); trying again in %s s", type(exc).__name__, interval)
