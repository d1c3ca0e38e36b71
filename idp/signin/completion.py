"""Finishing a sign-in: the browser session, "Don't ask again on this browser", the audit entry."""
from __future__ import annotations

from sqlalchemy.orm import Session

from idp import audit
from idp.browser import remembered, sessions
from idp.clock import now
from idp.flow.engine import Complete
from idp.flow.state import FlowState
from idp.models import LoginTransaction, User
from idp.services import Services
from idp.signin import flows, transactions

from .request import RequestFacts
from .results import Completed


def complete(db: Session, services: Services, tx: LoginTransaction, state: FlowState, user: User,
             done: Complete, request: RequestFacts) -> Completed:
    """A new browser session for `user` (ending the browser's previous one); the transaction is done. An
    application's answer that has to wait (consent, a notice page) holds it again (`transactions.hold`).

    Lock order: the rows this sign-in changes (its user's, the previous session's...) are written by the
    audit entry's flush, before the audit chain's head is locked, as every other writer does. Only the new
    session row waits: inserted later, once, with the application it is then noted for."""
    config, amr = services.config, list(done.amr)
    for_application = tx.purpose == "authorize"
    transactions.finish(tx, transactions.DONE)
    previous = sessions.unended(db, request.session_sid)   # an idle-expired one too: its tokens go with it
    if previous is not None:
        sessions.end(db, previous, revoke_refresh=previous.user_id != user.id)
    acr = flows.acr_for(config.policy, amr)
    note, cookie, remembered_id = _remember_browser(db, services, tx, state, user, amr, request)
    user.last_login_at = now()
    audit.record(db, "sign_in", request.actor(f"user:{user.email}"), organisation_id=user.organisation_id,
                 target_user_id=user.id, target=user.email,
                 details={"amr": amr, "flow": tx.flow, "client_id": tx.client_id,
                          **({"remembered_browser": note} if note else {})})
    row = sessions.create(db, user, amr=amr, acr=acr, ttl_hours=config.login.session_ttl_hours, ip=request.ip,
                          user_agent=request.user_agent, provider=tx.provider,
                          idle_minutes=config.login.session_idle_minutes, remembered_browser_id=remembered_id)
    next_url = None if for_application else (state.after_login or (tx.request_params or {}).get("next"))
    return Completed(session=row, user=user, amr=tuple(amr), acr=acr, for_application=for_application,
                     next_url=next_url, cookie=cookie)


def _remember_browser(db: Session, services: Services, tx: LoginTransaction, state: FlowState, user: User,
                      amr: list[str], request: RequestFacts,
                      ) -> tuple[str | None, remembered.CookieSpec | None, int | None]:
    """"Don't ask again on this browser": ("new", cookie, None) when it was ticked on a second-factor page of a
    sign-in that proved two factors (and is allowed for this request); ("used", None, its id) when a remembered
    browser let this sign-in skip the second factor (the session then holds while the browser stays
    remembered); (None, None, None) otherwise. The note is for the audit entry: no token."""
    params, acr_mfa = tx.request_params or {}, services.config.policy.acr_mfa
    if "mfa" not in amr:
        row = remembered.find(db, user, request.remembered_cookie)
        if row is not None and not remembered.freshness_demanded(params, acr_mfa):
            remembered.touch(row)
            return "used", None, row.id
        return None, None, None
    if not state.remember_browser or not remembered.may_offer(user, params, acr_mfa):
        return None, None, None
    cookie = remembered.remember(db, user, https=services.config.is_https, ip=request.ip,
                                 user_agent=request.user_agent)
    return ("new" if cookie else None), cookie, None
