"""Operating the provider: bad config files stop `idp serve` / `idp db upgrade` with FILE: KEY: reason and
exit status 2; `idp init` writes a private config that works; IDP_* overrides; CLI usage errors are one
line with status 2; plain-http redirect URIs only for loopback unless development = true.

The subprocesses run concurrently (each `python -m idp` costs ~1 s of start-up)."""
from __future__ import annotations

import os
import stat
import subprocess
import sys
from pathlib import Path

import pytest

from idp.clients import ClientError, check_redirect_uri, register_client
from idp.config import ConfigError, load_config
from tests.support.configs import ROOT, TEST_KEK, TEST_SESSION_KEY

SECRETS = f'[secrets]\nsession_key = "{TEST_SESSION_KEY}"\nkey_encryption_key = "{TEST_KEK}"\n'


def _start(*args: str, env: dict[str, str] | None = None) -> subprocess.Popen:
    clean = {k: v for k, v in os.environ.items() if not k.startswith("IDP_")}
    return subprocess.Popen([sys.executable, "-m", "idp", *args], cwd=ROOT, env={**clean, **(env or {})},
                            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)


def _finish(proc: subprocess.Popen, timeout: float = 60) -> tuple[int, str, str]:
    out, err = proc.communicate(timeout=timeout)
    return proc.returncode, out, err


def _run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
    return _finish(_start(*args, env=env))


@pytest.fixture
def idp(capsys, monkeypatch):  # noqa: ANN001, ANN201
    """`idp ARGS` in this process (idp.cli.main, with its error handling): (status, stdout, stderr)."""
    from idp.cli import main

    monkeypatch.chdir(ROOT)

    def run(*args: str, env: dict[str, str] | None = None) -> tuple[int, str, str]:
        with monkeypatch.context() as patch:
            for key in [k for k in os.environ if k.startswith("IDP_")]:
                patch.delenv(key)
            for key, value in (env or {}).items():
                patch.setenv(key, value)
            patch.setattr(sys, "argv", ["idp", *args])
            capsys.readouterr()
            try:
                main()
                code = 0
            except SystemExit as exc:
                code = exc.code if isinstance(exc.code, int) else 1
            out, err = capsys.readouterr()
            return code, out, err

    return run


def _one_line_config_error(err: str, path: Path, key: str, reason: str) -> None:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert lines[0].startswith("idp: configuration error: "), err
    assert str(path) in lines[0] and reason in lines[0], err
    if key:
        assert f": {key}:" in lines[0], err
    assert "Traceback" not in err


BAD_CONFIGS = {
    # name: (file text, key the message must name, words of the reason)
    "unknown_key": (f'issuer = "http://127.0.0.1:8000"\nsurprise = true\n{SECRETS}', "surprise", "unknown key"),
    "wrong_type": (f'issuer = "http://127.0.0.1:8000"\n{SECRETS}[server]\nport = "eighty"\n', "server.port",
                   "expected an integer"),
    "missing_required": ('issuer = "http://127.0.0.1:8000"\n[secrets]\n'
                         f'key_encryption_key = "{TEST_KEK}"\n', "secrets.session_key", "required value is missing"),
}
MORE_BAD_CONFIGS = {
    "unknown_nested_key": (f'issuer = "http://127.0.0.1:8000"\n{SECRETS}[tokens]\naccess_ttl = 5\n',
                           "tokens.access_ttl", "unknown key"),
    "missing_issuer": (SECRETS, "issuer", "required value is missing"),
    "bad_choice": (f'issuer = "http://127.0.0.1:8000"\n{SECRETS}[tokens]\nsigning_alg = "none"\n',
                   "tokens.signing_alg", "must be one of"),
    "bool_for_int": (f'issuer = "http://127.0.0.1:8000"\n{SECRETS}[tokens]\naccess_token_ttl = true\n',
                     "tokens.access_token_ttl", "expected an integer"),
    "value_for_table": (f'issuer = "http://127.0.0.1:8000"\ndatabase = "sqlite:///x.db"\n{SECRETS}', "",
                        "[database]: expected a table"),
    "not_toml": ('issuer = "http://127.0.0.1:8000\n', "", "not valid TOML"),
}


