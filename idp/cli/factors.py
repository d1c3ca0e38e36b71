"""`idp user show|import` and `idp user totp import`: second factors and bulk imports from the command line.

Secrets only ever come through standard input or the import file, and are never printed."""
from __future__ import annotations

import base64
import binascii
import json
import sys
from dataclasses import dataclass, field
from datetime import datetime
from pathlib import Path
from typing import Any

import click
import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import accounts, audit
from idp.accounts import AccountError
from idp.clock import now
from idp.factors import enrolled, lockout, recovery, registry, totp
from idp.models import SecondFactor, User, UserGroup
from idp.security.passwords import hash_format_problem
from idp.services import Services

from .base import CliState, actor, pass_state
from .users import organisation, user_group

MIN_SECRET_BITS = 80          # what many existing deployments used (RFC 4226 recommends 160)
MAX_SECRET_CHARS = 128
IMPORT_FIELDS = {"email", "name", "password_hash", "groups", "totp_secret"}


# --------------------------------------------------------------------------- user show

@user_group.command("show")
@click.argument("email")
@click.option("--json", "as_json", is_flag=True, help="Print the account as JSON.")
@pass_state
def show(state: CliState, email: str, as_json: bool) -> None:
    """Show EMAIL's account: status, organisation, second factors (never their secrets), recovery codes left,
    lockout."""
    with state.session() as db:
        user = _user(db, email)
        info = describe(db, user)
    if as_json:
        click.echo(json.dumps(info, indent=2))
        return
    click.echo(f"{info['email']}{' (' + info['name'] + ')' if info['name'] else ''}")
    click.echo(f"  status:          {info['status']}")
    click.echo(f"  organisation:    {info['organisation']['slug']} ({info['organisation']['name']})")
    if not info["second_factors"]:
        click.echo("  second factors:  none")
    else:
        click.echo("  second factors:")
        for f in info["second_factors"]:
            target = f" {f['target']}" if f["target"] else ""
            line = (f"    - {f['label']}{target} ({f['type']}{', pending' if f['pending'] else ''}): "
                    f"added {_when(f['added'])}, last used {_when(f['last_used']) if f['last_used'] else 'never'}")
            if f["type"] == "totp":
                steps = f["totp_offset_steps"]
                line += f", clock offset {steps:+d} step(s) ({steps * f['totp_period']:+d} s)"
            click.echo(line)
    click.echo(f"  recovery codes:  {info['recovery_codes_left']} left")
    lock = info["lockout"]
    if lock["locked"]:
        click.echo(f"  lockout:         LOCKED until {_when(lock['locked_until'])} "
                   f"({lock['failures']} failures, locked {lock['lock_count']} time(s))")
    else:
        click.echo(f"  lockout:         not locked ({lock['failures']} recent second-factor failures)")


def describe(db: Session, user: User) -> dict[str, Any]:
    """What an operator may see about the account: no secret, no code, masked targets."""
    current = now()
    factors = db.scalars(sa.select(SecondFactor).where(SecondFactor.user_id == user.id)
                         .order_by(SecondFactor.created_at, SecondFactor.id)).all()
    return {
        "email": user.email,
        "name": user.name,
        "status": "active" if user.is_active else "disabled",
        "organisation": {"slug": user.organisation.slug, "name": user.organisation.name},
        "groups": sorted(user.group_names),
        "last_login": _iso(user.last_login_at),
        "second_factors": [{
            "id": f.id,
            "type": f.kind,
            "label": f.name or registry.label(f.kind),
            "target": _masked(f),
            "pending": f.confirmed_at is None,
            "added": _iso(f.created_at),
            "last_used": _iso(f.last_used_at),
            **({"totp_offset_steps": f.offset_steps, "totp_period": f.period, "totp_digits": f.digits,
                "totp_algorithm": f.algorithm} if f.kind == "totp" else {}),
        } for f in factors],
        "recovery_codes_left": recovery.remaining(db, user),
        "lockout": {"locked": lockout.is_locked(user, current) is not None,
                    "locked_until": _iso(lockout.is_locked(user, current)),
                    "failures": user.otp_failures, "lock_count": user.otp_lock_count},
    }


def _masked(factor: SecondFactor) -> str | None:
    if not factor.target:
        return None
    cls = registry.factor_type(factor.kind)
    return cls.describe(factor) if cls is not None else None


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value else None


def _when(iso: str | None) -> str:
    return datetime.fromisoformat(iso).strftime("%Y-%m-%d %H:%M UTC") if iso else "-"


