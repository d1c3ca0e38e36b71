"""Security review R2: a client bound to a stricter flow (`[policy.clients]`, "this client's sign-ins always
run that flow", config.example.toml: `"…" = "strict"  # e.g. the payroll app always asks for two factors`)
gets an authorization code from an existing password-only browser session made by the default flow: the
flow bound to the client never runs.

/authorize reuses any session that `_session_fits` (prompt, max_age, acr_values, hints) and that
`session_policy.check_session` accepts (account, credentials, the ORGANISATION's 2FA requirement):
idp/web/oauth/authorize.py:78-90, 104-117. Neither looks at the flow the client is bound to
(idp/signin/flows.py:7-12 is only consulted when a new sign-in starts, idp/web/login/start.py:24), so a
password-only session from another application is enough for the "always two factors" application."""
from __future__ import annotations

import shutil

import pytest

from tests.support.browser import Browser
from tests.support.factors import EMAIL, amr_of, start
from tests.support.oidc import authorize_url, pkce_pair

STRICT = """description = "Password, then always a second factor (set one up if there is none)."

[[step]]
type = "password"
requirement = "required"

[[step]]
type = "flow"
flow = "second-factor"
requirement = "required"
"""


@pytest.fixture
def config_overrides(tmp_path):  # noqa: ANN001, ANN201
    policies = tmp_path / "policies"
    shutil.copytree("policies", policies)
    (policies / "strict.toml").write_text(STRICT)
    return {"policy": {"dir": str(policies), "reload_interval_seconds": 0.0}, "email": {"enabled": False}}


def test_a_session_of_the_default_flow_is_not_enough_for_a_client_bound_to_a_stricter_flow(
        app, client, browser, factory, services):
    factory.user(EMAIL)                              # no second factor; the organisation does not require one
    other, payroll = factory.client(), factory.client()
    services.config.policy.clients[payroll.client_id] = "strict"

    # control: a new sign-in to the payroll app runs the strict flow (a second factor: here, set one up)
    fresh = Browser(client=app.test_client())
    page, _ = start(fresh, payroll)
    if page.location and "/login" in page.location:
        page = fresh.open(page.location)
    assert "Set up two-factor authentication" in page.text, page.text[:1500]   # precondition: it asks for more

    # a password-only sign-in to another application (the default flow: no second factor needed)
    done, verifier = start(browser, other)
    assert amr_of(client, other, done, verifier) == ["pwd"]

    # the same browser now opens the payroll app
    verifier, challenge = pkce_pair()
    answer = browser.open(authorize_url(payroll.client_id, payroll.redirect_uri, challenge))
    issued = bool(answer.location and answer.location.startswith(payroll.redirect_uri) and "code=" in answer.location)
    amr = amr_of(client, payroll, answer, verifier) if issued else None
    assert not issued, f"the payroll app (bound to the strict flow) got a code for a password-only session: amr={amr}"
