"""The administration commands: `idp settings`, `idp user reset-2fa|unlock|disable|enable|grant|revoke`,
`idp group add|remove`, `idp audit export|verify` — audited as `cli:<os user>`."""
from __future__ import annotations

import getpass
import json
import subprocess
import sys
from datetime import timedelta

import sqlalchemy as sa

from idp.models import Organisation, SecondFactor, User
from tests.admin.helpers import add_totp, audit_events
from tests.support.configs import ROOT, write_config_file

CLI_ACTOR = f"cli:{getpass.getuser()}"


def test_settings_show_and_set(idp_cli, orgs, services):
    shown = idp_cli("settings", "show", "--org", "globex")
    assert shown.exit_code == 0 and "require_2fa:      false" in shown.output
    assert "allowed_methods:  all" in shown.output
    done = idp_cli("settings", "set", "require_2fa=true", "grace_days=14", "allowed_methods=totp,email",
                   "exempt_groups=ops,finance", f"exempt_users={orgs['globex'].user}", "--org", "globex")
    assert done.exit_code == 0, done.output
    data = json.loads(idp_cli("settings", "show", "--org", "globex", "--json").output)
    assert data["require_2fa"] is True and data["grace_days"] == 14 and data["enforced_since"]
    assert data["allowed_methods"] == ["totp", "email"] and data["exempt_groups"] == ["finance", "ops"]
    assert data["exempt_users"] == [orgs["globex"].user] and data["rollout"]["exempt"] == 1
    entry = audit_events(services, orgs["globex"].id, "security_settings_changed")[-1]
    assert entry.actor == CLI_ACTOR
    assert entry.details["old"]["grace_days"] == 0 and entry.details["new"]["grace_days"] == 14
    assert idp_cli("settings", "set", "grace_days=14", "--org", "globex").output.strip() == "Nothing changed."
    cleared = idp_cli("settings", "set", "exempt_users=", "allowed_methods=all", "--org", "globex")
    assert cleared.exit_code == 0
    data = json.loads(idp_cli("settings", "show", "--org", "globex", "--json").output)
    assert data["exempt_users"] == [] and data["allowed_methods"] == []


def test_settings_set_refuses_bad_values(idp_cli, orgs):
    for args, words in ((("colour=blue",), "unknown setting"), (("grace_days=-2",), "Grace period"),
                        (("require_2fa=maybe",), "true or false"), (("allowed_methods=pigeon",), "unknown method"),
                        (("grace_days",), "KEY=VALUE")):
        result = idp_cli("settings", "set", *args, "--org", "globex")
        assert result.exit_code == 2 and words in result.output, result.output


def test_zero_grace_is_refused_with_the_warning_unless_yes(idp_cli, orgs, services):
    refused = idp_cli("settings", "set", "require_2fa=true", "grace_days=0", "--org", "globex")
    assert refused.exit_code == 2
    assert "Enforcing 2FA immediately (with no grace period) will block all users" in refused.output
    assert "1 user would be blocked right now" in refused.output and "--yes" in refused.output
    with services.database.session() as db:
        assert db.get(Organisation, orgs["globex"].id).require_2fa is False
    done = idp_cli("settings", "set", "require_2fa=true", "grace_days=0", "--yes", "--org", "globex")
    assert done.exit_code == 0
    with services.database.session() as db:
        assert db.get(Organisation, orgs["globex"].id).require_2fa is True


