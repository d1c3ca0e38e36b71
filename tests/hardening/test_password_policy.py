"""New-password rules after NIST SP 800-63B (idp.security.password_policy) and their use in the CLI."""
from __future__ import annotations

import pytest
from click.testing import CliRunner

from idp.config import PasswordsConfig
from idp.security.password_policy import MAX_LENGTH, check_new_password, common_passwords

EMAIL = "alice.smith@example.com"
GOOD = "tulip marble orbit canyon"


def check(password: str, single_factor: bool = False, email: str = EMAIL, **config: int) -> list[str]:
    return check_new_password(password, single_factor=single_factor, email=email, config=PasswordsConfig(**config))


def test_the_blocklist_is_shipped_large_and_lowercase():
    words = common_passwords()
    assert len(words) >= 10_000
    assert {"123456", "password", "qwerty", "iloveyou", "#1bitch"} <= words   # '#' lines after the header count
    assert all(w == w.lower() for w in words)


def test_a_good_password_passes():
    assert check(GOOD) == [] and check(GOOD, single_factor=True) == []


def test_minimum_8_with_a_second_factor_15_without():
    assert check("kx7#Pq2w") == []
    assert check("kx7#Pq2") == ["Use at least 8 characters; this one has 7."]
    [problem] = check("kx7#Pq2wZ9", single_factor=True)
    assert problem.startswith("Use at least 15 characters (this account has no second factor")
    assert check("kx7#Pq2wZ9!mR4t", single_factor=True) == []
    assert check("kx7#Pq2wZ9", single_factor=True, min_length_single_factor=8) == []


def test_long_passwords_up_to_256_and_unicode_counts_code_points():
    assert check("w" + "x1Y" * 85) == []                       # 256
    assert check("correct horse " * 5) == []                    # 70 (> 64: must be accepted)
    assert check("a" + "x1Y" * 85 + "z")[0] == f"Use at most {MAX_LENGTH} characters; this one has 257."
    assert check("日本語のパスワード") == []                     # 9 code points
    assert check("日本語パス")[0].startswith("Use at least 8")   # 5 code points (15 bytes)


def test_no_composition_rules():
    assert check("lowercase only words here") == []
    assert check("ALL CAPITALS AND SPACES") == []


@pytest.mark.parametrize("password", ["password", "PASSWORD", "Password1", "iloveyou", "qwertyuiop",
                                      "password123!", "!!monkey2024", "Sunshine2020"])
def test_common_passwords_and_small_variations_are_refused(password):
    problems = check(password)
    assert any("list of common or leaked passwords" in p for p in problems), (password, problems)


@pytest.mark.parametrize("password", ["aaaaaaaaaaaa", "abababababab", "abcabcabcabc", "abcdefghijklm",
                                      "987654321098"[:9]])
def test_repetitions_and_sequences_are_refused(password):
    assert any("repeated or a plain sequence" in p or "common" in p for p in check(password)), password


@pytest.mark.parametrize("password", [EMAIL, "alice.smith", "Alice.Smith2024", "smith!!2024", "ALICESMITH"])
def test_the_email_and_its_name_parts_are_refused(password):
    assert "Don't build the password from your email address or your name in it." in check(password), password


def test_the_email_inside_a_long_passphrase_is_fine():
    assert check("alice.smith walks across the frozen lake") == []


def test_the_service_name_is_refused():
    assert "Don't build the password from the name of this service." in check("Fentu2024!")


def test_empty():
    assert check("") == ["Enter a password."]


def test_the_deployment_settings_apply(app):  # noqa: ANN001
    config = app.extensions["idp"].config.passwords
    assert check_new_password("kx7#Pq2wZ9", single_factor=True, email=EMAIL, config=config)[0].startswith(
        "Use at least 15")
    assert check_new_password("kx7#Pq2wZ9", single_factor=False, email=EMAIL, config=config) == []


class TestCli:
    def run(self, config_file, *args: str, stdin: str = ""):  # noqa: ANN001, ANN201
        from idp.cli import cli
        from idp.cli import users  # noqa: F401 (registers the command)
        return CliRunner().invoke(cli, ["--config", str(config_file), *args], input=stdin)

    @pytest.fixture
    def config_file(self, tmp_path, database_url, services):  # noqa: ANN001, ANN201
        from tests.support.configs import write_config_file
        return write_config_file(tmp_path / "config.toml", database_url, "http://localhost")

    def test_user_create_refuses_a_weak_password_and_creates_nothing(self, config_file, factory):  # noqa: ANN001
        result = self.run(config_file, "user", "create", EMAIL, "--password-stdin", stdin="password123\n")
        assert result.exit_code != 0
        assert "the password was refused" in result.output
        listed = self.run(config_file, "user", "list")
        assert EMAIL not in listed.output

    def test_user_create_needs_15_characters_for_a_new_account(self, config_file):  # noqa: ANN001
        result = self.run(config_file, "user", "create", EMAIL, "--password-stdin", stdin="kx7#Pq2wZ9\n")
        assert result.exit_code != 0 and "Use at least 15 characters" in result.output
        result = self.run(config_file, "user", "create", EMAIL, "--password-stdin", stdin=GOOD + "\n")
        assert result.exit_code == 0, result.output


@pytest.mark.parametrize("weak", ["password1234567", "iloveyou1234567", "passwordpassword", "123456789012345"])
def test_listed_passwords_padded_or_doubled_and_wrapping_digit_runs_are_refused(weak):
    from idp.security.password_policy import check_new_password

    assert check_new_password(weak, single_factor=True, email="someone@example.com")
