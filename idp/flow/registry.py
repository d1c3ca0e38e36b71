"""Step and condition types by name, filled by their own modules; a missing type is a load-time error."""
from __future__ import annotations

import importlib
import pkgutil

from .protocols import Condition, Step

_STEPS: dict[str, type[Step]] = {}
_CONDITIONS: dict[str, type[Condition]] = {}
_loaded = False
PLUGIN_PACKAGES = ("idp.flow.steps", "idp.flow.conditions", "idp.factors.kinds")


def register_step(cls: type[Step]) -> type[Step]:
    """Class decorator: make a step type available to policy files under `cls.kind`."""
    if cls.kind in _STEPS and _STEPS[cls.kind] is not cls:
        raise RuntimeError(f"two step types claim the name {cls.kind!r}")
    _STEPS[cls.kind] = cls
    return cls


def unregister_step(kind: str) -> None:
    """Forget a step type (tests that add a toy step or factor clean up with this)."""
    _STEPS.pop(kind, None)


def register_condition(cls: type[Condition]) -> type[Condition]:
    """Class decorator: make a condition type available under `cls.kind`."""
    if cls.kind in _CONDITIONS and _CONDITIONS[cls.kind] is not cls:
        raise RuntimeError(f"two condition types claim the name {cls.kind!r}")
    _CONDITIONS[cls.kind] = cls
    return cls


def _load_builtin() -> None:
    """Import every module of the plug-in packages (they register themselves): the built-in steps and
    conditions, and the factor types (each second factor is a step too)."""
    global _loaded
    if _loaded:
        return
    importlib.import_module("idp.flow.when")    # the combinators any, all and not
    for package_name in PLUGIN_PACKAGES:
        package = importlib.import_module(package_name)
        for info in pkgutil.iter_modules(package.__path__):
            importlib.import_module(f"{package_name}.{info.name}")
    _loaded = True


def step_types() -> dict[str, type[Step]]:
    _load_builtin()
    return dict(_STEPS)


def condition_types() -> dict[str, type[Condition]]:
    _load_builtin()
    return dict(_CONDITIONS)
