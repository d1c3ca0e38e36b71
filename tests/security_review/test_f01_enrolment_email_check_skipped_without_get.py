"""Security review F-01 (fixed): forced enrolment's "confirm the account email first" cannot be skipped by
never loading the enrolment page. An attacker with only the password posts the password form, ignores the
redirect and posts straight to the enrolment step with stage=choose&method=totp: the engine refuses a step
whose challenge was never issued, and the step refuses to choose a method before the email check."""
from __future__ import annotations

import re

import pytest
import sqlalchemy as sa

from idp.models import SecondFactor

from tests.support.factors import EMAIL, amr_of, code_at, require_2fa, rp  # noqa: F401
from tests.support.factory import PASSWORD
from tests.support.forms import form_with
from tests.support.oidc import authorize_url, pkce_pair
from tests.support.smtp import email_config, smtp  # noqa: F401


@pytest.fixture
def config_overrides(smtp):  # noqa: ANN001, ANN201, F811
    return {"email": email_config(smtp)}


def test_password_only_attacker_cannot_enrol_without_email_check(browser, client, factory, rp, smtp,  # noqa: F811
                                                                  services, frozen_clock):
    factory.user(EMAIL)
    require_2fa(services)                      # grace over: enrolment is forced at the next sign-in
    verifier, challenge = pkce_pair()
    page = browser.open(authorize_url(rp.client_id, rp.redirect_uri, challenge))
    form = form_with(page.text, "password")
    base = dict(form.fields)                   # csrf_token, tx, step
    # 1. the password; the next step's page is the answer (its begin() sends the email check), ignored here
    r = client.post("/login", data={**base, "email": EMAIL, "password": PASSWORD})
    assert r.status_code == 200
    enrol_path = "browser/second-factor/enrol_second_factor"
    post = lambda **f: client.post("/login", data={"csrf_token": base["csrf_token"], "tx": base["tx"],  # noqa: E731
                                                   "step": enrol_path, **f})
    # 2. straight to "choose": the email check is never asked for
    r = post(stage="choose", method="totp")
    body = r.get_data(as_text=True)
    secret = re.search(r'id="totp-secret">([A-Z2-7 ]+)<', body)
    # The secure behaviour: no authenticator can be set up before the emailed code was confirmed.
    assert secret is None, "TOTP secret handed out without confirming the account email"
    assert "out of date" in body
    with services.database.session() as db:
        assert db.scalar(sa.select(sa.func.count(SecondFactor.id))) == 0
