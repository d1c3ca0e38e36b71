"""SCIM Users (RFC 7643 §4.1, RFC 7644 §3) over the accounts of the token's organisation.

Mapping: `id` is the account's `sub`; `userName` is its email (lower-cased, a valid address); `active`
is the account's state (false disables it through the administrators' own domain function: signed out
everywhere, refresh tokens revoked); `displayName` (else `name.formatted`, else given + family name) is
its name; `externalId` and the other attributes are kept as sent and returned; `groups` comes from the
SCIM groups. No password is ever accepted: like the accounts single sign-on creates, provisioned people
sign in through SSO, or choose a password through an administrator's invitation. Every change is audited
as done by the token (`scim:<name>`)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from scim2_models import (
    Context,
    InvalidValueException,
    MutabilityException,
    NotFoundException,
    PatchOp,
    UniquenessException,
)

from idp import accounts, audit
from idp.accounts import AccountError
from idp.administration import users as admin_users
from idp.administration.permissions import SYSTEM_ADMIN
from idp.models import Organisation, ScimGroup, ScimUser, UpstreamIdentity, User, UserPermission
from idp.signin import transactions

from .compat import standard_patch
from .context import ScimContext, parse
from .filters import Column, translate
from .schema import ENTERPRISE_SCHEMA, POLICY, USER_SCHEMA, PageRequest, UserResource, meta

KEPT_OUT = {"id", "meta", "externalId", "userName", "active", "groups", "password", "schemas"}
ATTRIBUTES = {
    "id": Column(User.subject, case_exact=True),
    "username": Column(User.email),
    "emails": Column(User.email),
    "emails.value": Column(User.email),
    "externalid": Column(ScimUser.external_id, case_exact=True),
    "displayname": Column(User.name),
    "active": Column(User.is_active, "boolean"),
    "meta.created": Column(User.created_at, "datetime"),
    "meta.lastmodified": Column(sa.func.coalesce(ScimUser.updated_at, User.created_at), "datetime"),
}
SORTABLE = ("id", "username", "displayname", "externalid", "meta.created", "meta.lastmodified")


# --- reading ----------------------------------------------------------------------------------------------

def provisionable(organisation_id: int) -> sa.ColumnElement[bool]:
    """The accounts a token of the organisation manages: its users, except deployment operators (whom no
    organisation's directory may disable or delete)."""
    return sa.and_(User.organisation_id == organisation_id,
                   ~User.permissions.any(UserPermission.name == SYSTEM_ADMIN))


def get(ctx: ScimContext, scim_id: str) -> User:
    """The organisation's account with this id; 404 for any other (another organisation's included)."""
    user = ctx.db.scalar(sa.select(User).where(User.subject == scim_id, provisionable(ctx.organisation_id)))
    if user is None:
        raise NotFoundException(detail=f"no user {scim_id!r}")
    return user


def search(ctx: ScimContext, filter_text: str | None, page: PageRequest) -> tuple[int, list[User]]:
    """How many accounts match, and the page asked for (startIndex is 1-based)."""
    query = (sa.select(User).outerjoin(ScimUser, ScimUser.user_id == User.id)
             .where(provisionable(ctx.organisation_id)))
    if filter_text:
        query = query.where(translate(filter_text, ATTRIBUTES, USER_SCHEMA))
    total = ctx.db.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    order = _sort_column(page.sort_by)
    query = query.order_by(order.desc() if page.descending else order, User.id)
    users = list(ctx.db.scalars(query.offset(page.start_index - 1).limit(page.count))) if page.count else []
    if users:   # one query for the page's SCIM rows (as_resource then finds them in the identity map)
        ctx.db.scalars(sa.select(ScimUser).where(ScimUser.user_id.in_([u.id for u in users]))).all()
    return total, users


def _sort_column(sort_by: str | None) -> Any:
    if not sort_by:
        return User.id
    key = sort_by.lower().removeprefix(USER_SCHEMA.lower() + ":")
    if key not in SORTABLE:
        raise InvalidValueException(detail=f"sorting by {sort_by!r} is not supported (supported: "
                                           f"{', '.join(SORTABLE)})")
    return ATTRIBUTES[key].expr


def as_resource(ctx: ScimContext, user: User) -> UserResource:
    """The SCIM representation of an account."""
    row = ctx.db.get(ScimUser, user.id)
    data: dict[str, Any] = dict(row.attributes) if row is not None else {}
    if row is None:
        data["displayName"] = user.name or None
        data["emails"] = [{"value": user.email, "type": "work", "primary": True}]
    data.update(id=user.subject, userName=user.email, active=user.is_active,
                externalId=row.external_id if row is not None else None)
    data["schemas"] = [USER_SCHEMA] + ([ENTERPRISE_SCHEMA] if data.get(ENTERPRISE_SCHEMA) else [])
    groups = ctx.db.scalars(sa.select(ScimGroup).where(ScimGroup.organisation_id == ctx.organisation_id,
                                                       ScimGroup.display_name.in_(user.group_names))
                            .order_by(ScimGroup.display_name)) if user.group_names else []
    data["groups"] = [{"value": g.scim_id, "display": g.display_name, "type": "direct",
                       "$ref": ctx.location("Groups", g.scim_id)} for g in groups] or None
    resource = UserResource.model_validate({k: v for k, v in data.items() if v is not None})
    changed = max(row.updated_at, user.created_at) if row is not None else user.created_at
    resource.meta = meta("User", user.created_at, changed, ctx.location("Users", user.subject))
    return resource


# --- writing ----------------------------------------------------------------------------------------------

def create(ctx: ScimContext, payload: Any) -> User:
    """POST /Users. An account of the organisation that no platform manages yet, with this userName or
    bound to an SSO identity whose subject is the externalId, is taken over (no duplicate account)."""
    resource = parse(UserResource, payload, Context.RESOURCE_CREATION_REQUEST)
    email = _email(resource)
    user = _existing(ctx, email, resource.external_id)
    if user is None:
        _check_domain(ctx, email)
        try:
            user = accounts.create_user(ctx.db, ctx.services.passwords, email,
                                        organisation=ctx.db.get(Organisation, ctx.organisation_id))
        except AccountError as exc:
            raise InvalidValueException(detail=str(exc)) from None
        event = "scim_user_created"
    else:
        event = "scim_user_linked"
        _stop_sign_ins_if_disabling(ctx, user, resource)
    row = ScimUser(user_id=user.id, organisation_id=ctx.organisation_id, attributes={}, created_at=ctx.now,
                   updated_at=ctx.now)
    ctx.db.add(row)
    changed = _apply(ctx, user, row, resource)
    audit.record(ctx.db, event, ctx.actor, organisation_id=ctx.organisation_id, target_user_id=user.id,
                 target=user.email, details={"external_id": row.external_id, "changed": changed})
    return user


def replace(ctx: ScimContext, user: User, payload: Any) -> User:
    """PUT /Users/{id}: the attributes sent replace the stored ones."""
    resource = parse(UserResource, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    if resource.id is not None and resource.id != user.subject:
        raise InvalidValueException(detail="id does not match the user being replaced")
    return _update(ctx, user, resource)


def patch(ctx: ScimContext, user: User, payload: Any) -> User:
    """PATCH /Users/{id}: the operations apply to the current representation, which is then saved."""
    operations = parse(PatchOp[UserResource], standard_patch(payload), Context.RESOURCE_PATCH_REQUEST)
    resource = as_resource(ctx, user)
    with POLICY:
        operations.patch(resource)
    if resource.active is None:
        raise MutabilityException(detail="active cannot be removed: set it to false to disable the account")
    return _update(ctx, user, resource)


def delete(ctx: ScimContext, user: User) -> None:
    """DELETE /Users/{id}: the account is disabled at once, then removed (idp.administration.users.delete)."""
    ctx.db.execute(sa.delete(ScimUser).where(ScimUser.user_id == user.id))
    admin_users.delete(ctx.db, ctx.scope, user, "deleted by SCIM provisioning", ctx.actor, now=ctx.now)


def _stop_sign_ins_if_disabling(ctx: ScimContext, user: User, resource: UserResource) -> None:
    """An existing account this request disables: its sign-ins in progress stop before anything of the user is
    written (the link row's INSERT locks the user's row too, as a rename does): the sign-ins' lock order."""
    if resource.active is False and user.is_active:
        transactions.stop_for_user(ctx.db, user.id)


def _update(ctx: ScimContext, user: User, resource: UserResource) -> User:
    _stop_sign_ins_if_disabling(ctx, user, resource)
    row = ctx.db.get(ScimUser, user.id)
    event = "scim_user_updated"
    if row is None:
        row = ScimUser(user_id=user.id, organisation_id=ctx.organisation_id, attributes={}, created_at=ctx.now,
                       updated_at=ctx.now)
        ctx.db.add(row)
        event = "scim_user_linked"
    previous_email = user.email
    changed = _apply(ctx, user, row, resource)
    details: dict[str, Any] = {"changed": changed}
    if "userName" in changed:
        details["previous_email"] = previous_email
    if changed or event == "scim_user_linked":
        audit.record(ctx.db, event, ctx.actor, organisation_id=ctx.organisation_id, target_user_id=user.id,
                     target=user.email, details=details)
    return user


def _apply(ctx: ScimContext, user: User, row: ScimUser, resource: UserResource) -> list[str]:
    """Write a validated representation to the account; the names of what changed."""
    if resource.password is not None:
        raise InvalidValueException(detail="passwords are not accepted over SCIM: people sign in through single "
                                           "sign-on, or choose their own password through an invitation")
    if resource.active is None:
        raise InvalidValueException(detail="active is required: true, or false for a disabled account")
    changed = []
    email = _email(resource)
    if email != user.email:
        if accounts.find_by_email(ctx.db, email) is not None:
            raise UniquenessException(detail=f"userName {email} cannot be used: it is taken")
        _check_domain(ctx, email)
        user.email, user.email_verified = email, False
        changed.append("userName")
    name = _name(resource)
    if name and name != user.name:
        user.name = name
        changed.append("name")
    if resource.external_id != row.external_id:
        row.external_id = resource.external_id
        changed.append("externalId")
    kept = {k: v for k, v in resource.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE).items()
            if k not in KEPT_OUT}
    if kept != row.attributes:
        row.attributes = kept
        changed.append("attributes")
    if resource.active != user.is_active:
        admin_users.set_active(ctx.db, ctx.scope, user, bool(resource.active),
                               "SCIM provisioning set active=" + str(bool(resource.active)).lower(), ctx.actor,
                               now=ctx.now)
        changed.append("active")
    if changed:
        row.updated_at = ctx.now
    ctx.db.flush()
    return changed


def _email(resource: UserResource) -> str:
    if not resource.user_name:
        raise InvalidValueException(detail="userName is required (the person's email address)")
    try:
        return accounts.checked_email(resource.user_name)
    except AccountError as exc:
        raise InvalidValueException(detail=f"userName must be the person's email address: {exc}") from None


def _name(resource: UserResource) -> str:
    parts = resource.name
    text = resource.display_name or (parts.formatted if parts else None) or \
        " ".join(p for p in ((parts.given_name, parts.family_name) if parts else ()) if p)
    return " ".join((text or "").split())[:200]


def _existing(ctx: ScimContext, email: str, external_id: str | None) -> User | None:
    """The account a creation stands for, if it exists: by email, else by an SSO identity's subject."""
    user = accounts.find_by_email(ctx.db, email)
    if user is None and external_id:
        user = ctx.db.scalar(sa.select(User).join(UpstreamIdentity, UpstreamIdentity.user_id == User.id).where(
            User.organisation_id == ctx.organisation_id,
            sa.or_(UpstreamIdentity.subject == external_id, UpstreamIdentity.subject.like(
                "%/" + external_id.replace("\\", "\\\\").replace("%", "\\%").replace("_", "\\_"), escape="\\")))
            .limit(1))
    if user is None:
        return None
    managed = ctx.db.get(ScimUser, user.id) is not None
    if user.organisation_id != ctx.organisation_id or managed or SYSTEM_ADMIN in user.permission_names:
        raise UniquenessException(detail=f"userName {email} cannot be used: it is taken")
    return user


def _check_domain(ctx: ScimContext, email: str) -> None:
    owner = accounts.organisation_for_email(ctx.db, email)
    if owner is not None and owner.id != ctx.organisation_id:
        raise InvalidValueException(detail=f"addresses at {email.rpartition('@')[2]} belong to another "
                                           "organisation")
