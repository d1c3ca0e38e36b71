"""Administration from the command line (audited as `cli:<os user>`; `--org SLUG` only needed when the
deployment has several organisations):

  idp settings show [--json]             idp settings set KEY=VALUE... [--yes]
  idp user reset-2fa|unlock|disable|enable EMAIL      idp user grant|revoke EMAIL PERMISSION
  idp group add|remove EMAIL GROUP       idp audit export [...]       idp audit verify
"""
from __future__ import annotations

import json
import sys
from datetime import datetime

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit
from idp.administration import permissions, users
from idp.administration import settings as security
from idp.administration.permissions import AdminError, AdminScope
from idp.clock import now
from idp.models import Organisation, User
from idp.wording import plural

from .base import CliState, actor, cli, pass_state
from .users import organisation, user_group

ORG_OPTION = click.option("--org", "org_slug", help="Organisation slug (needed when there are several).")


def _scope(db: Session, slug: str | None) -> tuple[Organisation, AdminScope]:
    org = organisation(db, slug)
    return org, permissions.operator_scope(org.id)


def _user(db: Session, slug: str | None, email: str) -> tuple[AdminScope, User]:
    """The user EMAIL of the organisation (another organisation's user is reported as not found)."""
    _, scope = _scope(db, slug)
    try:
        return scope, users.by_email(db, scope, email)
    except AdminError as exc:
        raise click.UsageError(str(exc)) from None


def _refused(exc: AdminError) -> click.UsageError:
    return click.UsageError(str(exc))


# --- idp settings ---------------------------------------------------------------------------------------

@cli.group("settings")
def settings_group() -> None:
    """An organisation's security settings (Administration > Settings > Security)."""


def _settings_dict(db: Session, org: Organisation) -> dict:
    values = security.current(db, org).as_dict()
    counts = security.rollout(db, org, now()).counts()
    return {"organisation": org.slug, **values,
            "enforced_since": org.enforced_since.isoformat() if org.enforced_since else None,
            "rollout": counts}


@settings_group.command("show")
@ORG_OPTION
@click.option("--json", "as_json", is_flag=True, help="Print JSON.")
@pass_state
def settings_show(state: CliState, org_slug: str | None, as_json: bool) -> None:
    """Show the security settings and how the 2FA rollout stands."""
    with state.session() as db:
        org, _ = _scope(db, org_slug)
        data = _settings_dict(db, org)
    if as_json:
        click.echo(json.dumps(data, indent=2))
        return
    click.echo(f"organisation:     {data['organisation']}")
    click.echo(f"require_2fa:      {'true' if data['require_2fa'] else 'false'}"
               + (f" (since {data['enforced_since']})" if data["enforced_since"] else ""))
    click.echo(f"grace_days:       {data['grace_days']}")
    click.echo(f"allowed_methods:  {','.join(data['allowed_methods']) or 'all'}")
    click.echo(f"exempt_users:     {','.join(data['exempt_users']) or '-'}")
    click.echo(f"exempt_groups:    {','.join(data['exempt_groups']) or '-'}")
    days = data["remember_browser_days"]
    click.echo(f"remember_browser_days: {days} "
               + (f"(a browser may skip the second factor for {days} day{'' if days == 1 else 's'})" if days
                  else "(off: the second factor is asked at every sign-in)"))
    r = data["rollout"]
    click.echo(f"rollout:          {r['enrolled']} enrolled, {r['not_enrolled']} not yet enrolled, "
               f"{r['exempt']} exempt, {r['locked']} locked")


@settings_group.command("set")
@click.argument("assignments", nargs=-1, required=True, metavar="KEY=VALUE...")
@ORG_OPTION
@click.option("--yes", is_flag=True, help="Confirm enforcing 2FA immediately (grace_days=0).")
@pass_state
def settings_set(state: CliState, assignments: tuple[str, ...], org_slug: str | None, yes: bool) -> None:
    """Change settings: require_2fa=true|false, grace_days=N, allowed_methods=totp,email,sms|all,
    exempt_users=EMAIL,..., exempt_groups=NAME,... (an empty value clears a list),
    remember_browser_days=N (0-90; "Don't ask again on this browser" for N days after a second factor, 0 = off)."""
    with state.session() as db:
        org, _ = _scope(db, org_slug)
        try:
            new = security.with_assignments(security.current(db, org), assignments)
            result = security.save(db, org, new, actor(), now=now(), confirmed=yes)
        except security.ConfirmationRequired as needed:
            raise click.UsageError(f"{needed} Run again with --yes to enforce it anyway.") from None
        except AdminError as exc:
            raise _refused(exc) from None
    if result.changed:
        click.echo(f"Saved {', '.join(result.changed)} for {org.slug}.")
    else:
        click.echo("Nothing changed.")


