"""PolicyStore: the first load must succeed; later valid changes swap in, invalid ones are logged and refused."""
from __future__ import annotations

import logging
import os
import threading

import pytest

from idp.flow.policy import PolicyError
from idp.flow.policy_store import PolicyStore

GOOD = 'description = "{text}"\n[[step]]\ntype = "test_pl_login"\nrequirement = "required"\n'
BAD = 'description = "broken"\n[[step]]\ntype = "test_pl_login"\nrequirement = "sometimes"\n'


class Clock:
    def __init__(self) -> None:
        self.now = 100.0

    def __call__(self) -> float:
        return self.now


@pytest.fixture
def clock() -> Clock:
    return Clock()


@pytest.fixture
def change(tmp_path):
    """change("browser", text): rewrite a policy file and move its mtime on, as an editor would."""
    bumps = iter(range(1, 1000))

    def _change(flow: str, text: str) -> None:
        path = tmp_path / f"{flow}.toml"
        path.write_text(text, encoding="utf-8")
        stat = path.stat()
        later = stat.st_mtime_ns + next(bumps) * 1_000_000_000
        os.utime(path, ns=(later, later))

    return _change


@pytest.fixture
def store(tmp_path, change, clock) -> PolicyStore:
    change("browser", GOOD.format(text="first"))
    return PolicyStore(tmp_path, check_interval=2.0, clock=clock)


def test_the_first_load_must_succeed(tmp_path, change):
    change("browser", BAD)
    with pytest.raises(PolicyError) as caught:
        PolicyStore(tmp_path)
    assert caught.value.errors[0].startswith(f"{tmp_path / 'browser.toml'}:4: unknown requirement")


def test_a_valid_change_is_swapped_in_after_the_interval(store, change, clock):
    before = store.current()
    change("browser", GOOD.format(text="second"))
    clock.now += 1.0
    assert store.current() is before                      # not looked at yet
    clock.now += 1.0
    after = store.current()
    assert after.flow("browser").description == "second" and after.digest != before.digest


def test_an_invalid_change_is_refused_and_logged(store, change, clock, caplog, tmp_path):
    before = store.current()
    change("browser", BAD)
    clock.now += 5
    with caplog.at_level(logging.ERROR, logger="idp.policy"):
        assert store.current() is before
    [record] = [r for r in caplog.records if r.name == "idp.policy"]
    assert record.levelno == logging.ERROR and "running flows stay" in record.getMessage()
    assert f"{tmp_path / 'browser.toml'}:4: unknown requirement 'sometimes'" in record.getMessage()
    caplog.clear()
    clock.now += 5
    assert store.current() is before and not caplog.records   # same broken files: not reloaded, not re-logged
    change("browser", GOOD.format(text="fixed"))
    clock.now += 5
    assert store.current().flow("browser").description == "fixed"


def test_new_and_removed_files_count_as_changes(store, change, clock, tmp_path):
    change("extra", GOOD.format(text="extra"))
    clock.now += 5
    assert set(store.current().flows) == {"browser", "extra"}
    (tmp_path / "extra.toml").unlink()
    clock.now += 5
    assert set(store.current().flows) == {"browser"}


def test_reload_forces_a_look(store, change, caplog):
    before = store.current()
    change("browser", GOOD.format(text="now"))
    assert store.reload() is True and store.current().flow("browser").description == "now"
    change("browser", BAD)
    with caplog.at_level(logging.ERROR, logger="idp.policy"):
        assert store.reload() is False
    assert store.current().flow("browser").description == "now" and store.current() is not before
    assert any("unknown requirement" in r.getMessage() for r in caplog.records)


def test_a_removed_directory_keeps_the_running_set(store, tmp_path, clock, caplog):
    before = store.current()
    for path in tmp_path.iterdir():
        path.unlink()
    clock.now += 5
    with caplog.at_level(logging.ERROR, logger="idp.policy"):
        assert store.current() is before
    assert any("no policy files" in r.getMessage() for r in caplog.records)


def test_many_threads_see_one_consistent_set(tmp_path, change):
    change("browser", GOOD.format(text="first"))
    store = PolicyStore(tmp_path, check_interval=0.0)
    seen, failures = set(), []

    def reader() -> None:
        try:
            for _ in range(50):
                seen.add(store.current().flow("browser").description)
        except Exception as err:  # noqa: BLE001  # pragma: no cover - reported below
            failures.append(err)

    threads = [threading.Thread(target=reader) for _ in range(8)]
    for thread in threads:
        thread.start()
    change("browser", GOOD.format(text="second"))
    for thread in threads:
        thread.join()
    assert not failures and seen <= {"first", "second"}
    assert store.current().flow("browser").description == "second"
