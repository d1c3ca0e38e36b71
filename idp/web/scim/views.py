"""/scim/v2 endpoints: discovery (ServiceProviderConfig, ResourceTypes, Schemas), Users and Groups."""
from __future__ import annotations

from typing import TYPE_CHECKING, Any

from flask import Response, request

from . import bp
from .protocol import body, context, error_response, scim_response

if TYPE_CHECKING:
    from scim2_models import Context, ResponseParameters

# scim2-models, pydantic and idp.provisioning (about 15 MB) are imported by the first SCIM request, inside
# the views: a worker that never serves SCIM does not keep them in memory.

KNOWN = {"ServiceProviderConfig", "ResourceTypes", "Schemas", "Users", "Groups"}


def _parameters() -> ResponseParameters:
    """`attributes` / `excludedAttributes` of the query (RFC 7644 §3.9)."""
    from pydantic import ValidationError
    from scim2_models import ResponseParameters

    from idp.provisioning.context import as_scim_error

    raw = {key: request.args[key] for key in ("attributes", "excludedAttributes") if request.args.get(key)}
    try:
        return ResponseParameters.model_validate(raw)
    except ValidationError as exc:
        raise as_scim_error(exc) from None


def _dump(resource: Any, scim_ctx: Context) -> dict[str, Any]:
    return resource.model_dump(scim_ctx=scim_ctx, response_parameters=_parameters())


def _listing(resources: list[dict[str, Any]], total: int, start: int) -> Response:
    return scim_response({"schemas": ["urn:ietf:params:scim:api:messages:2.0:ListResponse"],
                          "totalResults": total, "startIndex": start, "itemsPerPage": len(resources),
                          "Resources": resources})


# --- discovery (RFC 7644 §4): open to any valid token ------------------------------------------------------

@bp.get("/ServiceProviderConfig")
def service_provider_config() -> Response:
    from idp.provisioning import schema

    return scim_response(schema.service_provider_config(context().base_url))


@bp.get("/ResourceTypes")
def resource_types() -> Response:
    from idp.provisioning import schema

    found = schema.resource_types(context().base_url)
    return _listing(found, len(found), 1)


@bp.get("/ResourceTypes/<name>")
def resource_type(name: str) -> Response:
    from idp.provisioning import schema

    return _one_of(schema.resource_types(context().base_url), name)


@bp.get("/Schemas")
def schemas() -> Response:
    from idp.provisioning import schema

    found = schema.schemas(context().base_url)
    return _listing(found, len(found), 1)


@bp.get("/Schemas/<path:name>")
def schema_by_id(name: str) -> Response:
    from idp.provisioning import schema

    return _one_of(schema.schemas(context().base_url), name)


def _one_of(items: list[dict[str, Any]], wanted: str) -> Response:
    from scim2_models import NotFoundException

    for item in items:
        if item.get("id") == wanted:
            return scim_response(item)
    raise NotFoundException(detail=f"no {wanted!r} here")


# --- Users and Groups (RFC 7644 §3.2-3.6) -------------------------------------------------------------------

def _kind(kind: str) -> Any:
    from scim2_models import NotFoundException

    from idp.provisioning import groups, users

    found = {"Users": users, "Groups": groups}.get(kind)
    if found is None:
        raise NotFoundException(detail=f"there is nothing at /{kind}")
    return found


@bp.get("/<any(Users, Groups):kind>")
def search(kind: str) -> Response:
    from scim2_models import Context

    from idp.provisioning import schema

    module = _kind(kind)
    page = schema.page_request(request.args)
    ctx = context()
    total, found = module.search(ctx, request.args.get("filter") or None, page)
    return _listing([_dump(module.as_resource(ctx, row), Context.SEARCH_RESPONSE) for row in found],
                    total, page.start_index)


@bp.post("/<any(Users, Groups):kind>/.search")
def search_by_post(kind: str) -> Response:
    """POST /Users/.search (RFC 7644 §3.4.3): the query parameters in a SearchRequest body."""
    from scim2_models import Context, SearchRequest

    from idp.provisioning import schema
    from idp.provisioning.context import parse

    module = _kind(kind)
    request_ = parse(SearchRequest, body(), Context.SEARCH_REQUEST)
    page = schema.page_request({"startIndex": str(request_.start_index or 1),
                                "count": str(schema.DEFAULT_PAGE_SIZE if request_.count is None else request_.count),
                                "sortBy": str(request_.sort_by or ""),
                                "sortOrder": str(request_.sort_order.value if request_.sort_order else "ascending")})
    ctx = context()
    total, found = module.search(ctx, str(request_.filter) if request_.filter else None, page)
    return _listing([module.as_resource(ctx, row).model_dump(scim_ctx=Context.SEARCH_RESPONSE,
                                                             response_parameters=request_) for row in found],
                    total, page.start_index)


@bp.post("/.search")
def search_everything() -> Response:
    from scim2_models import NotImplementedException

    raise NotImplementedException(detail="search /Users/.search or /Groups/.search; not several types at once")


@bp.post("/<any(Users, Groups):kind>")
def create(kind: str) -> Response:
    from scim2_models import Context

    module = _kind(kind)
    ctx = context()
    row = module.create(ctx, body())
    resource = module.as_resource(ctx, row)
    return scim_response(_dump(resource, Context.RESOURCE_CREATION_RESPONSE), 201,
                         {"Location": resource.meta.location})


@bp.get("/<any(Users, Groups):kind>/<scim_id>")
def read(kind: str, scim_id: str) -> Response:
    from scim2_models import Context

    module = _kind(kind)
    ctx = context()
    return scim_response(_dump(module.as_resource(ctx, module.get(ctx, scim_id)), Context.RESOURCE_QUERY_RESPONSE))


@bp.put("/<any(Users, Groups):kind>/<scim_id>")
def replace(kind: str, scim_id: str) -> Response:
    from scim2_models import Context

    module = _kind(kind)
    ctx = context()
    row = module.replace(ctx, module.get(ctx, scim_id), body())
    return scim_response(_dump(module.as_resource(ctx, row), Context.RESOURCE_REPLACEMENT_RESPONSE))


@bp.patch("/<any(Users, Groups):kind>/<scim_id>")
def patch(kind: str, scim_id: str) -> Response:
    from scim2_models import Context

    module = _kind(kind)
    ctx = context()
    row = module.patch(ctx, module.get(ctx, scim_id), body())
    return scim_response(_dump(module.as_resource(ctx, row), Context.RESOURCE_PATCH_RESPONSE))


@bp.delete("/<any(Users, Groups):kind>/<scim_id>")
def delete(kind: str, scim_id: str) -> Response:
    module = _kind(kind)
    ctx = context()
    module.delete(ctx, module.get(ctx, scim_id))
    return Response(status=204)


@bp.route("/", defaults={"rest": ""}, methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
@bp.route("/<path:rest>", methods=["GET", "POST", "PUT", "PATCH", "DELETE"])
def elsewhere(rest: str) -> Response:
    """Anything else: 405 on a known endpoint (another method), else 404 — as SCIM errors."""
    from scim2_models import NotFoundException

    if rest.split("/", 1)[0] in KNOWN:
        return error_response(405, f"{request.method} is not supported on /{rest}")
    raise NotFoundException(detail=f"there is nothing at /{rest}")


