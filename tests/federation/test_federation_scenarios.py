"""The "2FA and SSO" scenarios, against a real upstream: a second instance of this IdP over HTTP whose
users sign in with a password, or a password and an authenticator app (then its ID token proves MFA).

| provider  | scenario           | spec's words      |
| up-sso    | upstream           | SSO only          |
| up-stack  | stack              | SSO + Fentu 2FA   |
| up-either | upstream-or-local  | local 2FA unless the provider proved MFA |"""
from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

from tests.federation.helpers import (audit_details, authorize, choose, id_token_claims, local_totp,
                                      upstream_password)
from tests.support.factors import enrol_totp, require_2fa
from tests.support.factory import PASSWORD

MFA = "urn:fentu:acr:mfa"
PASSWORD_ACR = "urn:fentu:acr:password"


def federated(web, rp, provider: str, email: str, totp_secret: str | None = None, **extra: str):  # noqa: ANN001, ANN201
    """Authorize, "Sign in with <provider>", sign in upstream; the page back here and the PKCE verifier."""
    started = authorize(web, rp, **extra)
    page = choose(web, started.page, provider)
    return upstream_password(web, page, email, totp_secret=totp_secret), started.verifier


def upstream_requests(web) -> list[dict[str, str]]:  # noqa: ANN001
    """The authorization requests this IdP sent to the upstream, as their query parameters."""
    return [{k: v[0] for k, v in parse_qs(urlsplit(url).query).items()}
            for url in web.visited if urlsplit(url).path == "/authorize" and not url.startswith(web.base)]


def last_decision(services) -> dict:  # noqa: ANN001
    outcome, details = audit_details(services)[-1]
    assert outcome == "success", details
    return details


# --------------------------------------------------------------------------- SSO only

def test_sso_only_skips_local_2fa_and_enforcement(web, rp, upstream, services, factory):
    upstream.user("ann@sso.example.com", name="Ann Upstream")
    require_2fa(services, "acme")   # enforcement does not apply to "SSO only"
    done, verifier = federated(web, rp, "up-sso", "ann@sso.example.com")
    claims = id_token_claims(web, rp, done, verifier)
    assert claims["amr"] == ["pwd"] and claims["acr"] == PASSWORD_ACR
    decision = last_decision(services)
    assert decision["scenario"] == "upstream" and decision["local_2fa"] == "skipped"
    assert decision["upstream_amr"] == ["pwd"] and decision["upstream_acr"] == PASSWORD_ACR
    assert "SSO only" in decision["decision"]


def test_sso_only_passes_on_the_mfa_the_provider_proved(web, rp, upstream, services):
    upstream.user("ann@sso.example.com")
    secret = upstream.enrol_totp("ann@sso.example.com")
    done, verifier = federated(web, rp, "up-sso", "ann@sso.example.com", totp_secret=secret)
    claims = id_token_claims(web, rp, done, verifier)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == MFA
    decision = last_decision(services)
    assert decision["upstream_amr"] == ["pwd", "otp", "mfa"] and decision["local_2fa"] == "skipped"


# --------------------------------------------------------------------------- SSO + Fentu 2FA

def test_stack_enforcement_includes_enrolment(web, rp, upstream, services):
    upstream.user("sam@stack.example.com")
    require_2fa(services, "acme")
    page, _ = federated(web, rp, "up-stack", "sam@stack.example.com")
    assert page.status == 200 and "Set up two-factor authentication" in page.text, page.text[:2000]
    decision = last_decision(services)
    assert decision["scenario"] == "stack" and decision["local_2fa"] == "required"


def test_stack_asks_for_local_2fa_even_after_upstream_mfa(browsers, rp, upstream, services):
    upstream.user("sam@stack.example.com")
    first = browsers(upstream.url)
    done, verifier = federated(first, rp, "up-stack", "sam@stack.example.com")   # no local factor yet: in
    assert id_token_claims(first, rp, done, verifier)["amr"] == ["pwd"]
    local = enrol_totp(services, "sam@stack.example.com")
    upstream_secret = upstream.enrol_totp("sam@stack.example.com")
    again = browsers(upstream.url)
    page, verifier = federated(again, rp, "up-stack", "sam@stack.example.com", totp_secret=upstream_secret)
    done = local_totp(again, page, local)
    claims = id_token_claims(again, rp, done, verifier)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == MFA
    assert last_decision(services)["local_2fa"] == "required"


# --------------------------------------------------------------------------- upstream-or-local

def test_upstream_or_local_runs_local_2fa_when_the_provider_proved_none(browsers, rp, upstream, services):
    upstream.user("eve@either.example.com")
    first = browsers(upstream.url)
    federated(first, rp, "up-either", "eve@either.example.com")
    local = enrol_totp(services, "eve@either.example.com")
    again = browsers(upstream.url)
    page, verifier = federated(again, rp, "up-either", "eve@either.example.com")
    done = local_totp(again, page, local)
    claims = id_token_claims(again, rp, done, verifier)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == MFA
    decision = last_decision(services)
    assert decision["scenario"] == "upstream-or-local" and decision["local_2fa"] == "required"
    assert "no MFA proven" in decision["decision"]


