"""Email addresses as account identifiers: one normal form for every lookup and every creation.

`normalise_email` is total (any text, for lookups: sign-in, forgotten password, admin search by email,
upstream sign-ins): Unicode NFKC, then case folding (RFC 8265 §3.3 "UsernameCaseMapped"-like, so the
full-width ``ｊudy@`` and ``JUDY@`` are both ``judy@``), and the domain through IDNA (UTS #46) in its
Unicode form, as email-validator's `normalized` gives it (``xn--bcher-kva.example`` and ``BÜCHER.example``
are both ``bücher.example``; addresses stored before this module existed have that form too).
`checked_email` is for creations: a valid address in that same form, refusing a local part that mixes
scripts the way look-alikes do (Latin with Cyrillic or Greek; UTS #39 "highly restrictive" mixtures only).
`ascii_domain` is the domain's A-label form, for comparing with configured domains (which are ASCII)."""
from __future__ import annotations

import unicodedata

import idna
from email_validator import EmailNotValidError, validate_email

MAX_LENGTH = 320

# UTS #39 §5.2 "Highly Restrictive": one script, or Latin with these Asian combinations.
_ALLOWED_MIXES = (frozenset({"LATIN", "HAN", "HIRAGANA", "KATAKANA"}), frozenset({"LATIN", "HAN", "BOPOMOFO"}),
                  frozenset({"LATIN", "HAN", "HANGUL"}))
_SCRIPT_ALIASES = {"CJK": "HAN", "IDEOGRAPHIC": "HAN", "KANGXI": "HAN"}


class IdentifierError(ValueError):
    """An address that cannot identify an account, with a message fit for the person who typed it."""


def normalise_email(text: str) -> str:
    """The form stored and compared: NFKC, case-folded, the domain as IDNA A-labels (when it is one)."""
    folded = _fold(text)
    local, at, domain = folded.rpartition("@")
    if not at:
        return folded
    return f"{local}@{_unicode_domain(domain)}"


def ascii_domain(email: str) -> str:
    """The domain of `email` as IDNA A-labels (``xn--bcher-kva.example``), as organisation and provider
    domains are configured; the folded text when it is not a valid domain."""
    domain = _fold(email).rpartition("@")[2]
    if domain.isascii() and "xn--" not in domain:
        return domain
    try:
        return idna.encode(domain, uts46=True).decode("ascii")
    except (idna.IDNAError, UnicodeError, ValueError):
        return domain


def _fold(text: str) -> str:
    """NFKC_Casefold: compatibility forms (full-width, ligatures) and case differences disappear."""
    once = unicodedata.normalize("NFKC", (text or "").strip()).casefold()
    return unicodedata.normalize("NFKC", once)


def _unicode_domain(domain: str) -> str:
    if domain.isascii() and "xn--" not in domain:
        return domain
    try:
        return idna.decode(idna.encode(domain, uts46=True))
    except (idna.IDNAError, UnicodeError, ValueError):
        return domain   # not a valid domain: no account can have it, the lookup simply finds nothing


def checked_email(text: str) -> str:
    """The normal form of a valid address for a new account or a changed address; IdentifierError otherwise."""
    shown = (text or "").strip()[:MAX_LENGTH]
    try:
        valid = validate_email(_fold(text), check_deliverability=False)
    except EmailNotValidError as exc:
        raise IdentifierError(f"{shown!r} is not a valid email address: {exc}") from None
    scripts = local_part_scripts(valid.local_part)
    if len(scripts) > 1 and not any(scripts <= allowed for allowed in _ALLOWED_MIXES):
        raise IdentifierError(f"{shown!r} cannot be used: its part before the @ mixes "
                              f"{' and '.join(s.title() for s in sorted(scripts))} letters, as look-alike "
                              "addresses do. Type it with the letters of one alphabet.")
    return f"{valid.local_part}@{valid.domain}"


def local_part_scripts(local: str) -> frozenset[str]:
    """The scripts of the letters in `local` (digits and punctuation belong to none), by Unicode name."""
    scripts = set()
    for char in local:
        if not unicodedata.category(char).startswith("L"):
            continue
        first = unicodedata.name(char, "UNKNOWN").split(" ", 1)[0]
        scripts.add(_SCRIPT_ALIASES.get(first, first))
    return frozenset(scripts)
