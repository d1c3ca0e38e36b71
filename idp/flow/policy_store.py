"""Keeps the running PolicySet, reloading the policy directory when its files change (valid changes only)."""
from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from pathlib import Path

from .model import PolicySet
from .policy import load_policies, policy_files
from .problems import PolicyError

log = logging.getLogger("idp.policy")

Signature = tuple[tuple[str, int, int], ...]


def _signature(directory: Path) -> Signature:
    """Names, modification times and sizes of the directory's policy files."""
    entries = []
    for path in policy_files(directory):
        try:
            stat = path.stat()
        except FileNotFoundError:     # removed while we looked; the next check sees it gone
            continue
        entries.append((path.name, stat.st_mtime_ns, stat.st_size))
    return tuple(entries)


class PolicyStore:
    """The policy set in force. `current()` re-checks the files at most every `check_interval` seconds;
    a changed directory is loaded and swapped in only when valid, otherwise the errors are logged and the
    running set stays. The first load must succeed (PolicyError: the server must refuse to start)."""

    def __init__(self, directory: Path, check_interval: float = 2.0,
                 *, clock: Callable[[], float] = time.monotonic) -> None:
        self.directory = Path(directory)
        self.check_interval = check_interval
        self._clock = clock
        self._lock = threading.Lock()
        self._signature = _signature(self.directory)
        self._current = load_policies(self.directory)
        self._checked_at = clock()

    def current(self) -> PolicySet:
        """The policy set in force, after reloading it if the files changed since the last look."""
        with self._lock:
            if self._clock() - self._checked_at >= self.check_interval:
                self._checked_at = self._clock()
                signature = _signature(self.directory)
                if signature != self._signature:
                    self._signature = signature
                    self._load()
            return self._current

    def reload(self) -> bool:
        """Loads the directory now (e.g. on SIGHUP); True when the new set is in force."""
        with self._lock:
            self._checked_at = self._clock()
            self._signature = _signature(self.directory)
            return self._load()

    def _load(self) -> bool:
        """Loads the files; swaps the result in when valid, else logs why and keeps the running set.
        Must be called with the lock held."""
        try:
            policies = load_policies(self.directory)
        except PolicyError as err:
            log.error("policy change refused, the running flows stay in force (%s); errors:\n%s",
                      self._current.digest[:12], "\n".join(err.errors))
            return False
        except OSError as err:
            log.error("policy change refused, could not read %s: %s", self.directory, err)
            return False
        if policies.digest != self._current.digest:
            log.info("policy reloaded from %s (%s)", self.directory, policies.digest[:12])
        self._current = policies
        return True
