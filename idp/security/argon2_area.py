"""argon2id verification whose work area (19 MB by default) is a mapping of its own: on transparent huge pages
(zeroed about 4× faster than 4 KiB pages) and unmapped when the hash is done, so a worker keeps no memory for it.

argon2-cffi's `verify` lets the C library malloc() the area. glibc could only put that on huge pages with its
`hugetlb` tunable, which puts the whole heap on them too (about 2 MB more per worker). Here the library's own
`argon2_ctx` (argon2-cffi's `core`) computes the hash with the allocation callbacks of
`idp/security/_argon2_area.c` (C: no Python runs while argon2 holds no GIL, no writable-and-executable memory),
and the result is compared in constant time, as `argon2_verify` does. Only the canonical form argon2-cffi writes
(`$argon2id$v=19$m=…,t=…,p=…$salt$hash`, unpadded canonical base64) is handled; `verify` returns None for
anything else, and the caller then uses argon2-cffi's `verify`. So does it when the C part was not built (the
install goes on without a compiler) or when the self-check at import, both answers on a known hash, fails."""
from __future__ import annotations

import base64
import binascii
import hmac
import logging
import re

from argon2 import PasswordHasher, Type
from argon2.low_level import core, ffi

log = logging.getLogger("idp.security")
ENCODED = re.compile(r"\$argon2id\$v=19\$m=([1-9][0-9]{0,9}),t=([1-9][0-9]{0,9}),p=([1-9][0-9]{0,5})"
                     r"\$([A-Za-z0-9+/]{11,})\$([A-Za-z0-9+/]{16,})")
VERSION = 0x13
SELF_CHECK = "argon2 work-area self-check"


def _callbacks() -> tuple[object, object] | None:
    try:
        from idp.security import _argon2_area
    except ImportError:
        return None
    return (ffi.cast("int(*)(uint8_t **, size_t)", _argon2_area.ALLOCATE),
            ffi.cast("void(*)(uint8_t *, size_t)", _argon2_area.FREE))


def _unpadded(text: str) -> bytes | None:
    """The bytes of unpadded base64 in its one canonical form (libargon2's decoder refuses stray bits)."""
    try:
        raw = base64.b64decode(text + "=" * (-len(text) % 4), validate=True)
    except binascii.Error:
        return None
    return raw if base64.b64encode(raw).decode("ascii").rstrip("=") == text else None


def _matches(encoded: str, password: bytes, callbacks: tuple[object, object]) -> bool | None:
    parsed = ENCODED.fullmatch(encoded)
    if parsed is None:
        return None
    memory_kib, time_cost, lanes = (int(parsed.group(i)) for i in (1, 2, 3))
    salt, expected = _unpadded(parsed.group(4)), _unpadded(parsed.group(5))
    if salt is None or expected is None:
        return None
    out, secret, salt_view = ffi.new("uint8_t[]", len(expected)), ffi.from_buffer(password), ffi.from_buffer(salt)
    try:
        context = ffi.new("argon2_context *", {
            "out": out, "outlen": len(out), "pwd": ffi.cast("uint8_t *", secret), "pwdlen": len(secret),
            "salt": ffi.cast("uint8_t *", salt_view), "saltlen": len(salt_view), "secret": ffi.NULL, "secretlen": 0,
            "ad": ffi.NULL, "adlen": 0, "t_cost": time_cost, "m_cost": memory_kib, "lanes": lanes,
            "threads": lanes, "version": VERSION, "allocate_cbk": callbacks[0], "free_cbk": callbacks[1],
            "flags": 0})            # 0: argon2 writes nothing into the password's bytes (CLEAR_PASSWORD would)
    except OverflowError:
        return None                 # a number beyond argon2's fields: argon2-cffi refuses it
    if core(context, Type.ID.value) != 0:
        return False                # parameters argon2 refuses: no password matches (argon2-cffi raises, we say no)
    return hmac.compare_digest(ffi.buffer(out)[:], expected)


def _checked_callbacks() -> tuple[object, object] | None:
    """The callbacks, if this path tells the right password from a wrong one on a hash argon2-cffi made."""
    callbacks = _callbacks()
    if callbacks is None:
        log.info("argon2 work-area callbacks not built (no C compiler at install); argon2-cffi's verify is used")
        return None
    encoded = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(SELF_CHECK)
    try:
        if (_matches(encoded, SELF_CHECK.encode(), callbacks) is True
                and _matches(encoded, b"something else", callbacks) is False):
            return callbacks
    except Exception:  # noqa: BLE001 - any surprise (a changed binding) turns this path off
        log.exception("argon2 work-area self-check failed")
    log.warning("argon2 work-area self-check failed; argon2-cffi's verify is used")
    return None


_callbacks_in_use = _checked_callbacks()


def verify(encoded: str, password: str) -> bool | None:
    """Whether `password` matches the argon2id hash `encoded`; None when this path does not handle it (another
    form of hash, or the C part is missing or failed its self-check): then use argon2-cffi's `verify`."""
    if _callbacks_in_use is None:
        return None
    return _matches(encoded, password.encode("utf-8"), _callbacks_in_use)
