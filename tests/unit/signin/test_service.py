"""The sign-in service without Flask: typed results for show / submit / choose / resend / restart, the typed
facts recorded in the FlowState, the transaction's statuses, and one cache of facts per request."""
from __future__ import annotations

import dataclasses

import pyotp

from idp.clock import now
from idp.flow.state import FlowState
from idp.signin import transactions
from idp.signin.results import Completed, Failed, ShowStep
from idp.signin.service import NOT_OFFERED, OUT_OF_DATE, STALE_TAB
from tests.support.factors import EMAIL, enrol_totp, give_recovery_codes
from tests.support.factory import PASSWORD


def _password_page(harness, tx) -> ShowStep:  # noqa: ANN001
    page = harness.show(tx)
    assert isinstance(page, ShowStep) and page.template == "steps/password.html", page
    return page


def test_password_only_sign_in_completes_and_finishes_its_transaction(harness, factory):  # noqa: ANN001
    factory.user(EMAIL)
    tx = harness.start()
    page = _password_page(harness, tx)
    assert page.message is None and page.notice is None and page.user is None
    done = harness.submit(tx, page, email=EMAIL, password=PASSWORD)
    assert isinstance(done, Completed), done
    assert done.for_application and done.amr == ("pwd",) and done.user.email == EMAIL
    assert done.session.user_id == done.user.id and done.cookie is None
    # done: only an application's answer that has to wait holds it again for this browser (idp.web.oauth)
    assert tx.status == transactions.DONE and tx.request_params["client_id"] == harness.client_id


def test_a_wrong_password_shows_the_page_again_with_a_message_and_counts(harness, factory):  # noqa: ANN001
    factory.user(EMAIL)
    tx = harness.start()
    page = harness.submit(tx, _password_page(harness, tx), email=EMAIL, password="wrong")
    assert isinstance(page, ShowStep) and page.template == "steps/password.html" and page.message
    assert tx.status == transactions.ACTIVE


def test_a_form_from_another_tab_changes_nothing(harness, factory):  # noqa: ANN001
    factory.user(EMAIL)
    tx = harness.start()
    page = _password_page(harness, tx)
    before = dict(tx.state)
    stale = harness.service.submit(tx, harness.request, {"tx": str(tx.id + 1), "step": page.step, "email": EMAIL,
                                                         "password": PASSWORD})
    assert isinstance(stale, ShowStep) and stale.notice == STALE_TAB
    assert tx.state == before and tx.user_id is None
    other_step = harness.submit(tx, dataclasses.replace(page, step="browser/nothing"), email=EMAIL, password=PASSWORD)
    assert isinstance(other_step, ShowStep) and other_step.notice == OUT_OF_DATE and tx.user_id is None


def test_password_then_authenticator_app_with_remember_browser(harness, factory, services,  # noqa: ANN001
                                                               frozen_clock):
    factory.user(EMAIL)
    secret = enrol_totp(services, EMAIL)
    tx = harness.start()
    page = harness.submit(tx, _password_page(harness, tx), email=EMAIL, password=PASSWORD)  # the next page at once
    assert isinstance(page, ShowStep) and page.template == "steps/totp.html" and page.user.email == EMAIL
    assert harness.show(tx) == page
    assert "recovery_choice" not in page.view   # no recovery codes given yet
    code = pyotp.TOTP(secret).at(frozen_clock.current)
    done = harness.submit(tx, page, code=code, remember_browser="yes")
    assert isinstance(done, Completed), done
    assert set(done.amr) >= {"pwd", "otp", "mfa"} and done.acr == services.config.policy.acr_mfa
    assert transactions.flow_state(tx).remember_browser is True
    if page.remember_days:
        assert done.cookie is not None and done.cookie.httponly