# --- idp user ... -----------------------------------------------------------------------------------------

@user_group.command("reset-2fa")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@ORG_OPTION
@pass_state
def user_reset_2fa(state: CliState, email: str, reason: str, org_slug: str | None) -> None:
    """Remove every second factor and recovery code of EMAIL, sign them out everywhere, notify them."""
    with state.session() as db:
        scope, user = _user(db, org_slug, email)
        try:
            result = users.reset_2fa(db, state.services, scope, user, reason, actor(), now=now())
        except AdminError as exc:
            raise _refused(exc) from None
    click.echo(f"Reset two-factor authentication of {user.email}: removed "
               f"{plural(len(result.factors_removed), 'second factor')} and "
               f"{plural(result.recovery_codes_removed, 'recovery code')}, ended "
               f"{plural(result.sessions_ended, 'session')}; "
               f"{'notified by email' if result.notified else 'NOT notified (email off or failed)'}.")


@user_group.command("unlock")
@click.argument("email")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@ORG_OPTION
@pass_state
def user_unlock(state: CliState, email: str, reason: str, org_slug: str | None) -> None:
    """Lift a second-factor lock of EMAIL."""
    with state.session() as db:
        scope, user = _user(db, org_slug, email)
        try:
            was = users.unlock(db, scope, user, reason, actor(), now=now())
        except AdminError as exc:
            raise _refused(exc) from None
    click.echo(f"Unlocked {user.email}." if was else f"{user.email} was not locked.")


@user_group.command("disable")
@click.argument("email")
@click.option("--reason", required=True, help="Why (kept in the audit log).")
@ORG_OPTION
@pass_state
def user_disable(state: CliState, email: str, reason: str, org_slug: str | None) -> None:
    """Disable EMAIL (signed out everywhere, cannot sign in)."""
    _set_active(state, email, False, reason, org_slug)


@user_group.command("enable")
@click.argument("email")
@click.option("--reason", default="", help="Why (kept in the audit log).")
@ORG_OPTION
@pass_state
def user_enable(state: CliState, email: str, reason: str, org_slug: str | None) -> None:
    """Enable EMAIL again."""
    _set_active(state, email, True, reason, org_slug)


def _set_active(state: CliState, email: str, active: bool, reason: str, org_slug: str | None) -> None:
    word = "enabled" if active else "disabled"
    with state.session() as db:
        scope, user = _user(db, org_slug, email)
        try:
            changed = users.set_active(db, scope, user, active, reason, actor(), now=now())
        except AdminError as exc:
            raise _refused(exc) from None
    click.echo(f"{user.email} is {word}." if changed else f"{user.email} already was {word}.")


@user_group.command("grant")
@click.argument("email")
@click.argument("permission")
@ORG_OPTION
@pass_state
def user_grant(state: CliState, email: str, permission: str, org_slug: str | None) -> None:
    """Give EMAIL an admin PERMISSION (user_management, security_settings, audit_read, client_management,
    or system_admin: every organisation)."""
    with state.session() as db:
        _, user = _user(db, org_slug, email)
        try:
            changed = permissions.grant(db, user, permission, actor())
        except AdminError as exc:
            raise _refused(exc) from None
    click.echo(f"Granted {permission} to {user.email}." if changed else f"{user.email} already has {permission}.")


@user_group.command("revoke")
@click.argument("email")
@click.argument("permission")
@ORG_OPTION
@pass_state
def user_revoke(state: CliState, email: str, permission: str, org_slug: str | None) -> None:
    """Take an admin PERMISSION away from EMAIL."""
    with state.session() as db:
        _, user = _user(db, org_slug, email)
        try:
            changed = permissions.revoke(db, user, permission, actor())
        except AdminError as exc:
            raise _refused(exc) from None
    click.echo(f"Revoked {permission} from {user.email}." if changed else f"{user.email} did not have {permission}.")


