"""Upstream identity providers managed by an organisation's administrators, and the accounts bound to
upstream identities (OpenID Connect Core §2: `iss` + `sub` identify a person at the provider)."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base
from .org import Organisation
from .user import User


class UpstreamProvider(Base):
    """A provider added on Administration > Settings > Single Sign-On (config-file ones are not stored).
    The client secret is encrypted with the key-encryption key and never shown again."""

    __tablename__ = "upstream_provider"

    id: Mapped[int] = mapped_column(primary_key=True)
    organisation_id: Mapped[int] = mapped_column(sa.ForeignKey("organisation.id", ondelete="CASCADE"), index=True)
    name: Mapped[str] = mapped_column(sa.String(64), unique=True)
    display_name: Mapped[str] = mapped_column(sa.String(100))
    issuer: Mapped[str] = mapped_column(sa.String(500))
    client_id: Mapped[str] = mapped_column(sa.String(255))
    client_secret_encrypted: Mapped[bytes | None] = mapped_column(sa.LargeBinary)
    token_endpoint_auth_method: Mapped[str] = mapped_column(sa.String(40), default="client_secret_basic")
    scopes: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    domains: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    claims: Mapped[dict] = mapped_column(sa.JSON, default=dict)          # email, email_verified, name, groups
    link_existing_by_email: Mapped[bool] = mapped_column(default=False)
    second_factor: Mapped[str] = mapped_column(sa.String(20), default="upstream-or-local")
    mfa_acr_values: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    sso_only: Mapped[bool] = mapped_column(default=False)
    multi_tenant: Mapped[bool] = mapped_column(default=False)
    allowed_tenants: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    enabled: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]
    updated_at: Mapped[datetime]

    organisation: Mapped[Organisation] = relationship()


class UpstreamIdentity(Base):
    """A local account bound to a person at an upstream provider: (provider, subject) names them there.
    `issuer` is the `iss` they were first seen with; a later token from another issuer is refused."""

    __tablename__ = "upstream_identity"
    __table_args__ = (sa.UniqueConstraint("provider", "subject"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    provider: Mapped[str] = mapped_column(sa.String(64), index=True)
    subject: Mapped[str] = mapped_column(sa.String(255))
    issuer: Mapped[str] = mapped_column(sa.String(500))
    user_id: Mapped[int] = mapped_column(sa.ForeignKey("user_account.id", ondelete="CASCADE"), index=True)
    email: Mapped[str | None] = mapped_column(sa.String(320))           # as the provider last said
    created_at: Mapped[datetime]
    last_login_at: Mapped[datetime | None]

    user: Mapped[User] = relationship()


class UpstreamKeySet(Base):
    """The signing keys last fetched from a provider's `jwks_uri` (public keys only), shared by every worker
    and server. `refetched_at` is the last fetch made because a token named an unknown `kid`: at most one
    a minute per provider, for the whole fleet (idp.federation.key_sets)."""

    __tablename__ = "upstream_key_set"

    provider: Mapped[str] = mapped_column(sa.String(64), primary_key=True)
    jwks_uri: Mapped[str] = mapped_column(sa.String(500))
    keys: Mapped[dict] = mapped_column(sa.JSON, default=dict)
    fetched_at: Mapped[datetime]
    refetched_at: Mapped[datetime | None]
