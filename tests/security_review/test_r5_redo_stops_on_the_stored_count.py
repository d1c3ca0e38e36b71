"""The sign-in's redo (idp.signin.wrong_answers) counts on what is stored, and counts what the step compared.
Found by the attacker review of 74ff532, each failing there:

1. The redo decided whether the sign-in stops from the failed request's own count, while it adds one to the
   count stored in the row, which a parallel request of the same browser may have raised meanwhile: the
   stored count reached the limit with the sign-in still active, and a guess sent after the redo was checked.
   Now the stored count decides (transactions.count_failure), and the engine takes no more answers once the
   state is at the limit.
2. A step that failed after its comparison, before it returned its outcome, left the sign-in's count out (the
   factor's own count was redone). Now the redo also counts when the request counted a wrong secret after it
   was registered (idp.db.counted_since)."""
from __future__ import annotations

import sqlalchemy as sa

from idp.factors import lockout
from idp.models import LoginTransaction, User
from idp.signin import transactions
from idp.signin.wrong_answers import WrongAnswer
from tests.hardening.helpers import EMAIL
from tests.security_review.test_r3_a_failing_request_keeps_its_counted_guess import (  # noqa: F401 (fixtures)
    at_the_authenticator_page, count, events, failing_after, failure, wrong, wrong_passwords_until)
from tests.support.browser import Browser
from tests.support.factors import rp  # noqa: F401 (fixture)
from tests.support.factory import PASSWORD
from tests.support.oidc import authorize_url, pkce_pair


def test_a_redo_that_brings_the_stored_count_to_the_limit_stops_the_sign_in(app, factory, rp, services,  # noqa: F811
                                                                            frozen_clock, monkeypatch):
    browser, page, limit = wrong_passwords_until(app, factory, rp, services, left=2)

    original_record, original_count = WrongAnswer.record, transactions.count_failure
    failed = {"once": False}

    def record_then_fail(self, db, user):  # noqa: ANN001, ANN202
        original_record(self, db, user)
        if not failed["once"]:
            failed["once"] = True
            raise RuntimeError("the request fails after its wrong answer counted")

    def a_parallel_wrong_answer_committed_first(db, tx_id, **kwargs):  # noqa: ANN001, ANN003, ANN202
        # what a request of the same browser, queued on the row lock, commits between the rollback and the redo:
        # its own wrong answer (it read the count before this one's, so it was not the last allowed either)
        with services.database.session() as other:
            tx = other.get(LoginTransaction, tx_id)
            state = transactions.flow_state(tx)
            state.failures += 1
            transactions.save(tx, state)
        return original_count(db, tx_id, **kwargs)

    monkeypatch.setattr(WrongAnswer, "record", record_then_fail)
    monkeypatch.setattr(transactions, "count_failure", a_parallel_wrong_answer_committed_first)
    assert browser.sign_in(page, EMAIL, "still not it").status == 500
    monkeypatch.undo()

    status, failures = count(services, sa.select(LoginTransaction.status)), \
        count(services, sa.select(LoginTransaction.failures))
    assert failures == limit
    late = browser.sign_in(page, EMAIL, PASSWORD)      # a guess sent after the redo, not a queued one
    assert not (late.status == 302 and "code=" in (late.location or "")), (
        f"{limit} wrong answers counted in the sign-in (row {status}), yet the next guess was checked and signed in")
    assert status == "failed", f"the stored count reached the limit ({failures}) but the sign-in stayed {status}"


# --- a failure inside the step, after the comparison counted the wrong code --------------------------------

def test_a_failure_inside_the_step_after_the_comparison_still_counts_in_the_sign_in(
        app, factory, rp, services, frozen_clock, monkeypatch, failure):  # noqa: F811, PLR0913
    client, fields, secret = at_the_authenticator_page(app, factory, rp, services)
    monkeypatch.setattr(lockout, "record_failure", failing_after(lockout.record_failure, failure))
    reply = client.post("/login", data={**fields, "code": wrong(secret, frozen_clock)})
    assert reply.status_code in (500, 503)
    assert count(services, sa.select(User.otp_failures)) == 1          # the factor's count: redone
    assert (count(services, sa.select(LoginTransaction.failures)), count(services, events("sign_in_attempt"))) \
        == (1, 1), "the wrong code was compared and counted by the factor, but not in the sign-in"
