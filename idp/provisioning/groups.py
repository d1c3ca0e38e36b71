"""SCIM Groups (RFC 7643 §4.2) of the token's organisation.

A group's members are the organisation's accounts holding a `user_group` row of the group's name: the
same rows the organisation's 2FA exempt list and the policy `group` condition read, and that single
sign-on fills from an upstream groups claim. Members are users only (no nested groups). Renaming a group
renames those rows; the exempt list and policy files name groups, so they follow the new name only when
an administrator changes them too."""
from __future__ import annotations

import uuid
from typing import Any

import sqlalchemy as sa
from scim2_models import (
    Context,
    InvalidFilterException,
    InvalidValueException,
    NotFoundException,
    PatchOp,
    UniquenessException,
)

from idp import audit
from idp.administration import users as admin_users
from idp.administration.settings import GROUP
from idp.models import ScimGroup, User, UserGroup

from .compat import standard_patch
from .context import ScimContext, parse
from .filters import Column, translate
from .schema import GROUP_SCHEMA, POLICY, GroupResource, PageRequest, meta
from .users import provisionable


def _member_filter(op: str, value: str | None) -> sa.ColumnElement[bool]:
    """`members.value eq "<user id>"` (and `pr`): the group has this account among its members."""
    member = (sa.select(UserGroup.id).join(User, User.id == UserGroup.user_id)
              .where(UserGroup.name == ScimGroup.display_name, User.organisation_id == ScimGroup.organisation_id))
    if op == "pr":
        return member.exists()
    if op != "eq" or value is None:
        raise InvalidFilterException(detail="members can be filtered with eq or pr only")
    return member.where(User.subject == value).exists()


ATTRIBUTES = {
    "id": Column(ScimGroup.scim_id, case_exact=True),
    "displayname": Column(ScimGroup.display_name),
    "externalid": Column(ScimGroup.external_id, case_exact=True),
    "meta.created": Column(ScimGroup.created_at, "datetime"),
    "meta.lastmodified": Column(ScimGroup.updated_at, "datetime"),
    "members": _member_filter,
    "members.value": _member_filter,
}
SORTABLE = ("id", "displayname", "externalid", "meta.created", "meta.lastmodified")


# --- reading ----------------------------------------------------------------------------------------------

def get(ctx: ScimContext, scim_id: str) -> ScimGroup:
    group = ctx.db.scalar(sa.select(ScimGroup).where(ScimGroup.scim_id == scim_id,
                                                     ScimGroup.organisation_id == ctx.organisation_id))
    if group is None:
        raise NotFoundException(detail=f"no group {scim_id!r}")
    return group


def search(ctx: ScimContext, filter_text: str | None, page: PageRequest) -> tuple[int, list[ScimGroup]]:
    query = sa.select(ScimGroup).where(ScimGroup.organisation_id == ctx.organisation_id)
    if filter_text:
        query = query.where(translate(filter_text, ATTRIBUTES, GROUP_SCHEMA))
    total = ctx.db.scalar(sa.select(sa.func.count()).select_from(query.subquery())) or 0
    order = ScimGroup.id
    if page.sort_by:
        key = page.sort_by.lower().removeprefix(GROUP_SCHEMA.lower() + ":")
        if key not in SORTABLE:
            raise InvalidValueException(detail=f"sorting by {page.sort_by!r} is not supported (supported: "
                                               f"{', '.join(SORTABLE)})")
        order = ATTRIBUTES[key].expr
    query = query.order_by(order.desc() if page.descending else order, ScimGroup.id)
    groups = list(ctx.db.scalars(query.offset(page.start_index - 1).limit(page.count))) if page.count else []
    return total, groups


def members(ctx: ScimContext, group: ScimGroup) -> list[User]:
    return list(ctx.db.scalars(sa.select(User).join(UserGroup, UserGroup.user_id == User.id).where(
        UserGroup.name == group.display_name, provisionable(ctx.organisation_id)).order_by(User.id)))


def as_resource(ctx: ScimContext, group: ScimGroup) -> GroupResource:
    people = members(ctx, group)
    data: dict[str, Any] = {"schemas": [GROUP_SCHEMA], "id": group.scim_id, "displayName": group.display_name}
    if group.external_id:
        data["externalId"] = group.external_id
    if people:
        data["members"] = [{"value": u.subject, "type": "User", "$ref": ctx.location("Users", u.subject)}
                           for u in people]
    resource = GroupResource.model_validate(data)
    resource.meta = meta("Group", group.created_at, group.updated_at, ctx.location("Groups", group.scim_id))
    return resource


# --- writing ----------------------------------------------------------------------------------------------

def create(ctx: ScimContext, payload: Any) -> ScimGroup:
    resource = parse(GroupResource, payload, Context.RESOURCE_CREATION_REQUEST)
    name = _display_name(resource)
    _check_unique(ctx, name, None)
    group = ScimGroup(scim_id=str(uuid.uuid4()), organisation_id=ctx.organisation_id, display_name=name,
                      external_id=resource.external_id, created_at=ctx.now, updated_at=ctx.now)
    ctx.db.add(group)
    ctx.db.flush()
    wanted = _member_users(ctx, resource)
    audit.record(ctx.db, "scim_group_created", ctx.actor, organisation_id=ctx.organisation_id,
                 details={"group": name, "external_id": group.external_id, "members": len(wanted)})
    _set_members(ctx, group, wanted)
    return group


