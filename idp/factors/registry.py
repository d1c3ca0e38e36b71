"""The factor types by name. Each module of `idp.factors.kinds` registers one class; nothing else lists them.

A factor type is a sign-in step (the policy file's `type`) that also says how every page names and shows the
factor: its label as the manual writes it, its order, its one-line description in the set-up chooser, its
entry in the organisation's allow-list, whether this server can use it, and how an enrolled one is shown.
Adding a factor is one new module in `idp/factors/kinds/` plus its templates (docs/architecture.md)."""
from __future__ import annotations

import importlib
import pkgutil
from typing import TYPE_CHECKING, Any, ClassVar

from idp.flow.protocols import Step
from idp.flow.registry import register_step

if TYPE_CHECKING:
    from idp.services import Services

_FACTORS: dict[str, type["FactorType"]] = {}
_loaded = False


class FactorType(Step):
    """A second factor: a Step plus what Profile > Security, Administration and the CLI say about it."""

    factor: ClassVar[str]                 # the name in settings, audit entries and SecondFactor.kind
    label: ClassVar[str]                  # the manual's name ("Authenticator App")
    order: ClassVar[int]                  # where it is listed (lowest first)
    description: ClassVar[str] = ""       # one line in the set-up chooser
    admin_label: ClassVar[str] = ""       # Administration > Settings > Security allow-list
    selectable: ClassVar[bool] = True     # admins may allow or refuse it (recovery codes always come along)
    recommended: ClassVar[bool] = False   # marked "recommended" in the set-up chooser
    enrol_in_sign_in: ClassVar[bool] = False  # forced enrolment inside a sign-in can set it up
    sends_code: ClassVar[bool] = False    # a one-time code is sent to its target (email, SMS)
    enrol_endpoint: ClassVar[str | None] = None  # the Profile > Security page that sets it up
    enrol_method: ClassVar[str] = "post"  # how that page is reached from the chooser (a form POST or a link)
    proves: ClassVar[tuple[str, ...]] = ()   # every amr value its use may show (default: `amr`)
    in_a_sentence: ClassVar[str] = ""     # "an authenticator app": how the audit log's sentences name it
    second_factor = True

    @classmethod
    def available(cls, services: "Services") -> bool:
        """MAY say the server cannot use this factor now (no mail server, no SMS provider)."""
        return True

    @classmethod
    def describe(cls, row: Any) -> str:
        """How one enrolled factor of this type is shown ("j•••@example.com")."""
        return getattr(row, "name", "") or cls.label


def register_factor(cls: type[FactorType]) -> type[FactorType]:
    """Class decorator: a factor type, and the sign-in step of the same class."""
    if cls.factor in _FACTORS and _FACTORS[cls.factor] is not cls:
        raise RuntimeError(f"two factor types claim the name {cls.factor!r}")
    register_step(cls)
    _FACTORS[cls.factor] = cls
    return cls


def unregister_factor(factor: str) -> None:
    """Forget a factor type (tests that add a toy factor clean up with this)."""
    from idp.flow.registry import unregister_step

    cls = _FACTORS.pop(factor, None)
    if cls is not None:
        unregister_step(cls.kind)


def _load() -> None:
    global _loaded
    if not _loaded:
        package = importlib.import_module("idp.factors.kinds")
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"idp.factors.kinds.{info.name}")
        _loaded = True


def factor_types() -> list[type[FactorType]]:
    """Every factor type, in the order pages list them."""
    _load()
    return sorted(_FACTORS.values(), key=lambda cls: (cls.order, cls.factor))


def factor_type(name: str) -> type[FactorType] | None:
    """The type named `name`: its factor name ("email") or its step type ("email_otp"); else None."""
    _load()
    return _FACTORS.get(name) or next((cls for cls in _FACTORS.values() if cls.kind == name), None)


def names(**having: bool) -> tuple[str, ...]:
    """The factor names, optionally only of types whose class attributes equal `having` (sends_code=True)."""
    return tuple(cls.factor for cls in factor_types() if all(getattr(cls, k) == v for k, v in having.items()))


def proving(amr: str) -> frozenset[str]:
    """The factors whose use a sign-in's `amr` value can stand for. "otp" is also what a recovery code and a
    set-up inside a sign-in prove, whatever the factor, so any factor counts for it."""
    if amr == "otp":
        return frozenset(cls.factor for cls in factor_types() if cls.selectable)
    return frozenset(cls.factor for cls in factor_types() if amr in (cls.proves or cls.amr) and cls.selectable)


def in_a_sentence(name: str) -> str | None:
    """How the audit log names the factor `name` (its factor name or step type), or None if unknown."""
    cls = factor_type(name)
    return (cls.in_a_sentence or cls.label) if cls is not None else None


def label(factor: str) -> str:
    cls = factor_type(factor)
    return cls.label if cls is not None else factor


def selectable(services: "Services | None" = None) -> list[type[FactorType]]:
    """What an organisation's allow-list can name (and, given services, what this server can use)."""
    return [cls for cls in factor_types() if cls.selectable and (services is None or cls.available(services))]


def enrollable(services: "Services", allowed: list[str] | None) -> list[type[FactorType]]:
    """What a person may set up: the organisation's allowed types (empty = all) that this server can use."""
    chosen = {cls.factor for name in (allowed or []) if (cls := factor_type(name)) is not None} \
        or {cls.factor for cls in selectable()}
    return [cls for cls in selectable(services) if cls.factor in chosen]
