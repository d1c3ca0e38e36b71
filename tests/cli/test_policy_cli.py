"""`idp policy check`, `idp policy explain`, and `idp serve` refusing to start on a broken policy."""
from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest

from tests.support.configs import ROOT, write_config_file
from tests.support.servers import free_port


def idp(*args: str, config: Path | None = None, timeout: float = 60) -> subprocess.CompletedProcess:
    cmd = [sys.executable, "-m", "idp", *(["--config", str(config)] if config else []), *args]
    return subprocess.run(cmd, cwd=ROOT, capture_output=True, text=True, timeout=timeout)


@pytest.fixture
def config_file(tmp_path, database_url, services):  # noqa: ANN001, ANN201
    return write_config_file(tmp_path / "config.toml", database_url, "http://127.0.0.1:8000")


@pytest.fixture
def broken_policies(tmp_path) -> Path:  # noqa: ANN001
    directory = tmp_path / "broken"
    directory.mkdir()
    (directory / "browser.toml").write_text(
        'description = "broken"\n\n[[step]]\ntype = "pasword"\nrequirement = "required"\n')
    return directory


def test_check_says_ok_for_the_shipped_policies(config_file):
    result = idp("policy", "check", config=config_file)
    assert result.returncode == 0 and result.stdout.startswith("ok:"), result.stderr


def test_check_reports_file_line_and_reason(broken_policies):
    result = idp("policy", "check", str(broken_policies))
    assert result.returncode == 1
    assert f"{broken_policies / 'browser.toml'}:4:" in result.stderr and "pasword" in result.stderr


def test_serve_refuses_to_start_on_a_broken_policy(tmp_path, database_url, broken_policies):
    config = write_config_file(tmp_path / "bad.toml", database_url, "http://127.0.0.1:8000",
                               policy={"dir": str(broken_policies)})
    result = idp("serve", "--port", str(free_port()), config=config, timeout=30)
    assert result.returncode == 1
    assert "refusing to start" in result.stderr and "browser.toml:4:" in result.stderr


def test_explain_shows_each_step_and_why(config_file, factory):
    factory.user("alice@example.com")
    human = idp("policy", "explain", "--user", "alice@example.com", config=config_file)
    assert human.returncode == 0, human.stderr
    assert "Password [required]: RUNS" in human.stdout and "Two-factor enforcement: off" in human.stdout
    machine = json.loads(idp("policy", "explain", "--user", "alice@example.com", "--json", config=config_file).stdout)
    assert machine["flow"] == "browser" and machine["steps"][0]["decision"] == "runs"


def test_explain_for_an_unknown_user_is_a_one_line_error(config_file):
    result = idp("policy", "explain", "--user", "nobody@example.com", config=config_file)
    assert result.returncode == 2 and "no account" in result.stderr and result.stderr.count("\n") == 1
