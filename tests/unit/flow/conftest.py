"""Shared fixtures for the flow tests: small fake step types, a policy directory writer, fake facts."""
from __future__ import annotations

import textwrap
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import pytest

from idp.flow.context import FlowContext
from idp.flow.facts import Enforcement, EnforcementStatus
from idp.flow.outcome import Outcome
from idp.flow.policy import PolicyError, load_policies
from idp.flow.protocols import Step
from idp.flow.registry import register_step


class _FakeStep(Step):
    template = "fake.html"

    def is_applicable(self, ctx: FlowContext) -> bool:
        return True

    def begin(self, ctx: FlowContext) -> Outcome:
        return Outcome.challenge()

    def submit(self, ctx: FlowContext, form: Any) -> Outcome:
        return Outcome.success("pwd")


@register_step
class FakeLogin(_FakeStep):
    """Identifies the user, like a password step."""

    kind = "test_pl_login"
    title = "Fake login"
    identifies_user = True


@register_step
class FakeUpstream(_FakeStep):
    """Identifies the user, like an upstream provider."""

    kind = "test_pl_upstream"
    title = "Fake upstream"
    identifies_user = True


@register_step
class FakeCode(_FakeStep):
    """Needs a known user; has options of every supported type."""

    kind = "test_pl_code"
    title = "Fake code"
    second_factor = True

    @dataclass(frozen=True)
    class Options:
        digits: int = 6
        label: str = "code"
        strict: bool = False
        ratio: float = 1.0
        channels: tuple[str, ...] = ("email",)
        extras: list[str] = field(default_factory=list)


@register_step
class FakeNotice(_FakeStep):
    """Needs a known user, takes no options."""

    kind = "test_pl_notice"
    title = "Fake notice"


@pytest.fixture
def write(tmp_path: Path) -> Callable[[str, str], Path]:
    """write("browser", '''...''') puts browser.toml (dedented) into tmp_path."""

    def _write(flow: str, text: str) -> Path:
        path = tmp_path / f"{flow}.toml"
        path.write_text(textwrap.dedent(text).lstrip("\n"), encoding="utf-8")
        return path

    return _write


LOGIN = '''
[[step]]
type = "test_pl_login"
requirement = "required"
'''


@pytest.fixture
def step_file(write: Callable[[str, str], Path]) -> Callable[..., None]:
    """step_file(*lines): browser.toml with a description (line 1), a login step (lines 3-5), and from line 7
    a `[[step]]` header followed by `lines` (so the first of them is on line 8)."""

    def _step_file(*lines: str) -> None:
        write("browser", 'description = "x"\n' + LOGIN + "\n[[step]]\n" + "\n".join(lines) + "\n")

    return _step_file


@pytest.fixture
def refused(tmp_path: Path) -> Callable[..., list[str]]:
    """refused(directory=tmp_path): the errors load_policies raises (it must raise)."""

    def _refused(directory: Path | None = None) -> list[str]:
        with pytest.raises(PolicyError) as caught:
            load_policies(tmp_path if directory is None else directory)
        assert str(caught.value) == "\n".join(caught.value.errors)
        return caught.value.errors

    return _refused


@pytest.fixture
def only_error(tmp_path: Path, refused: Callable[..., list[str]]) -> Callable[[str, int, str], str]:
    """only_error(file, line, phrase): loading tmp_path fails with exactly this one error."""

    def _only_error(file: str, line: int, phrase: str) -> str:
        errors = refused()
        assert len(errors) == 1, errors
        assert errors[0].startswith(f"{tmp_path / file}:{line}: "), errors
        assert phrase in errors[0], errors
        return errors[0]

    return _only_error


@pytest.fixture
def good(write: Callable[[str, str], Path], tmp_path: Path) -> Path:
    """A valid policy directory: browser.toml (login, then second-factor when needed) and second-factor.toml."""
    write("browser", '''
        # Local sign-in for everyone.
        description = "Local sign-in: password, then a second factor when needed."

        [[step]]
        type = "test_pl_login"
        requirement = "required"

        [[step]]
        type = "flow"
        flow = "second-factor"
        requirement = "conditional"
        when = { any = [ { second_factor_enrolled = true }, { enforced = true, grace_period = false } ] }

        [[step]]
        type = "test_pl_notice"
        name = "notice"
        requirement = "disabled"
    ''')
    write("second-factor", '''
        description = "One of the second factors."

        [[step]]
        type = "test_pl_code"
        requirement = "alternative"
        digits = 8
        ratio = 2
        channels = ["sms", "email"]

        [[step]]
        type = "test_pl_code"
        name = "backup"
        requirement = "alternative"
        label = "backup code"
        strict = true
        extras = ["x"]
    ''')
    return tmp_path


@dataclass
class FakeFacts:
    """SubjectFacts with fixed answers; raises when asked without a user, as the real one must."""

    enrolled: bool = False
    state: Enforcement = Enforcement.OFF
    days_left: int | None = None
    member_of: frozenset[str] = frozenset()
    org: str = "acme"
    admin: bool = False
    asked: list[str] = field(default_factory=list)

    def _check(self, ctx: FlowContext, what: str) -> None:
        self.asked.append(what)
        if ctx.user is None:
            raise AssertionError("facts asked about nobody")

    def second_factor_enrolled(self, ctx: FlowContext) -> bool:
        self._check(ctx, "second_factor_enrolled")
        return self.enrolled

    def enforcement(self, ctx: FlowContext) -> EnforcementStatus:
        self._check(ctx, "enforcement")
        return EnforcementStatus(self.state, self.days_left)

    def groups(self, ctx: FlowContext) -> frozenset[str]:
        self._check(ctx, "groups")
        return self.member_of

    def organisation(self, ctx: FlowContext) -> str:
        self._check(ctx, "organisation")
        return self.org

    def is_admin(self, ctx: FlowContext) -> bool:
        self._check(ctx, "is_admin")
        return self.admin


ALICE = SimpleNamespace(id=7, email="alice@example.com")


@pytest.fixture
def facts() -> FakeFacts:
    """The facts make_ctx's contexts answer with; set its fields in a test (facts.enrolled = True)."""
    return FakeFacts()


@pytest.fixture
def make_ctx(facts: FakeFacts) -> Callable[..., FlowContext]:
    """make_ctx(user=ALICE, client_id=..., ...) builds a FlowContext (no db, no config) using `facts`."""

    def _make(**fields: Any) -> FlowContext:
        fields.setdefault("user", ALICE)
        services = SimpleNamespace(facts=facts)
        return FlowContext(db=None, config=None, services=services, now=datetime.now(UTC), **fields)

    return _make
