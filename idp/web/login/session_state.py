"""What the browser's signed cookie holds: the browser session id (flask-login) and the sign-in handle."""
from __future__ import annotations

from flask import session
from flask_login import login_user

from idp.models import BrowserSession
from idp.web.context import BROWSER_KEY

TX_KEY = "login_tx"


def current_sid() -> str | None:
    return session.get("_user_id")


def tx_handle() -> str | None:
    return session.get(TX_KEY)


def set_tx_handle(handle: str) -> None:
    session[TX_KEY] = handle


def forget_tx_handle() -> None:
    """The transaction is answered: the browser keeps no handle to it."""
    session.pop(TX_KEY, None)


def sign_in(row: BrowserSession) -> None:
    """Rotate the cookie: nothing from before the sign-in survives, then remember the new session."""
    session.clear()
    user = row.user
    user.session_sid = row.sid
    login_user(user, fresh=True)


def clear() -> None:
    keep = session.get(BROWSER_KEY)
    session.clear()
    if keep:
        session[BROWSER_KEY] = keep
