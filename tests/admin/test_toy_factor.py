"""Issue 12's acceptance: adding a factor is one new module (plus its template). A toy "push approval" factor,
defined here and nowhere else, appears in the sign-in, Profile > Security, Administration > Settings >
Security and `idp user show` without editing any other module (docs/architecture.md, "Add a factor")."""
from __future__ import annotations

import shutil
from collections.abc import Iterator, Mapping
from pathlib import Path

import jinja2
import pytest
import sqlalchemy as sa

from idp.factors import enrolled
from idp.factors import step_outcomes as sf
from idp.factors.registry import FactorType, factor_types, register_factor, unregister_factor
from idp.factors.verification import Attempt
from idp.flow.context import FlowContext
from idp.flow.outcome import Outcome
from idp.models import AuditEvent, SecondFactor, User
from tests.admin.helpers import sign_in
from tests.support.configs import ROOT

HERE = Path(__file__).parent


class ToyPush(FactorType):
    """A push approval: the person presses "Continue" after approving on their phone (toy: the form says so)."""

    kind = "toy_push"
    factor = "push"
    title = label = "Push approval"
    order = 5
    admin_label = "Push approval (toy)"
    description = "Approve a request on your phone."
    template = "steps/toy_push.html"
    amr = ("swk",)

    @classmethod
    def describe(cls, row) -> str:  # noqa: ANN001
        return f"phone {row.target}"

    def is_applicable(self, ctx: FlowContext) -> bool:
        return ctx.user is not None and enrolled.active_factor(ctx.db, ctx.user, self.factor) is not None

    def begin(self, ctx: FlowContext) -> Outcome:
        return sf.locked(ctx) or Outcome.challenge()

    def view(self, ctx: FlowContext) -> dict:
        return {"device": self.describe(enrolled.active_factor(ctx.db, ctx.user, self.factor))}

    def submit(self, ctx: FlowContext, form: Mapping[str, str]) -> Outcome:
        approved = form.get("approve") == "yes"
        refused = sf.verified(ctx, self.factor, lambda: Attempt(approved, "Not approved yet.", counts=not approved))
        return refused or Outcome.success(*self.amr)


@pytest.fixture
def toy() -> Iterator[type[FactorType]]:
    register_factor(ToyPush)
    yield ToyPush
    unregister_factor(ToyPush.factor)


@pytest.fixture
def config_overrides(toy, tmp_path):  # noqa: ANN001, ANN201
    """The shipped policies, with the toy factor offered first among the second factors."""
    policies = tmp_path / "policies"
    shutil.copytree(ROOT / "policies", policies)
    second = policies / "second-factor.toml"
    text = second.read_text()
    first = text.index("[[step]]")
    second.write_text(text[:first] + '[[step]]\ntype = "toy_push"\nrequirement = "alternative"\n\n' + text[first:])
    return {"policy": {"dir": str(policies), "reload_interval_seconds": 0.0}}


@pytest.fixture
def app(app):  # noqa: ANN001, ANN201
    app.jinja_loader = jinja2.ChoiceLoader([app.jinja_loader, jinja2.FileSystemLoader(str(HERE / "templates"))])
    return app


@pytest.fixture
def pusher(orgs, services) -> str:  # noqa: ANN001
    """globex's plain user, with a confirmed push factor."""
    email = orgs["globex"].user
    with services.database.session() as db:
        user = db.scalar(sa.select(User).where(User.email == email))
        enrolled.activate(db, user, enrolled.new_pending(db, user, "push", "+44 •••• 56"))
    return email


def test_the_toy_factor_is_listed_by_the_registry_only(toy) -> None:  # noqa: ANN001
    assert [t.factor for t in factor_types()] == ["totp", "email", "sms", "webauthn", "push", "recovery"]


def test_it_signs_in(browser, pusher, services):  # noqa: ANN001
    page = browser.sign_in(browser.open("/account/security"), pusher, "correct horse battery staple")
    assert "Approve on your phone" in page.text and "phone +44 •••• 56" in page.text
    refused = browser.submit(page, "step", {})
    assert "Not approved yet." in refused.text
    done = browser.submit(refused, "step", {}, button=("approve", "yes"))
    assert done.url.endswith("/account/security")
    with services.database.session() as db:
        failures = db.scalars(sa.select(AuditEvent).where(AuditEvent.event == "second_factor_failure")).all()
        assert [f.details["method"] for f in failures] == ["push"]     # the one counter counted it


def test_profile_security_shows_it(browser, pusher) -> None:  # noqa: ANN001
    page = browser.sign_in(browser.open("/account/security"), pusher, "correct horse battery staple")
    page = browser.submit(page, "step", {}, button=("approve", "yes"))
    assert "Push approval" in page.text and "phone +44 •••• 56" in page.text


def test_administration_can_allow_it(browser, orgs, services, frozen_clock) -> None:  # noqa: ANN001
    sign_in(browser, orgs["globex"].admin, services=services, frozen=frozen_clock)
    page = browser.open("/admin/settings/security")
    assert 'value="push"' in page.text and "Push approval (toy)" in page.text


def test_idp_user_show_lists_it(idp_cli, pusher) -> None:  # noqa: ANN001
    shown = idp_cli("user", "show", pusher)
    assert shown.exit_code == 0 and "Push approval" in shown.output, shown.output
