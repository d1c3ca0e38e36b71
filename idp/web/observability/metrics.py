"""Prometheus metrics at GET /metrics (text exposition format, prometheus-client).

- `idp_sign_ins_total{outcome, method}`: outcome `success` (method = the sign-in's amr, e.g. `otp+pwd`),
  `retry` (a wrong password or code; method = the step, e.g. `totp`) or `failed` (the sign-in was stopped).
  Counted from the `sign_in` / `sign_in_attempt` audit entries when their transaction commits, so a
  rolled-back request counts nothing.
- `idp_tokens_issued_total{grant_type}`: successful token endpoint responses.
- `idp_http_requests_total{endpoint, method, status}` and `idp_http_request_duration_seconds{endpoint,
  method}` (histogram): by Flask endpoint name, never by raw path (bounded label values).
- `idp_rate_limit_hits_total{rule, scope}`: requests refused by idp.ratelimit.

Several gunicorn workers: `idp serve` sets PROMETHEUS_MULTIPROC_DIR to a fresh temporary folder (or
keeps the one given in the environment, emptied at start) before any worker starts; each worker then writes
its values to memory-mapped files there and /metrics, whichever worker answers, adds up the files of all
workers (prometheus_client multiprocess mode). Without that variable (tests, `flask run`) the values live
in the process. Counters of a worker that was restarted stay counted.
"""
from __future__ import annotations

import os
import threading
import time

from flask import Flask, Response, g, request
from sqlalchemy import event
from sqlalchemy.orm import Session

MULTIPROC_ENV = "PROMETHEUS_MULTIPROC_DIR"
LATENCY_BUCKETS = (0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0)
GRANT_TYPES = ("authorization_code", "refresh_token")

_lock = threading.Lock()
_metrics: "_Metrics | None" = None
_listening = False


class _Metrics:
    def __init__(self) -> None:
        from prometheus_client import CollectorRegistry, Counter, Histogram, values

        # PROMETHEUS_MULTIPROC_DIR may have been set after prometheus_client was imported (`idp serve`
        # sets it just before starting the workers): pick the value class again.
        values.ValueClass = values.get_value_class()
        self.registry = CollectorRegistry(auto_describe=True)
        self.sign_ins = Counter("idp_sign_ins", "Sign-ins by outcome and method.", ["outcome", "method"],
                                registry=self.registry)
        self.tokens = Counter("idp_tokens_issued", "Token endpoint responses that issued tokens.", ["grant_type"],
                              registry=self.registry)
        self.requests = Counter("idp_http_requests", "HTTP requests by endpoint, method and status.",
                                ["endpoint", "method", "status"], registry=self.registry)
        self.latency = Histogram("idp_http_request_duration_seconds", "Time to build the response.",
                                 ["endpoint", "method"], buckets=LATENCY_BUCKETS, registry=self.registry)
        self.rate_limit_hits = Counter("idp_rate_limit_hits", "Requests refused by a rate limit.",
                                       ["rule", "scope"], registry=self.registry)
        self._series: dict[tuple[str, str, int], tuple] = {}

    def series(self, endpoint: str, method: str, status: int) -> tuple:
        """The request counter and the latency histogram of these labels (label lookups done once per
        combination: endpoint names and methods are bounded)."""
        key = (endpoint, method, status)
        found = self._series.get(key)
        if found is None:
            found = self._series[key] = (self.requests.labels(endpoint=endpoint, method=method, status=str(status)),
                                         self.latency.labels(endpoint=endpoint, method=method))
        return found


def get() -> _Metrics:
    """This process's metrics (created on first use)."""
    global _metrics
    if _metrics is None:
        with _lock:
            if _metrics is None:
                _metrics = _Metrics()
    return _metrics


def multiprocess_dir() -> str | None:
    path = os.environ.get(MULTIPROC_ENV)
    return path if path and os.path.isdir(path) else None


def exposition() -> tuple[bytes, str]:
    """The current values of every worker (multiprocess mode) or of this process."""
    from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
    from prometheus_client.multiprocess import MultiProcessCollector

    path = multiprocess_dir()
    if path:
        registry = CollectorRegistry()
        MultiProcessCollector(registry, path=path)
        return generate_latest(registry), CONTENT_TYPE_LATEST
    return generate_latest(get().registry), CONTENT_TYPE_LATEST


def observe(endpoint: str, method: str, status: int, seconds: float) -> None:
    """Count and time a request answered outside Flask (idp.web.oauth.front), as `_observe` does."""
    counter, histogram = get().series(endpoint, method, status)
    counter.inc()
    histogram.observe(seconds)


def rate_limit_hit(rule: str, scope: str) -> None:
    get().rate_limit_hits.labels(rule=rule, scope=scope).inc()


def sign_in_label(event_name: str, outcome: str, details: dict) -> tuple[str, str] | None:
    """(outcome, method) for a sign-in audit entry, None for other entries."""
    if event_name == "sign_in":
        if outcome == "success":
            return "success", "+".join(sorted(str(a) for a in details.get("amr") or [])) or "none"
        return "failed", "-"
    if event_name == "sign_in_attempt" and outcome != "success":
        return "retry", str(details.get("step") or "unknown")[:40]
    return None


def _listen_to_audit() -> None:
    """Count sign-ins from the audit entries a session writes, when (and only if) it commits."""
    global _listening
    with _lock:
        if _listening:
            return
        _listening = True
    from idp.audit import APPENDED

    @event.listens_for(Session, "after_commit")
    def _count(session: Session) -> None:
        metrics = None
        for entry in session.info.pop(APPENDED, None) or ():
            label = sign_in_label(entry.event, entry.outcome or "success", entry.details or {})
            if label is not None:
                metrics = metrics or get()
                metrics.sign_ins.labels(outcome=label[0], method=label[1]).inc()

    @event.listens_for(Session, "after_soft_rollback")
    def _forget(session: Session, previous) -> None:  # noqa: ANN001
        if not previous.nested:
            session.info.pop(APPENDED, None)


def init_app(app: Flask) -> None:
    get()
    _listen_to_audit()
    # first of all before_request functions: CSRF checks and rate limits may answer early, and those
    # requests must be timed too
    app.before_request_funcs.setdefault(None, []).insert(0, _start_timer)

    @app.after_request
    def _observe(response: Response) -> Response:
        started = g.pop("idp_started", None)
        req = request._get_current_object()
        endpoint = req.endpoint or ("static" if req.path.startswith("/static/") else "unmatched")
        metrics = get()
        counter, histogram = metrics.series(endpoint, req.method, response.status_code)
        counter.inc()
        if started is not None:
            histogram.observe(time.perf_counter() - started)
        if endpoint == "oauth.token" and response.status_code == 200:
            grant = request.form.get("grant_type", "")
            metrics.tokens.labels(grant_type=grant if grant in GRANT_TYPES else "other").inc()
        return response

    app.add_url_rule("/metrics", "observability_metrics", metrics_view, methods=["GET"])


def metrics_view() -> Response:
    body, content_type = exposition()
    return Response(body, headers={"Content-Type": content_type, "Cache-Control": "no-store"})


def _start_timer() -> None:
    g.idp_started = time.perf_counter()
