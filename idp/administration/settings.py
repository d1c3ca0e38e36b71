"""Administration > Settings > Security: "Require Two-Factor Authentication", the grace period, the
allowed methods and the exempt list of one organisation; the zero-grace warning; the rollout panel."""
from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlalchemy.orm import Session

from idp import audit, enforcement
from idp.accounts import normalise_email
from idp.audit import Actor
from idp.factors import lockout, registry
from idp.flow.facts import Enforcement
from idp.models import Organisation, SecondFactor, User

from .permissions import AdminError


def methods() -> tuple[str, ...]:
    """What an organisation's allow-list can name, in the registry's order (idp.factors.registry)."""
    return tuple(cls.factor for cls in registry.selectable())


def method_labels() -> dict[str, str]:
    return {cls.factor: cls.admin_label or cls.label for cls in registry.selectable()}


MAX_GRACE_DAYS = 365
MAX_EXTENSION_DAYS = 90
MAX_REMEMBER_DAYS = 90
REMEMBER_MEANING = ("\"Don't ask again on this browser\": after a second factor, a browser may skip the second "
                    "factor (never the password) for this many days; 0 switches it off")
ZERO_GRACE_WARNING = ("Enforcing 2FA immediately (with no grace period) will block all users who have not yet "
                      "set up a second factor. Communicate the change to your users before enabling "
                      "enforcement, or set a grace period.")
GROUP = re.compile(r"^[^,\s][^,]{0,99}$")
KEYS = ("require_2fa", "grace_days", "allowed_methods", "exempt_users", "exempt_groups", "remember_browser_days")


class SettingsError(AdminError):
    """A setting that cannot be saved; the message names it."""


@dataclass(frozen=True)
class SecuritySettings:
    require_2fa: bool = False
    grace_days: int = 0
    allowed_methods: tuple[str, ...] = ()     # empty = every method
    exempt_users: tuple[str, ...] = ()        # email addresses of users of the organisation
    exempt_groups: tuple[str, ...] = ()
    remember_browser_days: int = 0            # 0 = "Don't ask again on this browser" is not offered

    def as_dict(self) -> dict:
        return {k: list(v) if isinstance(v, tuple) else v for k, v in asdict(self).items()}

    @property
    def immediate(self) -> bool:
        """Enforcement with no grace period: users without a second factor are stopped at once."""
        return self.require_2fa and self.grace_days == 0


class ConfirmationRequired(AdminError):
    """Saving would enforce 2FA immediately; the administrator must confirm after seeing who is blocked."""

    def __init__(self, blocked: tuple[str, ...] = ()) -> None:
        self.blocked = blocked   # emails of the users who would be blocked now
        super().__init__(str(self))

    @property
    def count(self) -> int:
        return len(self.blocked)

    def __str__(self) -> str:
        n = self.count
        return f"{ZERO_GRACE_WARNING} {n} user{'' if n == 1 else 's'} would be blocked right now."


@dataclass(frozen=True)
class SaveResult:
    old: SecuritySettings
    new: SecuritySettings
    changed: tuple[str, ...] = field(default=())


def current(db: Session, org: Organisation) -> SecuritySettings:
    exempt = db.scalars(sa.select(User.email).where(User.organisation_id == org.id, User.exempt_from_2fa.is_(True))
                        .order_by(User.email))
    return SecuritySettings(require_2fa=bool(org.require_2fa), grace_days=int(org.grace_days or 0),
                            allowed_methods=tuple(m for m in methods() if m in (org.allowed_methods or [])),
                            exempt_users=tuple(exempt), exempt_groups=tuple(sorted(org.exempt_groups or [])),
                            remember_browser_days=int(org.remember_browser_days or 0))


# --- reading input ------------------------------------------------------------------------------------

def _words(value: str | Iterable[str] | None) -> list[str]:
    """Items of a list given as text (commas, spaces or new lines) or as a list."""
    if value is None:
        return []
    if isinstance(value, str):
        return [w for w in re.split(r"[,\s]+", value) if w]
    return [w.strip() for w in value if w and w.strip()]


def parse_bool(value: str | bool, key: str) -> bool:
    if isinstance(value, bool):
        return value
    text = value.strip().lower()
    if text in ("1", "true", "yes", "on"):
        return True
    if text in ("0", "false", "no", "off", ""):
        return False
    raise SettingsError(f"{key}: expected true or false, not {value!r}")


def parse_grace(value: str | int) -> int:
    try:
        days = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"Grace period: {value!r} is not a whole number of days") from None
    if not 0 <= days <= MAX_GRACE_DAYS:
        raise SettingsError(f"Grace period: between 0 (immediately) and {MAX_GRACE_DAYS} days")
    return days


def parse_remember(value: str | int) -> int:
    try:
        days = int(str(value).strip())
    except ValueError:
        raise SettingsError(f"Remember this browser: {value!r} is not a whole number of days") from None
    if not 0 <= days <= MAX_REMEMBER_DAYS:
        raise SettingsError(f"Remember this browser: between 0 (off) and {MAX_REMEMBER_DAYS} days")
    return days


