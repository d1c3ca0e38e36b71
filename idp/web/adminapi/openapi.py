"""GET /api/v1/openapi.json: the API's OpenAPI 3.1 description (idp.adminapi.description), without a token."""
from __future__ import annotations

from flask import Response

from idp.adminapi.description import openapi as description
from idp.web.context import services

from . import bp
from .problems import answer


@bp.get("/openapi.json")
def openapi() -> Response:
    return answer(description(services().config.issuer))
