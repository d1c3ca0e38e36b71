"""What the browser's signed cookie holds: the browser session id (flask-login) and the sign-in handle."""
from __future__ import annotations

from flask import session
from flask_login import login_user

from idp.models import BrowserSession
from idp.web.context import BROWSER_KEY

TX_KEY = "login_tx"
TX_USER_KEY = "login_tx_user"   # the user the sign-in is for, as its pages last said (idp.web.rate_limits)


def current_sid() -> str | None:
    return session.get("_user_id")


def tx_handle() -> str | None:
    return session.get(TX_KEY)


def set_tx_handle(handle: str) -> None:
    session[TX_KEY] = handle


def note_tx_user(user_id: int | None) -> None:
    """Who the browser's sign-in is for, named in its signed cookie so that the rate limits of its next POST
    need no query (idp.web.rate_limits checks the name against the login transaction)."""
    if session.get(TX_USER_KEY) != user_id:
        if user_id is None:
            session.pop(TX_USER_KEY, None)
        else:
            session[TX_USER_KEY] = user_id


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
