"""Database models (SQLAlchemy 2, typed), one module per concept; imported here for alembic."""
from .audit import AuditChainHead, AuditEvent
from .base import Base
from .branding import OrganisationBranding
from .client import Client
from .credentials import OtpChallenge, RecoveryCode, SecondFactor
from .federation import UpstreamIdentity, UpstreamProvider
from .invitation import Invitation
from .oauth import AuthorizationCode, Consent, SigningKey, Token, UsedNonce
from .org import Organisation, OrganisationDomain
from .rate_limit import RateLimitBucket
from .recovery import AccountToken, RememberedBrowser
from .session import BrowserSession, LoginTransaction
from .user import User, UserGroup, UserPermission
from .webauthn import WebAuthnChallenge, WebAuthnCredential

__all__ = [
    "AuditChainHead", "AuditEvent", "AuthorizationCode", "Base", "BrowserSession", "Client", "Consent",
    "Invitation", "LoginTransaction", "Organisation", "OrganisationBranding", "OrganisationDomain", "OtpChallenge", "RateLimitBucket", "RecoveryCode",
    "SecondFactor", "SigningKey", "Token", "UpstreamIdentity", "UpstreamProvider", "UsedNonce", "User",
    "UserGroup", "UserPermission",
    "AccountToken", "RememberedBrowser", "WebAuthnChallenge", "WebAuthnCredential",
]
