"""`idp user create|list`: accounts, from the command line (passwords only through stdin)."""
from __future__ import annotations

import sys

import click
import sqlalchemy as sa

from idp import accounts, audit
from idp.accounts import AccountError
from idp.models import Organisation, User

from .base import CliState, actor, cli, pass_state


@cli.group("user")
def user_group() -> None:
    """User accounts."""


def organisation(db, slug: str | None) -> Organisation:  # noqa: ANN001
    """The organisation named by --org, or the only one; a usage error otherwise."""
    if slug:
        org = accounts.organisation_by_slug(db, slug)
        if org is None:
            raise click.BadParameter(f"no organisation {slug!r}", param_hint="--org")
        return org
    orgs = db.scalars(sa.select(Organisation).limit(2)).all()
    if len(orgs) != 1:
        raise click.UsageError("several organisations exist: say which with --org SLUG")
    return orgs[0]


def read_password(from_stdin: bool) -> str | None:
    if not from_stdin:
        return None
    value = sys.stdin.readline().rstrip("\n")
    if not value:
        raise click.UsageError("no password on standard input")
    return value


@user_group.command("create")
@click.argument("email")
@click.option("--name", default="", help="Display name.")
@click.option("--org", "org_slug", help="Organisation slug (needed when there are several).")
@click.option("--admin", is_flag=True, help="Give every admin permission in the organisation.")
@click.option("--password-stdin", is_flag=True, help="Read the password from standard input.")
@pass_state
def create(state: CliState, email: str, name: str, org_slug: str | None, admin: bool, password_stdin: bool) -> None:
    """Create an account for EMAIL."""
    password = read_password(password_stdin)
    if password is not None:
        from idp.security.password_policy import check_new_password
        problems = check_new_password(password, single_factor=True, email=email, config=state.config.passwords)
        if problems:  # a new account has no second factor yet
            raise click.UsageError("the password was refused: " + " ".join(problems))
    with state.session() as db:
        org = organisation(db, org_slug)
        try:
            user = accounts.create_user(db, state.services.passwords, email, organisation=org, name=name,
                                        password=password, admin=admin)
        except AccountError as exc:
            raise click.UsageError(str(exc)) from None
        audit.record(db, "user_created", actor(), organisation_id=org.id, target_user_id=user.id, target=user.email,
                     details={"admin": admin})
    click.echo(f"Created {user.email} in {org.slug}{' (admin)' if admin else ''}.")


@user_group.command("list")
@click.option("--org", "org_slug", help="Only this organisation.")
@pass_state
def list_(state: CliState, org_slug: str | None) -> None:
    """Show accounts: email, organisation, status."""
    with state.session() as db:
        query = sa.select(User).order_by(User.email)
        if org_slug:
            query = query.where(User.organisation_id == organisation(db, org_slug).id)
        for user in db.scalars(query):
            status = "active" if user.is_active else "disabled"
            perms = ",".join(sorted(user.permission_names)) or "-"
            click.echo(f"{user.email}\t{user.organisation.slug}\t{status}\t{perms}")