def test_upstream_or_local_trusts_the_mfa_the_provider_proved(browsers, rp, upstream, services):
    upstream.user("eve@either.example.com")
    federated(browsers(upstream.url), rp, "up-either", "eve@either.example.com")
    enrol_totp(services, "eve@either.example.com")            # has a local factor, which is not asked
    upstream_secret = upstream.enrol_totp("eve@either.example.com")
    again = browsers(upstream.url)
    done, verifier = federated(again, rp, "up-either", "eve@either.example.com", totp_secret=upstream_secret)
    claims = id_token_claims(again, rp, done, verifier)
    assert claims["amr"] == ["pwd", "otp", "mfa"] and claims["acr"] == MFA
    decision = last_decision(services)
    assert decision["local_2fa"] == "skipped" and "its amr says mfa, otp" in decision["decision"]


# --------------------------------------------------------------------------- local sign-in

def test_local_password_sign_in_keeps_2fa_in_full(web, rp, services, factory):
    factory.user("bob@example.com")
    secret = enrol_totp(services, "bob@example.com")
    started = authorize(web, rp)
    page = web.sign_in(started.page, "bob@example.com", PASSWORD)
    done = local_totp(web, page, secret)
    assert id_token_claims(web, rp, done, started.verifier)["amr"] == ["pwd", "otp", "mfa"]


# --------------------------------------------------------------------------- step-up, prompt=login

def test_step_up_goes_back_upstream_asking_for_mfa(web, rp, upstream, services):
    upstream.user("ann@sso.example.com")
    federated(web, rp, "up-sso", "ann@sso.example.com")       # a session from a password-only sign-in
    secret = upstream.enrol_totp("ann@sso.example.com")
    started = authorize(web, rp, acr_values=MFA)               # the application now needs MFA
    assert 'name="code"' in started.page.text, started.page.text[:2000]   # the upstream's own 2FA page
    assert upstream_requests(web)[-1]["acr_values"] == MFA     # up-sso's mfa_acr_values, asked for
    done = web.submit(started.page, "code", {"code": __import__("pyotp").TOTP(secret).now()})
    claims = id_token_claims(web, rp, done, started.verifier)
    assert claims["acr"] == MFA and "mfa" in claims["amr"]


def test_step_up_runs_local_2fa_when_the_provider_cannot_be_asked(web, rp, upstream, services):
    upstream.user("eve@either.example.com")
    federated(web, rp, "up-either", "eve@either.example.com")  # no factor anywhere yet: amr pwd
    local = enrol_totp(services, "eve@either.example.com")
    started = authorize(web, rp, acr_values=MFA)
    assert "acr_values" not in upstream_requests(web)[-1]      # up-either has no MFA acr to ask for
    done = local_totp(web, started.page, local)                # the provider's session was not MFA: local
    claims = id_token_claims(web, rp, done, started.verifier)
    assert claims["acr"] == MFA and claims["amr"] == ["pwd", "otp", "mfa"]


def test_step_up_with_nothing_to_prove_mfa_is_refused_not_weakened(web, rp, upstream, services):
    upstream.user("ann@sso.example.com")
    federated(web, rp, "up-stack", "ann@sso.example.com")
    started = authorize(web, rp, acr_values=MFA)
    # up-stack asks for no acr upstream; the provider's session is a password; no local factor: the
    # person must set one up now (never a code for the weaker session)
    assert started.page.location is None and "Set up two-factor authentication" in started.page.text


def test_prompt_login_sends_the_person_back_to_the_provider_to_sign_in_again(web, rp, upstream, services):
    upstream.user("ann@sso.example.com")
    done, verifier = federated(web, rp, "up-sso", "ann@sso.example.com")
    first = id_token_claims(web, rp, done, verifier)
    started = authorize(web, rp, prompt="login")
    assert 'name="provider"' in started.page.text              # our sign-in page again, not the old session
    page = choose(web, started.page, "up-sso")
    assert upstream_requests(web)[-1]["prompt"] == "login"
    assert 'name="password"' in page.text                      # the provider asks again
    done = upstream_password(web, page, "ann@sso.example.com")
    again = id_token_claims(web, rp, done, started.verifier)
    assert again["sub"] == first["sub"] and again["sid"] != first["sid"]


# --------------------------------------------------------------------------- keys

def test_upstream_key_rotation_is_followed(browsers, rp, upstream, services):
    """`idp keys rotate` at the provider: its tokens name a kid we have not cached; the keys are fetched
    again once and the sign-in goes on."""
    upstream.user("ann@sso.example.com")
    first = browsers(upstream.url)
    done, verifier = federated(first, rp, "up-sso", "ann@sso.example.com")
    id_token_claims(first, rp, done, verifier)
    upstream.rotate_keys()
    again = browsers(upstream.url)
    done, verifier = federated(again, rp, "up-sso", "ann@sso.example.com")
    assert id_token_claims(again, rp, done, verifier)["amr"] == ["pwd"]
