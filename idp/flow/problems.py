"""A policy mistake with the place it was written, and the error that carries all of them."""
from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from .model import Source


@dataclass(frozen=True, slots=True)
class Problem:
    """One mistake in a policy file, shown as `FILE:LINE: reason`."""

    source: Source
    reason: str

    def __str__(self) -> str:
        return f"{self.source}: {self.reason}"


class PolicyError(Exception):
    """The policy directory cannot be used; `errors` lists every mistake as `FILE:LINE: reason`."""

    def __init__(self, errors: list[str]) -> None:
        super().__init__("\n".join(errors))
        self.errors = list(errors)


def in_order(problems: Iterable[Problem]) -> list[str]:
    """The problems as strings, sorted by file then line (several on one line keep their order)."""
    ordered = sorted(problems, key=lambda p: (p.source.file, p.source.line))
    return [str(p) for p in ordered]
