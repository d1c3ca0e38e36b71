"""Microsoft Entra ID's documented deviations from RFC 7644 PATCH, rewritten into the standard shape before
validation (the others — capitalised `op`, "False" as a string, remove by value, replace through an
unmatched `[type eq "work"]` filter — are accepted by scim2-models under schema.POLICY)."""
from __future__ import annotations

from typing import Any

from .schema import ENTERPRISE_SCHEMA

MANAGER_PATH = f"{ENTERPRISE_SCHEMA}:manager".lower()


def standard_patch(payload: Any) -> Any:
    """The PatchOp body with each operation made standard; anything unexpected is left for validation."""
    if not isinstance(payload, dict) or not isinstance(payload.get("Operations"), list):
        return payload
    return {**payload, "Operations": [_operation(op) for op in payload["Operations"]]}


def _operation(op: Any) -> Any:
    if not isinstance(op, dict):
        return op
    path, value = str(op.get("path") or "").lower(), op.get("value")
    if path == MANAGER_PATH and isinstance(value, str):
        # the manager's id alone; RFC 7643 §4.3 makes `manager` an object
        return {**op, "value": {"value": value}}
    if str(op.get("op", "")).lower() == "remove" and isinstance(value, list):
        # members to remove given as [{"$ref": null, "value": "<id>"}]: a null says nothing to match on
        return {**op, "value": [{k: v for k, v in item.items() if v is not None} if isinstance(item, dict) else item
                                for item in value]}
    return op
