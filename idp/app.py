"""The application factory: builds the Flask app from a validated config (no globals, no defaults for secrets)."""
from __future__ import annotations

from importlib import import_module
from pathlib import Path

from flask import Flask
from flask_login import LoginManager
from flask_wtf.csrf import CSRFProtect

from idp.config import AppConfig
from idp.flow.engine import FlowEngine
from idp.flow.policy import PolicyError
from idp.flow.policy_store import PolicyStore
from idp.services import Services, build_services
from idp.signin.bindings import binding_problems
from idp.web.app_class import IdpFlask

ROOT = Path(__file__).resolve().parent.parent
csrf = CSRFProtect()


def create_app(config: AppConfig, services: Services | None = None, policies: PolicyStore | None = None) -> Flask:
    """A ready app; raises PolicyError when the policy files are invalid (the server must not start)."""
    app = IdpFlask("idp", template_folder=str(ROOT / "templates"), static_folder=str(ROOT / "static"))
    _configure(app, config)
    app.extensions["idp"] = services or build_services(config)
    app.extensions["idp.policies"] = policies or PolicyStore(
        _policy_dir(config), check_interval=config.policy.reload_interval_seconds)
    problems = binding_problems(config.policy, app.extensions["idp.policies"].current())
    if problems:
        raise PolicyError(problems)
    app.extensions["idp.engine"] = FlowEngine(max_failures=config.login.max_second_factor_failures)
    csrf.init_app(app)
    _init_login_manager(app)
    _register(app, config)
    return app


def _policy_dir(config: AppConfig) -> Path:
    path = Path(config.policy.dir)
    return path if path.is_absolute() else Path.cwd() / path


def _configure(app: Flask, config: AppConfig) -> None:
    https = config.is_https
    app.config.update(
        SECRET_KEY=config.secrets.session_key,
        SESSION_COOKIE_NAME="__Host-idp_session" if https else "idp_session",
        SESSION_COOKIE_HTTPONLY=True,
        SESSION_COOKIE_SAMESITE="Lax",
        SESSION_COOKIE_SECURE=https,
        SESSION_COOKIE_PATH="/",
        REMEMBER_COOKIE_NAME="__Host-idp_remember" if https else "idp_remember",
        REMEMBER_COOKIE_SECURE=https, REMEMBER_COOKIE_HTTPONLY=True, REMEMBER_COOKIE_SAMESITE="Lax",
        REMEMBER_COOKIE_PATH="/",  # __Host- needs Secure and Path=/ (flask-login's defaults are not)
        WTF_CSRF_TIME_LIMIT=None,
        WTF_CSRF_SSL_STRICT=False,
        PREFERRED_URL_SCHEME="https" if https else "http",
        OAUTH2_SCOPES_SUPPORTED=["openid", "profile", "email", "offline_access"],
        MAX_CONTENT_LENGTH=1 * 1024 * 1024,
    )


def _init_login_manager(app: Flask) -> None:
    from datetime import timedelta

    from idp.browser import sessions
    from idp.clock import now
    from idp.web.context import db

    manager = LoginManager(app)
    manager.login_view = "login.page"
    manager.session_protection = None  # the browser session row is the authority; see idp.browser.sessions

    @manager.user_loader
    def load_user(sid: str):  # noqa: ANN202
        row = sessions.active(db(), sid)
        if row is None:
            return None
        if now() - row.last_seen_at >= timedelta(minutes=1):   # Profile > Security "last seen", once a minute
            row.last_seen_at = now()
        row.user.session_sid = row.sid
        return row.user


def _register(app: Flask, config: AppConfig) -> None:
    from idp.web import account, branding, context, errors, formatting, headers, login, oauth, site
    from idp.web.oauth.server import create_server

    context.init_app(app)
    branding.init_app(app)      # page_branding / sign_in_context for base.html and login_base.html
    formatting.init_app(app)    # |when, |day, |plural
    app.register_blueprint(site.bp)   # /, /branding/<org>/logo.png and theme.css
    app.extensions["authlib.server"] = create_server(app, config)
    for bp in (oauth.bp, login.bp, account.bp):
        app.register_blueprint(bp)
    _register_federation(app)
    app.register_blueprint(import_module("idp.web.admin").bp)  # Administration (/admin) and /invitation
    app.register_blueprint(import_module("idp.web.recovery").bp)  # /forgot-password, /reset-password, /verify-email
    scim = import_module("idp.web.scim").bp     # /scim/v2: provisioning API, bearer tokens (no cookies, no CSRF)
    app.register_blueprint(scim)
    csrf.exempt(scim)
    adminapi = import_module("idp.web.adminapi").bp   # /api/v1: administration API, bearer tokens (no CSRF)
    app.register_blueprint(adminapi)
    csrf.exempt(adminapi)
    for view in ("oauth.token", "oauth.revoke", "oauth.introspect", "oauth.userinfo", "oauth.authorize",
                 "oauth.end_session"):
        csrf.exempt(app.view_functions[view])
    errors.init_app(app)
    headers.init_app(app)
    import_module("idp.web.observability").init_app(app)   # request ids + logs, /metrics, /healthz, /readyz
    import_module("idp.web.input_guard").init_app(app)   # 400 on control characters, before the views read them
    import_module("idp.web.rate_limits").init_app(app)   # 429 on sign-in, codes, /token, /introspect
    import_module("idp.web.maintenance").init_app(app)   # purge expired rows after a response, once per interval
    oauth.discovery.init_app(app)   # discovery and JWKS answered in front of Flask (precomputed, ETag)
    _init_outbox(app)
    if config.development:
        app.register_blueprint(import_module("idp.web.dev").bp)  # /dev/outbox (never in production)


def _init_outbox(app: Flask) -> None:
    """Mail and other jobs queued by a request leave after it (idp.outbox): its commit wakes this worker's
    drainer thread, which also sweeps every few seconds. Under app.testing the queue is drained right after
    the commit instead, in the request's thread (deterministic tests; like Flask-Mail's suppress-in-testing)."""
    from flask import g

    from idp.outbox.queue import ENQUEUED
    from idp.outbox.worker import Drainer, drain

    drainer = app.extensions["idp.outbox"] = Drainer(app.extensions["idp"])

    @app.before_request
    def _sweeper() -> None:
        if not app.testing:
            drainer.ensure_running()

    @app.after_request
    def _queued(response):  # noqa: ANN001, ANN202 - runs before idp.web.context commits the request
        session_ = g.get("db")
        if session_ is not None and session_.info.pop(ENQUEUED, False):
            g.outbox_queued = True
        return response

    @app.teardown_request
    def _wake(exc: BaseException | None) -> None:   # after the commit
        if g.pop("outbox_queued", False) and exc is None:
            if app.testing:
                drain(app.extensions["idp"])
            else:
                drainer.wake()


def _register_federation(app: Flask) -> None:
    """Sign-in through upstream providers, and Administration > Settings > Single Sign-On."""
    from idp.web import admin_sso, federation

    app.register_blueprint(federation.bp)
    app.register_blueprint(admin_sso.bp)
