"""Policy checks across files: sub-flows, cycles, entry flows that must identify the user, many errors at once."""
from __future__ import annotations

from pathlib import Path

from idp.flow.policy import load_policies

LOGIN = '''
[[step]]
type = "test_pl_login"
requirement = "required"
'''

# --- across files -------------------------------------------------------------------------------------------

def test_sub_flow_naming_an_unknown_flow(only_error, step_file):
    step_file('type = "flow"', 'requirement = "required"', 'flow = "second-factor"')
    only_error("browser.toml", 10, "sub-flow 'second-factor' does not exist: there is no file "
                                             "second-factor.toml")


def test_cycle_of_sub_flows_is_named(only_error, step_file, write):
    step_file('type = "flow"', 'requirement = "required"', 'flow = "second-factor"')
    write("second-factor", 'description = "x"\n[[step]]\ntype = "test_pl_code"\nrequirement = "required"\n'
                           '[[step]]\ntype = "flow"\nflow = "browser"\nrequirement = "required"\n')
    only_error("browser.toml", 10, "sub-flows form a cycle: browser → second-factor → browser")


def test_flow_using_itself(only_error, step_file):
    step_file('type = "flow"', 'flow = "browser"', 'requirement = "required"')
    only_error("browser.toml", 9, "sub-flows form a cycle: browser → browser")


def test_entry_flow_that_never_identifies(only_error, write):
    write("browser", 'description = "x"\n[[step]]\ntype = "test_pl_code"\nrequirement = "required"\n')
    only_error("browser.toml", 1, "flow 'browser' never identifies the person signing in: "
                                            "add a password, passkey or upstream step first")


def test_step_needing_the_user_before_the_identifying_step(only_error, write):
    write("browser", 'description = "x"\n\n[[step]]\ntype = "test_pl_code"\nrequirement = "required"\n' + LOGIN)
    only_error("browser.toml", 3, "step 'test_pl_code' needs to know who is signing in, but no "
                                            "step before it identifies them")


def test_conditional_step_before_identification(only_error, write):
    write("browser", 'description = "x"\n[[step]]\ntype = "test_pl_code"\nrequirement = "conditional"\n'
                     'when = { client = "wiki" }\n' + LOGIN)
    only_error("browser.toml", 2, "step 'test_pl_code' needs to know who is signing in")


def test_conditional_identifying_step_does_not_count(only_error, write):
    write("browser", 'description = "x"\n[[step]]\ntype = "test_pl_login"\nrequirement = "conditional"\n'
                     'when = { client = "wiki" }\n[[step]]\ntype = "test_pl_code"\nrequirement = "required"\n')
    only_error("browser.toml", 6, "step 'test_pl_code' needs to know who is signing in")


def test_sub_flow_whose_first_step_needs_the_user(only_error, write):
    write("browser", 'description = "x"\n[[step]]\ntype = "flow"\nflow = "mfa"\nrequirement = "required"\n' + LOGIN)
    write("mfa", 'description = "x"\n[[step]]\ntype = "test_pl_code"\nrequirement = "required"\n')
    only_error("browser.toml", 2, "sub-flow step 'mfa' first runs 'browser/mfa/test_pl_code', which "
                                            "needs to know who is signing in")


def test_sub_flow_of_identifying_alternatives_identifies(write, tmp_path):
    write("browser", 'description = "x"\n[[step]]\ntype = "flow"\nflow = "login"\nrequirement = "required"\n'
                     '[[step]]\ntype = "test_pl_code"\nrequirement = "required"\n')
    write("login", 'description = "x"\n[[step]]\ntype = "test_pl_login"\nrequirement = "alternative"\n'
                   '[[step]]\ntype = "test_pl_upstream"\nrequirement = "alternative"\n'
                   '[[step]]\ntype = "test_pl_code"\nrequirement = "disabled"\n')
    assert set(load_policies(tmp_path).flows) == {"browser", "login"}


def test_sub_flow_of_alternatives_where_one_needs_the_user(refused, write, tmp_path):
    write("browser", 'description = "x"\n[[step]]\ntype = "flow"\nflow = "login"\nrequirement = "required"\n'
                     '[[step]]\ntype = "test_pl_notice"\nrequirement = "required"\n')
    write("login", 'description = "x"\n[[step]]\ntype = "test_pl_login"\nrequirement = "alternative"\n'
                   '[[step]]\ntype = "test_pl_code"\nrequirement = "alternative"\n')
    first, then = refused()
    assert first.startswith(f"{tmp_path / 'browser.toml'}:2: sub-flow step 'login' first runs "
                            "'browser/login/test_pl_code', which needs to know who is signing in")
    assert then.startswith(f"{tmp_path / 'browser.toml'}:6: step 'test_pl_notice' needs to know who")


def test_entry_flow_that_may_finish_without_identifying(only_error, write):
    write("browser", 'description = "x"\n[[step]]\ntype = "test_pl_login"\nrequirement = "conditional"\n'
                     'when = { provider = "local" }\n')
    only_error("browser.toml", 1, "can finish without identifying the person signing in")


def test_sub_flows_alone_need_not_identify(good):
    assert "second-factor" in load_policies(good).flows   # it never identifies, but it is not an entry flow


# --- many mistakes at once ----------------------------------------------------------------------------------

def test_every_mistake_in_every_file_is_reported_in_order(refused, write, tmp_path):
    write("a", 'description = 3\ncolour = 1\n[[step]]\ntype = "magic"\nrequirement = "required"\n'
               '[[step]]\ntype = "test_pl_login"\nrequirement = "often"\n')
    write("b", "description = \n")
    write("c", 'description = "x"\n[[step]]\ntype = "flow"\nflow = "zzz"\nrequirement = "required"\n')
    errors = refused()
    prefixes = [e.split(": ", 1)[0] for e in errors]
    assert prefixes == [f"{tmp_path / 'a.toml'}:1", f"{tmp_path / 'a.toml'}:2", f"{tmp_path / 'a.toml'}:4",
                        f"{tmp_path / 'a.toml'}:8", f"{tmp_path / 'b.toml'}:1", f"{tmp_path / 'c.toml'}:4"]
    assert "unknown step type 'magic'" in errors[2] and "sub-flow 'zzz' does not exist" in errors[5]


def test_a_broken_step_does_not_cause_follow_on_errors(only_error, write):
    write("browser", 'description = "x"\n' + LOGIN + '[[step]]\ntype = "flow"\nflow = "mfa"\n'
                     'requirement = "conditional"\nwhen = { colour = 1 }\n')
    write("mfa", 'description = "x"\n[[step]]\ntype = "test_pl_code"\nrequirement = "required"\n')
    only_error("browser.toml", 10, "unknown condition type 'colour'")


def test_relative_directory_is_kept_in_file_names(refused, write, tmp_path, monkeypatch):
    write("browser", 'description = "x"\ncolour = 1\n' + LOGIN)
    monkeypatch.chdir(tmp_path.parent)
    assert refused(Path(tmp_path.name))[0].startswith(f"{tmp_path.name}/browser.toml:2: ")
