"""`idp provider list` and `idp provider check NAME`, against real providers over HTTP (mini OPs)."""
from __future__ import annotations

from collections.abc import Iterator

import pytest
from click.testing import CliRunner

import idp.cli.providers  # noqa: F401  (registers the commands)
from idp.cli.base import cli
from idp.federation.login import callback_url
from tests.federation.conftest import ACME
from tests.federation.helpers import audit_details
from tests.support.configs import write_config_file
from tests.support.mini_op import MiniOp, serve
from tests.support.servers import free_port


@pytest.fixture
def op(issuer) -> Iterator[MiniOp]:  # noqa: ANN001
    with serve(MiniOp(redirect_uri=callback_url(issuer))) as running:
        yield running


def table(name: str, issuer: str, secret: str = "mini-secret", **extra: str) -> str:
    lines = ["[[providers]]", f'organisation = "{ACME}"', f'name = "{name}"', f'display_name = "{name.title()}"',
             f'issuer = "{issuer}"', 'client_id = "mini-client"', f'client_secret = "{secret}"',
             'domains = ["' + name + '.example.org"]', "timeout_seconds = 2.0"]
    lines += [f'{k} = "{v}"' for k, v in extra.items()]
    return "\n".join(lines) + "\n"


@pytest.fixture
def providers(op) -> list[dict]:  # noqa: ANN001
    return []


@pytest.fixture
def run(tmp_path, database_url, services, issuer, op, acme):  # noqa: ANN001, ANN201
    path = write_config_file(tmp_path / "config.toml", database_url, issuer)
    path.write_text(path.read_text() + "\n" + table("mini", op.url, second_factor="stack")
                    + table("wrong-secret", op.url, secret="nope")
                    + table("down", f"http://127.0.0.1:{free_port()}")
                    + table("elsewhere", op.url).replace(f'organisation = "{ACME}"', 'organisation = "nowhere"'))

    def invoke(*args: str):  # noqa: ANN202
        return CliRunner().invoke(cli, ["--config", str(path), *args])
    return invoke


def test_list_shows_where_each_provider_is_defined_and_its_scenario(run):
    result = run("provider", "list")
    assert result.exit_code == 0, result.output
    mini = next(line for line in result.output.splitlines() if line.startswith("mini\t"))
    assert "\tacme\tconfig\t" in mini and "mini.example.org" in mini and "stack (SSO + Fentu 2FA)" in mini


def test_check_a_working_provider(run, services):
    result = run("provider", "check", "mini")
    assert result.exit_code == 0, result.output
    assert "[ok] discovery document" in result.output and "[ok] signing keys: 1 key(s)" in result.output
    assert "[ok] client mini-client (client_secret_basic): credentials accepted" in result.output
    assert "/federation/callback" in result.output and "not recommended" in result.output
    assert "Mini is ready for sign-in." in result.output
    assert audit_details(services, "sso_provider_checked")[-1] == ("success", {"provider": "mini", "problems": []})


@pytest.mark.parametrize("name, line", [
    ("wrong-secret", "[FAIL] client mini-client (client_secret_basic): the token endpoint refused the client's "
                     "credentials (invalid_client)"),
    ("down", "[FAIL] discovery document: upstream_unreachable"),
    ("elsewhere", "[FAIL] organisation: 'nowhere' does not exist"),
])
def test_check_names_what_is_wrong_and_exits_1(run, name, line):
    result = run("provider", "check", name)
    assert result.exit_code == 1 and line in result.output, result.output


def test_check_an_unknown_provider_is_a_usage_error(run):
    result = run("provider", "check", "nobody")
    assert result.exit_code == 2 and "no enabled provider named 'nobody'" in result.output


def test_policy_explain_names_the_providers_scenario(run, factory, services):
    import idp.cli.policy  # noqa: F401  (registers the command)
    from tests.support.factors import require_2fa

    factory.user("pat@mini.example.org", org=ACME)
    require_2fa(services, ACME)
    result = run("policy", "explain", "--user", "pat@mini.example.org", "--provider", "mini")
    assert result.exit_code == 0, result.output
    assert "flow 'upstream'" in result.output
    assert "Upstream provider mini: SSO + Fentu 2FA: Users complete IdP MFA" in result.output
    assert "“SSO + Fentu 2FA”: local 2FA is required" in result.output
