"""What `idp serve` hands the gunicorn interpreter it execs: glibc's malloc tunables unless the operator set
GLIBC_TUNABLES (even empty); gunicorn's options."""
from __future__ import annotations

from idp import server
from tests.support.configs import make_config


def test_workers_share_one_malloc_arena_by_default(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    tunables = server.server_environment()["GLIBC_TUNABLES"].split(":")
    assert "glibc.malloc.arena_max=1" in tunables


def test_an_operators_setting_is_kept_even_empty(monkeypatch):
    monkeypatch.setenv("GLIBC_TUNABLES", "")
    assert server.server_environment()["GLIBC_TUNABLES"] == ""


def test_large_blocks_go_back_to_the_system_and_the_heap_stays_off_huge_pages(monkeypatch):
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    tunables = server.server_environment()["GLIBC_TUNABLES"].split(":")
    assert "glibc.malloc.mmap_threshold=4194304" in tunables
    assert not any(t.startswith("glibc.malloc.hugetlb") for t in tunables)   # ~2 MB more heap per worker


def test_gunicorn_builds_no_access_line_of_its_own():
    """The app writes one access line per request (tests/hardening/test_fleet.py); gunicorn's logger is not even
    handed the request's fields (it would work them all out, then drop the line)."""
    options = server.gunicorn_options(make_config("sqlite://"), "127.0.0.1", 8000, 2)
    logger_class = options["logger_class"]
    assert issubclass(logger_class, server.Logger)
    assert logger_class.access(object.__new__(logger_class), None, None, None, None) is None
