"""Health checks for load balancers and orchestrators (JSON, never cached, no personal data).

- GET /healthz — liveness: the process answers requests. No database access; 200 always.
- GET /readyz — readiness: 200 when this worker can serve sign-ins, else 503 with the reasons:
  the database answers (`SELECT 1` on a connection of its own), the token signing key of
  `[tokens] signing_alg` is loaded, the policy set in force is valid for the config's bindings, and the
  rate limiter's Redis answers (when one is configured).
Neither needs a session, a CSRF token or a sign-in; both are cheap enough to poll every few seconds.
"""
from __future__ import annotations

import logging

import sqlalchemy as sa
from flask import Flask, Response, current_app, jsonify

log = logging.getLogger("idp.health")


def healthz() -> Response:
    return _json({"status": "ok"}, 200)


def readyz() -> Response:
    checks = readiness(current_app)
    problems = [f"{name}: {result}" for name, result in checks.items() if result != "ok"]
    if problems:
        log.warning("not ready: %s", "; ".join(problems))
        return _json({"status": "not ready", "checks": checks, "problems": problems}, 503)
    return _json({"status": "ready", "checks": checks}, 200)


def readiness(app: Flask) -> dict[str, str]:
    """Each check's result: "ok" or why not."""
    services = app.extensions["idp"]
    checks = {"database": _database(services)}
    checks["signing_keys"] = _signing_keys(services) if checks["database"] == "ok" else "not checked (no database)"
    checks["policy"] = _policy(app, services)
    limiter = app.extensions.get("idp.ratelimit")
    if limiter is not None:
        checks["rate_limit"] = limiter.backend.problem() or "ok"
    return checks


def _database(services) -> str:  # noqa: ANN001
    try:
        with services.database.engine.connect() as conn:
            conn.execute(sa.text("SELECT 1")).scalar()
    except sa.exc.SQLAlchemyError as exc:
        return f"unreachable ({type(exc).__name__})"
    return "ok"


def _signing_keys(services) -> str:  # noqa: ANN001
    alg = services.config.tokens.signing_alg
    try:
        with services.database.session() as db:
            loaded = services.keys.get(db)
    except sa.exc.SQLAlchemyError as exc:
        return f"could not be loaded ({type(exc).__name__})"
    except RuntimeError as exc:     # KeyRing: no active key for an algorithm
        return f"{exc}"
    except Exception as exc:  # noqa: BLE001 - e.g. a key that the key-encryption key cannot decrypt
        return f"could not be loaded ({type(exc).__name__}); is [secrets] key_encryption_key right?"
    if alg not in loaded.signing_algs:
        return f"no active {alg} signing key (run `idp keys rotate` or `idp db upgrade`)"
    return "ok"


def _policy(app: Flask, services) -> str:  # noqa: ANN001
    from idp.signin.bindings import binding_problems

    store = app.extensions.get("idp.policies")
    if store is None:
        return "no policy store"
    try:
        problems = binding_problems(services.config.policy, store.current())
    except Exception as exc:  # noqa: BLE001
        return f"policy set unusable ({type(exc).__name__})"
    return "ok" if not problems else "; ".join(problems)


def _json(body: dict, status: int) -> Response:
    response = jsonify(body)
    response.status_code = status
    response.headers["Cache-Control"] = "no-store"
    return response


def init_app(app: Flask) -> None:
    app.add_url_rule("/healthz", "observability_healthz", healthz, methods=["GET"])
    app.add_url_rule("/readyz", "observability_readyz", readyz, methods=["GET"])
