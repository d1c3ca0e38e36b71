"""Profile > Security > Security keys and passkeys: add one (with a name the person chooses), rename it, use one
to "Confirm it's you". Removing goes through the common "Remove" page (account.remove: fresh proof first).

The ceremonies' options come from small JSON endpoints that static/webauthn.js POSTs to (with the CSRF
token); challenges are bound to this browser session and used once (idp.factors.webauthn)."""
from __future__ import annotations

from collections.abc import Callable
from functools import wraps
from typing import Any

from flask import Response, flash, jsonify, redirect, render_template, request, url_for
from flask_login import login_required

from idp import audit
from idp.browser import remembered
from idp.clock import now
from idp.factors import recovery, verification, webauthn
from idp.factors.verification import Attempt
from idp.models import User
from idp.notices import notify_security_event
from idp.web.context import actor, attempt_client, db, services

from . import bp
from .common import (
    browser_session,
    done,
    email_checked,
    factors,
    fresh_proof_required,
    is_fresh,
    mark_proved,
    safe_next,
    user,
)

NOT_ALLOWED = "Security keys and passkeys are not available for your account. Contact your administrator."
STALE = "Confirm it's you first (reload the page), then try again."


def allowed(person: User) -> bool:
    """The organisation allows security keys and passkeys (its allowed methods are empty = all, or name it)."""
    chosen = person.organisation.allowed_methods or []
    return not chosen or webauthn.KIND in chosen


def _may_enrol() -> bool:
    """What `fresh_proof_required(only_when_enrolled=True)` demands of the add page, for its JSON endpoint: a
    fresh proof once a factor exists, else (email working) the account's address checked in this session."""
    if factors():
        return is_fresh()
    return not services().mailer.enabled or email_checked()


def _bound() -> str:
    return webauthn.binding("sid", browser_session().sid)


def section(person: User) -> dict:
    """What the Security page shows about keys."""
    return {"keys": webauthn.keys(db(), person), "can_add_key": allowed(person)}


# --------------------------------------------------------------------------- add

def allowed_only(view: Callable[..., Any]) -> Callable[..., Any]:
    """Refuse (before asking for any proof) when the organisation does not allow security keys."""
    @wraps(view)
    def wrapper(*args: Any, **kwargs: Any) -> Any:
        if not allowed(user()):
            flash(NOT_ALLOWED, "error")
            return redirect(url_for("account.security"))
        return view(*args, **kwargs)
    return wrapper


@bp.get("/security/keys/add")
@login_required
@allowed_only
@fresh_proof_required(only_when_enrolled=True)
def key_add() -> Response | str:
    return render_template("account/key_add.html", name="", error=None,
                           address_problem=webauthn.address_problem(services().config))


@bp.post("/security/keys/options")
@login_required
def key_options() -> tuple[Response, int] | Response:
    person = user()
    if not allowed(person):
        return jsonify(error=NOT_ALLOWED), 403
    if not _may_enrol():
        return jsonify(error=STALE), 403
    challenge_id, options = webauthn.registration_options(db(), services().config, person, _bound())
    return jsonify(challenge_id=challenge_id, options=_json(options))


