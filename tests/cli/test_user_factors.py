"""`idp user show`, `idp user totp import`, `idp user import FILE.jsonl` (bcrypt / PBKDF2 / argon2 hashes,
upgraded to argon2id at the next sign-in; all or nothing)."""
from __future__ import annotations

import base64
import getpass
import hashlib
import json
import subprocess
import sys
from pathlib import Path

import bcrypt
import pyotp
import pytest
import sqlalchemy as sa
from click.testing import CliRunner

import idp.cli.factors  # noqa: F401  (registers the commands)
import idp.cli.users  # noqa: F401
from idp.cli.base import cli
from idp.clock import now
from idp.factors import recovery, totp
from idp.models import AuditEvent, SecondFactor, User
from tests.support.browser import Browser
from tests.support.configs import ROOT, write_config_file
from tests.support.factory import PASSWORD

SECRET = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP"


@pytest.fixture
def config_file(tmp_path, database_url, services):  # noqa: ANN001, ANN201
    return write_config_file(tmp_path / "config.toml", database_url, "http://localhost")


@pytest.fixture
def run(config_file):  # noqa: ANN001, ANN201
    def invoke(*args: str, stdin: str | None = None):  # noqa: ANN202
        return CliRunner().invoke(cli, ["--config", str(config_file), *args], input=stdin)
    return invoke


def idp(config: Path, *args: str, stdin: str = "") -> subprocess.CompletedProcess:
    return subprocess.run([sys.executable, "-m", "idp", "--config", str(config), *args], cwd=ROOT, input=stdin,
                          capture_output=True, text=True, timeout=60)


def user_row(services, email: str) -> User:  # noqa: ANN001
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        if user is not None:
            _ = user.groups, user.organisation
        db.expunge_all()
        return user


def events(services, name: str) -> list[AuditEvent]:  # noqa: ANN001
    with services.database.session() as db:
        return list(db.scalars(sa.select(AuditEvent).where(AuditEvent.event == name)))


# --------------------------------------------------------------------------- totp import

def test_totp_import_stores_an_active_encrypted_authenticator(run, factory, services, browser):
    factory.user("alice@example.com")
    result = run("user", "totp", "import", "alice@example.com", "--secret-stdin", stdin=SECRET.lower() + "\n")
    assert result.exit_code == 0, result.output
    assert SECRET not in result.output and SECRET.lower() not in result.output
    with services.database.session() as db:
        factor = db.scalar(sa.select(SecondFactor))
        assert factor.kind == "totp" and factor.confirmed_at is not None
        assert SECRET.encode() not in factor.secret_encrypted
        assert totp.factor_secret(services, factor) == SECRET
        assert (factor.digits, factor.period, factor.algorithm) == (6, 30, "SHA1")
    [event] = events(services, "second_factor_enrolled")
    assert event.actor == f"cli:{getpass.getuser()}" and event.details["via"] == "cli import"
    # the imported authenticator works at sign-in
    page = browser.sign_in(browser.open("/account/security"), "alice@example.com", PASSWORD)
    page = browser.submit(page, "code", {"code": pyotp.TOTP(SECRET).now()})
    assert page.url.endswith("/account/security") and "Authenticator App" in page.text


def test_totp_import_options_and_replacement(run, factory, services):
    factory.user("alice@example.com")
    assert run("user", "totp", "import", "alice@example.com", "--secret-stdin", stdin=SECRET).exit_code == 0
    other = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ"
    result = run("user", "totp", "import", "alice@example.com", "--secret-stdin", "--digits", "8", "--period", "60",
                 "--algorithm", "SHA256", stdin="gezd gnbv gy3t qojq gezd gnbv gy3t qojq\n")
    assert result.exit_code == 0, result.output
    with services.database.session() as db:
        [factor] = db.scalars(sa.select(SecondFactor)).all()   # one authenticator per user
        assert (factor.digits, factor.period, factor.algorithm) == (8, 60, "SHA256")
        assert totp.factor_secret(services, factor) == other


@pytest.mark.parametrize("secret, reason", [
    ("not base32!", "not base32"),
    ("JBSWY3DP", "too short"),
    ("", "empty"),
    ("JBSWY3DPEHPK3PXPJ", "wrong length"),
])
def test_totp_import_refuses_bad_secrets(run, factory, services, secret, reason):
    factory.user("alice@example.com")
    result = run("user", "totp", "import", "alice@example.com", "--secret-stdin", stdin=secret + "\n")
    assert result.exit_code == 2 and reason in result.stderr, result.output
    assert secret not in result.output or not secret
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id))) == 0


