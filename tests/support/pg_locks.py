"""PostgreSQL lock waits, for the tests that pause one request while another runs into its row locks."""
from __future__ import annotations

import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field

import sqlalchemy as sa


def someone_waits_for_a_lock(engine: sa.Engine) -> bool:
    """Whether a session of this test's database is waiting for a lock now."""
    with engine.connect() as connection:
        return bool(connection.scalar(sa.text(
            "SELECT count(*) FROM pg_stat_activity WHERE wait_event_type = 'Lock' AND datname = current_database()")))


def until_someone_waits(engine: sa.Engine, seconds: float = 10) -> bool:
    """Wait (at most `seconds`) until a session waits for a lock; whether one does."""
    deadline = time.monotonic() + seconds
    while not someone_waits_for_a_lock(engine):
        if time.monotonic() >= deadline:
            return False
        time.sleep(0.02)
    return True


@dataclass
class Held:
    """A point of the code under test where one thread stops until `released` (see `hold`)."""

    reached: threading.Event = field(default_factory=threading.Event)
    released: threading.Event = field(default_factory=threading.Event)


def hold(monkeypatch, owner: object, name: str, *, after: bool = False, thread: str | None = "sign-in",  # noqa: ANN001
         when: Callable[..., bool] = lambda *args, **kwargs: True) -> Held:
    """Patch `owner.name` so that its first call (from the thread named `thread`, None: any, for which
    `when(*args, **kwargs)` holds) stops until released: before the call, or just `after` it returned (its
    locks held until the request commits)."""
    original, held = getattr(owner, name), Held()

    def stopping(*args, **kwargs):  # noqa: ANN002, ANN003, ANN202
        stop = (not held.reached.is_set() and (thread is None or threading.current_thread().name == thread)
                and when(*args, **kwargs))
        if stop and not after:
            held.reached.set()
            held.released.wait(10)
        result = original(*args, **kwargs)
        if stop and after:
            held.reached.set()
            held.released.wait(10)
        return result

    monkeypatch.setattr(owner, name, stopping)
    return held


def race(engine: sa.Engine, held: Held, first: Callable[[], object], second: Callable[[], object],
         seconds: float = 15) -> tuple[object, object]:
    """Run `first` in a thread named "sign-in" until it is `held`, then `second` in another; once a session
    waits for a lock (at most 10 s), let `first` go on. What each returned, or its exception's class name
    (what the person or the administrator would have seen)."""
    outcome: dict[str, object] = {}

    def run(key: str, work: Callable[[], object]) -> None:
        try:
            outcome[key] = work()
        except Exception as exc:  # noqa: BLE001
            outcome[key] = type(exc).__name__

    started = threading.Thread(target=run, args=("first", first), name="sign-in")
    started.start()
    assert held.reached.wait(seconds), "the first never reached the point where it is held"
    other = threading.Thread(target=run, args=("second", second), name="other")
    other.start()
    until_someone_waits(engine)
    held.released.set()
    started.join(30)
    other.join(30)
    return outcome.get("first"), outcome.get("second")
