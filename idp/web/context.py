"""Per-request access to the database session, the services and the browser's own secret."""
from __future__ import annotations

from flask import Flask, Response, current_app, g, request, session
from sqlalchemy.exc import SQLAlchemyError
from sqlalchemy.orm import Session

from idp.attempts import counters as attempts
from idp.attempts import device_cookies
from idp.audit import Actor
from idp.factors import verification
from idp.security.secrets import new_token
from idp.services import Services

BROWSER_KEY = "browser_secret"


def services() -> Services:
    return current_app.extensions["idp"]


def db() -> Session:
    """The request's unit of work: committed after a response is made, rolled back on an error."""
    if "db" not in g:
        g.db = services().database.sessions()
    return g.db


def browser_secret() -> str:
    """A random value kept in this browser's signed session cookie; binds login transactions to it."""
    if BROWSER_KEY not in session:
        session[BROWSER_KEY] = new_token()
    return session[BROWSER_KEY]


def client_ip() -> str | None:
    """The client's address: X-Forwarded-For is trusted only through the configured proxies."""
    return address_of(request.headers.get("X-Forwarded-For", ""), request.remote_addr,
                      services().config.server.trusted_proxies)


def address_of(forwarded_for: str, remote_addr: str | None, hops: int) -> str | None:
    """client_ip from the raw values (also for requests answered before Flask)."""
    forwarded = [h.strip() for h in forwarded_for.split(",") if h.strip()]
    if hops and len(forwarded) >= hops:
        return forwarded[-hops]
    return remote_addr


def device_cookie() -> str | None:
    """The browser's "signed in here before" device cookie (idp.attempts.device_cookies), as sent."""
    return request.cookies.get(device_cookies.cookie_name(services().config.is_https))


def attempt_client() -> attempts.Client:
    """This browser as the attempt counters see it: its address, user agent and device cookie."""
    return attempts.Client(address=client_ip(), user_agent=request.headers.get("User-Agent"),
                           device_cookie=device_cookie())


def give_device_cookie(response: Response, account: str, *, second_factor: bool = False) -> None:
    """After a successful sign-in to `account`: the browser keeps (or gets) its device cookie entry for it;
    when the sign-in proved a second factor, that entry is trusted past the account-wide second-factor lock
    (idp.factors.verification)."""
    config = services().config
    value = attempts.device_cookie_after_success(services(), account, device_cookie())
    if second_factor:
        proved = attempts.Client(address=client_ip(), user_agent=request.headers.get("User-Agent"),
                                 device_cookie=value)
        attempts.record_device(db(), services(), verification.KIND, account, proved, right=True)
    response.set_cookie(device_cookies.cookie_name(config.is_https), value,
                        max_age=config.lockout.device_cookie_days * 86400, secure=config.is_https,
                        httponly=True, samesite="Lax", path="/")


def drop_database_session() -> None:
    """Roll back and forget the request's session (a wrong secret it counted is counted again on its own:
    idp.db.redo_if_rolled_back), so that no commit after the response is tried, on a dead connection least of
    all (that would turn a 503 into a 500). Errors of a connection already lost are ignored."""
    session_ = g.pop("db", None)
    if session_ is None:
        return
    try:
        session_.rollback()
    except SQLAlchemyError:
        pass
    try:
        session_.close()
    except SQLAlchemyError:
        pass


def actor(name: str) -> Actor:
    return Actor(name=name, ip=client_ip(), user_agent=request.headers.get("User-Agent"))


def init_app(app: Flask) -> None:
    @app.after_request
    def _commit(response):  # noqa: ANN001, ANN202
        session_ = g.pop("db", None)
        if session_ is not None:
            try:
                session_.commit()
            finally:
                session_.close()
        return response

    @app.teardown_request
    def _rollback(_exc):  # noqa: ANN001, ANN202
        session_ = g.pop("db", None)
        if session_ is not None:
            session_.rollback()
            session_.close()
