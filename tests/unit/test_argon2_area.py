"""argon2id verification with its work area on a mapping of its own (idp.security.argon2_area): the same answers
as argon2-cffi's verify, and no memory kept after a check."""
from __future__ import annotations

import json
import subprocess
import sys

import pytest
from argon2 import PasswordHasher, Type
from argon2.exceptions import VerificationError

from idp import server
from idp.security import argon2_area
from idp.security.passwords import Passwords

PASSWORD = "correct horse battery staple ✓"


def library_says(encoded: str, password: str) -> bool:
    try:
        return PasswordHasher().verify(encoded, password)
    except VerificationError:
        return False


@pytest.mark.parametrize(("memory", "time", "lanes", "length"), [(64, 1, 1, 32), (1024, 2, 1, 32), (512, 1, 2, 16)])
@pytest.mark.parametrize("attempt", [PASSWORD, PASSWORD.upper(), PASSWORD[:-1], "", "correct horse battery staple"])
def test_the_same_answer_as_argon2_cffi(memory, time, lanes, length, attempt):
    encoded = PasswordHasher(time_cost=time, memory_cost=memory, parallelism=lanes, hash_len=length,
                             type=Type.ID).hash(PASSWORD)
    assert argon2_area.verify(encoded, attempt) is library_says(encoded, attempt) is (attempt == PASSWORD)


def test_a_tampered_hash_or_salt_matches_nothing():
    encoded = PasswordHasher(time_cost=1, memory_cost=64, type=Type.ID).hash(PASSWORD)
    head, salt, digest = encoded.rsplit("$", 2)

    def flipped(text: str) -> str:            # another first character, whatever the random salt or hash has
        return ("A" if text[0] != "A" else "B") + text[1:]

    for tampered in (f"{head}${salt}${flipped(digest)}", f"{head}${flipped(salt)}${digest}",
                     encoded.replace("t=1", "t=2"), encoded.replace("m=64", "m=128")):
        assert tampered != encoded
        assert argon2_area.verify(tampered, PASSWORD) is False
        assert library_says(tampered, PASSWORD) is False


def test_parameters_argon2_refuses_match_nothing():
    encoded = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(PASSWORD)
    too_little = encoded.replace("m=64,t=1,p=1", "m=8,t=1,p=4")          # fewer than 8 KiB per lane
    assert too_little != encoded
    assert argon2_area.verify(too_little, PASSWORD) is False
    assert library_says(too_little, PASSWORD) is False


@pytest.mark.parametrize("variant", [Type.I, Type.D])
def test_other_forms_are_left_to_argon2_cffi(variant):
    other = PasswordHasher(time_cost=1, memory_cost=64, type=variant).hash(PASSWORD)
    assert argon2_area.verify(other, PASSWORD) is None
    canonical = PasswordHasher(time_cost=1, memory_cost=64, type=Type.ID).hash(PASSWORD)
    assert argon2_area.verify(canonical.replace("$v=19", ""), PASSWORD) is None          # argon2 1.0 (no v=)
    assert argon2_area.verify(canonical + "==", PASSWORD) is None                        # padded base64
    assert argon2_area.verify(canonical + "\n", PASSWORD) is None


def test_passwords_answer_the_same_when_this_path_is_off(monkeypatch):
    passwords = Passwords(memory_kib=64, time_cost=1)
    stored = passwords.hash(PASSWORD)
    monkeypatch.setattr(argon2_area, "_callbacks_in_use", None)
    assert argon2_area.verify(stored.removeprefix("$nfkc"), PASSWORD) is None
    assert passwords.verify(stored, PASSWORD) and not passwords.verify(stored, PASSWORD + "!")


CHECKS = """
import json
import re
from pathlib import Path
from idp.security import argon2_area
from idp.security.passwords import Passwords

def memory():
    rollup = Path("/proc/self/smaps_rollup").read_text()
    return {name: int(re.search(name + r":\\s+(\\d+)", rollup).group(1)) / 1024 for name in ("Rss", "AnonHugePages")}

passwords = Passwords(memory_kib=24 * 1024, time_cost=1)
stored = passwords.hash("pw")
before = memory()
answers = [passwords.verify(stored, attempt) for attempt in ("pw", "wrong", "pw")]
after = memory()
writable_code = [line for line in Path("/proc/self/maps").read_text().splitlines() if " rwxp " in line]
print(json.dumps({"answers": answers, "enabled": argon2_area._callbacks_in_use is not None,
                  "grown_mb": after["Rss"] - before["Rss"], "huge_mb": after["AnonHugePages"],
                  "writable_code": writable_code}))
"""


def test_no_memory_is_kept_after_a_check_and_the_heap_is_not_on_huge_pages(monkeypatch):
    """In a fresh interpreter with the environment `idp serve` gives its workers (glibc tunables). No memory
    both writable and executable either (Python callbacks through cffi or ctypes would need it; hosts that
    forbid it, e.g. systemd's MemoryDenyWriteExecute, could not even import them)."""
    monkeypatch.delenv("GLIBC_TUNABLES", raising=False)
    done = subprocess.run([sys.executable, "-c", CHECKS], env=server.server_environment(), capture_output=True,
                          text=True, timeout=60, check=True)
    seen = json.loads(done.stdout)
    assert seen["answers"] == [True, False, True] and seen["enabled"]
    assert seen["grown_mb"] < 4         # the 24 MB work area went back each time
    assert seen["huge_mb"] == 0         # nothing left on huge pages (glibc's hugetlb would put the heap there)
    assert seen["writable_code"] == []


def test_numbers_beyond_argon2s_fields_are_left_to_argon2_cffi():
    encoded = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(PASSWORD)
    huge = encoded.replace("m=64,", f"m={2**32},")
    assert argon2_area.verify(huge, PASSWORD) is None
    assert library_says(huge, PASSWORD) is False
    assert not Passwords(memory_kib=64, time_cost=1).verify(huge, PASSWORD)


def test_base64_with_stray_bits_is_left_to_argon2_cffi_which_refuses_it():
    encoded = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(PASSWORD)
    head, salt, digest = encoded.rsplit("$", 2)
    last = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/".index(salt[-1])
    stray = f"{head}${salt[:-1]}{'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/'[last ^ 1]}${digest}"
    assert argon2_area.verify(stray, PASSWORD) is None
    assert not Passwords(memory_kib=64, time_cost=1).verify(stray, PASSWORD)
