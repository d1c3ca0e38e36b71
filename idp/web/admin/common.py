"""What every Administration page shares: sign-in required, the administrator's scope (organisation and
permissions), 403 without the permission, 404 for anything outside their organisation."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import abort, current_app, flash, g, redirect, render_template, request, session, url_for
from flask_login import current_user

from idp import audit
from idp.administration import permissions, users
from idp.administration.permissions import AdminScope, Forbidden, NotFound
from idp.audit import Actor
from idp.browser import sessions
from idp.clock import now
from idp.enforcement import has_second_factor
from idp.models import BrowserSession, Organisation, User
from idp.web.context import actor, db

from . import bp

ORG_KEY = "admin_org"
SET_UP_FIRST = ("Set up two-factor authentication first: administrators must use a second factor. Choose one "
                "below; then go back to Administration and confirm with it.")
NOT_IN_THIS_SESSION = ("Administration needs your second factor, and this browser session has not used it "
                       "(you signed in without it). Confirm it's you with your second factor to continue.")
STALE_PROOF = ("For your protection, confirm it's you first: this changes another person's security. "
               "Then do it again.")


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
    """Signed in (else the sign-in flow, then back here), an administrator, with a second factor set up
    (else: set one up first on Profile > Security) and used in this browser session (else: confirm with it;
    issue 13). The CLI is an operator tool and is not concerned."""
    if not current_user.is_authenticated:
        return current_app.login_manager.unauthorized()
    user = admin()
    if not permissions.is_admin(user):
        abort(403)
    if not has_second_factor(db(), user):
        flash(SET_UP_FIRST, "error")
        return redirect(url_for("account.enable"))
    if request.endpoint != "admin.reauth" and not second_factor_used(browser_session()):
        return confirm_page(NOT_IN_THIS_SESSION, status=403)
    selected = session.get(ORG_KEY) if permissions.SYSTEM_ADMIN in user.permission_names else None
    if selected is not None and db().get(Organisation, selected) is None:
        session.pop(ORG_KEY, None)
        selected = None
    g.admin_scope = permissions.scope_for(user, selected)
    return None


def second_factor_used(row: BrowserSession | None) -> bool:
    """This browser session's sign-in proved a second factor (its amr says "mfa")."""
    return row is not None and "mfa" in (row.amr or [])


# --- "Confirm it's you" -----------------------------------------------------------------------------------

def confirm_page(message: str, back: str | None = None, status: int = 200) -> tuple[str, int]:
    """A page with the "Confirm it's you" button (the sign-in flow asks for the second factor, then comes
    back to `back`, default this page)."""
    here = request.path if request.method == "GET" else None     # a form is not returned to: its page is
    return render_template("admin/confirm.html", title="Confirm it's you", message=message,
                           back=safe_back(back or here),
                           minutes=int(users.REPROOF_WINDOW.total_seconds() // 60)), status


def safe_back(target: str | None) -> str:
    """Only Administration pages are returned to after a confirmation (never another site)."""
    if target and target.startswith("/admin/") and "//" not in target and "\\" not in target:
        return target
    return url_for("admin.index")


def fresh_proof_required(back: Callable[..., str]) -> Callable[[Callable[..., Any]], Callable[..., Any]]:
    """Actions that weaken another person's security (unlock, disable/enable, a longer grace period, the
    exempt list, enforcement settings, single sign-on scenarios) need the administrator's second factor
    used in THIS browser session within users.REPROOF_WINDOW. A stale request is not carried out: the
    administrator confirms, comes back to `back(**view_kwargs)` and presses the button again."""
    def decorate(view: Callable[..., Any]) -> Callable[..., Any]:
        @wraps(view)
        def wrapper(*args: Any, **kwargs: Any) -> Any:
            return stale_proof(back, **kwargs) or view(*args, **kwargs)
        return wrapper
    return decorate


def stale_proof(back: Callable[..., str], **kwargs: Any) -> Any:
    """None when the administrator proved it is them recently in this browser session; otherwise the
    redirect to "Confirm it's you" (then back to `back(**kwargs)`), with the reason, the refusal audited."""
    if users.recently_proved(db(), admin(), browser_session(), now()):
        return None
    audit.record(db(), "admin_fresh_proof_required", admin_actor(), organisation_id=scope().organisation_id,
                 outcome="failure", details={"action": request.endpoint, "path": request.path})
    flash(STALE_PROOF, "error")
    return redirect(url_for("admin.confirm", next=back(**kwargs)))


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
