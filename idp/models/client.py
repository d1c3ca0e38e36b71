"""Relying parties registered to sign their users in through us (authlib's ClientMixin), the administration
API scopes an administrator granted them, and the access tokens of the client credentials grant."""
from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Mapped, mapped_column, relationship

from .base import Base


class Client(Base):
    __tablename__ = "oauth_client"

    id: Mapped[int] = mapped_column(primary_key=True)
    client_id: Mapped[str] = mapped_column(sa.String(64), unique=True)
    organisation_id: Mapped[int | None] = mapped_column(sa.ForeignKey("organisation.id"), index=True)
    name: Mapped[str] = mapped_column(sa.String(200))
    secret_digest: Mapped[str | None] = mapped_column(sa.String(64))        # SHA-256 hex; None = public
    previous_secret_digest: Mapped[str | None] = mapped_column(sa.String(64))
    previous_secret_expires_at: Mapped[datetime | None]
    redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    post_logout_redirect_uris: Mapped[list[str]] = mapped_column(sa.JSON, default=list)
    # OpenID Connect Back-Channel Logout 1.0 §2.2: where the IdP POSTs a Logout Token (None: not registered)
    backchannel_logout_uri: Mapped[str | None] = mapped_column(sa.String(2000))
    backchannel_logout_session_required: Mapped[bool] = mapped_column(default=False)
    token_endpoint_auth_method: Mapped[str] = mapped_column(sa.String(40), default="client_secret_basic")
    require_pkce: Mapped[bool] = mapped_column(default=True)
    require_consent: Mapped[bool] = mapped_column(default=False)
    issue_refresh_tokens: Mapped[bool] = mapped_column(default=False)
    id_token_signed_response_alg: Mapped[str | None] = mapped_column(sa.String(10))
    jwks: Mapped[dict | None] = mapped_column(sa.JSON)                      # for private_key_jwt
    allowed_scopes: Mapped[str] = mapped_column(sa.String(500), default="openid profile email offline_access")
    is_active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime]

    api_grants: Mapped[list[ClientApiScope]] = relationship(cascade="all, delete-orphan",
                                                            order_by="ClientApiScope.scope")

    @property
    def is_public(self) -> bool:
        return self.secret_digest is None

    @property
    def api_scopes(self) -> frozenset[str]:
        """The administration API scopes granted to this client (idp.adminapi.scopes)."""
        return frozenset(grant.scope for grant in self.api_grants)

    @property
    def is_api_client(self) -> bool:
        """May use the client credentials grant: confidential, bound to one organisation, scopes granted."""
        return not self.is_public and self.organisation_id is not None and bool(self.api_grants)

    # --- authlib ClientMixin ---
    def get_client_id(self) -> str:
        return self.client_id

    def get_default_redirect_uri(self) -> str | None:
        return self.redirect_uris[0] if len(self.redirect_uris) == 1 else None

    def get_allowed_scope(self, scope: str) -> str:
        allowed = set(self.allowed_scopes.split())
        return " ".join(s for s in scope.split() if s in allowed)

    def check_redirect_uri(self, redirect_uri: str) -> bool:
        return redirect_uri in self.redirect_uris

    def check_client_secret(self, client_secret: str) -> bool:
        from idp.security.secrets import digest_matches

        if self.secret_digest and digest_matches(client_secret, self.secret_digest):
            return True
        return bool(
            self.previous_secret_digest and self.previous_secret_expires_at
            and self.previous_secret_expires_at > _now()
            and digest_matches(client_secret, self.previous_secret_digest)
        )

    def check_endpoint_auth_method(self, method: str, endpoint: str) -> bool:
        """Public clients: `none` at the token endpoint only. Confidential: private_key_jwt when they registered
        keys; their secret (basic or post) unless they are registered for private_key_jwt (a secret left over
        from before must not keep working)."""
        if self.is_public:
            return endpoint == "token" and method == "none"
        if method == "private_key_jwt":
            return bool(self.jwks)
        return method in ("client_secret_basic", "client_secret_post") and \
            self.token_endpoint_auth_method != "private_key_jwt"

    def check_response_type(self, response_type: str) -> bool:
        return response_type == "code"

    def check_grant_type(self, grant_type: str) -> bool:
        if grant_type == "client_credentials":
            return self.is_api_client
        return grant_type in ("authorization_code", "refresh_token")


class ClientApiScope(Base):
    """One administration API scope granted to a client by an administrator (audited when granted)."""

    __tablename__ = "client_api_scope"
    __table_args__ = (sa.UniqueConstraint("client_pk", "scope"),)

    id: Mapped[int] = mapped_column(primary_key=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(sa.String(40))
    granted_by: Mapped[str] = mapped_column(sa.String(200))      # the audit actor who granted it
    granted_at: Mapped[datetime]


class ClientAccessToken(Base):
    """An access token of the client credentials grant (no user, no refresh token); the value is kept as
    a SHA-256 digest. The client's grants and status are checked again at every use."""

    __tablename__ = "client_access_token"

    id: Mapped[int] = mapped_column(primary_key=True)
    token_digest: Mapped[str] = mapped_column(sa.String(64), unique=True)
    client_pk: Mapped[int] = mapped_column(sa.ForeignKey("oauth_client.id", ondelete="CASCADE"), index=True)
    scope: Mapped[str] = mapped_column(sa.Text)
    issued_at: Mapped[datetime]
    expires_at: Mapped[datetime] = mapped_column(index=True)     # idp.purge deletes by it
    revoked_at: Mapped[datetime | None]

    client: Mapped[Client] = relationship()

    # --- authlib TokenMixin (checked by authlib's BearerTokenValidator) ---
    def check_client(self, client) -> bool:  # noqa: ANN001
        return self.client_pk == client.id

    def get_scope(self) -> str:
        return self.scope

    def get_expires_in(self) -> int:
        return int((self.expires_at - self.issued_at).total_seconds())

    def is_expired(self) -> bool:
        return self.expires_at <= _now()

    def is_revoked(self) -> bool:
        return self.revoked_at is not None


def _now() -> datetime:
    from idp.clock import now

    return now()


