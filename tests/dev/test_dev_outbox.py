"""Development mode (`idp init --development`, `make run`): email and SMS go to the built-in outbox, and
/dev/outbox lists what was sent (newest first, codes readable) so that email codes, SMS codes and "Forgot
password?" work without a mail server or SMS gateway. Anywhere else the page does not exist (404) and the
config refuses the `outbox` providers."""
from __future__ import annotations

import html
import re
import tomllib

import pytest
from click.testing import CliRunner

from idp.config import ConfigError
from tests.support.browser import Browser
from tests.support.configs import make_config
from tests.support.factors import EMAIL, amr_of, enrol_side_channel, rp, start  # noqa: F401 (fixture)

PHONE = "+447911123456"
SIX_DIGITS = re.compile(r"\b(\d{6})\b")


@pytest.fixture
def config_overrides(tmp_path):  # noqa: ANN001, ANN201
    return {"development": True, "instance_dir": str(tmp_path / "instance"),
            "email": {"enabled": True, "provider": "outbox"}, "sms": {"provider": "outbox"}}


def outbox_page(client) -> str:  # noqa: ANN001
    page = client.get("/dev/outbox")
    assert page.status_code == 200
    return html.unescape(page.get_data(as_text=True))


def newest_code(client) -> str:  # noqa: ANN001
    text = outbox_page(client)
    first = text.index("<article")                  # newest first
    return SIX_DIGITS.search(text[first:]).group(1)


def test_email_and_sms_codes_are_listed_and_work(app, client, browser, factory, services, rp):  # noqa: ANN001, F811
    assert "Nothing was sent yet" in outbox_page(client)
    factory.user(EMAIL)
    enrol_side_channel(services, EMAIL, "email")
    page, verifier = start(browser, rp)
    text = outbox_page(client)
    assert f"Email to {EMAIL}" in text and "sign-in code" in text and "plain text" in text
    done = browser.submit(page, "code", {"code": newest_code(client)})
    assert "otp" in amr_of(client, rp, done, verifier)

    factory.user("bob@example.com")
    enrol_side_channel(services, "bob@example.com", "sms", PHONE)
    other = Browser(client=app.test_client())
    page, verifier = start(other, rp, email="bob@example.com")
    text = outbox_page(client)
    assert text.index(f"Text message to {PHONE}") < text.index(f"Email to {EMAIL}")     # newest first
    done = other.submit(page, "code", {"code": newest_code(client)})
    assert "sms" in amr_of(client, rp, done, verifier)


def test_forgot_password_link_is_listed(browser, client, factory):  # noqa: ANN001
    factory.user(EMAIL)
    page = browser.open("/forgot-password")
    browser.submit(page, "email", {"email": EMAIL})
    text = outbox_page(client)
    link = re.search(r"http://localhost(/reset-password/[A-Za-z0-9_-]+)", text).group(1)
    assert browser.open(link).status == 200


class TestProduction:
    @pytest.fixture
    def config_overrides(self):  # noqa: ANN201
        return {}

    def test_the_page_does_not_exist(self, client):  # noqa: ANN001
        assert client.get("/dev/outbox").status_code == 404

    @pytest.mark.parametrize("section", ["email", "sms"])
    def test_the_outbox_providers_are_refused(self, section, database_url):  # noqa: ANN001
        values = {"enabled": True, "provider": "outbox"} if section == "email" else {"provider": "outbox"}
        with pytest.raises(ConfigError, match=rf"{section}.provider: 'outbox' .* refused unless development"):
            make_config(database_url, **{section: values})


def test_init_development_uses_localhost_and_the_outbox(tmp_path):  # noqa: ANN001
    from idp.cli import setup  # noqa: F401  (registers `init`)
    from idp.cli.base import cli

    result = CliRunner().invoke(cli, ["init", str(tmp_path / "dev"), "--development"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    config = tomllib.loads((tmp_path / "dev" / "config.toml").read_text())
    assert config["issuer"] == "http://localhost:8000" and config["development"] is True
    assert config["email"] == {"enabled": True, "provider": "outbox"} and config["sms"] == {"provider": "outbox"}
    production = CliRunner().invoke(cli, ["init", str(tmp_path / "prod")], catch_exceptions=False)
    assert production.exit_code == 0
    text = (tmp_path / "prod" / "config.toml").read_text()
    assert "outbox" not in text and 'issuer = "http://localhost:8000"' in text
