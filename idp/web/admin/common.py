"""What every Administration page shares: sign-in required, the administrator's scope (organisation and
permissions), 403 without the permission, 404 for anything outside their organisation."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, flash, g, render_template, session
from flask_login import current_user

from idp.admin import permissions
from idp.admin.permissions import AdminScope, Forbidden, NotFound
from idp.audit import Actor
from idp.clock import now
from idp.enforcement import enforcement_status, has_second_factor
from idp.flow.facts import Enforcement
from idp.login import sessions
from idp.models import BrowserSession, Organisation, User
from idp.web.context import actor, db

from . import bp

ORG_KEY = "admin_org"


def admin() -> User:
    return current_user._get_current_object()


def scope() -> AdminScope:
    return g.admin_scope


def organisation() -> Organisation:
    return db().get(Organisation, scope().organisation_id)


def admin_actor() -> Actor:
    return actor(f"user:{admin().email}")


def browser_session() -> BrowserSession | None:
    return sessions.active(db(), current_user.get_id())


@bp.before_request
def _guard() -> Any:
    """Signed in (else the sign-in flow, then back here), an administrator, and not someone who still
    owes a second factor their organisation requires (the flow should never let them in; fail closed)."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    user = admin()
    if not permissions.is_admin(user):
        abort(403)
    status = enforcement_status(db(), user, now())
    if status.state is Enforcement.REQUIRED and not has_second_factor(db(), user):
        return render_template("admin/enrol_first.html", title="Set up two-factor authentication first"), 403
    selected = session.get(ORG_KEY) if permissions.SYSTEM_ADMIN in user.permission_names else None
    if selected is not None and db().get(Organisation, selected) is None:
        session.pop(ORG_KEY, None)
        selected = None
    g.admin_scope = permissions.scope_for(user, selected)
    return None


@bp.errorhandler(NotFound)
def _not_found(error: NotFound) -> Any:
    return render_template("error.html", title="Not found", message=str(error)), 404


@bp.errorhandler(Forbidden)
def _forbidden(error: Forbidden) -> Any:
    return render_template("error.html", title="Not allowed",
                           message="Your account does not have permission to do this."), 403


def requires(permission: str) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """The page and every form behind it answer 403 without `permission` (checked before anything else)."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            if not scope().can(permission):
                abort(403)
            return view(*args, **kwargs)
        return wrapper
    return decorate


def done(message: str) -> None:
    flash(message, "ok")


@bp.app_context_processor
def _admin_context() -> dict[str, Any]:
    scope_ = g.get("admin_scope")
    return {"admin_scope": scope_, "permission_labels": permissions.LABELS}


def refused(title: str, message: str, back: str, status: int = 400) -> tuple[str, int]:
    """A refused form: what was wrong, nothing changed, and the way back."""
    return render_template("admin/refused.html", title=title, message=message, back=back), status
