"""idp.identifiers: one normal form for addresses (lookups and creations agree), look-alikes refused."""
from __future__ import annotations

import pytest

from idp.identifiers import IdentifierError, ascii_domain, checked_email, normalise_email


@pytest.mark.parametrize("typed, stored", [
    ("\uff4audy@example.com", "judy@example.com"),             # full-width ｊ
    ("  JUDY@Example.COM ", "judy@example.com"),
    ("Stra\u00dfe@example.com", "strasse@example.com"),         # case folding, not just lower()
    ("\ufb01le@example.com", "file@example.com"),               # the ﬁ ligature
    ("ren\u00e9e@B\u00dcCHER.example", "ren\u00e9e@b\u00fccher.example"),    # IDNA (UTS 46), Unicode form
    ("ren\u00e9e@xn--bcher-kva.example", "ren\u00e9e@b\u00fccher.example"),   # as email-validator gives it
    ("rene\u0301e@example.com", "ren\u00e9e@example.com"),     # decomposed é composed
])
def test_lookups_and_creations_use_the_same_normal_form(typed, stored):
    assert normalise_email(typed) == stored
    assert checked_email(typed) == stored


@pytest.mark.parametrize("typed, words", [
    ("j\u0430ne@example.com", "mixes Cyrillic and Latin"),      # Cyrillic а in a Latin name
    ("\u03b1lice@example.com", "mixes Greek and Latin"),
    ("not an address", "not a valid email address"),
])
def test_creations_refuse_look_alikes_and_non_addresses(typed, words):
    with pytest.raises(IdentifierError, match=words):
        checked_email(typed)


@pytest.mark.parametrize("typed", ["\u0438\u0432\u0430\u043d@example.ru", "\u5c71\u7530taro@example.jp",
                                   "maria.2024+news@example.com"])
def test_one_script_and_latin_with_han_are_allowed(typed):
    assert checked_email(typed) == normalise_email(typed)


def test_configured_domains_are_compared_in_their_ascii_form():
    assert ascii_domain("pat@B\u00fccher.Example") == "xn--bcher-kva.example"
    assert ascii_domain("pat@\uff21cme.example.com") == "acme.example.com"


def test_lookups_never_fail_on_odd_input():
    assert normalise_email("") == ""
    assert normalise_email("no-at-sign") == "no-at-sign"
    assert normalise_email("x@bad..domain\u00e9") == "x@bad..domain\u00e9"
