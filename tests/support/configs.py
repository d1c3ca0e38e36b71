"""Configs for tests: real validation, cheap password hashing, fixed test secrets."""
from __future__ import annotations

from pathlib import Path
from typing import Any

from idp.config import AppConfig, config_from_dict

ROOT = Path(__file__).resolve().parents[2]
TEST_KEK = "MlGOCqBSYPi7VnNujhKeFVtFGEmkgUTSHZBk6Nb3u44="
TEST_SESSION_KEY = "test-session-key-" + "s" * 40


def make_config(database_url: str, issuer: str = "http://localhost", **overrides: Any) -> AppConfig:
    """A validated config; `overrides` are TOML-shaped ({"totp": {"window": 2}})."""
    data: dict[str, Any] = {
        "issuer": issuer,
        "development": False,
        "secrets": {"session_key": TEST_SESSION_KEY, "key_encryption_key": TEST_KEK},
        "database": {"url": database_url, "pool_size": 5},
        "passwords": {"argon2_memory_kib": 1024, "argon2_time_cost": 1},
        "policy": {"dir": str(ROOT / "policies"), "reload_interval_seconds": 0.0},
    }
    for key, value in overrides.items():
        if isinstance(value, dict) and isinstance(data.get(key), dict):
            data[key] = {**data[key], **value}
        else:
            data[key] = value
    return config_from_dict(data, where="test config")
