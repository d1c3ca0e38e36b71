"""Device cookies (idp.attempts.device_cookies): signed, bound to one account, limited in age and size."""
from __future__ import annotations

from datetime import UTC, datetime, timedelta

from idp.attempts import device_cookies as dc

SECRET = "s" * 40
NOW = datetime(2026, 12, 6, 12, 0, tzinfo=UTC)


def test_an_issued_entry_is_found_for_its_account_only():
    value = dc.issue(SECRET, None, "alice@example.com", NOW, 365)
    entry = dc.entry_for(SECRET, value, "alice@example.com", NOW, 365)
    assert entry is not None and len(entry.nonce) >= 20
    assert dc.entry_for(SECRET, value, "bob@example.com", NOW, 365) is None
    assert "alice" not in value                                   # the account appears as a digest only


def test_a_forged_or_foreign_signature_is_nothing():
    value = dc.issue(SECRET, None, "alice@example.com", NOW, 365)
    assert dc.read(SECRET, value[:-2] + ("AA" if not value.endswith("AA") else "BB")) == []
    assert dc.read("t" * 40, value) == []                          # another server's secret
    assert dc.read(SECRET, "garbage") == [] and dc.read(SECRET, None) == [] and dc.read(SECRET, "x" * 5000) == []


def test_an_entry_expires_and_a_new_sign_in_gives_a_new_one():
    value = dc.issue(SECRET, None, "alice@example.com", NOW, 30)
    later = NOW + timedelta(days=31)
    assert dc.entry_for(SECRET, value, "alice@example.com", later, 30) is None
    renewed = dc.issue(SECRET, value, "alice@example.com", later, 30)
    assert dc.entry_for(SECRET, renewed, "alice@example.com", later, 30) is not None


def test_signing_in_again_keeps_the_entry_and_the_cookie_stays_small():
    value = dc.issue(SECRET, None, "alice@example.com", NOW, 365)
    first = dc.entry_for(SECRET, value, "alice@example.com", NOW, 365)
    value = dc.issue(SECRET, value, "alice@example.com", NOW + timedelta(hours=1), 365)
    assert dc.entry_for(SECRET, value, "alice@example.com", NOW, 365) == first
    for i in range(10):
        value = dc.issue(SECRET, value, f"user{i}@example.com", NOW, 365)
    assert len(dc.read(SECRET, value)) == dc.MAX_ENTRIES and len(value) < dc.MAX_LENGTH
    assert dc.entry_for(SECRET, value, "user9@example.com", NOW, 365) is not None
    assert dc.entry_for(SECRET, value, "alice@example.com", NOW, 365) is None    # the oldest was dropped
