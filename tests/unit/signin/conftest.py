"""A sign-in service over the real database and policy files, driven without Flask: a transaction, forms, results."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from pathlib import Path

import pytest

from idp.clock import now
from idp.flow.engine import FlowEngine
from idp.flow.policy import load_policies
from idp.signin import flows, transactions
from idp.models import LoginTransaction
from idp.signin.request import RequestFacts
from idp.signin.results import Result
from idp.signin.service import SignInService

BROWSER = "browser-secret-of-this-test"


@dataclasses.dataclass
class Harness:
    """One database session per "request" would be closer to the web; one session is enough for the service."""

    db: object
    service: SignInService
    client_id: str

    @property
    def request(self) -> RequestFacts:
        """A new request each time: the time is read from the (frozen) clock."""
        return RequestFacts(now=now(), ip="192.0.2.7", user_agent="pytest")

    def start(self, purpose: str = "authorize", params: dict[str, str] | None = None) -> LoginTransaction:
        config = self.service.services.config
        client_id = self.client_id if purpose == "authorize" else None
        params = params if params is not None else {"client_id": self.client_id, "scope": "openid",
                                                     "redirect_uri": "http://127.0.0.1:9000/callback"}
        started = transactions.start(self.db, flow=flows.flow_for(config.policy, client_id),
                                     policy_digest=self.service.policies.digest, browser_secret=BROWSER,
                                     ttl_minutes=10, purpose=purpose, client_id=client_id, params=params)
        self.handle = started.handle
        return started.transaction

    def show(self, tx: LoginTransaction) -> Result:
        return self.service.show(tx, self.request)

    def submit(self, tx: LoginTransaction, result: Result, **fields: str) -> Result:
        """Post the form of the page `result` shows (its step), with `fields`."""
        return self.service.submit(tx, self.request, {"tx": str(tx.id), "step": result.step, **fields})


@pytest.fixture
def harness(services, config, factory) -> Iterator[Harness]:  # noqa: ANN001
    policies = load_policies(Path(config.policy.dir))
    engine = FlowEngine(max_failures=config.login.max_second_factor_failures)
    client = factory.client()
    with services.database.session() as db:
        yield Harness(db, SignInService(db, services, engine, policies), client.client_id)