def test_recovery_code_records_where_to_go_after_login_as_a_typed_fact(harness, factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    codes = give_recovery_codes(services, EMAIL)
    tx = harness.start()
    harness.submit(tx, _password_page(harness, tx), email=EMAIL, password=PASSWORD)
    page = harness.show(tx)
    recovery = page.view["recovery_choice"]   # "Use a recovery code instead", on the prompt itself
    assert isinstance(harness.service.choose(tx, harness.request, "browser/nothing"), ShowStep)
    assert harness.service.choose(tx, harness.request, "browser/nothing").notice == NOT_OFFERED
    page = harness.service.choose(tx, harness.request, recovery)
    assert isinstance(page, ShowStep) and page.template == "steps/recovery_code.html"
    done = harness.submit(tx, page, code=codes[0])
    assert isinstance(done, Completed) and done.for_application
    state = transactions.flow_state(tx)
    assert state.after_login == "/account/security?recovery_used=1"
    assert all("after_login" not in scratch for scratch in state.step_state.values())


def test_account_sign_in_finishes_the_transaction_and_says_where_next(harness, factory):  # noqa: ANN001
    factory.user(EMAIL)
    tx = harness.start(purpose="account", params={"next": "/account/security"})
    done = harness.submit(tx, _password_page(harness, tx), email=EMAIL, password=PASSWORD)
    assert isinstance(done, Completed) and not done.for_application and done.next_url == "/account/security"
    assert tx.status == transactions.DONE


def test_too_many_wrong_codes_fail_the_sign_in_for_good(harness, factory, services, frozen_clock):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    tx = harness.start()
    harness.submit(tx, _password_page(harness, tx), email=EMAIL, password=PASSWORD)
    page = harness.show(tx)
    result = page
    for _ in range(services.config.login.max_second_factor_failures + 1):
        frozen_clock.advance(seconds=120)     # past the short delay after a wrong code
        result = harness.submit(tx, page, code="000000")
        if isinstance(result, Failed):
            break
    assert isinstance(result, Failed) and result.reason
    assert tx.status == transactions.FAILED


def test_resend_for_a_step_that_cannot_resend_says_so(harness, factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    tx = harness.start()
    harness.submit(tx, _password_page(harness, tx), email=EMAIL, password=PASSWORD)
    page = harness.show(tx)
    again = harness.service.resend(tx, harness.request, {"step": page.step})
    assert isinstance(again, ShowStep) and again.message == "This step cannot send a new code."
    stale = harness.service.resend(tx, harness.request, {"step": "browser/password"})
    assert stale.notice == OUT_OF_DATE


def test_restart_returns_the_application_request_even_after_the_sign_in_failed(harness, factory):  # noqa: ANN001
    tx = harness.start()
    transactions.finish(tx, transactions.FAILED)
    harness.db.flush()
    assert harness.service.restart(harness.handle)["client_id"] == harness.client_id
    harness.start(purpose="account", params={"next": "/admin"})
    harness.db.flush()
    assert harness.service.restart(harness.handle) == {}
    assert harness.service.restart(None) == {}


class CountingFacts:
    """services.facts that counts the questions it is asked."""

    def __init__(self, real) -> None:  # noqa: ANN001
        self.real, self.asked = real, []

    def __getattr__(self, name: str):  # noqa: ANN204
        def ask(ctx):  # noqa: ANN001, ANN202
            self.asked.append((name, ctx.user.id if ctx.user else None))
            return getattr(self.real, name)(ctx)
        return ask


def test_one_request_asks_each_fact_once_per_flow_generation(harness, factory, services):  # noqa: ANN001
    factory.user(EMAIL)
    enrol_totp(services, EMAIL)
    counting = CountingFacts(services.facts)
    harness.service.services = dataclasses.replace(services, facts=counting)
    tx = harness.start()
    harness.submit(tx, _password_page(harness, tx), email=EMAIL, password=PASSWORD)
    page = harness.show(tx)
    counting.asked.clear()
    again = harness.submit(tx, page, code="000000")   # one POST: the position before and after the step
    assert again.template == "steps/totp.html" and again.message
    assert counting.asked and len(counting.asked) == len(set(counting.asked)), counting.asked


def test_the_flow_state_keeps_typed_facts_and_reads_old_rows():
    state = FlowState.from_json({"completed": {"a": ["pwd"]}, "user_id": 3})
    assert state.after_login is None and state.remember_browser is False and state.upstream == {}
    state.after_login, state.upstream = "/account/security", {"provider": "corp"}
    again = FlowState.from_json(state.to_json())
    assert again.after_login == "/account/security" and again.upstream == {"provider": "corp"}


def test_request_facts_name_the_actor():
    from idp.signin.request import RequestFacts
    actor = RequestFacts(now=now(), ip="192.0.2.1", user_agent="ua").actor("user:a@example.com")
    assert (actor.name, actor.ip, actor.user_agent) == ("user:a@example.com", "192.0.2.1", "ua")


def test_the_memo_forgets_its_answers_when_the_flow_moves_on():
    from idp.flow.context import Memo
    memo, asked = Memo(), []

    def ask() -> bool:
        asked.append(1)
        return True

    memo.renew(("browser", 7, ("browser/password",), ()))
    assert memo.remember("applicable", ask) and memo.remember("applicable", ask) and len(asked) == 1
    memo.renew(("browser", 7, ("browser/password",), ()))          # same progress: still known
    memo.remember("applicable", ask)
    assert len(asked) == 1
    memo.renew(("browser", 7, ("browser/password", "browser/second-factor/totp"), ()))   # a step succeeded
    memo.remember("applicable", ask)
    assert len(asked) == 2
