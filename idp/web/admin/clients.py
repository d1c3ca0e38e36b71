"""Administration > Clients: list, register (secret shown once), edit addresses, rotate secret, disable, and
which administration API scopes the client holds (idp.adminapi.grants)."""
from __future__ import annotations

from flask import Response, redirect, render_template, request, url_for

from idp.adminapi import grants
from idp.adminapi import scopes as api_scopes
from idp.administration import clients
from idp.administration.permissions import CLIENT_MANAGEMENT, AdminError
from idp.clock import now
from idp.web.context import db, services

from . import bp
from .common import admin_actor, done, fresh_proof_required, organisation, refused, requires, scope

GRACE_CHOICES = ((0, "Stops working now"), (1, "1 hour"), (24, "24 hours"), (168, "7 days"), (720, "30 days"))
API_SCOPES = tuple((name, api_scopes.describe(name)) for name in api_scopes.NAMES)


def _secret_page(client, secret: str, rotated: bool) -> str:  # noqa: ANN001
    return render_template("admin/client_secret.html", title="Client secret", org=organisation(), client=client,
                           secret=secret, rotated=rotated)


@bp.get("/clients")
@requires(CLIENT_MANAGEMENT)
def clients_list() -> str:
    return render_template("admin/clients.html", title="Clients", org=organisation(),
                           clients=clients.list_clients(db(), scope()))


@bp.get("/clients/new")
@requires(CLIENT_MANAGEMENT)
def client_new() -> str:
    return render_template("admin/client_new.html", title="Register a client", org=organisation(), form={},
                           error=None)


@bp.post("/clients/new")
@requires(CLIENT_MANAGEMENT)
def client_create() -> str | tuple[str, int]:
    form = request.form
    try:
        client, secret = clients.create(db(), scope(), name=form.get("name", ""),
                                        redirect_uris=form.get("redirect_uris", ""),
                                        logout_uris=form.get("logout_uris", ""), public=form.get("public") == "yes",
                                        actor=admin_actor(), development=services().config.development)
    except AdminError as exc:
        return render_template("admin/client_new.html", title="Register a client", org=organisation(), form=form,
                               error=str(exc)), 400
    if secret is None:
        done(f"Registered the public client {client.name}.")
        return redirect(url_for("admin.client_detail", client_pk=client.id))
    return _secret_page(client, secret, rotated=False)


@bp.get("/clients/<int:client_pk>")
@requires(CLIENT_MANAGEMENT)
def client_detail(client_pk: int) -> str:
    client = clients.get(db(), scope(), client_pk)
    return render_template("admin/client.html", title=client.name, org=organisation(), client=client, form=None,
                           error=None, grace_choices=GRACE_CHOICES, now=now(), api_scopes=API_SCOPES)


@bp.post("/clients/<int:client_pk>")
@requires(CLIENT_MANAGEMENT)
def client_update(client_pk: int) -> Response | tuple[str, int]:
    client = clients.get(db(), scope(), client_pk)
    form = request.form
    try:
        changed = clients.update(db(), scope(), client, name=form.get("name", ""),
                                 redirect_uris=form.get("redirect_uris", ""), logout_uris=form.get("logout_uris", ""),
                                 actor=admin_actor(), development=services().config.development)
    except AdminError as exc:
        return render_template("admin/client.html", title=client.name, org=organisation(), client=client, form=form,
                               error=str(exc), grace_choices=GRACE_CHOICES, now=now(), api_scopes=API_SCOPES), 400
    done("Saved." if changed else "Nothing changed.")
    return redirect(url_for("admin.client_detail", client_pk=client.id))


@bp.post("/clients/<int:client_pk>/backchannel")
@requires(CLIENT_MANAGEMENT)
def client_backchannel(client_pk: int) -> Response | tuple[str, int]:
    """The client's back-channel logout URI (OpenID Connect Back-Channel Logout 1.0)."""
    client = clients.get(db(), scope(), client_pk)
    form = request.form
    try:
        changed = clients.set_backchannel_logout(
            db(), scope(), client, uri=form.get("backchannel_logout_uri", ""),
            session_required=form.get("backchannel_logout_session_required") == "yes", actor=admin_actor(),
            development=services().config.development)
    except AdminError as exc:
        return render_template("admin/client.html", title=client.name, org=organisation(), client=client, form=None,
                               error=None, grace_choices=GRACE_CHOICES, now=now(), backchannel_form=form,
                               backchannel_error=str(exc)), 400
    done("Saved." if changed else "Nothing changed.")
    return redirect(url_for("admin.client_detail", client_pk=client.id))


@bp.post("/clients/<int:client_pk>/rotate")
@requires(CLIENT_MANAGEMENT)
def client_rotate(client_pk: int) -> str | tuple[str, int]:
    client = clients.get(db(), scope(), client_pk)
    try:
        secret = clients.rotate_secret(db(), scope(), client, request.form.get("grace_hours", ""), admin_actor(),
                                       now=now(), reason=request.form.get("reason", ""))
    except AdminError as exc:
        return refused("The secret was not rotated", str(exc), url_for("admin.client_detail", client_pk=client.id))
    return _secret_page(client, secret, rotated=True)


@bp.post("/clients/<int:client_pk>/disable")
@requires(CLIENT_MANAGEMENT)
def client_disable(client_pk: int) -> Response | tuple[str, int]:
    client = clients.get(db(), scope(), client_pk)
    try:
        clients.set_active(db(), scope(), client, False, admin_actor(), reason=request.form.get("reason", ""))
    except AdminError as exc:
        return refused("The client was not disabled", str(exc), url_for("admin.client_detail", client_pk=client.id))
    done(f"{client.name} is disabled: it can no longer sign anyone in, and its tokens were revoked.")
    return redirect(url_for("admin.client_detail", client_pk=client.id))


@bp.post("/clients/<int:client_pk>/enable")
@requires(CLIENT_MANAGEMENT)
def client_enable(client_pk: int) -> Response:
    client = clients.get(db(), scope(), client_pk)
    clients.set_active(db(), scope(), client, True, admin_actor())
    done(f"{client.name} is enabled.")
    return redirect(url_for("admin.client_detail", client_pk=client.id))


def _client_page(client_pk: int) -> str:
    return url_for("admin.client_detail", client_pk=client_pk)


@bp.post("/clients/<int:client_pk>/api-scopes")
@requires(CLIENT_MANAGEMENT)
@fresh_proof_required(_client_page)
def client_api_scopes(client_pk: int) -> Response | tuple[str, int]:
    """The ticked administration API scopes become exactly what the client holds. Granting hands a machine
    an administrator's power: it needs a fresh proof, and only scopes of permissions the administrator holds."""
    client = clients.get(db(), scope(), client_pk)
    try:
        change = grants.set_scopes(db(), scope(), client, request.form.getlist("api_scopes"), admin_actor(), now=now())
    except AdminError as exc:
        return refused("The API access was not changed", str(exc), _client_page(client.id))
    if not change.changed:
        done("Nothing changed.")
    else:
        done("API access saved." + (f" {change.tokens_revoked} access token{'' if change.tokens_revoked == 1 else 's'}"
                                    " of this client stopped working." if change.tokens_revoked else ""))
    return redirect(_client_page(client.id))
