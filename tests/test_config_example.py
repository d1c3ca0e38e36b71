"""config.example.toml stays loadable, complete and truthful about the defaults."""
from __future__ import annotations

import dataclasses
import secrets
import tomllib
import typing
from pathlib import Path

import pytest
from cryptography.fernet import Fernet

from idp.config import AppConfig, ConfigError, load_config

EXAMPLE = Path(__file__).resolve().parent.parent / "config.example.toml"
SECTIONS = {f.name: typing.get_type_hints(AppConfig)[f.name] for f in dataclasses.fields(AppConfig)
            if dataclasses.is_dataclass(typing.get_type_hints(AppConfig)[f.name])}
TOP_LEVEL = [f.name for f in dataclasses.fields(AppConfig) if f.name not in SECTIONS]


def secret_env() -> dict[str, str]:
    """Only the two secrets, so the developer's own IDP_* variables cannot change the outcome."""
    return {"IDP_SECRETS_SESSION_KEY": secrets.token_urlsafe(48),
            "IDP_SECRETS_KEY_ENCRYPTION_KEY": Fernet.generate_key().decode()}


def is_table(cls: type, name: str) -> bool:
    return typing.get_origin(typing.get_type_hints(cls)[name]) is dict


def test_loads_once_the_secrets_are_supplied() -> None:
    env = secret_env()
    config = load_config(EXAMPLE, env=env)
    assert config.secrets.session_key == env["IDP_SECRETS_SESSION_KEY"]
    assert config.secrets.key_encryption_key == env["IDP_SECRETS_KEY_ENCRYPTION_KEY"]


def test_placeholders_are_not_usable_secrets() -> None:
    with pytest.raises(ConfigError, match="session_key: still the example placeholder"):
        load_config(EXAMPLE, env={})
    valid_session_key = {"IDP_SECRETS_SESSION_KEY": "s" * 48}
    with pytest.raises(ConfigError, match="key_encryption_key: still the example placeholder"):
        load_config(EXAMPLE, env=valid_session_key)


def test_every_key_is_in_the_file_and_nothing_else() -> None:
    data = tomllib.loads(EXAMPLE.read_text())
    assert set(data) == {f.name for f in dataclasses.fields(AppConfig)}
    for section, cls in SECTIONS.items():
        assert set(data[section]) == {f.name for f in dataclasses.fields(cls)}, f"[{section}]"


def test_every_key_is_documented_with_its_environment_variable() -> None:
    text = EXAMPLE.read_text()
    names = [f"IDP_{name.upper()}" for name in TOP_LEVEL]
    for section, cls in SECTIONS.items():
        names += [f"IDP_{section}_{f.name}".upper() for f in dataclasses.fields(cls) if not is_table(cls, f.name)]
    missing = [name for name in names if f"Env: {name}" not in text]
    assert not missing, f"config.example.toml does not mention: {', '.join(missing)}"


def test_values_are_the_defaults() -> None:
    """Every section but [secrets] shows the dataclass defaults; top-level keys too, except `issuer`."""
    config = load_config(EXAMPLE, env=secret_env())
    for section, cls in SECTIONS.items():
        if section != "secrets":
            assert getattr(config, section) == cls(), f"[{section}] differs from the defaults in idp/config.py"
    for field in dataclasses.fields(AppConfig):
        if field.name in TOP_LEVEL and field.default is not dataclasses.MISSING:
            assert getattr(config, field.name) == field.default, field.name
