"""Browser sessions (who is signed in where) and login transactions (a sign-in in progress)."""
from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .user import User

if TYPE_CHECKING:
    from .client import Client


class BrowserSession(Base):
    """A signed-in browser; ending it signs that browser out everywhere. `sid` is the browser cookie's value
    and never leaves the IdP; `public_sid` is the session id given to applications (the ID token's and
    the Logout Token's `sid`): random, kept when the session is rotated."""

    __tablename__ = "browser_session"

    id: Mapped[int] = mapped_column(primary_key=True)
    sid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    public_sid: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    auth_time: Mapped[datetime]
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    acr: Mapped[str | None] = mapped_column(sa.String(200))
    provider: Mapped[str | None] = mapped_column(sa.String(100))
    clients: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    ip: Mapped[str | None] = mapped_column(sa.String(64))
    user_agent: Mapped[str | None] = mapped_column(sa.String(400))
    created_at: Mapped[datetime]
    last_seen_at: Mapped[datetime]                  # last use, written at most once a minute
    idle_minutes: Mapped[int] = mapped_column(default=30)   # over when unused this long ([login] setting)
    expires_at: Mapped[datetime]
    ended_at: Mapped[datetime | None]
    # when the person last proved it is them again (second factor, or password without one) on
    # Profile > Security: sensitive changes there need a proof from the last few minutes
    step_up_at: Mapped[datetime | None]
    email_checked_at: Mapped[datetime | None]   # a code sent to the account's address was confirmed here
    # the sign-in skipped the second factor because this browser is remembered: the session satisfies a
    # 2FA requirement only while that remembered browser still counts (forgetting it deletes the row)
    remembered_browser_id: Mapped[int | None] = mapped_column(
        sa.ForeignKey("remembered_browser.id", ondelete="SET NULL"))
    # a credential change made in this browser (password change, "sign out other browsers") kept this
    # session while ending the others: its sign-in counts as proven again from then on
    kept_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class LoginTransaction(Base):
    """A sign-in in progress, shared by every worker: the request, the user, the flow's progress."""

    __tablename__ = "login_transaction"

    id: Mapped[int] = mapped_column(primary_key=True)
    handle_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)  # the cookie holds the handle
    browser_binding: Mapped[str] = mapped_column(sa.String(64))           # digest of a per-browser secret
    flow: Mapped[str] = mapped_column(sa.String(100))
    policy_digest: Mapped[str] = mapped_column(sa.String(64))
    purpose: Mapped[str] = mapped_column(sa.String(20), default="authorize")  # authorize | account
    client_id: Mapped[str | None] = mapped_column(sa.String(64))
    request_params: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    user_id: Mapped[int | None] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"))
    provider: Mapped[str | None] = mapped_column(sa.String(100))
    upstream: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    state: Mapped[dict] = mapped_column(sa.JSON, default=dict)    # the engine's FlowState
    failures: Mapped[int] = mapped_column(default=0)
    status: Mapped[str] = mapped_column(sa.String(20), default="active")  # active | done | failed
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)   # idp.purge deletes by it
    version: Mapped[int] = mapped_column(default=0)

    __mapper_args__ = {"version_id_col": version}

    user: Mapped[User | None] = relationship()
    client: Mapped[Client | None] = relationship(
        primaryjoin="foreign(LoginTransaction.client_id) == Client.client_id", viewonly=True)
