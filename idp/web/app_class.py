"""The Flask class of the IdP: work Flask redoes on every request for things fixed at start-up, done once."""
from __future__ import annotations

import weakref
from collections.abc import Callable
from inspect import iscoroutinefunction
from typing import Any

from flask import Flask, g
from flask.sessions import SecureCookieSessionInterface
from itsdangerous import URLSafeTimedSerializer

KEEP_COOKIE = "idp_keep_cookie"     # flask.g: the request failed, the browser keeps the cookie it sent


class CookieSessions(SecureCookieSessionInterface):
    """Flask's signed-cookie sessions with the signing serializer built once per key set (Flask builds one,
    and test-serialises an empty string, on every request); rebuilt when SECRET_KEY or its fallbacks change.
    A request that failed (idp.web.errors) sends no cookie: what it changed in the session was not kept."""

    def __init__(self) -> None:
        self._made: tuple[tuple, URLSafeTimedSerializer | None] | None = None

    def get_signing_serializer(self, app: Flask) -> URLSafeTimedSerializer | None:
        keys = (app.secret_key, tuple(app.config["SECRET_KEY_FALLBACKS"] or ()))
        made = self._made
        if made is None or made[0] != keys:
            made = self._made = (keys, super().get_signing_serializer(app))
        return made[1]

    def save_session(self, app: Flask, session: Any, response: Any) -> None:
        if g.get(KEEP_COOKIE):
            return
        super().save_session(app, session, response)


class IdpFlask(Flask):
    """Flask, with the signed-cookie sessions above and `ensure_sync` answered from a cache (Flask asks
    `inspect.iscoroutinefunction` for each hook and view on every request; there are a dozen hooks). The
    cache holds functions weakly (a per-request `after_this_request` function goes with its request)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.session_interface = CookieSessions()     # one per app: apps may have different keys
        self._is_async: weakref.WeakKeyDictionary[Callable[..., Any], bool] = weakref.WeakKeyDictionary()

    def ensure_sync(self, func: Callable[..., Any]) -> Callable[..., Any]:
        try:
            is_async = self._is_async[func]
        except (KeyError, TypeError):     # TypeError: a callable that takes no weak reference
            is_async = iscoroutinefunction(func)
            try:
                self._is_async[func] = is_async
            except TypeError:
                pass
        return self.async_to_sync(func) if is_async else func
