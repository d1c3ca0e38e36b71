"""Logs: one line per event, text or JSON (`[logging] format`), each with the request id; never a secret.

- Request id: a well-formed incoming `X-Request-ID` (1-128 of `A-Za-z0-9._:@/+=-`, e.g. set by the proxy)
  is kept, anything else is replaced by a random one; it is echoed in the response's `X-Request-ID` and put
  on every log record made while the request runs (`request_id`).
- One access line per request (logger `idp.access`): method, the route pattern (`/invite/<token>`, not the
  path: a path or query string can carry a token or personal data), endpoint, status, duration, client
  address (idp.web.context.client_ip).
  Health checks and static files are logged at DEBUG. `idp serve` turns gunicorn's own access log off.
- Secrets: a filter on our handler masks `password=...`, `code=...`, `token=...`, `secret=...`,
  `Bearer ...`/`Basic ...` in messages and drops such keys from structured extras; the code never passes
  them in the first place (see the audit rules in docs/architecture.md) — this is the second line.
"""
from __future__ import annotations

import json
import logging
import re
import sys
import time
import uuid
from datetime import UTC, datetime
from typing import Any

from flask import Flask, Response, g, has_request_context, request

HEADER = "X-Request-ID"
_VALID_ID = re.compile(r"^[A-Za-z0-9._:@/+=-]{1,128}$")
SECRET_WORDS = ("password", "passwd", "secret", "token", "code", "assertion", "authorization", "cookie",
                "otp", "recovery", "session_key", "key_encryption_key")
_SECRET_PAIR = re.compile(
    r"(?i)\b([\w-]*(?:password|passwd|secret|token|code|assertion|otp)[\w-]*)(\s*[=:]\s*)(\"[^\"]*\"|'[^']*'|[^\s&,;]+)")
_AUTH_VALUE = re.compile(r"(?i)\b(bearer|basic)\s+[A-Za-z0-9._~+/=-]+")
REDACTED = "[redacted]"
_STANDARD = set(vars(logging.LogRecord("", 0, "", 0, "", None, None))) | {"message", "asctime", "request_id"}
_HANDLER_MARK = "_idp_handler"
TEXT_FORMAT = "%(asctime)s %(levelname)s %(name)s [%(request_id)s] %(message)s"
QUIET_ENDPOINTS = {"static", "observability_healthz", "observability_readyz", "observability_metrics"}

access_log = logging.getLogger("idp.access")


def redact(text: str) -> str:
    """`text` with the values of secret-looking pairs and authorization headers masked."""
    text = _SECRET_PAIR.sub(lambda m: f"{m.group(1)}{m.group(2)}{REDACTED}", text)
    return _AUTH_VALUE.sub(lambda m: f"{m.group(1)} {REDACTED}", text)


def _is_secret_key(key: str) -> bool:
    lowered = key.lower()
    return any(word in lowered for word in SECRET_WORDS)


