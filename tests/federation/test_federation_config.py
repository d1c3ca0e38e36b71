"""`[[providers]]` in the config file: strict like every section (unknown key, wrong type → the key named
as providers[2].issuer), plus the provider rules; and the 2FA decision each scenario makes, including
the condition `upstream_satisfies_2fa` failing closed on an unknown provider."""
from __future__ import annotations

from datetime import UTC, datetime

import pytest

from idp.config import ConfigError, load_config
from idp.federation import providers
from idp.federation.errors import UnknownProvider
from idp.federation.scenarios import decide, proves_mfa, scenario_for
from idp.flow.conditions.upstream_satisfies_2fa import UpstreamSatisfies2fa
from idp.flow.context import FlowContext
from tests.support.configs import TEST_KEK, TEST_SESSION_KEY, make_config

GOOD = {"organisation": "acme", "name": "contoso", "display_name": "Contoso (Entra ID)",
        "issuer": "https://login.microsoftonline.com/11111111-2222-3333-4444-555555555555/v2.0",
        "client_id": "app-id", "client_secret": "s3cret", "domains": ["contoso.example.com"]}


def config_with(*entries: dict):  # noqa: ANN201
    return make_config("sqlite://", providers=list(entries))


def refused(*entries: dict) -> str:
    with pytest.raises(ConfigError) as caught:
        config_with(*entries)
    return str(caught.value)


def test_a_valid_provider_loads_with_defaults():
    config = config_with(GOOD)
    provider = providers.configured(config)[0]
    assert provider.second_factor == "upstream-or-local" and provider.scopes == ("openid", "profile", "email")
    assert provider.claims.email == "email" and provider.claims.email_verified == "email_verified"
    assert provider.client_secret_plain == "s3cret" and "s3cret" not in repr(provider)
    assert provider.discovery_url == GOOD["issuer"] + "/.well-known/openid-configuration"


@pytest.mark.parametrize("entries, message", [
    ([GOOD, {**GOOD, "name": "other", "domains": [], "colour": "blue"}], "providers[1].colour: unknown key"),
    ([{**GOOD, "domains": ["a.example.com", 3]}], "providers[0].domains[1]: expected a string, got int 3"),
    ([{k: v for k, v in GOOD.items() if k != "issuer"}], "providers[0].issuer: required value is missing"),
    ([{**GOOD, "sso_only": "yes"}], "providers[0].sso_only: expected true or false"),
    ([{**GOOD, "claims": {"email": "upn", "mail": "x"}}], "providers[0].claims.mail: unknown key"),
    ([{**GOOD, "scopes": "openid"}], "providers[0].scopes: expected an array"),
    ([{**GOOD, "issuer": "http://idp.example.com"}], "providers[0].issuer: must use https"),
    ([{**GOOD, "second_factor": "sometimes"}], "providers[0].second_factor: must be one of upstream, stack"),
    ([{**GOOD, "multi_tenant": True}], "providers[0].allowed_tenants: must list the tenant ids"),
    ([{**GOOD, "client_secret": ""}], "providers[0].client_secret: is required with client_secret_basic"),
    ([{**GOOD, "token_endpoint_auth_method": "private_key_jwt"}], "providers[0].private_key_file: is required"),
    ([{**GOOD, "scopes": ["profile"]}], 'providers[0].scopes: must include "openid"'),
    ([{**GOOD, "name": "Contoso Entra"}], "providers[0].name: use lower-case letters"),
    ([{**GOOD, "sso_only": True, "domains": []}], "providers[0].sso_only: needs `domains`"),
    ([GOOD, {**GOOD, "display_name": "again"}], "providers[1].name: 'contoso' is already the name of providers[0]"),
    ([GOOD, {**GOOD, "name": "other"}], "providers[1].domains: contoso.example.com is already routed to providers[0]"),
    ([[GOOD]], "providers[0]]: expected a table"),
])
def test_mistakes_name_the_key(entries, message):
    assert message in refused(*entries)


def test_providers_are_an_array_of_tables_in_the_file(tmp_path):
    path = tmp_path / "config.toml"
    path.write_text(f'''issuer = "https://id.example.com"
[secrets]
session_key = "{TEST_SESSION_KEY}"
key_encryption_key = "{TEST_KEK}"

[[providers]]
organisation = "acme"
name = "okta"
display_name = "Acme (Okta)"
issuer = "https://acme.okta.com/oauth2/default"
client_id = "0oa1"
client_secret = "x"
second_factor = "upstream"
mfa_acr_values = ["urn:okta:loa:2fa:any"]

[providers.claims]
groups = "groups"

[[providers]]
organisation = "acme"
name = "entra"
display_name = "Acme (Entra ID)"
issuer = "https://login.microsoftonline.com/organizations/v2.0"
client_id = "app"
client_secret = "y"
multi_tenant = true
allowed_tenants = ["11111111-2222-3333-4444-555555555555"]
timeout = 3
''')
    with pytest.raises(ConfigError, match=r"providers\[1\]\.timeout: unknown key"):
        load_config(path, env={})
    path.write_text(path.read_text().replace("timeout = 3", "timeout_seconds = 3"))
    config = load_config(path, env={})
    assert [p.name for p in config.providers] == ["okta", "entra"]
    assert config.providers[0].claims.groups == "groups" and config.providers[1].timeout_seconds == 3.0
    with pytest.raises(ConfigError, match="IDP_PROVIDERS: arrays can only be set in the config file"):
        load_config(path, env={"IDP_PROVIDERS": "[]"})


