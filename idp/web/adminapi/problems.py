"""Answers of the administration API: JSON bodies, and errors as application/problem+json (RFC 9457) with a
`detail` a developer can act on. A refused request changes nothing: its unit of work is rolled back."""
from __future__ import annotations

from http import HTTPStatus
from typing import Any

from flask import Response, json, request

PROBLEM = "application/problem+json"


class ApiProblem(Exception):  # noqa: N818 - named after RFC 9457's "problem details"
    """An error response: HTTP status, detail, extension members, extra headers."""

    def __init__(self, status: int, detail: str, *, headers: dict[str, str] | None = None, **extra: Any) -> None:
        super().__init__(detail)
        self.status = status
        self.detail = detail
        self.headers = headers or {}
        self.extra = extra


def answer(body: Any, status: int = 200) -> Response:
    response = Response(json.dumps(body), status=status, mimetype="application/json")
    response.headers["Cache-Control"] = "no-store"
    return response


def problem(status: int, detail: str, headers: dict[str, str] | None = None, **extra: Any) -> Response:
    body = {"type": "about:blank", "title": HTTPStatus(status).phrase, "status": status, "detail": detail,
            "instance": request.path, **extra}
    response = Response(json.dumps(body), status=status, mimetype=PROBLEM)
    response.headers["Cache-Control"] = "no-store"
    for key, value in (headers or {}).items():
        response.headers[key] = value
    return response


def json_object(allowed: set[str], required: set[str] = frozenset()) -> dict[str, Any]:
    """The request's JSON object, with only `allowed` keys and every `required` one; 400 otherwise."""
    data = request.get_json(silent=True) if request.data else ({} if not required else None)
    if not isinstance(data, dict):
        raise ApiProblem(400, "The request body must be a JSON object (Content-Type: application/json).")
    unknown = sorted(set(data) - allowed)
    if unknown:
        raise ApiProblem(400, f"Unknown field {unknown[0]!r}; this request accepts: {', '.join(sorted(allowed))}.")
    missing = sorted(required - set(data))
    if missing:
        raise ApiProblem(400, f"The field {missing[0]!r} is required.")
    return data


def text_field(data: dict[str, Any], key: str) -> str:
    value = data.get(key, "")
    if not isinstance(value, str):
        raise ApiProblem(400, f"{key}: expected a string.")
    return value


def query_args(allowed: set[str]) -> dict[str, str]:
    unknown = sorted(set(request.args) - allowed)
    if unknown:
        raise ApiProblem(400, f"Unknown query parameter {unknown[0]!r}; this request accepts: "
                              f"{', '.join(sorted(allowed))}.")
    return {key: request.args.get(key, "") for key in allowed if key in request.args}


def whole_number(args: dict[str, str], key: str, default: int, low: int, high: int) -> int:
    raw = args.get(key)
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise ApiProblem(400, f"{key}: {raw!r} is not a whole number.") from None
    if not low <= value <= high:
        raise ApiProblem(400, f"{key}: between {low} and {high}.")
    return value
