"""argon2id verification whose work area (19 MB by default) is a mapping of its own: on transparent huge pages
(zeroed about 4× faster than 4 KiB pages) and unmapped when the hash is done, so a worker keeps no memory for it.

argon2-cffi's `verify` lets the C library malloc() the area. glibc could only put that on huge pages with its
`hugetlb` tunable, which puts the whole heap on them too (about 2 MB more per worker). Here the library's own
`argon2_ctx` (argon2-cffi's `core`) computes the hash with allocation callbacks, and the result is compared in
constant time, as `argon2_verify` does. Only the canonical form argon2-cffi writes
(`$argon2id$v=19$m=…,t=…,p=…$salt$hash`) is handled; `verify` returns None for anything else, and the caller
then uses argon2-cffi's `verify`. A self-check at import compares both on a known hash; if they disagree (a
changed context layout), `verify` is off for the process."""
from __future__ import annotations

import base64
import binascii
import hmac
import logging
import mmap
import re

from argon2 import PasswordHasher, Type
from argon2.low_level import core, ffi

log = logging.getLogger("idp.security")
ENCODED = re.compile(r"\$argon2id\$v=19\$m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,5})"
                     r"\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{16,})")
VERSION = 0x13
ALLOCATION_ERROR = -22      # ARGON2_MEMORY_ALLOCATION_ERROR
SELF_CHECK = "argon2 work-area self-check"
_areas: dict[int, tuple[mmap.mmap, object]] = {}   # address → (mapping, buffer view) while argon2 uses it


def _unpadded(text: str) -> bytes:
    return base64.b64decode(text + "=" * (-len(text) % 4), validate=True)


@ffi.callback("int(uint8_t **, size_t)", error=ALLOCATION_ERROR)
def _allocate(memory, size):  # noqa: ANN001, ANN202 - a C callback (argon2's allocate_fptr)
    memory[0] = ffi.NULL    # what argon2 checks: NULL is an allocation error (also if anything below raises)
    try:
        area = mmap.mmap(-1, size, flags=mmap.MAP_PRIVATE | mmap.MAP_ANONYMOUS)
    except (OSError, ValueError, OverflowError):
        return ALLOCATION_ERROR
    try:
        area.madvise(mmap.MADV_HUGEPAGE)
    except (OSError, AttributeError):
        pass                # no transparent huge pages here: 4 KiB pages, slower, same result
    view = ffi.from_buffer("uint8_t[]", area)
    address = int(ffi.cast("uintptr_t", view))
    _areas[address] = (area, view)
    memory[0] = view
    return 0


@ffi.callback("void(uint8_t *, size_t)")
def _free(memory, size):  # noqa: ANN001, ANN202, ARG001 - a C callback (argon2's deallocate_fptr)
    area, view = _areas.pop(int(ffi.cast("uintptr_t", memory)))
    ffi.release(view)
    area.close()            # munmap: the pages go back to the system (argon2 wiped them first)


def _matches(encoded: str, password: bytes) -> bool | None:
    parsed = ENCODED.fullmatch(encoded)
    if parsed is None:
        return None
    memory_kib, time_cost, lanes = (int(parsed.group(i)) for i in (1, 2, 3))
    try:
        salt, expected = _unpadded(parsed.group(4)), _unpadded(parsed.group(5))
    except (binascii.Error, ValueError):
        return None
    out, secret, salt_view = ffi.new("uint8_t[]", len(expected)), ffi.from_buffer(password), ffi.from_buffer(salt)
    try:
        context = _context(out, secret, salt_view, memory_kib, time_cost, lanes)
    except OverflowError:
        return None         # a number beyond argon2's fields: argon2-cffi refuses it
    if core(context, Type.ID.value) != 0:
        return False        # parameters argon2 refuses: no password matches (argon2-cffi raises, we say no)
    return hmac.compare_digest(ffi.buffer(out)[:], expected)


def _context(out, secret, salt, memory_kib: int, time_cost: int, lanes: int):  # noqa: ANN001, ANN202 - cffi data
    return ffi.new("argon2_context *", {
        "out": out, "outlen": len(out), "pwd": ffi.cast("uint8_t *", secret), "pwdlen": len(secret),
        "salt": ffi.cast("uint8_t *", salt), "saltlen": len(salt), "secret": ffi.NULL, "secretlen": 0,
        "ad": ffi.NULL, "adlen": 0, "t_cost": time_cost, "m_cost": memory_kib, "lanes": lanes, "threads": lanes,
        "version": VERSION, "allocate_cbk": _allocate, "free_cbk": _free, "flags": 0})   # flags 0: argon2 writes
                            # nothing into the password's bytes (ARGON2_FLAG_CLEAR_PASSWORD would)


def _self_check() -> bool:
    """Does this path tell the right password from a wrong one on a hash argon2-cffi made?"""
    encoded = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(SELF_CHECK)
    try:
        return _matches(encoded, SELF_CHECK.encode()) is True and _matches(encoded, b"something else") is False
    except Exception:  # noqa: BLE001 - any surprise (a changed binding) turns this path off
        log.exception("argon2 work-area self-check failed; argon2-cffi's verify is used")
        return False


_enabled = _self_check()


def verify(encoded: str, password: str) -> bool | None:
    """Whether `password` matches the argon2id hash `encoded`; None when this path does not handle it (another
    form of hash, or the self-check failed): then use argon2-cffi's `verify`."""
    if not _enabled:
        return None
    return _matches(encoded, password.encode("utf-8"))
