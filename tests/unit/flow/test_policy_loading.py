"""Policy files → PolicySet: the tree valid files build, and each mistake in one file as FILE:LINE: reason."""
from __future__ import annotations

from pathlib import Path

import pytest

from idp.flow.when import AnyOf
from idp.flow.model import Flow, PolicySet
from idp.flow.policy import load_policies
from idp.flow.requirement import Requirement

LOGIN = '''
[[step]]
type = "test_pl_login"
requirement = "required"
'''


# --- a valid policy set -------------------------------------------------------------------------------------

def test_valid_files_build_the_frozen_tree(good):
    policies = load_policies(good)
    assert isinstance(policies, PolicySet) and set(policies.flows) == {"browser", "second-factor"}
    browser = policies.flow("browser")
    assert isinstance(browser, Flow) and browser.description.startswith("Local sign-in")
    login, second, notice = browser.steps
    assert (login.name, login.path, login.requirement) == ("test_pl_login", "browser/test_pl_login",
                                                          Requirement.REQUIRED)
    assert str(login.source) == f"{good / 'browser.toml'}:4"
    assert second.name == "second-factor" and second.is_subflow and isinstance(second.when, AnyOf)
    assert [s.path for s in second.subflow.steps] == ["browser/second-factor/test_pl_code",
                                                      "browser/second-factor/backup"]
    assert notice.requirement is Requirement.DISABLED and notice.path == "browser/notice"
    code, backup = second.subflow.steps
    assert (code.options.digits, code.options.ratio, code.options.channels) == (8, 2.0, ("sms", "email"))
    assert code.options.label == "code" and backup.options.strict is True and backup.options.extras == ["x"]
    assert policies.flow("second-factor").steps[0].path == "second-factor/test_pl_code"


def test_paths_are_unique_across_the_set(good):
    policies = load_policies(good)
    paths = []

    def collect(flow):
        for step in flow.steps:
            paths.append(step.path)
            if step.subflow:
                collect(step.subflow)

    for flow in policies.flows.values():
        collect(flow)
    assert len(paths) == len(set(paths))


def test_digest_follows_file_names_and_contents(good, write):
    first = load_policies(good).digest
    assert len(first) == 64 and load_policies(good).digest == first
    text = (good / "browser.toml").read_text()
    write("browser", text + "\n# a comment\n")
    assert load_policies(good).digest != first
    write("browser", text)
    assert load_policies(good).digest == first


def test_unknown_flow_names_raise_a_plain_key_error(good):
    with pytest.raises(KeyError, match="no flow named 'nope'"):
        load_policies(good).flow("nope")


# --- the directory ------------------------------------------------------------------------------------------

def test_missing_or_empty_directory_is_refused(refused, tmp_path):
    assert "does not exist" in refused(tmp_path / "nope")[0]
    assert "no policy files" in refused()[0]


def test_file_that_is_not_utf8(only_error, tmp_path):
    (tmp_path / "browser.toml").write_bytes(b'description = "ok"\n# caf\xe9\n')
    only_error("browser.toml", 2, "not UTF-8")


# --- one file on its own ------------------------------------------------------------------------------------

def test_toml_syntax_error_uses_tomllib_line(only_error, write):
    write("browser", 'description = "x"\n\n[[step]]\ntype = password\n')
    only_error("browser.toml", 4, "not valid TOML: Invalid value")


def test_toml_error_at_the_end_of_the_file(only_error, write):
    write("browser", 'description = "x"\n\n[[step]]\ntype = "test_pl_login"\nrequirement = "required')
    only_error("browser.toml", 5, "not valid TOML")


def test_hidden_files_are_not_policies(write, tmp_path, good):
    (tmp_path / ".browser.toml").write_text("not toml at all [", encoding="utf-8")
    assert set(load_policies(tmp_path).flows) == {"browser", "second-factor"}


def test_unknown_top_level_key(only_error, write):
    write("browser", 'description = "x"\ncolour = "blue"\n' + LOGIN)
    only_error("browser.toml", 2, "unknown key 'colour'")


def test_misspelt_step_array_is_an_unknown_key(only_error, write):
    write("browser", 'description = "x"\n' + LOGIN + '\n[[steps]]\ntype = "test_pl_notice"\n')
    only_error("browser.toml", 7, "unknown key 'steps'")


def test_missing_description(only_error, write):
    write("browser", "# no description\n" + LOGIN)
    only_error("browser.toml", 1, "has no `description`")


def test_description_must_be_a_string(only_error, write):
    write("browser", "# why\ndescription = 3\n" + LOGIN)
    only_error("browser.toml", 2, "`description` must be a non-empty string")


def test_flow_without_steps(only_error, write):
    write("browser", 'description = "x"\n')
    only_error("browser.toml", 1, "the flow is empty")