def test_bad_config_files_stop_serve_and_db_upgrade_with_file_key_and_reason(tmp_path):
    """The real command line, as an operator runs it (subprocesses, run side by side)."""
    running = []
    for name, (text, key, reason) in BAD_CONFIGS.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        for command in (["serve", "--port", "1"], ["db", "upgrade"]):
            running.append((name, path, key, reason, command, _start("--config", str(path), *command)))
    for name, path, key, reason, command, proc in running:
        code, out, err = _finish(proc)
        assert code == 2, (name, command, code, out, err)
        _one_line_config_error(err, path, key, reason)
        assert out == ""


def test_more_bad_config_files(idp, tmp_path):
    for name, (text, key, reason) in MORE_BAD_CONFIGS.items():
        path = tmp_path / f"{name}.toml"
        path.write_text(text)
        for command in (["serve"], ["db", "upgrade"]):
            code, out, err = idp("--config", str(path), *command)
            assert code == 2, (name, err)
            _one_line_config_error(err, path, key, reason)


def test_missing_config_file(idp, tmp_path):
    code, _, err = idp("--config", str(tmp_path / "nope.toml"), "db", "upgrade")
    assert code == 2 and "nope.toml: file not found" in err and len(err.strip().splitlines()) == 1


def test_cli_usage_error_from_the_real_command_line():
    code, out, err = _run("serve", "--workers", "zero")
    assert code == 2 and len(err.strip().splitlines()) == 1 and err.startswith("idp: "), err


def test_cli_usage_errors_are_one_line_and_exit_2(idp, tmp_path):
    unused = str(tmp_path / "unused.toml")
    for args in (["--bogus"], ["frobnicate"], ["--config", unused, "client", "create"],
                 ["--config", unused, "serve", "--workers", "0"], ["--config", unused, "keys", "rotate", "--soon"],
                 ["init", "--issuer"]):
        code, out, err = idp(*args)
        assert code == 2, (args, code, err)
        assert len(err.strip().splitlines()) == 1 and err.startswith("idp: "), (args, err)
        assert "Traceback" not in err


def test_init_writes_a_private_config_that_loads_and_upgrades(idp, tmp_path):
    directory = tmp_path / "inst"
    code, out, err = idp("init", str(directory), "--issuer", "https://idp.example.com/")
    assert code == 0, err
    path = directory / "config.toml"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    config = load_config(path, env={})
    assert config.issuer == "https://idp.example.com"          # trailing slash removed
    assert config.development is False
    assert len(config.secrets.session_key) >= 32
    assert idp("init", str(directory))[0] == 2, "never overwrites without --force"

    code, out, err = idp("--config", str(path), "db", "upgrade")
    assert code == 0, err
    assert (directory / "idp.db").exists()
    other_db = tmp_path / "elsewhere" / "idp.db"
    code, out, err = idp("--config", str(path), "db", "upgrade", env={"IDP_DATABASE_URL": f"sqlite:///{other_db}"})
    assert code == 0, err
    assert other_db.exists(), "IDP_DATABASE_URL overrides [database] url"


def test_two_inits_get_different_secrets(idp, tmp_path):
    for name in ("a", "b"):
        assert idp("init", str(tmp_path / name))[0] == 0
    a, b = (load_config(tmp_path / n / "config.toml", env={}) for n in ("a", "b"))
    assert a.secrets.session_key != b.secrets.session_key
    assert a.secrets.key_encryption_key != b.secrets.key_encryption_key


def test_environment_overrides(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'issuer = "http://127.0.0.1:8000"\n{SECRETS}[database]\nurl = "sqlite:///a.db"\n')
    config = load_config(path, env={"IDP_ISSUER": "https://login.example.org",
                                    "IDP_DATABASE_URL": "postgresql+psycopg://db/idp",
                                    "IDP_SERVER_WORKERS": "4", "IDP_DEVELOPMENT": "true"})
    assert config.issuer == "https://login.example.org"
    assert config.database.url == "postgresql+psycopg://db/idp"
    assert config.server.workers == 4 and config.development is True
    with pytest.raises(ConfigError, match="IDP_SERVER_WORKERS"):
        load_config(path, env={"IDP_SERVER_WORKERS": "many"})
    only_env = load_config(None, env={"IDP_ISSUER": "http://127.0.0.1:9", "IDP_SECRETS_SESSION_KEY": "k" * 40,
                                      "IDP_SECRETS_KEY_ENCRYPTION_KEY": TEST_KEK})
    assert only_env.issuer == "http://127.0.0.1:9"


