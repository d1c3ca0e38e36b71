"""The recovery codes as the text file people save ("Download"), built from the codes a page posts back."""
from __future__ import annotations

from datetime import datetime

from . import recovery

FILE_NAME = "recovery-codes.txt"        # the same name from Profile > Security and from a set-up at sign-in
MAX_CODES = 2 * recovery.COUNT


def looks_like_code(line: str) -> bool:
    cleaned = recovery.normalise(line)
    return (len(cleaned) == recovery.GROUPS * recovery.GROUP_LENGTH and all(ch in recovery.ALPHABET for ch in cleaned)
            and len(line) <= 2 * recovery.GROUPS * recovery.GROUP_LENGTH)


def text(issuer: str, email: str, posted: str, when: datetime) -> str | None:
    """The file's text for the codes shown on the page (posted back, never stored readable); None when what
    was posted is not a list of recovery codes."""
    lines = posted.split()
    if not 0 < len(lines) <= MAX_CODES or not all(looks_like_code(line) for line in lines):
        return None
    return "\n".join([
        f"{issuer} recovery codes for {email}",
        f"Saved {when.strftime('%Y-%m-%d %H:%M')} UTC. Each code works once. Keep them somewhere safe",
        "(a password manager, or a printed copy in a safe).",
        "",
        *lines,
        "",
    ])
