"""The config's flow bindings (default, per client, per organisation) must name flows that exist."""
from __future__ import annotations

from idp.config import PolicyConfig
from idp.flow.model import PolicySet


def binding_problems(policy: PolicyConfig, policies: PolicySet) -> list[str]:
    """One `config: key: reason` line per binding to a missing flow (the server must not start)."""
    problems = []
    named = [("policy.default_flow", policy.default_flow)]
    named += [(f"policy.clients.{client}", flow) for client, flow in policy.clients.items()]
    named += [(f"policy.organisations.{org}", flow) for org, flow in policy.organisations.items()]
    for key, flow in named:
        if flow not in policies.flows:
            problems.append(f"config: {key}: no policy file {flow}.toml in {policy.dir}")
    return problems
