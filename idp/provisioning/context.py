"""What a SCIM operation runs with: the request's database session, the services, the token's
organisation (the only one it may see), who acts (for the audit log), the base URL and the time."""
from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING, Any

from pydantic import ValidationError
from scim2_models import Context, InvalidValueException, SCIMException
from sqlalchemy.orm import Session

from idp.administration.permissions import AdminScope, operator_scope
from idp.audit import Actor

from .schema import POLICY

if TYPE_CHECKING:
    from idp.services import Services


@dataclass(frozen=True)
class ScimContext:
    db: Session
    services: "Services"
    organisation_id: int
    actor: Actor
    base_url: str          # e.g. https://idp.example.com/scim/v2
    now: datetime

    @property
    def scope(self) -> AdminScope:
        """The domain functions' scope: user management within the token's organisation only."""
        return operator_scope(self.organisation_id)

    def location(self, kind: str, scim_id: str) -> str:
        return f"{self.base_url}/{kind}/{scim_id}"


def parse(model: Any, payload: Any, scim_ctx: Context) -> Any:
    """Validate a request body against a scim2-models model; SCIMException (400 with a scimType) if not."""
    if not isinstance(payload, dict):
        raise InvalidValueException(detail="the request body must be a JSON object")
    expected = str(getattr(model, "__schema__", "") or "")
    schemas = payload.get("schemas")
    if expected and (not isinstance(schemas, list) or expected not in schemas):
        raise InvalidValueException(detail=f"schemas must list {expected}")
    try:
        return model.model_validate(payload, scim_ctx=scim_ctx, scim_policy=POLICY)
    except ValidationError as exc:
        raise as_scim_error(exc) from None


def as_scim_error(exc: ValidationError) -> SCIMException:
    """The first problem of a validation error, as the SCIM error it stands for (invalidValue by default)."""
    first = exc.errors()[0]
    where = ".".join(str(part) for part in first.get("loc", ()) if part != "__root__")
    message = first.get("msg", "invalid value")
    context = first.get("ctx") or {}
    detail = f"{where}: {message}" if where else message
    scim_type = context.get("scim_type")
    if scim_type:
        error = SCIMException(detail=detail)
        error.scim_type, error.status = scim_type, int(context.get("status") or 400)
        return error
    return InvalidValueException(detail=detail)