def replace(ctx: ScimContext, group: ScimGroup, payload: Any) -> ScimGroup:
    resource = parse(GroupResource, payload, Context.RESOURCE_REPLACEMENT_REQUEST)
    if resource.id is not None and resource.id != group.scim_id:
        raise InvalidValueException(detail="id does not match the group being replaced")
    return _update(ctx, group, resource)


def patch(ctx: ScimContext, group: ScimGroup, payload: Any) -> ScimGroup:
    operations = parse(PatchOp[GroupResource], standard_patch(payload), Context.RESOURCE_PATCH_REQUEST)
    resource = as_resource(ctx, group)
    with POLICY:
        operations.patch(resource)
    return _update(ctx, group, resource)


def delete(ctx: ScimContext, group: ScimGroup) -> None:
    """The group goes, and with it every membership row of its name in the organisation."""
    people = members(ctx, group)
    for user in people:
        admin_users.remove_group(ctx.db, user, group.display_name, ctx.actor)
    audit.record(ctx.db, "scim_group_deleted", ctx.actor, organisation_id=ctx.organisation_id,
                 details={"group": group.display_name, "members_removed": len(people)})
    ctx.db.delete(group)
    ctx.db.flush()


def _update(ctx: ScimContext, group: ScimGroup, resource: GroupResource) -> ScimGroup:
    name = _display_name(resource)
    wanted = _member_users(ctx, resource)
    changed = []
    if name != group.display_name:
        _check_unique(ctx, name, group.id)
        _rename(ctx, group, name)
        changed.append("displayName")
    if resource.external_id != group.external_id:
        group.external_id = resource.external_id
        changed.append("externalId")
    if changed:
        audit.record(ctx.db, "scim_group_updated", ctx.actor, organisation_id=ctx.organisation_id,
                     details={"group": group.display_name, "changed": changed})
    if _set_members(ctx, group, wanted) or changed:
        group.updated_at = ctx.now
    ctx.db.flush()
    return group


def _rename(ctx: ScimContext, group: ScimGroup, name: str) -> None:
    in_org = sa.select(User.id).where(User.organisation_id == ctx.organisation_id)
    taken = sa.select(UserGroup.user_id).where(UserGroup.name == name)
    ctx.db.execute(sa.delete(UserGroup).where(UserGroup.name == group.display_name, UserGroup.user_id.in_(in_org),
                                              UserGroup.user_id.in_(taken)).execution_options(synchronize_session=False))
    ctx.db.execute(sa.update(UserGroup).where(UserGroup.name == group.display_name, UserGroup.user_id.in_(in_org))
                   .values(name=name).execution_options(synchronize_session=False))
    old, group.display_name = group.display_name, name
    ctx.db.flush()
    ctx.db.expire_all()
    audit.record(ctx.db, "scim_group_renamed", ctx.actor, organisation_id=ctx.organisation_id,
                 details={"group": name, "previous_name": old})


def _set_members(ctx: ScimContext, group: ScimGroup, wanted: list[User]) -> bool:
    """Make the members exactly `wanted` (each change audited on the account); whether anything changed."""
    current = {u.id: u for u in members(ctx, group)}
    wanted_ids = {u.id for u in wanted}
    changed = False
    for user in wanted:
        if user.id not in current:
            changed |= admin_users.add_group(ctx.db, user, group.display_name, ctx.actor)
    for user_id, user in current.items():
        if user_id not in wanted_ids:
            changed |= admin_users.remove_group(ctx.db, user, group.display_name, ctx.actor)
    return changed


def _member_users(ctx: ScimContext, resource: GroupResource) -> list[User]:
    """The accounts the members name; a member that is not a user of this organisation is invalidValue."""
    ids = []
    for member in resource.members or []:
        if member.type not in (None, "User"):
            raise InvalidValueException(detail="members are users only (nested groups are not supported)")
        if not member.value:
            raise InvalidValueException(detail="a member needs a value (the user's id)")
        ids.append(member.value)
    if not ids:
        return []
    found = {u.subject: u for u in ctx.db.scalars(sa.select(User).where(
        User.subject.in_(set(ids)), provisionable(ctx.organisation_id)))}
    missing = [i for i in ids if i not in found]
    if missing:
        raise InvalidValueException(detail=f"no user {missing[0]!r} in this organisation")
    return list({found[i].id: found[i] for i in ids}.values())


def _display_name(resource: GroupResource) -> str:
    name = " ".join((resource.display_name or "").split())
    if not name or not GROUP.match(name):
        raise InvalidValueException(detail="displayName: 1 to 100 characters, no commas")
    return name


def _check_unique(ctx: ScimContext, name: str, own_id: int | None) -> None:
    other = ctx.db.scalar(sa.select(ScimGroup.id).where(ScimGroup.organisation_id == ctx.organisation_id,
                                                        sa.func.lower(ScimGroup.display_name) == name.lower()))
    if other is not None and other != own_id:
        raise UniquenessException(detail=f"a group named {name!r} exists already")
