"""Turns the option keys of a `[[step]]` table into the step type's frozen Options dataclass."""
from __future__ import annotations

import dataclasses
import enum
import types
import typing
from collections.abc import Mapping
from typing import Any


class _Mismatch(Exception):
    """The value does not fit the option's type; `expected` says what would, in plain words."""

    def __init__(self, expected: str) -> None:
        super().__init__(expected)
        self.expected = expected


_SCALARS: dict[type, str] = {bool: "true or false", int: "a whole number", float: "a number", str: "a string"}
_PLURALS: dict[Any, str] = {bool: "true/false values", int: "whole numbers", float: "numbers", str: "strings"}


def _scalar(value: Any, hint: type) -> Any:
    if hint is bool:
        ok = isinstance(value, bool)
    elif hint is int:
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif hint is float:
        ok = isinstance(value, (int, float)) and not isinstance(value, bool)
        value = float(value) if ok else value
    else:
        ok = isinstance(value, hint)
    if not ok:
        raise _Mismatch(_SCALARS.get(hint, hint.__name__))
    return value


def _sequence(value: Any, item: Any, make: type) -> Any:
    expected = f"a list of {_PLURALS.get(item, 'values')}"
    if not isinstance(value, list):
        raise _Mismatch(expected)
    try:
        return make(_coerce(v, item) for v in value)
    except _Mismatch:
        raise _Mismatch(expected) from None


def _union(value: Any, options: tuple[Any, ...]) -> Any:
    expected = []
    for option in options:
        try:
            return _coerce(value, option)
        except _Mismatch as err:
            expected.append(err.expected)
    raise _Mismatch(" or ".join(expected))


def _coerce(value: Any, hint: Any) -> Any:
    """The value converted to `hint`, or _Mismatch. TOML has no null, so `X | None` means X."""
    origin, args = typing.get_origin(hint), typing.get_args(hint)
    if hint is Any:
        return value
    if origin in (typing.Union, types.UnionType):
        return _union(value, tuple(a for a in args if a is not type(None)))
    if origin is typing.Literal:
        if value in args:
            return value
        raise _Mismatch("one of " + ", ".join(repr(a) for a in args))
    if origin in (tuple, list) or hint in (tuple, list):
        item = args[0] if args and (origin is list or args[-1] is Ellipsis) else Any
        return _sequence(value, item, origin or hint)
    if isinstance(hint, type) and issubclass(hint, enum.Enum):
        try:
            return hint(value)
        except ValueError:
            raise _Mismatch("one of " + ", ".join(repr(m.value) for m in hint)) from None
    if isinstance(hint, type):
        return _scalar(value, hint)
    return value


def option_names(options_cls: type) -> list[str]:
    """The keys a step type accepts besides type, requirement, name and when."""
    if not dataclasses.is_dataclass(options_cls):
        return []
    return [f.name for f in dataclasses.fields(options_cls) if f.init]


def build_options(options_cls: type, values: Mapping[str, Any]) -> tuple[Any, list[tuple[str | None, str]]]:
    """The Options instance, or None and a list of (key or None, reason) mistakes."""
    names = option_names(options_cls)
    hints = typing.get_type_hints(options_cls) if names else {}
    problems: list[tuple[str | None, str]] = []
    converted: dict[str, Any] = {}
    for key, value in values.items():
        if key not in names:
            allowed = ", ".join(names) if names else "none"
            problems.append((key, f"unknown key {key!r} (options of this step type: {allowed})"))
            continue
        try:
            converted[key] = _coerce(value, hints.get(key, Any))
        except _Mismatch as err:
            problems.append((key, f"option {key!r} must be {err.expected}, not {value!r}"))
    for f in dataclasses.fields(options_cls) if names else ():
        missing = f.default is dataclasses.MISSING and f.default_factory is dataclasses.MISSING
        if f.init and missing and f.name not in values:
            problems.append((None, f"option {f.name!r} is required for this step type"))
    if problems:
        return None, problems
    try:
        return options_cls(**converted), []
    except (TypeError, ValueError) as err:
        return None, [(None, f"bad options: {err}")]
