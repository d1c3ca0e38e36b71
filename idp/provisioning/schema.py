"""What this SCIM service provider offers (RFC 7643 §5-7, RFC 7644 §4): the resource models, the policy
for the deviations Entra ID sends, ServiceProviderConfig, ResourceTypes and Schemas, and the paging rules."""
from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from scim2_models import (
    URI,
    AuthenticationScheme,
    Bulk,
    ChangePassword,
    Context,
    EnterpriseUser,
    ETag,
    Filter,
    Group,
    InvalidValueException,
    Meta,
    Mutability,
    Pagination,
    Patch,
    Reference,
    Required,
    ResourceType,
    Schema,
    ScimPolicy,
    ServiceProviderConfig,
    Sort,
    User,
)

UserResource = User[EnterpriseUser]
GroupResource = Group
USER_SCHEMA = str(User.__schema__)
GROUP_SCHEMA = str(Group.__schema__)
ENTERPRISE_SCHEMA = str(EnterpriseUser.__schema__)
MEDIA_TYPE = "application/scim+json"

DEFAULT_PAGE_SIZE = 100
MAX_PAGE_SIZE = 200            # a larger `count` is cut to this (RFC 7644 §3.4.2.4)
MAX_FILTER_RESULTS = MAX_PAGE_SIZE
NOT_OFFERED = {"password"}     # no password travels over SCIM: see README "Provisioning (SCIM)"

# Entra ID removes group members with a `value` on a path-less filter, and replaces
# `emails[type eq "work"].value` on a user who has no work address yet: accept both.
POLICY = ScimPolicy(remove_value_as_filter=ScimPolicy.RemoveValue.apply,
                    unmatched_path_filter=ScimPolicy.UnmatchedPathFilter.create)


@dataclass(frozen=True)
class PageRequest:
    """startIndex (1-based) and count, bounded; sortBy/sortOrder as given (checked by the resource)."""

    start_index: int = 1
    count: int = DEFAULT_PAGE_SIZE
    sort_by: str | None = None
    descending: bool = False


def page_request(args: dict[str, str]) -> PageRequest:
    """Read the listing parameters; a non-numeric value is invalidValue, out-of-range ones are clamped
    as RFC 7644 §3.4.2.4 says (startIndex < 1 means 1, count < 0 means 0)."""
    def number(name: str, default: int) -> int:
        raw = args.get(name)
        if raw is None or raw == "":
            return default
        try:
            return int(raw)
        except ValueError:
            raise InvalidValueException(detail=f"{name} must be an integer, got {raw!r}") from None

    order = (args.get("sortOrder") or "ascending").lower()
    if order not in ("ascending", "descending"):
        raise InvalidValueException(detail="sortOrder is ascending or descending")
    return PageRequest(start_index=max(1, number("startIndex", 1)),
                       count=min(max(0, number("count", DEFAULT_PAGE_SIZE)), MAX_PAGE_SIZE),
                       sort_by=(args.get("sortBy") or None), descending=order == "descending")


def meta(resource_type: str, created: Any, last_modified: Any, location: str) -> Meta:
    return Meta(resource_type=resource_type, created=created, last_modified=last_modified, location=location)


def service_provider_config(base_url: str) -> dict[str, Any]:
    config = ServiceProviderConfig(
        documentation_uri=None,
        patch=Patch(supported=True),
        bulk=Bulk(supported=False, max_operations=0, max_payload_size=0),
        filter=Filter(supported=True, max_results=MAX_FILTER_RESULTS),
        change_password=ChangePassword(supported=False),
        sort=Sort(supported=True),
        etag=ETag(supported=False),
        pagination=Pagination(cursor=False, index=True, default_pagination_method="index",
                              default_page_size=DEFAULT_PAGE_SIZE, max_page_size=MAX_PAGE_SIZE),
        authentication_schemes=[AuthenticationScheme(
            type="oauthbearertoken", name="Provisioning token", primary=True,
            description="A bearer token created in Administration > Settings > Provisioning "
                        "(or `idp scim token create`), valid for one organisation.")],
        meta=Meta(resource_type="ServiceProviderConfig", location=f"{base_url}/ServiceProviderConfig"))
    return config.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE)


def resource_types(base_url: str) -> list[dict[str, Any]]:
    types = []
    for model, endpoint in ((UserResource, "/Users"), (GroupResource, "/Groups")):
        rt = ResourceType.from_resource(model)
        rt.endpoint = Reference[URI](endpoint)
        rt.meta = Meta(resource_type="ResourceType", location=f"{base_url}/ResourceTypes/{rt.id}")
        types.append(rt.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return types


def schemas(base_url: str) -> list[dict[str, Any]]:
    """The standard schemas as this server implements them: no `password`; `active` is required (an account
    is enabled or not; it cannot be removed); a group member's `display` is neither kept nor returned."""
    found = []
    for model in (User, EnterpriseUser, Group):
        schema: Schema = model.to_schema()
        schema.attributes = [a for a in schema.attributes if a.name not in NOT_OFFERED]
        for attribute in schema.attributes:
            if model is User and attribute.name == "active":
                attribute.required = Required.true
            if model is Group and attribute.name == "members":
                for sub in attribute.sub_attributes or []:
                    if sub.name == "display":
                        sub.mutability = Mutability.read_only
        schema.meta = Meta(resource_type="Schema", location=f"{base_url}/Schemas/{schema.id}")
        found.append(schema.model_dump(scim_ctx=Context.RESOURCE_QUERY_RESPONSE))
    return found
