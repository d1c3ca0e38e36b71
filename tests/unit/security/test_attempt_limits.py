"""idp.attempts.counters: limits come from [lockout] per kind; an unknown kind is refused (fails closed)."""
from __future__ import annotations

import pytest

from idp.config import ConfigError
from idp.attempts import counters as attempts
from tests.support.configs import make_config


def test_limits_of_passwords_come_from_the_config():
    config = make_config("sqlite://", lockout={"password_free_failures": 3, "password_max_failures": 50})
    lim = attempts.limits(config, "password")
    assert (lim.free_failures, lim.max_failures, lim.trusted_max_failures) == (3, 50, 10)


def test_an_unknown_kind_is_refused():
    with pytest.raises(ValueError, match="no attempt limits"):
        attempts.limits(make_config("sqlite://"), "pasword")


@pytest.mark.parametrize("overrides, key", [
    ({"lockout": {"password_max_failures": 101}}, "password_max_failures"),
    ({"lockout": {"password_free_failures": 0}}, "password_free_failures"),
    ({"lockout": {"trusted_max_failures": 200}}, "trusted_max_failures"),
    ({"lockout": {"device_cookie_days": 0}}, "device_cookie_days"),
    ({"login": {"session_idle_minutes": 0}}, "session_idle_minutes"),
    ({"login": {"session_idle_minutes": 13 * 60}}, "session_idle_minutes"),
])
def test_bad_settings_stop_the_start(overrides, key):  # noqa: ANN001
    with pytest.raises(ConfigError, match=key):
        make_config("sqlite://", **overrides)
