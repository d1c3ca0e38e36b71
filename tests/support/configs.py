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


def _toml_value(value: Any) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, (int, float)):
        return repr(value)
    if isinstance(value, (list, tuple)):
        return "[" + ", ".join(_toml_value(v) for v in value) + "]"
    return '"' + str(value).replace("\\", "\\\\").replace('"', '\\"') + '"'


def write_config_file(path: Path, database_url: str, issuer: str, **overrides: Any) -> Path:
    """The same settings as make_config, as a TOML file for `idp --config FILE ...` subprocesses."""
    config = make_config(database_url, issuer=issuer, **overrides)  # validates first
    sections: dict[str, dict[str, Any]] = {
        "secrets": {"session_key": TEST_SESSION_KEY, "key_encryption_key": TEST_KEK},
        "database": {"url": database_url},
        "passwords": {"argon2_memory_kib": 1024, "argon2_time_cost": 1},
        "policy": {"dir": config.policy.dir},
    }
    top: dict[str, Any] = {"issuer": issuer}
    for key, value in overrides.items():
        if isinstance(value, dict):
            sections.setdefault(key, {}).update(value)
        else:
            top[key] = value
    lines = [f"{k} = {_toml_value(v)}" for k, v in top.items()]
    for name, values in sections.items():
        lines.append(f"\n[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in values.items() if not isinstance(v, dict)]
    path.write_text("\n".join(lines) + "\n")
    return path