def test_issuer_from_the_environment_reaches_discovery(tmp_path, monkeypatch):
    from idp.app import create_app

    path = tmp_path / "config.toml"
    path.write_text(f'issuer = "http://127.0.0.1:8000"\n{SECRETS}[database]\nurl = "sqlite:///{tmp_path}/x.db"\n'
                    f'[policy]\ndir = "{ROOT / "policies"}"\n')
    config = load_config(path, env={"IDP_ISSUER": "https://sso.example.net"})
    meta = create_app(config).test_client().get("/.well-known/openid-configuration").get_json()
    assert meta["issuer"] == "https://sso.example.net"
    assert meta["token_endpoint"] == "https://sso.example.net/token"


def test_bad_environment_value_exits_2_naming_the_variable(idp, tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'issuer = "http://127.0.0.1:8000"\n{SECRETS}')
    code, _, err = idp("--config", str(path), "db", "upgrade", env={"IDP_SERVER_PORT": "eighty"})
    assert code == 2 and "IDP_SERVER_PORT" in err and len(err.strip().splitlines()) == 1


# --- redirect URI registration rules ----------------------------------------------------------------

@pytest.mark.parametrize("uri", ["http://127.0.0.1:9000/cb", "http://localhost/cb", "http://[::1]:8080/cb",
                                 "https://rp.example.com/cb", "com.example.app:/oauth2redirect"])
def test_allowed_redirect_uris(uri):
    check_redirect_uri(uri, development=False)


@pytest.mark.parametrize("uri", ["http://rp.example.com/cb", "http://10.0.0.5/cb", "http://127.0.0.1.nip.io/cb",
                                 "https://rp.example.com/cb#frag", "/relative/cb", "javascript:alert(1)"])
def test_refused_redirect_uris(uri):
    with pytest.raises(ClientError):
        check_redirect_uri(uri, development=False)


def test_register_client_refuses_plain_http_unless_development(services, database_url):
    with services.database.session() as db:
        with pytest.raises(ClientError, match="plain http"):
            register_client(db, name="x", redirect_uris=["http://rp.example.com/cb"])
        with pytest.raises(ClientError, match="plain http"):
            register_client(db, name="x", redirect_uris=["https://rp.example.com/cb"],
                            logout_uris=["http://rp.example.com/bye"])
        client, secret = register_client(db, name="dev", redirect_uris=["http://rp.example.com/cb"], development=True)
        assert client.client_id and secret


def test_cli_client_create_refuses_plain_http_on_a_production_instance(idp, tmp_path):
    directory = tmp_path / "inst"
    assert idp("init", str(directory))[0] == 0
    path = directory / "config.toml"
    assert idp("--config", str(path), "db", "upgrade")[0] == 0
    code, out, err = _run("--config", str(path), "client", "create", "--name", "RP", "--redirect-uri",
                          "http://rp.example.com/cb")
    assert code == 2 and "plain http" in err and len(err.strip().splitlines()) == 1, err
    code, out, err = idp("--config", str(path), "client", "create", "--name", "RP", "--redirect-uri",
                         "http://rp.example.com/cb", "--post-logout-redirect-uri", "https://rp.example.com/")
    assert code == 2 and "plain http" in err
    code, out, err = idp("--config", str(path), "client", "create", "--name", "RP", "--redirect-uri",
                         "http://127.0.0.1:9000/cb", "--json")
    assert code == 0, err
    assert '"client_secret"' in out
    listing = idp("--config", str(path), "client", "list")[1]
    assert "rp.example.com" not in listing and "127.0.0.1:9000" in listing


def test_cli_client_create_allows_plain_http_in_development(idp, tmp_path):
    directory = tmp_path / "dev"
    assert idp("init", str(directory), "--development")[0] == 0
    path = directory / "config.toml"
    assert idp("--config", str(path), "db", "upgrade")[0] == 0
    code, out, err = idp("--config", str(path), "client", "create", "--name", "RP", "--redirect-uri",
                         "http://rp.internal/cb", "--no-require-pkce")
    assert code == 0, err
    assert "client_id:" in out
