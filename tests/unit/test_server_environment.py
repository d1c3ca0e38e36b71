"""What `idp serve` hands the gunicorn interpreter it execs: glibc's malloc tunables unless the operator set
GLIBC_TUNABLES (even empty)."""
from __future__ import annotations

from idp import server


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