def _user(db: Session, email: str) -> User:
    user = accounts.find_by_email(db, email)
    if user is None:
        raise click.BadParameter(f"no account {email!r}", param_hint="EMAIL")
    return user


# --------------------------------------------------------------------------- TOTP secrets

def normalise_secret(raw: str) -> str:
    """An existing base32 TOTP secret, upper case without spaces, dashes or padding; ValueError saying why
    it cannot be one."""
    cleaned = "".join(raw.split()).replace("-", "").upper().rstrip("=")
    if not cleaned:
        raise ValueError("the secret is empty")
    if len(cleaned) > MAX_SECRET_CHARS:
        raise ValueError(f"the secret is longer than {MAX_SECRET_CHARS} characters")
    if any(ch not in "ABCDEFGHIJKLMNOPQRSTUVWXYZ234567" for ch in cleaned):
        raise ValueError("the secret is not base32 (letters A-Z and digits 2-7 only)")
    try:
        decoded = base64.b32decode(cleaned + "=" * (-len(cleaned) % 8))
    except (binascii.Error, ValueError):
        raise ValueError("the secret is not valid base32 (wrong length)") from None
    if len(decoded) * 8 < MIN_SECRET_BITS:
        raise ValueError(f"the secret is too short ({len(decoded) * 8} bits; at least {MIN_SECRET_BITS} needed)")
    return cleaned


def store_totp(db: Session, services: Services, user: User, secret: str, *, digits: int, period: int,
               algorithm: str) -> SecondFactor:
    """Keep an existing (already normalised) secret as the user's ACTIVE authenticator, encrypted with the
    key-encryption key; an older authenticator of the user is replaced (one per user)."""
    factor = SecondFactor(user_id=user.id, kind=totp.KIND, name="Authenticator App",
                          secret_encrypted=services.kek.encrypt(secret.encode("ascii")), digits=digits,
                          period=period, algorithm=algorithm, offset_steps=0, data={"imported": True},
                          created_at=now())
    db.add(factor)
    db.flush()
    enrolled.activate(db, user, factor)
    return factor


@user_group.group("totp")
def totp_group() -> None:
    """Authenticator apps (TOTP) of an account."""


@totp_group.command("import")
@click.argument("email")
@click.option("--secret-stdin", is_flag=True,
              help="Read the base32 secret from standard input (never from the command line).")
@click.option("--digits", default=6, show_default=True, type=click.Choice(["6", "7", "8"]))
@click.option("--period", default=30, show_default=True, type=click.IntRange(10, 120), help="Seconds per code.")
@click.option("--algorithm", default="SHA1", show_default=True, type=click.Choice(["SHA1", "SHA256", "SHA512"]))
@pass_state
def totp_import(state: CliState, email: str, secret_stdin: bool, digits: str, period: int, algorithm: str) -> None:
    """Store EMAIL's existing authenticator secret (from another system) as an active authenticator."""
    if not secret_stdin:
        raise click.UsageError("give the secret on standard input with --secret-stdin (never as an argument)")
    try:
        secret = normalise_secret(sys.stdin.readline())
    except ValueError as exc:
        raise click.BadParameter(str(exc), param_hint="--secret-stdin") from None
    with state.session() as db:
        user = _user(db, email)
        factor = store_totp(db, state.services, user, secret, digits=int(digits), period=period,
                            algorithm=algorithm)
        audit.record(db, "second_factor_enrolled", actor(), organisation_id=user.organisation_id,
                     target_user_id=user.id, target=user.email,
                     details={"kind": "totp", "factor_id": factor.id, "via": "cli import",
                              "digits": int(digits), "period": period, "algorithm": algorithm})
    click.echo(f"Imported an authenticator app for {user.email} ({digits} digits, {period} s, {algorithm}).")


# --------------------------------------------------------------------------- bulk import

class ImportProblem(Exception):
    """A bad record: where it is and why."""


class ImportRefused(click.ClickException):
    """The file had bad records (each already printed as FILE:LINE: reason); nothing was imported."""

    exit_code = 2


@dataclass
class Record:
    line: int
    email: str
    name: str = ""
    password_hash: str | None = None
    groups: list[str] = field(default_factory=list)
    totp_secret: str | None = None


