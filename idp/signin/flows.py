"""Which flow a sign-in runs: bound to the client, else to the user's organisation, else the default."""
from __future__ import annotations

from idp.config import PolicyConfig


def flow_for(policy: PolicyConfig, client_id: str | None, organisation: str | None = None) -> str:
    if client_id and client_id in policy.clients:
        return policy.clients[client_id]
    if organisation and organisation in policy.organisations:
        return policy.organisations[organisation]
    return policy.default_flow


def switch_for_organisation(policy: PolicyConfig, current: str, client_id: str | None,
                            organisation: str) -> str | None:
    """After the user is known: the organisation's flow if it differs and no client binding decided."""
    if client_id and client_id in policy.clients:
        return None
    wanted = flow_for(policy, None, organisation)
    return wanted if wanted != current else None


def acr_for(policy: PolicyConfig, amr: list[str]) -> str:
    return policy.acr_mfa if "mfa" in amr else policy.acr_password
