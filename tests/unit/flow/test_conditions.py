"""Condition types: parsing their TOML values, holding and not holding with a plain reason, combinators."""
from __future__ import annotations

from types import SimpleNamespace

import pytest

from idp.flow.condition_values import UnknownUser
from idp.flow.when import AllOf, AnyOf, Not, parse_when
from idp.flow.facts import Enforcement
from idp.flow.protocols import Condition, Verdict
from idp.flow.registry import condition_types

ALL_KINDS = {"second_factor_enrolled", "enforced", "grace_period", "exempt", "organisation", "group",
             "admin", "client", "provider", "acr_requested", "any", "all", "not"}
USER_KINDS = {"second_factor_enrolled": True, "enforced": True, "grace_period": True, "exempt": True,
              "organisation": "acme", "group": "ops", "admin": True}


def verdict(table, ctx):
    return parse_when(table).evaluate(ctx)


def test_every_condition_type_is_registered_with_a_description():
    types = condition_types()
    assert ALL_KINDS <= set(types)
    for kind in ALL_KINDS:
        assert issubclass(types[kind], Condition) and types[kind].description


@pytest.mark.parametrize("enrolled, wanted, holds, reason", [
    (True, True, True, "alice@example.com has a second factor enrolled"),
    (False, True, False, "alice@example.com has no second factor enrolled"),
    (False, False, True, "alice@example.com has no second factor enrolled"),
])
def test_second_factor_enrolled(facts, make_ctx, enrolled, wanted, holds, reason):
    facts.enrolled = enrolled
    assert verdict({"second_factor_enrolled": wanted}, make_ctx()) == Verdict(holds, reason)


@pytest.mark.parametrize("state, enforced, grace, exempt, phrase", [
    (Enforcement.OFF, False, False, False, "organisation does not require two-factor"),
    (Enforcement.EXEMPT, False, False, True, "is exempt from their organisation's two-factor requirement"),
    (Enforcement.GRACE, True, True, False, "is in the grace period (3 days left)"),
    (Enforcement.REQUIRED, True, False, False, "requires two-factor authentication and it is due now"),
])
def test_enforcement_conditions(facts, make_ctx, state, enforced, grace, exempt, phrase):
    facts.state, facts.days_left = state, 3 if state is Enforcement.GRACE else None
    ctx = make_ctx()
    for kind, expected in (("enforced", enforced), ("grace_period", grace), ("exempt", exempt)):
        yes, no = verdict({kind: True}, ctx), verdict({kind: False}, ctx)
        assert (yes.holds, no.holds) == (expected, not expected), kind
        assert phrase in yes.reason and yes.reason.startswith("alice@example.com")


def test_admin(facts, make_ctx):
    assert verdict({"admin": True}, make_ctx()).reason == "alice@example.com is not an administrator"
    assert not verdict({"admin": True}, make_ctx()).holds
    facts.admin = True
    result = verdict({"admin": True}, make_ctx())
    assert result.holds and result.reason == "alice@example.com is an administrator"


def test_organisation(facts, make_ctx):
    yes = verdict({"organisation": ["acme", "globex"]}, make_ctx())
    assert yes.holds and yes.reason == "alice@example.com belongs to organisation acme"
    no = verdict({"organisation": "globex"}, make_ctx())
    assert not no.holds and no.reason == "alice@example.com belongs to organisation acme, not one of: globex"


def test_group(facts, make_ctx):
    facts.member_of = frozenset({"ops", "staff"})
    yes = verdict({"group": ["ops", "finance"]}, make_ctx())
    assert yes.holds and yes.reason == "alice@example.com is in group ops"
    no = verdict({"group": ["finance", "legal"]}, make_ctx())
    assert not no.holds and no.reason == "alice@example.com is in none of the groups: finance, legal"


def test_client(make_ctx):
    assert verdict({"client": "wiki"}, make_ctx(client_id="wiki")).reason == "the sign-in is for application wiki"
    no = verdict({"client": ["wiki", "mail"]}, make_ctx(client_id="crm"))
    assert not no.holds and no.reason == "the sign-in is for application crm, not one of: mail, wiki"
    assert not verdict({"client": "wiki"}, make_ctx(client_id=None)).holds


def test_provider_local_means_no_upstream(make_ctx):
    local = verdict({"provider": "local"}, make_ctx(provider=None))
    assert local.holds and local.reason == "the person signed in locally (no upstream provider)"
    assert not verdict({"provider": "local"}, make_ctx(provider="google")).holds
    upstream = verdict({"provider": ["google", "github"]}, make_ctx(provider="google"))
    assert upstream.holds and upstream.reason == "the person signed in through provider google"
    no = verdict({"provider": ["github"]}, make_ctx(provider=None))
    assert not no.holds and no.reason.endswith("not through: github")


def test_acr_requested(make_ctx):
    mfa = "urn:fentu:acr:mfa"
    yes = verdict({"acr_requested": [mfa]}, make_ctx(acr_values=("urn:other", mfa)))
    assert yes.holds and yes.reason == f"the application asked for {mfa}"
    none = verdict({"acr_requested": mfa}, make_ctx())
    assert not none.holds and none.reason == "the application asked for no authentication level"
    other = verdict({"acr_requested": mfa}, make_ctx(acr_values=("urn:other",)))
    assert not other.holds and other.reason == f"the application asked for urn:other, not one of: {mfa}"