@bp.post("/security/keys/add")
@login_required
@allowed_only
@fresh_proof_required("account.key_add", only_when_enrolled=True)
def key_add_submit() -> Response | str | tuple[str, int]:
    person = user()
    name = (request.form.get("name") or "").strip()[:200]
    before = factors()
    try:
        factor = webauthn.register(db(), services().config, person, _bound(), request.form.get("challenge_id"),
                                   request.form.get("credential"), name, actor(f"user:{person.email}"))
    except webauthn.WebAuthnError as err:
        return render_template("account/key_add.html", name=name, error=err.message,
                               address_problem=webauthn.address_problem(services().config)), 400
    audit.record(db(), "second_factor_enrolled", actor(f"user:{person.email}"), organisation_id=person.organisation_id,
                 target_user_id=person.id, target=person.email,
                 details={"kind": webauthn.KIND, "factor_id": factor.id, "name": factor.name})
    notify_security_event(services(), person, "passkey_added")
    remembered.forget_all(db(), person.id)     # a new factor: browsers remembered so far must prove it again
    # not mark_proved(): answering with the NEW key proves possession of that key only, not that this is the
    # person (the page itself needed a fresh proof when they had a factor already)
    if before and recovery.remaining(db(), person) > 0:
        return done(f"\u201c{factor.name}\u201d is added. You can use it when you sign in.")
    new_codes = recovery.generate(db(), services(), person)
    return render_template("account/recovery_codes.html", codes=new_codes, first=not before,
                           label=f"Security key \u201c{factor.name}\u201d")


# --------------------------------------------------------------------------- rename

@bp.get("/security/keys/<int:factor_id>/rename")
@login_required
def key_rename(factor_id: int) -> Response | str:
    found = webauthn.own_key(db(), user(), factor_id)
    if found is None:
        flash("That security key or passkey is not on your account (any more).", "error")
        return redirect(url_for("account.security"))
    return render_template("account/key_rename.html", factor=found[0], name=found[0].name, error=None)


@bp.post("/security/keys/<int:factor_id>/rename")
@login_required
def key_rename_submit(factor_id: int) -> Response | tuple[str, int]:
    person = user()
    found = webauthn.own_key(db(), person, factor_id)
    if found is None:
        flash("That security key or passkey is not on your account (any more).", "error")
        return redirect(url_for("account.security"))
    old = found[0].name
    try:
        factor = webauthn.rename(db(), person, factor_id, request.form.get("name") or "")
    except webauthn.WebAuthnError as err:
        return render_template("account/key_rename.html", factor=found[0], name=request.form.get("name") or "",
                               error=err.message), 400
    audit.record(db(), "second_factor_renamed", actor(f"user:{person.email}"), organisation_id=person.organisation_id,
                 target_user_id=person.id, target=person.email,
                 details={"kind": webauthn.KIND, "factor_id": factor_id, "from": old, "to": factor.name})
    return done(f"Renamed to \u201c{factor.name}\u201d.")


# --------------------------------------------------------------------------- confirm it's you

@bp.post("/security/keys/confirm-options")
@login_required
def key_confirm_options() -> tuple[Response, int] | Response:
    person = user()
    if not webauthn.has_keys(db(), person):
        return jsonify(error="You have no security key or passkey. Choose another way."), 400
    challenge = webauthn.new_challenge(db(), "confirm", _bound(), person.id)
    options = webauthn.authentication_options(db(), services().config, challenge, person)
    return jsonify(challenge_id=challenge.id, options=_json(options))


@bp.post("/security/confirm/key")
@login_required
def confirm_key() -> Response | tuple[str, int]:
    from .views import _confirm_page

    person = user()
    who = actor(f"user:{person.email}")

    def check() -> Attempt:
        try:
            webauthn.authenticate(db(), services().config, purpose="confirm", bound_to=_bound(),
                                  challenge_id=request.form.get("challenge_id"),
                                  credential_json=request.form.get("credential"), user=person, actor=who)
        except webauthn.WebAuthnError as err:
            return Attempt(False, err.message, counts=err.counts)
        return Attempt(True)

    result = verification.verify(db(), services(), person, now(), method="security key (confirm it's you)",
                                 actor=who, check=check, client=attempt_client())
    if not result.ok:
        return _confirm_page({"webauthn": result.message}, status=429 if result.refused_before_checking else 400)
    mark_proved()
    audit.record(db(), "step_up", who, organisation_id=person.organisation_id, target_user_id=person.id,
                 target=person.email, details={"method": webauthn.KIND})
    return redirect(safe_next(request.form.get("next")))


def _json(text: str) -> dict:
    import json

    return json.loads(text)
