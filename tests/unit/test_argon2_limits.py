"""argon2 parameters beyond what the server verifies: an imported hash with them is refused at import, never
checked at sign-in (a crafted t = 2^32 - 1 would hold a worker for hours), and the config may not ask for them."""
from __future__ import annotations

import time

import pytest
from argon2 import PasswordHasher, Type

from idp.config import ConfigError
from idp.security.passwords import Passwords, hash_format_problem

from tests.support.configs import make_config

PASSWORD = "correct horse battery staple"


def _hash_with(**changes: str) -> str:
    encoded = PasswordHasher(time_cost=1, memory_cost=64, parallelism=1, type=Type.ID).hash(PASSWORD)
    for old, new in changes.items():
        assert old in encoded
        encoded = encoded.replace(old, new)
    return encoded


@pytest.mark.parametrize("changes", [{"t=1": f"t={2**32 - 1}"}, {"t=1": "t=101"}, {"p=1": "p=65"},
                                     {"m=64": f"m={1024 * 1024 + 8}"}])
def test_a_hash_beyond_the_limits_is_refused_at_import_and_matches_nothing_at_once(changes):
    crafted = _hash_with(**changes)
    assert "beyond the limits" in hash_format_problem(crafted)
    started = time.monotonic()
    assert Passwords(memory_kib=64, time_cost=1).verify(crafted, PASSWORD) is False
    assert time.monotonic() - started < 1


def test_a_hash_within_the_limits_still_works():
    within = _hash_with(**{"t=1": "t=2"})             # a different hash: no match, but checked and importable
    assert hash_format_problem(within) is None
    assert Passwords(memory_kib=64, time_cost=1).verify(_hash_with(), PASSWORD) is True


@pytest.mark.parametrize("setting", [{"argon2_time_cost": 101}, {"argon2_memory_kib": 2 * 1024 * 1024},
                                     {"argon2_parallelism": 65}])
def test_the_config_may_not_ask_for_more(setting):
    with pytest.raises(ConfigError, match=r"passwords\.argon2_\*: argon2 parameters beyond the limits"):
        make_config("sqlite://", passwords={"argon2_memory_kib": 1024, "argon2_time_cost": 1, **setting})


def test_a_parameter_given_twice_is_not_a_valid_hash():
    twice = _hash_with(**{"p=1$": f"p=1,t={2**32 - 1}$"})
    assert hash_format_problem(twice) == "password_hash: not a valid argon2 hash"
    assert Passwords(memory_kib=64, time_cost=1).verify(twice, PASSWORD) is False