def test_totp_import_error_is_one_line_exit_2(config_file, factory, services):
    factory.user("alice@example.com")
    result = idp(config_file, "user", "totp", "import", "alice@example.com", "--secret-stdin", stdin="01234567!\n")
    assert result.returncode == 2
    assert result.stderr.splitlines() == ["idp: Invalid value for --secret-stdin: the secret is not base32 "
                                          "(letters A-Z and digits 2-7 only)"]
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id))) == 0


def test_totp_import_needs_stdin_and_a_known_user(config_file, factory):
    factory.user("alice@example.com")
    no_flag = idp(config_file, "user", "totp", "import", "alice@example.com", stdin=SECRET)
    assert no_flag.returncode == 2 and "--secret-stdin" in no_flag.stderr
    unknown = idp(config_file, "user", "totp", "import", "bob@example.com", "--secret-stdin", stdin=SECRET)
    assert unknown.returncode == 2 and "no account 'bob@example.com'" in unknown.stderr


# --------------------------------------------------------------------------- show

def test_show_lists_factors_without_secrets(run, factory, services):
    factory.user("alice@example.com", name="Alice")
    run("user", "totp", "import", "alice@example.com", "--secret-stdin", stdin=SECRET)
    with services.database.session() as db:
        user = db.scalar(sa.select(User))
        recovery.generate(db, services, user)
        recovery.consume(db, services, user, recovery.generate(db, services, user)[0])
        factor = db.scalar(sa.select(SecondFactor))
        factor.offset_steps, factor.last_used_at = -1, now()
        user.otp_failures = 3
    human = run("user", "show", "alice@example.com")
    assert human.exit_code == 0, human.output
    assert "status:          active" in human.output and "default (Default organisation)" in human.output
    assert "Authenticator App (totp)" in human.output and "clock offset -1 step(s) (-30 s)" in human.output
    assert "recovery codes:  9 left" in human.output and "not locked (3 recent" in human.output
    data = json.loads(run("user", "show", "alice@example.com", "--json").output)
    [f] = data["second_factors"]
    assert f["type"] == "totp" and f["totp_offset_steps"] == -1 and f["last_used"] and not f["pending"]
    assert data["recovery_codes_left"] == 9 and data["lockout"]["locked"] is False
    assert SECRET not in json.dumps(data) and "secret" not in json.dumps(data).lower()


def test_show_masks_targets_and_reports_a_lock(run, factory, services):
    factory.user("alice@example.com")
    with services.database.session() as db:
        user = db.scalar(sa.select(User))
        db.add(SecondFactor(user_id=user.id, kind="sms", name="SMS", target="+447400123456", data={},
                            created_at=now(), confirmed_at=now()))
        from datetime import timedelta
        user.otp_locked_until, user.otp_failures, user.otp_lock_count = now() + timedelta(minutes=15), 0, 1
    data = json.loads(run("user", "show", "alice@example.com", "--json").output)
    assert data["second_factors"][0]["target"].startswith("+44 ") and "400123456" not in json.dumps(data)
    assert data["lockout"]["locked"] is True and data["lockout"]["locked_until"]
    assert "LOCKED until" in run("user", "show", "alice@example.com").output


def test_show_unknown_user(config_file):
    result = idp(config_file, "user", "show", "nobody@example.com")
    assert result.returncode == 2 and "no account" in result.stderr


# --------------------------------------------------------------------------- bulk import

def _django_pbkdf2(password: str, salt: str = "s4ltS4lt", iterations: int = 1000) -> str:
    digest = hashlib.pbkdf2_hmac("sha256", password.encode(), salt.encode(), iterations)
    return f"pbkdf2_sha256${iterations}${salt}${base64.b64encode(digest).decode()}"


def _lines(*records: dict) -> str:
    return "\n".join(json.dumps(r) for r in records) + "\n"