def test_request_conditions_do_not_need_a_user(make_ctx, facts):
    ctx = make_ctx(user=None, client_id="wiki")
    assert verdict({"client": "wiki", "provider": "local", "acr_requested": "x"}, ctx).holds is False
    assert facts.asked == []


@pytest.mark.parametrize("kind", sorted(USER_KINDS))
def test_user_conditions_fail_closed_without_a_user(make_ctx, facts, kind):
    with pytest.raises(UnknownUser, match="needs to know who is signing in"):
        verdict({kind: USER_KINDS[kind]}, make_ctx(user=None))
    assert facts.asked == []


def test_user_without_email_is_named_by_id(make_ctx):
    assert verdict({"admin": False}, make_ctx(user=SimpleNamespace(id=3))).reason == "user #3 is not an administrator"


@pytest.mark.parametrize("table, phrase", [
    ({"admin": "yes"}, "bad value for condition 'admin': expected true or false, not 'yes'"),
    ({"enforced": 1}, "bad value for condition 'enforced': expected true or false"),
    ({"group": []}, "bad value for condition 'group': expected a name or a list of names"),
    ({"client": ["wiki", 3]}, "bad value for condition 'client': expected names (non-empty strings), not 3"),
    ({"provider": ""}, "bad value for condition 'provider'"),
    ({"colour": "blue"}, "unknown condition type 'colour' (known: "),
    ({}, "the condition table is empty"),
    ({"any": []}, "bad value for condition 'any': expected a list of condition tables"),
    ({"all": {"admin": True}}, "bad value for condition 'all': expected a list of condition tables"),
    ({"not": [{"admin": True}]}, "a condition must be a table"),
    ({"any": [{"admin": True}, {"group": 5}]}, "bad value for condition 'group'"),
    ({"not": {"any": [{"colour": 1}]}}, "unknown condition type 'colour'"),
])
def test_bad_values_are_refused_with_a_plain_reason(table, phrase):
    with pytest.raises(ValueError) as caught:
        parse_when(table)
    assert phrase in str(caught.value)
    if "known:" in phrase:
        assert all(kind in str(caught.value) for kind in ALL_KINDS)
    assert str(caught.value).count("condition") <= 2   # nested tables do not stack prefixes


def test_parse_builds_frozen_conditions():
    parsed = parse_when({"any": [{"second_factor_enrolled": True}, {"enforced": True, "grace_period": False}],
                         "not": {"admin": True}})
    assert isinstance(parsed, AllOf) and isinstance(parsed.parts[0], AnyOf) and isinstance(parsed.parts[1], Not)
    assert isinstance(parsed.parts[0].parts[1], AllOf)
    assert parse_when({"group": "ops"}) == parse_when({"group": ["ops"]})
    with pytest.raises(AttributeError):
        parsed.parts = ()


def test_several_keys_must_all_hold(facts, make_ctx):
    facts.state = Enforcement.GRACE
    both = verdict({"enforced": True, "grace_period": True}, make_ctx())
    assert both.holds and both.reason.count("grace period") == 2
    facts.state = Enforcement.REQUIRED
    first_failure = verdict({"enforced": True, "grace_period": True}, make_ctx())
    assert not first_failure.holds and "due now" in first_failure.reason


def test_any_holds_with_the_reason_of_the_first_that_holds(facts, make_ctx):
    facts.admin = True
    result = verdict({"any": [{"second_factor_enrolled": True}, {"admin": True}]}, make_ctx())
    assert result.holds and result.reason == "alice@example.com is an administrator"
    facts.admin = False
    result = verdict({"any": [{"second_factor_enrolled": True}, {"admin": True}]}, make_ctx())
    assert not result.holds
    assert result.reason == "alice@example.com has no second factor enrolled; alice@example.com is not an administrator"


def test_all_fails_with_the_reason_of_the_first_that_fails(facts, make_ctx):
    facts.enrolled = True
    result = verdict({"all": [{"second_factor_enrolled": True}, {"admin": True}]}, make_ctx())
    assert not result.holds and result.reason == "alice@example.com is not an administrator"
    facts.admin = True
    assert verdict({"all": [{"second_factor_enrolled": True}, {"admin": True}]}, make_ctx()).holds


def test_not_flips_the_answer_and_keeps_the_facts(make_ctx):
    result = verdict({"not": {"admin": True}}, make_ctx())
    assert result.holds and result.reason == "alice@example.com is not an administrator"


def test_combinators_fail_closed_too(make_ctx):
    ctx = make_ctx(user=None, client_id="wiki")
    with pytest.raises(UnknownUser):
        verdict({"any": [{"client": "other"}, {"admin": True}]}, ctx)
    with pytest.raises(UnknownUser):
        verdict({"not": {"group": "ops"}}, ctx)
    # any stops at the first condition that holds: nothing about the user is asked
    assert verdict({"any": [{"client": "wiki"}, {"admin": True}]}, ctx).holds
