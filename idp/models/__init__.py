"""Database models (SQLAlchemy 2, typed), one module per concept; imported here for alembic."""
from .attempt import AttemptCounter
from .audit import AuditChainHead, AuditEvent
from .base import Base
from .branding import OrganisationBranding
from .client import Client
from .credentials import OtpChallenge, RecoveryCode, SecondFactor
from .federation import UpstreamIdentity, UpstreamKeySet, UpstreamProvider
from .invitation import Invitation
from .maintenance import MaintenanceLease
from .oauth import AuthorizationCode, Consent, SigningKey, Token, UsedNonce
from .org import Organisation, OrganisationDomain
from .outbox import OutboxJob
from .rate_limit import RateLimitBucket
from .recovery import AccountToken, RememberedBrowser
from .scim import ScimGroup, ScimToken, ScimUser
from .session import BrowserSession, LoginTransaction
from .user import User, UserGroup, UserPermission
from .webauthn import WebAuthnChallenge, WebAuthnCredential

__all__ = [
    "AccountToken",
    "AttemptCounter",
    "AuditChainHead",
    "AuditEvent",
    "AuthorizationCode",
    "Base",
    "BrowserSession",
    "Client",
    "Consent",
    "Invitation",
    "LoginTransaction",
    "MaintenanceLease",
    "Organisation",
    "OrganisationBranding",
    "OrganisationDomain",
    "OtpChallenge",
    "OutboxJob",
    "RateLimitBucket",
    "RecoveryCode",
    "RememberedBrowser",
    "ScimGroup",
    "ScimToken",
    "ScimUser",
    "SecondFactor",
    "SigningKey",
    "Token",
    "UpstreamIdentity",
    "UpstreamKeySet",
    "UpstreamProvider",
    "UsedNonce",
    "User",
    "UserGroup",
    "UserPermission",
    "WebAuthnChallenge",
    "WebAuthnCredential",
]
