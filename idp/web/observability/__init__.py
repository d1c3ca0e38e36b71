"""Operations: structured logs with a request id (`logging.py`), Prometheus metrics at /metrics
(`metrics.py`), liveness and readiness at /healthz and /readyz (`health.py`)."""
from __future__ import annotations

from flask import Flask


def init_app(app: Flask) -> None:
    """Hook all three in; call this before other `before_request` hooks that may answer early (rate limits),
    so every request gets its id, its log line and its latency."""
    from . import health, metrics
    from . import logging as request_logging

    request_logging.init_app(app)
    metrics.init_app(app)
    health.init_app(app)
