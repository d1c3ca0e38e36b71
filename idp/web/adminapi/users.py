"""/api/v1/users: list and search with each user's 2FA state, invite, read, disable/enable, reset 2FA,
unlock — through the console's own domain functions (idp.administration.users and .directory)."""
from __future__ import annotations

from flask import Response

from idp.accounts import checked_email
from idp.adminapi import representation
from idp.adminapi.scopes import TWO_FACTOR_RESET, USERS_READ, USERS_WRITE
from idp.administration import directory, users
from idp.clock import now
from idp.models import Organisation
from idp.web.context import db, services

from . import bp
from .problems import ApiProblem, answer, json_object, query_args, text_field, whole_number
from .protector import caller, requires

MAX_LIMIT = 100


def _organisation() -> Organisation:
    return db().get(Organisation, caller().organisation_id)


def _query() -> tuple[directory.Query, int]:
    args = query_args({"q", "state", "sort", "page", "limit"})
    state = args.get("state", "")
    if state and state not in directory.FILTERS:
        raise ApiProblem(400, f"state: one of {', '.join(directory.FILTERS)} (or leave it out for everyone).")
    sort = args.get("sort", "email")
    key = sort.removeprefix("-")
    if key not in directory.SORTS:
        raise ApiProblem(400, f"sort: one of {', '.join(directory.SORTS)}, with '-' before it for descending.")
    text = " ".join(args.get("q", "").split())
    if len(text) > 200:
        raise ApiProblem(400, "q: at most 200 characters.")
    query = directory.Query(text=text, state=state, sort=key, descending=sort.startswith("-"),
                            page=whole_number(args, "page", 1, 1, 1_000_000))
    return query, whole_number(args, "limit", directory.PER_PAGE, 1, MAX_LIMIT)


@bp.get("/users")
@requires(USERS_READ)
def users_list() -> Response:
    query, limit = _query()
    result = directory.search(db(), caller().admin_scope(), _organisation(), query, now(), per_page=limit)
    return answer(representation.directory_page(result, limit))


@bp.post("/users")
@requires(USERS_WRITE)
def users_invite() -> Response:
    """202 with the same body whether the address is new or has an account in another organisation (its
    owner is told instead): an organisation must not learn who has an account elsewhere."""
    data = json_object({"email", "name"}, {"email"})
    email, name = text_field(data, "email"), text_field(data, "name")
    users.invite(db(), services(), caller().admin_scope(), email, name, caller().actor, now=now())
    return answer({"email": checked_email(email), "status": "invitation_sent",
                   "detail": "An invitation to choose a password was emailed to this address."}, 202)


def _detail(user_id: str) -> Response:
    target = users.get(db(), caller().admin_scope(), user_id)
    return answer(representation.user_detail(users.detail(db(), target, now(), services().config)))


@bp.get("/users/<user_id>")
@requires(USERS_READ)
def user_get(user_id: str) -> Response:
    return _detail(user_id)


@bp.patch("/users/<user_id>")
@requires(USERS_WRITE)
def user_update(user_id: str) -> Response:
    """{"active": false, "reason": "..."} disables (reason required, signed out everywhere); true enables."""
    target = users.get(db(), caller().admin_scope(), user_id)
    data = json_object({"active", "reason"}, {"active"})
    if not isinstance(data["active"], bool):
        raise ApiProblem(400, "active: expected true or false.")
    users.set_active(db(), caller().admin_scope(), target, data["active"], text_field(data, "reason"),
                     caller().actor, now=now())
    return _detail(user_id)


@bp.post("/users/<user_id>/reset-2fa")
@requires(TWO_FACTOR_RESET)
def user_reset_2fa(user_id: str) -> Response:
    target = users.get(db(), caller().admin_scope(), user_id)
    data = json_object({"reason"}, {"reason"})
    result = users.reset_2fa(db(), services(), caller().admin_scope(), target, text_field(data, "reason"),
                             caller().actor, now=now())
    return answer(representation.reset_result(result))


@bp.post("/users/<user_id>/unlock")
@requires(USERS_WRITE)
def user_unlock(user_id: str) -> Response:
    target = users.get(db(), caller().admin_scope(), user_id)
    data = json_object({"reason"})
    was = users.unlock(db(), caller().admin_scope(), target, text_field(data, "reason"), caller().actor, now=now())
    return answer({"was_locked": was})
