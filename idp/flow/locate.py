"""Finds the line a policy-file key was written on, since tomllib reports no line numbers."""
from __future__ import annotations

import re
from dataclasses import dataclass, field

_HEADER = re.compile(r"""^\s*(\[\[?)\s*([A-Za-z0-9_.'" -]+?)\s*\]\]?\s*(#.*)?$""")
_KEY = re.compile(r"""^\s*(?:"([^"]*)"|'([^']*)'|([A-Za-z0-9_-]+))\s*[.=]""")
_TRIPLE = re.compile(r'"""|\'\'\'')


def _first_segment(dotted: str) -> str:
    return dotted.split(".", 1)[0].strip().strip("'\"")


@dataclass(frozen=True)
class Locator:
    """Line numbers (1-based) of top-level keys, of each `[[step]]` header and of the keys inside it."""

    top_keys: dict[str, int] = field(default_factory=dict)
    step_headers: list[int] = field(default_factory=list)
    step_keys: list[dict[str, int]] = field(default_factory=list)

    @classmethod
    def from_text(cls, text: str) -> "Locator":
        locator = cls()
        scope: str = "top"
        in_string = False
        for number, line in enumerate(text.splitlines(), start=1):
            if in_string:
                in_string = len(_TRIPLE.findall(line)) % 2 == 0
                continue
            header = _HEADER.match(line)
            if header:
                scope = locator._enter(header.group(1), header.group(2), number)
                continue
            key = _KEY.match(line)
            if key:
                locator._record(scope, next(g for g in key.groups() if g is not None), number)
            in_string = len(_TRIPLE.findall(line)) % 2 == 1
        return locator

    def _enter(self, brackets: str, dotted: str, number: int) -> str:
        """Note a `[table]` or `[[array]]` header and return the scope of the keys below it."""
        name = _first_segment(dotted)
        if brackets == "[[" and dotted.strip() == "step":
            self.step_headers.append(number)
            self.step_keys.append({})
            return "step"
        if name == "step" and self.step_keys and "." in dotted:
            self.step_keys[-1].setdefault(_first_segment(dotted.split(".", 1)[1]), number)
        else:
            self.top_keys.setdefault(name, number)
        return "other"

    def _record(self, scope: str, key: str, number: int) -> None:
        if scope == "top":
            self.top_keys.setdefault(key, number)
        elif scope == "step":
            self.step_keys[-1].setdefault(key, number)

    def top(self, key: str | None = None) -> int:
        """The line of a top-level key, else line 1."""
        return self.top_keys.get(key, 1) if key else 1

    def step(self, index: int, key: str | None = None) -> int:
        """The line of `key` in the step at `index` (0-based), else its `[[step]]` header, else line 1."""
        if not 0 <= index < len(self.step_headers):
            return 1
        if key is not None and key in self.step_keys[index]:
            return self.step_keys[index][key]
        return self.step_headers[index]
