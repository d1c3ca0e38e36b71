"""The administration API's errors as application/problem+json: the request's unit of work is rolled back
first (a refused request changes nothing), then the problem is answered; the call is still audited."""
from __future__ import annotations

from flask import Response
from sqlalchemy.exc import IntegrityError
from werkzeug.exceptions import HTTPException

from idp.administration.permissions import AdminError, Forbidden, NotFound
from idp.administration.settings import ConfirmationRequired
from idp.web.context import db

from . import bp
from .problems import ApiProblem, problem


@bp.errorhandler(ApiProblem)
def _api_problem(error: ApiProblem) -> Response:
    db().rollback()
    return problem(error.status, error.detail, error.headers, **error.extra)


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> Response:
    db().rollback()
    return problem(404, str(error))


@bp.errorhandler(Forbidden)
def _forbidden(error: Forbidden) -> Response:
    db().rollback()
    return problem(403, f"Not allowed: {error}.")


@bp.errorhandler(ConfirmationRequired)
def _confirm(error: ConfirmationRequired) -> Response:
    db().rollback()
    return problem(409, f"{error} Send \"confirm_immediate_enforcement\": true to save anyway.",
                   blocked_users=error.count)


@bp.errorhandler(AdminError)
def _refused(error: AdminError) -> Response:
    db().rollback()
    return problem(400, str(error))


@bp.errorhandler(IntegrityError)
def _conflict(error: IntegrityError) -> Response:
    db().rollback()
    return problem(409, "The same thing was changed at the same time; nothing was changed by this request.")


@bp.errorhandler(HTTPException)
def _http_error(error: HTTPException) -> Response:
    db().rollback()
    return problem(error.code or 500, error.description or error.name)
