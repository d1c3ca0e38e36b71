"""Who may administer what: permissions within one organisation, and the deployment operator.

An organisation's administrators hold some of ADMIN_PERMISSIONS (UserPermission rows) and act only on
their own organisation: anything of another organisation does not exist for them (NotFound, never a
hint that it exists). A `system_admin` (deployment operator) holds every permission in every
organisation and may create organisations."""
from __future__ import annotations

from dataclasses import dataclass

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit
from idp.accounts import ADMIN_PERMISSIONS, PERMISSIONS
from idp.audit import Actor
from idp.models import User, UserPermission

USER_MANAGEMENT = "user_management"
SECURITY_SETTINGS = "security_settings"
AUDIT_READ = "audit_read"
CLIENT_MANAGEMENT = "client_management"
SYSTEM_ADMIN = "system_admin"

LABELS = {
    USER_MANAGEMENT: "User Management",
    SECURITY_SETTINGS: "Security Settings",
    AUDIT_READ: "Audit Log",
    CLIENT_MANAGEMENT: "Client Management",
    SYSTEM_ADMIN: "Deployment operator (every organisation)",
}


class AdminError(ValueError):
    """A refused administrative action, with a message fit for the administrator; nothing was changed."""


class NotFound(AdminError):
    """The thing does not exist, or belongs to an organisation the administrator does not manage."""


class Forbidden(AdminError):
    """The administrator lacks the permission for this action."""


@dataclass(frozen=True)
class AdminScope:
    """Who acts (`actor_user_id`, None for the command line), on which organisation, with which rights."""

    organisation_id: int
    permissions: frozenset[str]
    system: bool = False
    actor_user_id: int | None = None

    def can(self, permission: str) -> bool:
        return self.system or permission in self.permissions

    def require(self, permission: str) -> None:
        if not self.can(permission):
            raise Forbidden(f"this needs the {LABELS.get(permission, permission)} permission")

    def sees(self, organisation_id: int | None) -> bool:
        """Whether things of `organisation_id` exist for this administrator."""
        return self.system or organisation_id == self.organisation_id

    @property
    def is_admin(self) -> bool:
        return self.system or bool(self.permissions & set(ADMIN_PERMISSIONS))


def is_admin(user: User) -> bool:
    """Whether the user holds any administrative permission (shows "Administration" in their menu)."""
    return bool(user.permission_names & set(PERMISSIONS))


def scope_for(user: User, selected_organisation_id: int | None = None) -> AdminScope:
    """The scope of a signed-in user: their own organisation, or for an operator the one they chose."""
    names = user.permission_names
    system = SYSTEM_ADMIN in names
    org_id = selected_organisation_id if system and selected_organisation_id else user.organisation_id
    return AdminScope(organisation_id=org_id, permissions=frozenset(names & set(ADMIN_PERMISSIONS)),
                      system=system, actor_user_id=user.id)


def operator_scope(organisation_id: int) -> AdminScope:
    """The command line: every permission, within the one organisation named (or the only one)."""
    return AdminScope(organisation_id=organisation_id, permissions=frozenset(ADMIN_PERMISSIONS))


def check_permission_name(name: str) -> str:
    cleaned = name.strip().lower()
    if cleaned not in PERMISSIONS:
        raise AdminError(f"unknown permission {name!r} (known: {', '.join(PERMISSIONS)})")
    return cleaned


def grant(db: Session, target: User, permission: str, actor: Actor) -> bool:
    """Give `permission` to the user; False when they already had it. Audited."""
    name = check_permission_name(permission)
    if name in target.permission_names:
        return False
    target.permissions.append(UserPermission(name=name))
    db.flush()
    audit.record(db, "admin_permission_granted", actor, organisation_id=target.organisation_id,
                 target_user_id=target.id, target=target.email, details={"permission": name})
    return True


def revoke(db: Session, target: User, permission: str, actor: Actor) -> bool:
    """Take `permission` away; False when the user did not have it. Audited."""
    name = check_permission_name(permission)
    rows = [p for p in target.permissions if p.name == name]
    if not rows:
        return False
    for row in rows:
        target.permissions.remove(row)
    db.flush()
    audit.record(db, "admin_permission_revoked", actor, organisation_id=target.organisation_id,
                 target_user_id=target.id, target=target.email, details={"permission": name})
    return True


def holders(db: Session, organisation_id: int, permission: str) -> list[User]:
    return list(db.scalars(sa.select(User).join(UserPermission).where(
        User.organisation_id == organisation_id, UserPermission.name == permission).order_by(User.email)))
