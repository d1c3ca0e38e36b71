"""Administration > Settings > Single Sign-On: list the organisation's providers with their two-factor
scenario in the product's words, add and edit the ones administrators manage (the client secret is
write-only), delete them, and "Test connection". Providers of the config file are shown read-only.

Everything needs the Security Settings permission in the same organisation (the Administration's own
guard and scope: idp.web.admin.common); a provider of another organisation does not exist here (404)."""
from __future__ import annotations

from typing import Any

import sqlalchemy as sa
from flask import Response, abort, redirect, render_template, request, url_for

from idp import audit
from idp.administration.permissions import SECURITY_SETTINGS
from idp.federation import manage, providers
from idp.federation.check import check_provider
from idp.federation.login import callback_url
from idp.federation.manage import ProviderProblems
from idp.federation.scenarios import SCENARIOS, scenario_of
from idp.models import UpstreamIdentity, UpstreamProvider
from idp.web.admin import common
from idp.web.context import db, services
from idp.wording import plural

from . import bp

DEFAULTS: dict[str, Any] = {"scopes": ["openid", "profile", "email"], "second_factor": "upstream",
                            "token_endpoint_auth_method": "client_secret_basic", "enabled": True,
                            "claims": {"email": "email", "email_verified": "email_verified", "name": "name",
                                       "groups": ""}}


@bp.before_request
def _guard() -> Any:
    refused = common._guard()   # signed in, an administrator using a second factor; sets the scope
    if refused is not None:
        return refused
    if not common.scope().can(SECURITY_SETTINGS):
        abort(403)
    return None


def _ours() -> list[providers.Provider]:
    slug = common.organisation().slug
    return [p for p in providers.all_providers(db(), services().config) if p.organisation == slug]


def _row(name: str) -> UpstreamProvider:
    ours = UpstreamProvider.organisation_id == common.scope().organisation_id
    row = db().scalar(sa.select(UpstreamProvider).where(UpstreamProvider.name == name, ours))
    if row is None or name in {p.name for p in providers.configured(services().config)}:
        abort(404)
    return row


def _render(template: str, status: int = 200, **context: Any) -> tuple[str, int]:
    return render_template(template, org=common.organisation(), scenarios=SCENARIOS,
                           auth_methods=manage.FORM_AUTH_METHODS, callback=callback_url(services().config.issuer),
                           **context), status


@bp.get("")
def providers_list() -> tuple[str, int]:
    rows = _ours()
    linked = dict(db().execute(sa.select(UpstreamIdentity.provider, sa.func.count(UpstreamIdentity.id))
                               .where(UpstreamIdentity.provider.in_([p.name for p in rows] or [""]))
                               .group_by(UpstreamIdentity.provider)).all())
    return _render("admin_sso/list.html", title="Single Sign-On",
                   rows=[(p, scenario_of(p), linked.get(p.name, 0)) for p in rows])


@bp.get("/new")
def provider_new() -> tuple[str, int]:
    return _render("admin_sso/form.html", title="Add an identity provider", values=DEFAULTS, row=None, errors=[])


@bp.post("/new")
@common.fresh_proof_required(lambda: url_for("admin_sso.provider_new"))
def provider_create() -> Response | tuple[str, int]:
    values = manage.values_from_form(request.form)
    try:
        saved = manage.create(db(), services(), common.organisation(), values, common.admin_actor())
    except ProviderProblems as refused:
        return _render("admin_sso/form.html", 400, title="Add an identity provider", values=values, row=None,
                       errors=refused.problems)
    common.done(f"Added {saved.row.display_name}. Use “Test connection” to check it.")
    return redirect(url_for("admin_sso.provider_edit", name=saved.row.name))


@bp.get("/<name>")
def provider_edit(name: str) -> tuple[str, int]:
    config_provider = next((p for p in _ours() if p.name == name and p.source == providers.CONFIG), None)
    if config_provider is not None:
        return _render("admin_sso/readonly.html", title=config_provider.display_name, provider=config_provider,
                       scenario=scenario_of(config_provider))
    row = _row(name)
    return _render("admin_sso/form.html", title=row.display_name, values=manage.values_of(row), row=row, errors=[])


@bp.post("/<name>")
@common.fresh_proof_required(lambda name: url_for("admin_sso.provider_edit", name=name))
def provider_update(name: str) -> Response | tuple[str, int]:
    row = _row(name)
    values = manage.values_from_form(request.form)
    try:
        saved = manage.update(db(), services(), row, values, common.admin_actor())
    except ProviderProblems as refused:
        return _render("admin_sso/form.html", 400, title=row.display_name, values={**values, "name": row.name},
                       row=row, errors=refused.problems)
    common.done("Saved." if saved.changed else "Nothing changed.")
    return redirect(url_for("admin_sso.provider_edit", name=row.name))


@bp.post("/<name>/delete")
def provider_delete(name: str) -> Response:
    row = _row(name)
    shown = row.display_name
    unlinked = manage.delete(db(), row, common.admin_actor())
    common.done(f"Deleted {shown}; {plural(unlinked, 'account')} {'is' if unlinked == 1 else 'are'} no longer linked to it (the accounts stay).")
    return redirect(url_for("admin_sso.providers_list"))


@bp.post("/<name>/check")
def provider_check(name: str) -> tuple[str, int]:
    provider = next((p for p in _ours() if p.name == name), None)
    if provider is None:
        abort(404)
    report = check_provider(db(), services(), provider)
    problems = [line.what for line in report.lines if not line.ok]
    audit.record(db(), "sso_provider_checked", common.admin_actor(), organisation_id=common.scope().organisation_id,
                 target=provider.name, outcome="failure" if problems else "success",
                 details={"provider": provider.name, "problems": problems})
    return _render("admin_sso/check.html", title=f"Test connection: {provider.display_name}", provider=provider,
                   report=report)
