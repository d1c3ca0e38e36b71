"""`idp policy check` and `idp policy explain`: is the policy valid, and what would a user get now."""
from __future__ import annotations

import json
from pathlib import Path

import click

from idp import accounts
from idp.clock import now
from idp.enforcement import enforcement_status
from idp.flow.context import FlowContext
from idp.flow.engine import FlowEngine
from idp.flow.explain import explain_flow
from idp.flow.policy import PolicyError, load_policies
from idp.signin import flows
from idp.signin.bindings import binding_problems

from .base import CliState, cli, pass_state


@cli.group("policy")
def policy_group() -> None:
    """Sign-in flow policy files."""


@policy_group.command("check")
@click.argument("directory", required=False, type=click.Path(file_okay=False))
@click.pass_obj
def check(state: CliState, directory: str | None) -> None:
    """Check the policy files in DIRECTORY (default: the configured [policy] dir): "ok" or FILE:LINE: reason."""
    config = state.config if directory is None or state.config_path else None
    target = Path(directory or config.policy.dir)
    try:
        policies = load_policies(target)
    except PolicyError as exc:
        for line in exc.errors:
            click.echo(line, err=True)
        raise SystemExit(1) from None
    problems = binding_problems(config.policy, policies) if config else []
    for line in problems:
        click.echo(line, err=True)
    if problems:
        raise SystemExit(1)
    click.echo(f"ok: {len(policies.flows)} flows ({', '.join(sorted(policies.flows))}) in {target}")


@policy_group.command("explain")
@click.option("--user", "email", required=True, help="The person signing in.")
@click.option("--client", "client_id", help="The client (relying party) being signed into.")
@click.option("--provider", help="The upstream identity provider the person came from.")
@click.option("--acr", "acr_values", default="", help="acr_values the client asks for.")
@click.option("--json", "as_json", is_flag=True, help="Machine-readable output.")
@pass_state
def explain(state: CliState, email: str, client_id: str | None, provider: str | None, acr_values: str,
            as_json: bool) -> None:
    """Show, step by step, which steps EMAIL would get right now and why."""
    config = state.config
    policies = _load(config.policy.dir)
    with state.session() as db:
        user = accounts.find_by_email(db, email)
        if user is None:
            raise click.BadParameter(f"no account {email!r}", param_hint="--user")
        name = _flow_name(config, client_id, provider, user.organisation.slug)
        moment = now()

        def context_for(path: str) -> FlowContext:
            return FlowContext(db=db, config=config, services=state.services, now=moment, user=user,
                               client_id=client_id, acr_values=tuple(acr_values.split()), provider=provider,
                               amr=(), step_state={})
        lines = explain_flow(FlowEngine(), policies.flow(name), context_for)
        status = enforcement_status(db, user, moment)
        summary = {"user": user.email, "organisation": user.organisation.slug, "flow": name,
                   "enforcement": status.state.value, "grace_days_left": status.days_left,
                   "enforcement_reason": status.reason, "provider": provider,
                   "scenario": _scenario(provider, db, config)}
    _print(summary, lines, as_json)


def _load(directory: str):  # noqa: ANN202
    try:
        return load_policies(Path(directory))
    except PolicyError as exc:
        raise click.ClickException("the policy files are not valid:\n" + "\n".join(exc.errors)) from None


def _flow_name(config, client_id: str | None, provider: str | None, org: str) -> str:  # noqa: ANN001
    if provider:
        return config.policy.upstream_flow
    return flows.flow_for(config.policy, client_id, org)


def _scenario(provider: str | None, db, config) -> str | None:  # noqa: ANN001
    """The federation scenario's words, when federation is installed and the provider is known."""
    if not provider:
        return None
    import importlib.util

    if importlib.util.find_spec("idp.federation.providers") is None:
        return None
    from idp.federation.providers import scenario_for
    try:
        return scenario_for(provider, db, config)[1]
    except LookupError as exc:
        raise click.BadParameter(str(exc), param_hint="--provider") from None


def _print(summary: dict, lines: list, as_json: bool) -> None:
    if as_json:
        click.echo(json.dumps({**summary, "steps": [line.to_json() for line in lines]}, indent=2))
        return
    click.echo(f"{summary['user']} ({summary['organisation']}) would sign in with flow "
               f"{summary['flow']!r}.")
    click.echo(f"Two-factor enforcement: {summary['enforcement']} — {summary['enforcement_reason']}")
    if summary["scenario"]:
        click.echo(f"Upstream provider {summary['provider']}: {summary['scenario']}")
    for line in lines:
        indent = "  " * (line.depth + 1)
        click.echo(f"{indent}{line.step or '—'} [{line.requirement or '-'}]: {line.decision.upper()} — {line.reason}")