def parse_records(path: Path, text: str, db: Session) -> tuple[list[Record], list[str]]:
    """Every record of the file, and every problem as `FILE:LINE: reason` (nothing is written here)."""
    records: list[Record] = []
    problems: list[str] = []
    seen: dict[str, int] = {}
    for number, raw in enumerate(text.splitlines(), start=1):
        if not raw.strip():
            continue
        try:
            record = _record(number, raw)
            if record.email in seen:
                raise ImportProblem(f"{record.email} appears again (first on line {seen[record.email]})")
            if accounts.find_by_email(db, record.email) is not None:
                raise ImportProblem(f"{record.email} already has an account")
            seen[record.email] = number
            records.append(record)
        except ImportProblem as exc:
            problems.append(f"{path}:{number}: {exc}")
    if not records and not problems:
        problems.append(f"{path}: no records (one JSON object per line expected)")
    return records, problems


def _record(number: int, raw: str) -> Record:
    try:
        data = json.loads(raw)
    except json.JSONDecodeError as exc:
        raise ImportProblem(f"not valid JSON ({exc.msg} at column {exc.colno})") from None
    if not isinstance(data, dict):
        raise ImportProblem("expected a JSON object")
    unknown = sorted(set(data) - IMPORT_FIELDS)
    if unknown:
        raise ImportProblem(f"unknown field {unknown[0]!r} (known: {', '.join(sorted(IMPORT_FIELDS))})")
    email = data.get("email")
    if not isinstance(email, str) or not email.strip():
        raise ImportProblem("email: missing")
    try:
        address = accounts.checked_email(email)
    except AccountError as exc:
        raise ImportProblem(f"email: {exc}") from None
    name = data.get("name") or ""
    if not isinstance(name, str) or len(name) > 200:
        raise ImportProblem("name: expected a string of at most 200 characters")
    password_hash = data.get("password_hash")
    if password_hash is not None:
        if not isinstance(password_hash, str) or len(password_hash) > 500:
            raise ImportProblem("password_hash: expected a string of at most 500 characters")
        problem = hash_format_problem(password_hash)
        if problem:
            raise ImportProblem(problem)
    groups = data.get("groups") or []
    if not isinstance(groups, list) or not all(isinstance(g, str) and g.strip() and len(g) <= 100 for g in groups):
        raise ImportProblem("groups: expected a list of group names (strings of 1-100 characters)")
    secret = data.get("totp_secret")
    if secret is not None:
        if not isinstance(secret, str):
            raise ImportProblem("totp_secret: expected a base32 string")
        try:
            secret = normalise_secret(secret)
        except ValueError as exc:
            raise ImportProblem(f"totp_secret: {exc}") from None
    return Record(number, address, name.strip(), password_hash, sorted({g.strip() for g in groups}), secret)


@user_group.command("import")
@click.argument("file", type=click.Path(exists=True, dir_okay=False, path_type=Path))
@click.option("--org", "org_slug", help="Organisation of the imported accounts (needed when there are several).")
@pass_state
def import_(state: CliState, file: Path, org_slug: str | None) -> None:
    """Create the accounts in FILE (JSON Lines: email, name, password_hash, groups, totp_secret), all or none.

    Password hashes may be argon2, bcrypt ($2b$) or Django PBKDF2 (pbkdf2_sha256$...); they are replaced
    by argon2id at each person's next sign-in. Any bad record: nothing is imported."""
    try:
        text = file.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise click.BadParameter(f"cannot read {file}: {exc}", param_hint="FILE") from None
    with state.session() as db:
        org = organisation(db, org_slug)
        records, problems = parse_records(file, text, db)
        if problems:
            for line in problems:
                click.echo(line, err=True)
            raise ImportRefused(f"Nothing imported ({len(problems)} problem(s)).")
        who = actor()
        cfg = state.config.totp
        for record in records:
            user = accounts.create_user(db, state.services.passwords, record.email, organisation=org,
                                        name=record.name)
            user.password_hash = record.password_hash
            user.groups = [UserGroup(name=g) for g in record.groups]
            db.flush()
            audit.record(db, "user_created", who, organisation_id=org.id, target_user_id=user.id, target=user.email,
                         details={"via": "import", "file": file.name, "line": record.line,
                                  "groups": record.groups, "has_password": record.password_hash is not None})
            if record.totp_secret:
                factor = store_totp(db, state.services, user, record.totp_secret, digits=cfg.digits,
                                    period=cfg.period, algorithm=cfg.algorithm)
                audit.record(db, "second_factor_enrolled", who, organisation_id=org.id, target_user_id=user.id,
                             target=user.email, details={"kind": "totp", "factor_id": factor.id, "via": "import"})
        audit.record(db, "users_imported", who, organisation_id=org.id,
                     details={"file": file.name, "count": len(records)})
    click.echo(f"Imported {len(records)} account(s) into {org.slug}.")
