"""Rules for NEW passwords (set, changed, reset, invited), after NIST SP 800-63B §3.1.1.2 (rev. 4):

- length counted in Unicode code points of the NFKC form (the form that is hashed): at least `[passwords] min_length` (8), or
  `min_length_single_factor` (15) when the password is the account's only factor; at most 256 accepted
  (NIST: at least 64 must be);
- no composition rules (no "one digit, one symbol"), any printable character and spaces allowed;
- refused when on the blocklist of common passwords (idp/data/common-passwords.txt, compared
  case-insensitively after NFKC normalisation), or such a password with up to 6 digits/symbols around it;
- refused when built from the account's email address (the address, its name part, or a part of the name
  with a few characters added) or the service name, or when it is one character repeated or a plain
  sequence ("abcdefgh", "87654321").

Existing passwords are never checked at sign-in (the rules apply when one is chosen).
`check_new_password` returns the problems as sentences for the person choosing the password; [] = fine.
"""
from __future__ import annotations

import functools
import re
import unicodedata
from collections.abc import Iterable, Iterator, Set
from importlib import resources

from idp.config import PasswordsConfig

MAX_LENGTH = 256
BLOCKLIST_FILE = "common-passwords.txt"
CONTEXT_WORDS = ("fentu", "fentuidp", "fentufsm")
_EDGES = re.compile(r"^[\W\d_]*(.*?)[\W\d_]*$", re.S)


class Blocklist(Set):
    """The folded entries as one newline-separated UTF-8 string: about 0.2 MB where a frozenset of the 19,640
    str objects takes 2.1 MB in every worker that ever checked a new password. A lookup scans it (well under a
    millisecond; only new passwords are checked) and is exact: an entry is a whole line."""

    def __init__(self, entries: Iterable[str]) -> None:
        unique = sorted(set(entries) - {""})
        self._data = ("\n" + "\n".join(unique) + "\n").encode()
        self._count = len(unique)

    def __contains__(self, word: object) -> bool:
        if not isinstance(word, str) or word == "" or "\n" in word:
            return False
        return b"\n" + word.encode(errors="replace") + b"\n" in self._data

    def __iter__(self) -> Iterator[str]:
        return iter(self._data[1:-1].decode().split("\n") if self._count else ())

    def __len__(self) -> int:
        return self._count


@functools.cache
def common_passwords() -> Blocklist:
    """The blocklist, lowercased (the file's leading '#' lines are its header)."""
    text = resources.files("idp").joinpath("data", BLOCKLIST_FILE).read_text(encoding="utf-8")
    lines = text.splitlines()
    start = 0
    while start < len(lines) and lines[start].startswith("#"):
        start += 1
    return Blocklist(_fold(line) for line in lines[start:] if line)


def _fold(text: str) -> str:
    return unicodedata.normalize("NFKC", text).casefold()


def check_new_password(password: str, *, single_factor: bool, email: str,
                       config: PasswordsConfig | None = None) -> list[str]:
    """Why `password` may not be chosen for the account `email` ([] when it may). `single_factor`: the
    account has no second factor (then the longer minimum applies). `config` is the deployment's
    `[passwords]` section (default: the built-in defaults)."""
    config = config or PasswordsConfig()
    if not password:
        return ["Enter a password."]
    password = unicodedata.normalize("NFKC", password)   # as it is hashed (idp.security.passwords)
    problems = []
    minimum = config.min_length_single_factor if single_factor else config.min_length
    length = len(password)
    if length < minimum:
        why = ""
        if single_factor and config.min_length_single_factor > config.min_length:
            why = (f" (this account has no second factor, so its password must be longer; with a second factor "
                   f"{config.min_length} are enough)")
        problems.append(f"Use at least {minimum} characters{why}; this one has {length}.")
    if length > MAX_LENGTH:
        problems.append(f"Use at most {MAX_LENGTH} characters; this one has {length}.")
        return problems
    folded = _fold(password)
    if _is_common(folded):
        problems.append("This password is on a list of common or leaked passwords that attackers try first. "
                        "Choose another one; a few unrelated words together make a good password.")
    elif _is_pattern(folded):
        problems.append("Don't use one character repeated or a plain sequence such as \"abcdefgh\" or \"12345678\".")
    if _from_email(folded, email):
        problems.append("Don't build the password from your email address or your name in it.")
    elif _from_words(folded, CONTEXT_WORDS):
        problems.append("Don't build the password from the name of this service.")
    return problems


def _is_common(folded: str) -> bool:
    blocklist = common_passwords()
    if folded in blocklist:
        return True
    core = _EDGES.match(folded).group(1)
    # "password123!", "password1234567", "!!monkey2024": a listed password with only digits/symbols around it
    if len(core) >= 4 and core != folded and core in blocklist:
        return True
    # "passwordpassword", "dragondragon1": a listed password said twice (with digits/symbols around)
    half = len(core) // 2
    return len(core) >= 8 and len(core) % 2 == 0 and core[:half] == core[half:] and core[:half] in blocklist


def _is_pattern(folded: str) -> bool:
    if len(set(folded)) == 1:
        return True
    for unit in (2, 3):  # "abababab", "abcabcabc"
        if len(folded) >= 2 * unit and folded == (folded[:unit] * (len(folded) // unit + 1))[:len(folded)]:
            return True
    steps = [ord(b) - ord(a) for a, b in zip(folded, folded[1:], strict=False)]
    if len(set(steps)) == 1 and set(steps) <= {1, -1}:
        return True
    # digit runs that wrap around: "123456789012345", "9876543210987"
    return folded.isdigit() and all((b - a) % 10 == steps[0] % 10 for a, b in
                                    zip(map(int, folded), map(int, folded[1:]), strict=False)) and steps[0] % 10 in (1, 9)


def _from_email(folded: str, email: str) -> bool:
    address = _fold((email or "").strip())
    if not address:
        return False
    local, _, domain = address.partition("@")
    if address in folded or folded in (local, address):
        return True
    words = {local} | set(re.split(r"[._+\-]+", local))
    words |= {part for part in domain.split(".")[:-1] if len(part) >= 4}
    return _from_words(folded, words)


def _from_words(folded: str, words) -> bool:  # noqa: ANN001
    """The password is one of `words` with fewer than 8 other characters added."""
    for word in words:
        if len(word) >= 3 and word in folded and len(folded) - len(word) < 8:
            return True
    return False