# --------------------------------------------------------------------------- the 2FA decision

def provider(scenario: str, **extra: object) -> providers.Provider:
    return providers.Provider(name="p", display_name="P", organisation="acme", issuer="https://p.example.com",
                              client_id="c", second_factor=scenario, **extra)


@pytest.mark.parametrize("scenario, upstream, mfa_requested, skipped", [
    ("upstream", {"amr": ["pwd"]}, False, True),              # SSO only: the provider's business
    ("upstream", {"amr": ["pwd"]}, True, False),              # ... unless the application needs MFA
    ("upstream", {"amr": ["pwd", "mfa"]}, True, True),
    ("stack", {"amr": ["pwd", "mfa", "hwk"]}, False, False),  # SSO + Fentu 2FA: always local too
    ("upstream-or-local", {"amr": ["pwd"]}, False, False),
    ("upstream-or-local", {}, False, False),                  # no amr said: nothing proven
    ("upstream-or-local", {"amr": ["pwd", "otp"]}, False, True),
    ("upstream-or-local", {"amr": ["hwk"]}, True, True),
    ("upstream-or-local", {"amr": ["pwd"], "acr": "urn:okta:loa:2fa:any"}, False, True),
    ("upstream-or-local", {"amr": ["pwd"], "acr": "urn:okta:loa:1fa:any"}, False, False),
])
def test_what_each_scenario_decides(scenario, upstream, mfa_requested, skipped):
    holds, reason = decide(provider(scenario, mfa_acr_values=("urn:okta:loa:2fa:any",)), upstream,
                           mfa_requested=mfa_requested)
    assert holds is skipped, reason
    assert ("local 2FA is skipped" if skipped else "local 2FA is required") in reason


def test_mfa_evidence_is_named():
    assert proves_mfa(provider("upstream"), ["pwd", "swk"], None) == (True, "its amr says swk")
    assert proves_mfa(provider("upstream"), ["pwd"], None)[0] is False


def context(config, db, name: str | None, upstream: dict | None = None) -> FlowContext:  # noqa: ANN001
    return FlowContext(db=db, config=config, services=None, now=datetime.now(UTC), provider=name,
                       upstream=upstream or {})


def test_the_condition_fails_closed_on_an_unknown_provider(services):
    condition = UpstreamSatisfies2fa.parse(False)
    with services.database.session() as db:
        with pytest.raises(UnknownProvider):
            condition.evaluate(context(services.config, db, "gone"))
        local = condition.evaluate(context(services.config, db, None))
        assert local.holds is True and "local 2FA applies in full" in local.reason   # false: it does not


@pytest.fixture
def config_overrides() -> dict:
    return {"providers": [{**GOOD, "second_factor": "stack"}]}


def test_scenario_for_gives_the_specs_words(services):
    with services.database.session() as db:
        assert scenario_for("contoso", db, services.config) == (
            "stack", "SSO + Fentu 2FA: Users complete IdP MFA, then are prompted for a Fentu 2FA code as well")
        verdict = UpstreamSatisfies2fa.parse(False).evaluate(
            context(services.config, db, "contoso", {"amr": ["pwd", "mfa"]}))
        assert verdict.holds is True and "“SSO + Fentu 2FA”: local 2FA is required" in verdict.reason
        with pytest.raises(UnknownProvider):
            scenario_for("nobody", db, services.config)
        with pytest.raises(LookupError, match="needs|database"):
            scenario_for("contoso")


def test_describe_user_for_administrators(services, factory):
    from idp.accounts import find_by_email
    from idp.federation.scenarios import describe_user

    factory.org("acme")
    factory.user("ann@contoso.example.com", org="acme")   # the provider's organisation
    factory.user("bob@example.com")
    with services.database.session() as db:
        ann = describe_user(db, services.config, find_by_email(db, "ann@contoso.example.com"))
        bob = describe_user(db, services.config, find_by_email(db, "bob@example.com"))
    assert ann.startswith("Signs in through Contoso (Entra ID) — SSO + Fentu 2FA: Users complete IdP MFA")
    assert "A Fentu password also works" in ann
    assert bob == "Signs in here (Local login (no SSO)): Fentu FSM 2FA applies in full."


@pytest.mark.parametrize("url, ok", [
    ("https://login.example.com/token", True), ("http://login.example.com/token", False),
    ("http://127.0.0.1:9/token", False), ("javascript:alert(1)", False)])
def test_provider_endpoints_must_use_https(url, ok):
    from idp.federation.discovery import endpoint_problem

    assert (endpoint_problem(providers.from_config(config_with(GOOD).providers[0]), url) is None) is ok