def parse_methods(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """The allowed methods; every method (or the word "all") is stored as the empty list (= all)."""
    items = [v.lower() for v in _words(values)]
    if items in ([], ["all"]):
        return ()
    known = methods()
    unknown = [v for v in items if v not in known]
    if unknown:
        raise SettingsError(f"allowed methods: unknown method {unknown[0]!r} (use {', '.join(known)})")
    chosen = tuple(m for m in known if m in items)
    return () if len(chosen) == len(known) else chosen


def parse_groups(values: str | Iterable[str] | None) -> tuple[str, ...]:
    """Group names, given one per line or separated by commas (a name may contain spaces)."""
    items = re.split(r"[,\n]", values) if isinstance(values, str) else list(values or [])
    groups = sorted({g.strip() for g in items if g and g.strip()})
    for name in groups:
        if not GROUP.match(name):
            raise SettingsError(f"exempt groups: {name!r} is not a group name (at most 100 characters, no commas)")
    return tuple(groups)


def parse_emails(values: str | Iterable[str] | None) -> tuple[str, ...]:
    return tuple(sorted({normalise_email(e) for e in _words(values)}))


def from_form(form: Mapping[str, str], methods: Iterable[str], keep: SecuritySettings | None = None) -> SecuritySettings:
    """The settings posted by the Security page (`methods`: the ticked method boxes). A form without the
    remember_browser_days field keeps `keep`'s value (never silently switches it off)."""
    remember = (parse_remember(form.get("remember_browser_days") or "0") if "remember_browser_days" in form
                else (keep.remember_browser_days if keep else 0))
    chosen = [m for m in methods if m]
    if not chosen:
        raise SettingsError("Allowed methods: allow at least one method")
    return SecuritySettings(require_2fa=parse_bool(form.get("require_2fa", ""), "Require Two-Factor Authentication"),
                            grace_days=parse_grace(form.get("grace_days", "0") or "0"),
                            allowed_methods=parse_methods(chosen),
                            exempt_users=parse_emails(form.get("exempt_users", "")),
                            exempt_groups=parse_groups(form.get("exempt_groups", "")),
                            remember_browser_days=remember)


def with_assignments(base: SecuritySettings, assignments: Iterable[str]) -> SecuritySettings:
    """`idp settings set KEY=VALUE ...`: the base settings with each KEY replaced."""
    values = asdict(base)
    for item in assignments:
        key, sep, raw = item.partition("=")
        key = key.strip().replace("-", "_")
        if not sep:
            raise SettingsError(f"{item!r}: expected KEY=VALUE (keys: {', '.join(KEYS)})")
        if key not in KEYS:
            raise SettingsError(f"unknown setting {key!r} (keys: {', '.join(KEYS)})")
        if key == "require_2fa":
            values[key] = parse_bool(raw, key)
        elif key == "grace_days":
            values[key] = parse_grace(raw)
        elif key == "allowed_methods":
            if not _words(raw):
                raise SettingsError("allowed_methods: give the methods to allow, or 'all'")
            values[key] = parse_methods(raw)
        elif key == "exempt_users":
            values[key] = parse_emails(raw)
        elif key == "remember_browser_days":
            values[key] = parse_remember(raw)
        else:
            values[key] = parse_groups(raw)
    return SecuritySettings(**values)


# --- deciding and saving --------------------------------------------------------------------------------

def weakenings(old: SecuritySettings, new: SecuritySettings) -> list[str]:
    """What in `new` lowers someone's protection compared with `old` (these changes need the
    administrator's fresh proof): enforcement off, a longer grace period, more methods (an empty list
    allows every method), more exempt people or groups."""
    found = []
    if old.require_2fa and not new.require_2fa:
        found.append("require_2fa")
    if old.require_2fa and new.require_2fa and new.grace_days > old.grace_days:
        found.append("grace_days")
    if old.allowed_methods and (not new.allowed_methods or set(new.allowed_methods) - set(old.allowed_methods)):
        found.append("allowed_methods")
    if set(new.exempt_users) - set(old.exempt_users):
        found.append("exempt_users")
    if set(new.exempt_groups) - set(old.exempt_groups):
        found.append("exempt_groups")
    return found


def needs_confirmation(old: SecuritySettings, new: SecuritySettings) -> bool:
    """Turning on immediate enforcement (on with grace 0, from anything else) must be confirmed."""
    return new.immediate and not old.immediate


def blocked_now(db: Session, org: Organisation, new: SecuritySettings, now: datetime) -> list[User]:
    """Users who would be stopped at their next sign-in if `new` were enforced now with no grace."""
    return enforcement.would_be_blocked(db, org.id, exempt_emails=frozenset(new.exempt_users),
                                        exempt_groups=frozenset(new.exempt_groups), now=now)


def _exempt_users(db: Session, org: Organisation, emails: tuple[str, ...]) -> list[User]:
    users = list(db.scalars(sa.select(User).where(User.organisation_id == org.id, User.email.in_(emails))))
    missing = sorted(set(emails) - {u.email for u in users})
    if missing:
        raise SettingsError(f"Exempt users: there is no user {missing[0]} in this organisation")
    return users


def save(db: Session, org: Organisation, new: SecuritySettings, actor: Actor, *, now: datetime,
         confirmed: bool = False) -> SaveResult:
    """Validate, then apply `new` to the organisation; audited with the old and new values.

    Raises SettingsError (bad value) or ConfirmationRequired (immediate enforcement not confirmed)
    before changing anything."""
    old = current(db, org)
    exempt = _exempt_users(db, org, new.exempt_users)
    if needs_confirmation(old, new) and not confirmed:
        raise ConfirmationRequired(tuple(u.email for u in blocked_now(db, org, new, now)))
    changed = tuple(k for k in KEYS if getattr(old, k) != getattr(new, k))
    if not changed:
        return SaveResult(old, new)
    blocked = [u.email for u in blocked_now(db, org, new, now)] if needs_confirmation(old, new) else None
    org.require_2fa = new.require_2fa
    org.grace_days = new.grace_days
    org.allowed_methods = list(new.allowed_methods)
    org.exempt_groups = list(new.exempt_groups)
    org.remember_browser_days = new.remember_browser_days
    if new.require_2fa and (not old.require_2fa or org.enforced_since is None):
        org.enforced_since = now
    elif not new.require_2fa:
        org.enforced_since = None
    keep = {u.id for u in exempt}
    for user in db.scalars(sa.select(User).where(User.organisation_id == org.id, sa.or_(
            User.exempt_from_2fa.is_(True), User.id.in_(keep or {-1})))):
        user.exempt_from_2fa = user.id in keep
    details = {"old": old.as_dict(), "new": new.as_dict(), "changed": list(changed)}
    if blocked is not None:
        details["blocked_when_saved"] = len(blocked)
    audit.record(db, "security_settings_changed", actor, organisation_id=org.id, target=org.slug, details=details)
    db.flush()
    return SaveResult(old, new, changed)


# --- the rollout panel ------------------------------------------------------------------------------------

@dataclass(frozen=True)
class RolloutEntry:
    user: User
    state: Enforcement
    enrolled: bool
    days_left: int | None = None
    deadline: datetime | None = None
    exempt_reason: str | None = None
    locked_until: datetime | None = None


@dataclass(frozen=True)
class Rollout:
    enrolled: list[RolloutEntry]
    not_enrolled: list[RolloutEntry]    # grace left (days_left), or overdue (blocked until they enrol)
    exempt: list[RolloutEntry]
    locked: list[RolloutEntry]

    LISTS = ("enrolled", "not_enrolled", "exempt", "locked")

    def counts(self) -> dict[str, int]:
        return {name: len(getattr(self, name)) for name in self.LISTS}


def rollout(db: Session, org: Organisation, now: datetime) -> Rollout:
    """Active users of the organisation by where they stand: enrolled, not yet enrolled, exempt, locked."""
    users = list(db.scalars(sa.select(User).where(User.organisation_id == org.id, User.is_active.is_(True))
                            .order_by(User.email)))
    with_factor = set(db.scalars(sa.select(SecondFactor.user_id).join(User, User.id == SecondFactor.user_id).where(
        User.organisation_id == org.id, SecondFactor.confirmed_at.is_not(None)).distinct()))
    result = Rollout([], [], [], [])
    for user in users:
        exempt = enforcement.exemption(user)
        has = user.id in with_factor
        status = enforcement.enforcement_status(db, user, now)
        entry = RolloutEntry(user=user, state=status.state, enrolled=has, days_left=status.days_left,
                             deadline=enforcement.grace_deadline(user), exempt_reason=exempt,
                             locked_until=lockout.is_locked(user, now))
        if exempt:
            result.exempt.append(entry)
        elif has:
            result.enrolled.append(entry)
        else:
            result.not_enrolled.append(entry)
        if entry.locked_until:
            result.locked.append(entry)
    return result


def extend_grace(db: Session, user: User, days: int | str, reason: str, actor: Actor, *, now: datetime) -> datetime:
    """Give one user `days` more to set up a second factor (from their current deadline, or from now);
    audited with the reason. Returns the new deadline."""
    try:
        count = int(str(days).strip())
    except ValueError:
        raise SettingsError(f"Days: {days!r} is not a whole number") from None
    if not 1 <= count <= MAX_EXTENSION_DAYS:
        raise SettingsError(f"Days: between 1 and {MAX_EXTENSION_DAYS}")
    why = check_reason(reason)
    previous = enforcement.grace_deadline(user)
    base = max(now, previous) if previous else now
    until = base + timedelta(days=count)
    old = user.grace_extended_until
    user.grace_extended_until = until
    audit.record(db, "grace_period_extended", actor, organisation_id=user.organisation_id, target_user_id=user.id,
                 target=user.email, details={"days": count, "until": until.isoformat(), "reason": why,
                                             "previous_extension": old.isoformat() if old else None})
    db.flush()
    return until


def check_reason(reason: str | None, *, required: bool = True) -> str:
    text = " ".join((reason or "").split())
    if required and not text:
        raise AdminError("Reason: say why (it is kept in the audit log)")
    if len(text) > 500:
        raise AdminError("Reason: at most 500 characters")
    return text