@pytest.mark.parametrize("lines, line, phrase", [
    (['requirement = "required"'], 7, "the step has no `type`"),
    (['type = "test_pl_notice"'], 7, "the step has no `requirement`"),
    (['requirement = "required"', 'type = "magic"'], 9, "unknown step type 'magic' (known: "),
    (['type = 5', 'requirement = "required"'], 8, "`type` must be a string"),
    (['type = "test_pl_notice"', 'requirement = "sometimes"'], 9,
     "unknown requirement 'sometimes' (use one of: required, alternative, conditional, disabled)"),
    (['type = "test_pl_notice"', 'requirement = "required"', 'colour = "red"'], 10,
     "unknown key 'colour' (options of this step type: none)"),
    (['type = "test_pl_code"', 'requirement = "required"', 'digit = 6'], 10,
     "unknown key 'digit' (options of this step type: digits, label, strict, ratio, channels, extras)"),
    (['type = "test_pl_code"', 'requirement = "required"', 'digits = "six"'], 10,
     "option 'digits' must be a whole number, not 'six'"),
    (['type = "test_pl_code"', 'requirement = "required"', 'strict = 1'], 10, "option 'strict' must be true or false"),
    (['type = "test_pl_code"', 'requirement = "required"', 'digits = true'], 10, "option 'digits' must be a whole"),
    (['type = "test_pl_code"', 'requirement = "required"', 'label = 3'], 10, "option 'label' must be a string"),
    (['type = "test_pl_code"', 'requirement = "required"', 'ratio = "x"'], 10, "option 'ratio' must be a number"),
    (['type = "test_pl_code"', 'requirement = "required"', 'channels = ["sms", 2]'], 10,
     "option 'channels' must be a list of strings, not ['sms', 2]"),
    (['type = "test_pl_code"', 'requirement = "required"', 'channels = "sms"'], 10,
     "option 'channels' must be a list of strings"),
    (['type = "test_pl_notice"', 'requirement = "required"', 'name = "a/b"'], 10, "`name` must be a non-empty"),
])
def test_step_mistakes(only_error, step_file, lines, line, phrase):
    step_file(*lines)
    error = only_error("browser.toml", line, phrase)
    if "unknown step type" in phrase:
        assert "flow, " in error and "test_pl_login" in error


def test_sub_flow_step_without_flow(only_error, step_file):
    step_file('requirement = "required"', 'type = "flow"')
    only_error("browser.toml", 9, 'needs `flow = "NAME"`')


def test_flow_key_on_another_step_type(only_error, step_file):
    step_file('type = "test_pl_notice"', 'requirement = "required"', 'flow = "other"')
    only_error("browser.toml", 10, '`flow` is only allowed on steps with type = "flow"')


def test_sub_flow_step_takes_no_options(only_error, step_file, write):
    write("other", 'description = "o"\n[[step]]\ntype = "test_pl_notice"\nrequirement = "required"\n')
    step_file('type = "flow"', 'flow = "other"', 'requirement = "required"', 'digits = 6')
    only_error("browser.toml", 11, "unknown key 'digits' (a sub-flow step takes only")


def test_conditional_step_without_when(only_error, step_file):
    step_file('type = "test_pl_notice"', 'requirement = "conditional"')
    only_error("browser.toml", 9, "a conditional step needs `when = { ... }`")


def test_when_on_a_required_step(only_error, step_file):
    step_file('type = "test_pl_notice"', 'requirement = "required"', 'when = { admin = true }')
    only_error("browser.toml", 10, "`when` is only allowed on conditional steps")


def test_unknown_condition_type(only_error, step_file):
    step_file('type = "test_pl_notice"', 'requirement = "conditional"', "# the condition:",
              'when = { any = [ { admin = true }, { colour = "red" } ] }')
    only_error("browser.toml", 11, "unknown condition type 'colour'")


def test_bad_condition_value_gives_the_condition_reason(only_error, step_file):
    step_file('type = "test_pl_notice"', 'requirement = "conditional"', 'when = { admin = "yes" }')
    only_error("browser.toml", 10, "bad value for condition 'admin': expected true or false, not 'yes'")


def test_when_written_as_a_sub_table_points_at_its_header(only_error, step_file):
    step_file('type = "test_pl_notice"', 'requirement = "conditional"', "[step.when]", 'admin = "yes"')
    only_error("browser.toml", 10, "bad value for condition 'admin'")


def test_alternatives_mixed_with_required_steps(only_error, step_file):
    step_file('type = "test_pl_upstream"', 'requirement = "alternative"')
    only_error("browser.toml", 9, "alternative steps must not be mixed with required or conditional "
                                            "steps in one flow; move the alternatives into a sub-flow")


def test_duplicate_step_names(only_error, step_file):
    step_file('type = "test_pl_notice"', 'requirement = "required"', "",
              "[[step]]", 'type = "test_pl_code"', 'name = "test_pl_notice"', 'requirement = "required"')
    only_error("browser.toml", 13, "duplicate step name 'test_pl_notice' (also step #2)")


def test_every_step_disabled(only_error, write):
    write("browser", 'description = "x"\n\n[[step]]\ntype = "test_pl_login"\nrequirement = "disabled"\n')
    only_error("browser.toml", 3, "flow 'browser' can never finish: every step is disabled")


def test_alternative_flow_with_every_alternative_disabled(only_error, write):
    write("login", 'description = "x"\n[[step]]\ntype = "test_pl_login"\nrequirement = "disabled"\n'
                   '[[step]]\ntype = "test_pl_upstream"\nrequirement = "disabled"\n')
    write("browser", 'description = "x"\n[[step]]\ntype = "flow"\nflow = "login"\nrequirement = "required"\n')
    only_error("login.toml", 2, "flow 'login' can never finish")


def test_a_disabled_step_may_keep_its_condition(tmp_path):
    """Switching a conditional step off is a one-word change: its `when` may stay (and is still checked)."""
    from idp.flow.policy import load_policies

    (tmp_path / "login.toml").write_text(
        'description = "d"\n\n[[step]]\ntype = "test_pl_login"\nrequirement = "required"\n\n'
        '[[step]]\ntype = "test_pl_code"\nrequirement = "disabled"\nwhen = { second_factor_enrolled = true }\n')
    policies = load_policies(tmp_path)
    assert policies.flows["login"].steps[1].when is not None