# --- idp group ----------------------------------------------------------------------------------------------

@cli.group("group")
def group_group() -> None:
    """Group membership (used by exempt groups and policy conditions)."""


@group_group.command("add")
@click.argument("email")
@click.argument("group")
@ORG_OPTION
@pass_state
def group_add(state: CliState, email: str, group: str, org_slug: str | None) -> None:
    """Add EMAIL to GROUP."""
    with state.session() as db:
        _, user = _user(db, org_slug, email)
        try:
            changed = users.add_group(db, user, group, actor())
        except AdminError as exc:
            raise _refused(exc) from None
    click.echo(f"Added {user.email} to {group}." if changed else f"{user.email} already is in {group}.")


@group_group.command("remove")
@click.argument("email")
@click.argument("group")
@ORG_OPTION
@pass_state
def group_remove(state: CliState, email: str, group: str, org_slug: str | None) -> None:
    """Remove EMAIL from GROUP."""
    with state.session() as db:
        _, user = _user(db, org_slug, email)
        changed = users.remove_group(db, user, group, actor())
    click.echo(f"Removed {user.email} from {group}." if changed else f"{user.email} is not in {group}.")


# --- idp audit ----------------------------------------------------------------------------------------------

@cli.group("audit")
def audit_group() -> None:
    """The audit log: export it, verify its hash chain."""


@audit_group.command("export")
@click.option("--format", "fmt", type=click.Choice(audit.FORMATS), default="csv", show_default=True)
@click.option("--since", help="From this date (YYYY-MM-DD, UTC) on.")
@click.option("--until", help="Up to and including this date (YYYY-MM-DD, UTC).")
@click.option("--user", "user_email", help="Entries by or about this user (email).")
@click.option("--event", help="Only this event (e.g. second_factor_reset).")
@click.option("--output", "-o", type=click.Path(dir_okay=False, writable=True), help="Write to FILE (default: stdout).")
@ORG_OPTION
@pass_state
def audit_export(state: CliState, fmt: str, since: str | None, until: str | None, user_email: str | None,
                 event: str | None, output: str | None, org_slug: str | None) -> None:
    """Export an organisation's audit log as CSV or JSON lines (oldest first)."""
    try:
        filt = audit.AuditFilter.from_strings(user_email, event, since, until)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    with state.session() as db:
        org = organisation(db, org_slug)
        audit.record(db, "audit_exported", actor(), organisation_id=org.id, target=org.slug,
                     details={"format": fmt, "user": filt.user, "event": filt.event,
                              "from": _iso(filt.since), "to": _iso(filt.until)})
        db.commit()
        handle = open(output, "w", encoding="utf-8", newline="") if output else sys.stdout
        try:
            for line in audit.export_lines(audit.matching(db, org.id, filt), fmt):
                handle.write(line)
        finally:
            if output:
                handle.close()


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


@audit_group.command("verify")
@ORG_OPTION
@pass_state
def audit_verify(state: CliState, org_slug: str | None) -> None:
    """Check the hash chain (every chain, or only --org's): names the first entry where it breaks,
    including entries deleted from the end. Exit status 1 when a chain is broken."""
    broken = False
    with state.session() as db:
        if org_slug:
            org = organisation(db, org_slug)
            targets: list[tuple[str, int | None]] = [(org.slug, org.id)]
        else:
            slugs = {oid: slug for oid, slug in db.execute(sa.select(Organisation.id, Organisation.slug))}
            targets = [("(deployment)" if oid is None else slugs[oid], oid) for oid in audit.chains(db)]
        for label, org_id in targets:
            result = audit.verify(db, org_id)
            if result.intact:
                click.echo(f"{label}: intact ({result.checked} entries)")
            else:
                broken = True
                click.echo(f"{label}: BROKEN at entry #{result.broken_seq}: {result.problem}"
                           if result.broken_seq else f"{label}: BROKEN: {result.problem}")
    if broken:
        raise click.exceptions.Exit(1)