def test_import_creates_accounts_whose_old_hashes_work_and_are_upgraded(run, tmp_path, services, app):
    file = tmp_path / "people.jsonl"
    file.write_text(_lines(
        {"email": "b@example.com", "name": "Bea", "password_hash": bcrypt.hashpw(b"bcrypt pass", bcrypt.gensalt(4)).decode(),
         "groups": ["field", "ops"]},
        {"email": "P@Example.com", "password_hash": _django_pbkdf2("django pass")},
        {"email": "a@example.com", "password_hash": services.passwords.hash("argon pass"), "totp_secret": SECRET},
        {"email": "nopass@example.com"},
    ) + "\n")
    result = run("user", "import", str(file))
    assert result.exit_code == 0, result.output
    assert "Imported 4 account(s) into default" in result.output
    bea = user_row(services, "b@example.com")
    assert bea.name == "Bea" and sorted(bea.group_names) == ["field", "ops"] and bea.password_hash.startswith("$2b$")
    assert user_row(services, "nopass@example.com").password_hash is None
    assert len(events(services, "user_created")) == 4 and len(events(services, "users_imported")) == 1
    assert events(services, "user_created")[0].actor == f"cli:{getpass.getuser()}"

    for email, password in (("b@example.com", "bcrypt pass"), ("p@example.com", "django pass")):
        browser = Browser(client=app.test_client())
        wrong = browser.sign_in(browser.open("/account/security"), email, "wrong " + password)
        assert "not correct" in wrong.text
        assert not user_row(services, email).password_hash.startswith("$argon2")
        page = browser.sign_in(wrong, email, password)
        assert page.url.endswith("/account/security"), page.text
        assert user_row(services, email).password_hash.startswith("$nfkc$argon2id$")   # NFKC, then argon2id
    browser = Browser(client=app.test_client())
    page = browser.sign_in(browser.open("/account/security"), "a@example.com", "argon pass")
    assert 'autocomplete="one-time-code"' in page.text   # the imported authenticator is asked for


@pytest.mark.parametrize("record, reason", [
    ({"email": "not an address"}, "email:"),
    ({"name": "No Email"}, "email: missing"),
    ({"email": "x@example.com", "password_hash": "md5$abc"}, "password_hash: unsupported format"),
    ({"email": "x@example.com", "password_hash": "$2b$12$short"}, "not a valid bcrypt hash"),
    ({"email": "x@example.com", "password_hash": "pbkdf2_sha256$abc$salt$hash"}, "not a valid PBKDF2 hash"),
    ({"email": "x@example.com", "totp_secret": "1234"}, "totp_secret: the secret is not base32"),
    ({"email": "x@example.com", "groups": "ops"}, "groups: expected a list"),
    ({"email": "x@example.com", "role": "admin"}, "unknown field 'role'"),
    ({"email": "good@example.com"}, "appears again (first on line 1)"),
    ({"email": "existing@example.com"}, "already has an account"),
])
def test_import_is_all_or_nothing_with_file_line_reason(run, tmp_path, factory, services, record, reason):
    factory.user("existing@example.com")
    file = tmp_path / "people.jsonl"
    file.write_text(_lines({"email": "good@example.com"}, {"email": "fine@example.com", "name": "Fine"}, record))
    result = run("user", "import", str(file))
    assert result.exit_code == 2, result.output
    assert f"{file}:3: " in result.stderr and reason in result.stderr, result.stderr
    assert "Nothing imported" in result.stderr
    assert user_row(services, "good@example.com") is None and user_row(services, "fine@example.com") is None
    assert events(services, "users_imported") == []


def test_import_reports_every_bad_line_and_bad_json(config_file, tmp_path, factory):
    file = tmp_path / "people.jsonl"
    file.write_text('{"email": "ok@example.com"}\n{"email": \n\n["list"]\n')
    result = idp(config_file, "user", "import", str(file))
    assert result.returncode == 2
    assert result.stderr.splitlines() == [f"{file}:2: not valid JSON (Expecting value at column 11)",
                                          f"{file}:4: expected a JSON object",
                                          "idp: Nothing imported (2 problem(s))."]


def test_import_into_a_named_organisation(run, tmp_path, factory, services):
    factory.org("acme", name="Acme")
    file = tmp_path / "people.jsonl"
    file.write_text(_lines({"email": "x@acme.example.com"}))
    several = run("user", "import", str(file))
    assert several.exit_code == 2 and "--org" in several.output
    assert run("user", "import", str(file), "--org", "nope").exit_code == 2
    result = run("user", "import", str(file), "--org", "acme")
    assert result.exit_code == 0, result.output
    assert user_row(services, "x@acme.example.com").organisation.slug == "acme"