def scrub(value: Any) -> Any:
    """A copy of a structured value without secret-looking keys (and with masked strings)."""
    if isinstance(value, dict):
        return {k: (REDACTED if _is_secret_key(str(k)) else scrub(v)) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [scrub(v) for v in value]
    if isinstance(value, str):
        return redact(value)
    return value


def current_request_id() -> str | None:
    if not has_request_context():
        return None
    data = g._get_current_object()
    request_id = getattr(data, "request_id", None)
    if request_id is None:
        request_id = data.request_id = request_id_from(request.headers.get(HEADER, ""))
    return request_id


def request_id_from(incoming: str) -> str:
    """The request's id: the incoming `X-Request-ID` when well formed, else a random one."""
    return incoming if _VALID_ID.match(incoming) else uuid.uuid4().hex


class RequestContextFilter(logging.Filter):
    """Adds `request_id` to every record ("-" outside a request) and masks secrets in the message."""

    def filter(self, record: logging.LogRecord) -> bool:
        record.request_id = current_request_id() or getattr(record, "request_id", None) or "-"
        try:
            message = record.getMessage()
        except Exception:  # noqa: BLE001 - a bad format string must not lose the record
            message = str(record.msg)
        cleaned = redact(message)
        if cleaned != message or record.args:
            record.msg, record.args = cleaned, None
        return True


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, logger, message, request_id, extras, exception."""

    def format(self, record: logging.LogRecord) -> str:
        entry: dict[str, Any] = {
            "time": datetime.fromtimestamp(record.created, tz=UTC).isoformat(timespec="milliseconds"),
            "level": record.levelname,
            "logger": record.name,
            "message": redact(record.getMessage()),
            "request_id": getattr(record, "request_id", None) or current_request_id() or "-",
        }
        for key, value in vars(record).items():
            if key not in _STANDARD and not key.startswith("_"):
                entry[key] = REDACTED if _is_secret_key(key) else scrub(value)
        if record.exc_info:
            entry["exception"] = redact(self.formatException(record.exc_info))
        return json.dumps(entry, default=str, ensure_ascii=False)


class TextFormatter(logging.Formatter):
    def __init__(self) -> None:
        super().__init__(TEXT_FORMAT)

    def format(self, record: logging.LogRecord) -> str:
        if not hasattr(record, "request_id"):
            record.request_id = current_request_id() or "-"
        return redact(super().format(record))


def formatter(kind: str) -> logging.Formatter:
    return JsonFormatter() if kind == "json" else TextFormatter()


def configure(kind: str = "text", level: str = "INFO", stream=None) -> logging.Handler:  # noqa: ANN001
    """Send the `idp` loggers to `stream` (stderr) in `kind` format; replaces an earlier call's handler.
    Records still propagate to the root logger (pytest's caplog, an embedding application)."""
    logger = logging.getLogger("idp")
    for handler in list(logger.handlers):
        if getattr(handler, _HANDLER_MARK, False):
            logger.removeHandler(handler)
    handler = logging.StreamHandler(stream or sys.stderr)
    setattr(handler, _HANDLER_MARK, True)
    handler.setFormatter(formatter(kind))
    handler.addFilter(RequestContextFilter())
    logger.addHandler(handler)
    logger.setLevel(level)
    return handler


def gunicorn_logconfig(kind: str, level: str) -> dict:
    """gunicorn's own messages (worker start/stop) in the same format (`logconfig_dict`)."""
    return {
        "version": 1, "disable_existing_loggers": False,
        "formatters": {"idp": {"()": f"{__name__}.{'JsonFormatter' if kind == 'json' else 'TextFormatter'}"}},
        "filters": {"ctx": {"()": f"{__name__}.RequestContextFilter"}},
        "handlers": {"console": {"class": "logging.StreamHandler", "formatter": "idp", "filters": ["ctx"],
                                 "stream": "ext://sys.stderr"}},
        "loggers": {"gunicorn.error": {"handlers": ["console"], "level": level, "propagate": False},
                    "gunicorn.access": {"handlers": [], "level": "WARNING", "propagate": False}},
    }


def init_app(app: Flask) -> None:
    config = app.extensions["idp"].config.logging
    configure(config.format, config.level)
    app.before_request_funcs.setdefault(None, []).insert(0, _begin)

    @app.after_request
    def _access(response: Response) -> Response:
        response.headers[HEADER] = current_request_id()
        _log_access(response)
        return response


def _begin() -> None:
    current_request_id()
    g.idp_log_started = time.perf_counter()


def _log_access(response: Response) -> None:
    from idp.web.context import client_ip

    req = request._get_current_object()   # one context lookup instead of one per attribute
    endpoint = req.endpoint or "unmatched"
    level = logging.DEBUG if endpoint in QUIET_ENDPOINTS or endpoint.endswith(".static") else logging.INFO
    if not access_log.isEnabledFor(level):
        return
    started = g.get("idp_log_started")
    duration_ms = round((time.perf_counter() - started) * 1000, 1) if started is not None else None
    # the route pattern, not the path: a path may carry a token (/invite/<token>)
    path = req.url_rule.rule if req.url_rule is not None else req.path[:200]
    try:
        ip = client_ip()
    except Exception:  # noqa: BLE001 - never lose the line over the address
        ip = req.remote_addr
    log_access(level, req.method, path, endpoint, response.status_code, duration_ms, ip, req.headers.get("User-Agent"))


def log_access(level: int, method: str, path: str, endpoint: str, status: int, duration_ms: float | None,
               ip: str | None, user_agent: str | None, request_id: str | None = None) -> None:
    """The access line; `request_id` for requests answered outside Flask (idp.web.oauth.front)."""
    extra = {"http": {"method": method, "path": path, "endpoint": endpoint, "status": status,
                      "duration_ms": duration_ms, "client_ip": ip, "user_agent": (user_agent or "")[:200]}}
    if request_id is not None:
        extra["request_id"] = request_id
    access_log.log(level, "%s %s %s %sms", method, path, status, duration_ms, extra=extra)
