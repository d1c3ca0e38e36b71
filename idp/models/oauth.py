"""Authorization codes, tokens and consents; every secret value is kept as a SHA-256 digest."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .user import User


class AuthorizationCode(Base):
    __tablename__ = "authorization_code"

    id: Mapped[int] = mapped_column(primary_key=True)
    code_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    redirect_uri: Mapped[str] = mapped_column(sa.Text)
    scope: Mapped[str] = mapped_column(sa.Text)
    nonce: Mapped[str | None] = mapped_column(sa.Text)
    code_challenge: Mapped[str | None] = mapped_column(sa.String(128))
    code_challenge_method: Mapped[str | None] = mapped_column(sa.String(10))
    auth_time: Mapped[int]
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    acr: Mapped[str | None] = mapped_column(sa.String(200))
    sid: Mapped[str | None] = mapped_column(sa.String(64))
    created_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)   # idp.purge deletes by it
    used_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()

    # --- authlib AuthorizationCodeMixin / OIDC ---
    def get_redirect_uri(self) -> str:
        return self.redirect_uri

    def get_scope(self) -> str:
        return self.scope

    def get_nonce(self) -> str | None:
        return self.nonce

    def get_auth_time(self) -> int:
        return self.auth_time

    def get_acr(self) -> str | None:
        return self.acr

    def get_amr(self) -> list[str]:
        return list(self.amr or [])


class Token(Base):
    """An access token and, optionally, its refresh token; `family_id` groups rotations."""

    __tablename__ = "oauth_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    access_token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    refresh_token_digest: Mapped[str | None] = mapped_column(sa.String(64), unique=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(sa.Text)
    family_id: Mapped[str] = mapped_column(sa.String(64), index=True)
    code_id: Mapped[int | None] = mapped_column(index=True)
    sid: Mapped[str | None] = mapped_column(sa.String(64), index=True)
    auth_time: Mapped[int | None]
    amr: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    acr: Mapped[str | None] = mapped_column(sa.String(200))
    issued_at: Mapped[datetime]
    access_expires_at: Mapped[datetime] = mapped_column(index=True)   # idp.purge deletes by it
    refresh_expires_at: Mapped[datetime | None]
    refresh_used_at: Mapped[datetime | None]      # set when rotated; a second use revokes the family
    revoked_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class Consent(Base):
    __tablename__ = "consent"
    __table_args__ = (sa.UniqueConstraint("user_id", "client_id"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    client_id: Mapped[str] = mapped_column(sa.String(64))
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    granted_at: Mapped[datetime]


class SigningKey(Base):
    """An ID token signing key; the private JWK is encrypted with the key-encryption key."""

    __tablename__ = "signing_key"

    id: Mapped[int] = mapped_column(primary_key=True)
    kid: Mapped[str] = mapped_column(sa.String(64), unique=True)
    alg: Mapped[str] = mapped_column(sa.String(10))
    private_jwk_encrypted: Mapped[bytes] = mapped_column(sa.LargeBinary)
    public_jwk: Mapped[dict] = mapped_column(sa.JSON)
    created_at: Mapped[datetime]
    retired_at: Mapped[datetime | None]      # signs until then (a rotation sets it ahead: idp.oauth.keys)
    unpublish_after: Mapped[datetime | None]  # removed from the JWKS after this


def _token_mixin() -> None:
    """authlib's TokenMixin, attached here to keep the column list above easy to read."""

    def check_client(self: Token, client) -> bool:  # noqa: ANN001
        return self.client_id == client.get_client_id()

    def get_scope(self: Token) -> str:
        return self.scope

    def get_expires_in(self: Token) -> int:
        return int((self.access_expires_at - self.issued_at).total_seconds())

    def is_expired(self: Token) -> bool:
        from idp.clock import now

        return self.access_expires_at <= now()

    def is_revoked(self: Token) -> bool:
        return self.revoked_at is not None

    for fn in (check_client, get_scope, get_expires_in, is_expired, is_revoked):
        setattr(Token, fn.__name__, fn)


_token_mixin()


class UsedNonce(Base):
    """A replay guard shared by every worker: a value may be recorded once until it expires
    (private_key_jwt `jti`, ...)."""

    __tablename__ = "used_nonce"

    key: Mapped[str] = mapped_column(sa.String(200), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(index=True)
