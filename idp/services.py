"""The services a request, a step or a CLI command uses, built once per process from the config."""
from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from idp import audit
from idp.config import AppConfig
from idp.db import Database
from idp.delivery.mailer import Mailer, build_mailer
from idp.delivery.sms import SmsSender, build_sms
from idp.enforcement import enforcement_status, has_second_factor
from idp.flow.facts import EnforcementStatus, SubjectFacts
from idp.oauth.keys import KeyRing
from idp.outbox import queue
from idp.security.encryption import KeyEncryption
from idp.security.passwords import Passwords
from idp.security.secrets import Pepper

if TYPE_CHECKING:
    from idp.flow.context import FlowContext


class Facts(SubjectFacts):
    """Answers the flow conditions' questions about ctx.user from the database."""

    def _user(self, ctx: "FlowContext"):  # noqa: ANN202
        if ctx.user is None:
            raise LookupError("this condition needs to know who is signing in")
        return ctx.user

    def second_factor_enrolled(self, ctx: "FlowContext") -> bool:
        return has_second_factor(ctx.db, self._user(ctx))

    def enforcement(self, ctx: "FlowContext") -> EnforcementStatus:
        return enforcement_status(ctx.db, self._user(ctx), ctx.now)

    def groups(self, ctx: "FlowContext") -> frozenset[str]:
        return self._user(ctx).group_names

    def organisation(self, ctx: "FlowContext") -> str:
        return self._user(ctx).organisation.slug

    def is_admin(self, ctx: "FlowContext") -> bool:
        return bool(self._user(ctx).permission_names)


@dataclass
class Services:
    config: AppConfig
    database: Database
    passwords: Passwords
    kek: KeyEncryption
    pepper: Pepper
    keys: KeyRing
    facts: SubjectFacts
    mailer: Mailer
    sms: SmsSender


def _with_audit_key(database: Database, kek: KeyEncryption) -> Database:
    """Every session of this process can extend the audit chain (its HMAC key lives in session.info) and
    queue outbox jobs where only the session is at hand (a browser session ending: idp.backchannel)."""
    database.sessions.configure(info={audit.AUDIT_KEY: audit.derive_chain_key(kek.raw_key), queue.KEK: kek})
    return database


def build_services(config: AppConfig, database: Database | None = None) -> Services:
    kek = KeyEncryption(config.secrets.key_encryption_key)
    pw = config.passwords
    return Services(
        config=config,
        database=_with_audit_key(database or Database(config.database), kek),
        passwords=Passwords(pw.argon2_memory_kib, pw.argon2_time_cost, pw.argon2_parallelism),
        kek=kek,
        pepper=Pepper(kek.raw_key),
        keys=KeyRing(kek),
        facts=Facts(),
        mailer=build_mailer(config),
        sms=build_sms(config),
    )