def test_user_reset_unlock_disable_enable(idp_cli, orgs, services, mailbox, frozen_clock):
    email = orgs["acme"].user
    with services.database.session() as db:
        user = db.get(User, orgs["acme"].user_id)
        add_totp(db, services, user)
        user.otp_locked_until = frozen_clock.current + timedelta(minutes=10)
    assert idp_cli("user", "reset-2fa", email, "--org", "acme").exit_code == 2        # --reason is required
    reset = idp_cli("user", "reset-2fa", email, "--reason", "lost phone", "--org", "acme")
    assert reset.exit_code == 0 and "removed 1 second factor and 10 recovery codes" in reset.output
    assert "notified by email" in reset.output and mailbox.to(email)
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id))
                         .where(SecondFactor.user_id == orgs["acme"].user_id)) == 0
    with services.database.session() as db:
        db.get(User, orgs["acme"].user_id).otp_locked_until = frozen_clock.current + timedelta(minutes=10)
    assert "Unlocked" in idp_cli("user", "unlock", email, "--reason", "help desk", "--org", "acme").output
    assert idp_cli("user", "disable", email, "--org", "acme").exit_code == 2             # --reason is required
    assert f"{email} is disabled." in idp_cli("user", "disable", email, "--reason", "left", "--org", "acme").output
    assert "already was disabled" in idp_cli("user", "disable", email, "--reason", "left", "--org", "acme").output
    assert f"{email} is enabled." in idp_cli("user", "enable", email, "--org", "acme").output
    events = [(e.event, e.actor, e.details.get("reason")) for e in audit_events(services, orgs["acme"].id)
              if e.actor == CLI_ACTOR]
    assert events == [("second_factor_reset", CLI_ACTOR, "lost phone"), ("user_unlocked", CLI_ACTOR, "help desk"),
                      ("user_disabled", CLI_ACTOR, "left"), ("user_enabled", CLI_ACTOR, "")]


def test_grant_and_revoke_permissions_are_audited(idp_cli, orgs, services):
    email = orgs["globex"].user
    assert "Granted audit_read" in idp_cli("user", "grant", email, "audit_read", "--org", "globex").output
    assert "already has" in idp_cli("user", "grant", email, "audit_read", "--org", "globex").output
    assert "Granted system_admin" in idp_cli("user", "grant", email, "system_admin", "--org", "globex").output
    bad = idp_cli("user", "grant", email, "root", "--org", "globex")
    assert bad.exit_code == 2 and "unknown permission 'root'" in bad.output
    assert "Revoked audit_read" in idp_cli("user", "revoke", email, "audit_read", "--org", "globex").output
    with services.database.session() as db:
        assert db.get(User, orgs["globex"].user_id).permission_names == {"system_admin"}
    events = [(e.event, e.details["permission"]) for e in audit_events(services, orgs["globex"].id)
              if e.event.startswith("admin_permission")]
    assert events == [("admin_permission_granted", "audit_read"), ("admin_permission_granted", "system_admin"),
                      ("admin_permission_revoked", "audit_read")]


def test_group_add_and_remove(idp_cli, orgs, services):
    email = orgs["globex"].user
    assert "Added" in idp_cli("group", "add", email, "contractors", "--org", "globex").output
    assert "already is in" in idp_cli("group", "add", email, "contractors", "--org", "globex").output
    with services.database.session() as db:
        assert db.get(User, orgs["globex"].user_id).group_names == {"contractors"}
    assert "Removed" in idp_cli("group", "remove", email, "contractors", "--org", "globex").output
    assert "is not in" in idp_cli("group", "remove", email, "contractors", "--org", "globex").output
    assert [e.event for e in audit_events(services, orgs["globex"].id) if e.event.startswith("group_")] == \
        ["group_member_added", "group_member_removed"]


def test_org_is_optional_with_a_single_organisation(idp_cli, factory, services):
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(Organisation.id))) == 1
    factory.user("solo@example.com")
    assert idp_cli("settings", "show").exit_code == 0
    assert idp_cli("group", "add", "solo@example.com", "ops").exit_code == 0
    unknown = idp_cli("user", "unlock", "nobody@example.com")
    assert unknown.exit_code == 2 and "There is no user nobody@example.com" in unknown.output


def test_the_real_command_line(tmp_path, database_url, orgs, services):
    """`python -m idp ...` as an operator types it: one line on error, exit 2; audited as cli:<os user>."""
    config = write_config_file(tmp_path / "real.toml", database_url, "http://127.0.0.1:8000")

    def idp(*args: str) -> subprocess.CompletedProcess:
        return subprocess.run([sys.executable, "-m", "idp", "--config", str(config), *args], cwd=ROOT,
                              capture_output=True, text=True, timeout=60)
    refused = idp("settings", "set", "grace_days=3")
    assert refused.returncode == 2 and refused.stderr.startswith("idp: ") and "--org" in refused.stderr
    done = idp("settings", "set", "grace_days=3", "--org", "acme")
    assert done.returncode == 0, done.stderr
    assert idp("audit", "verify").returncode == 0
    entry = audit_events(services, orgs["acme"].id, "security_settings_changed")[-1]
    assert entry.actor == CLI_ACTOR
