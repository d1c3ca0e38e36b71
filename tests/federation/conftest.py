"""Federation over real HTTP: the IdP under test (http://localhost:<port1>) with upstream providers that
are a second instance of this IdP (http://127.0.0.1:<port2>, its own SQLite file) or a mini OP.

Two hosts, not two ports of one host: browsers keep cookies per host, and both IdPs call their cookie
`idp_session`."""
from __future__ import annotations

from collections.abc import Callable, Iterator

import httpx
import pytest

from idp.federation.discovery import DIRECTORY
from idp.federation.login import callback_url
from tests.support.federated_browser import FederatedBrowser
from tests.support.servers import ReservedPort, ThreadedServer
from tests.support.upstream_idp import UpstreamIdp, upstream_idp

ACME = "acme"


@pytest.fixture(autouse=True)
def fresh_directory() -> Iterator[None]:
    """Provider metadata and keys are cached per process; every test starts without them."""
    DIRECTORY.clear()
    yield
    DIRECTORY.clear()


@pytest.fixture
def reserved() -> Iterator[ReservedPort]:
    """The port of the IdP under test, held until its server starts (the upstream starts first, meanwhile)."""
    port = ReservedPort()
    yield port
    port.close()


@pytest.fixture
def issuer(reserved) -> str:  # noqa: ANN001
    return f"http://localhost:{reserved.number}"


@pytest.fixture
def upstream(tmp_path, issuer) -> Iterator[UpstreamIdp]:  # noqa: ANN001
    with upstream_idp(tmp_path / "upstream", callback_url(issuer)) as up:
        yield up


def provider_entry(upstream: UpstreamIdp, name: str, scenario: str, **extra: object) -> dict:
    """A [[providers]] table for the upstream IdP (its test client) in organisation acme."""
    return {"organisation": ACME, "name": name, "display_name": f"Upstream {name}", "issuer": upstream.url,
            "client_id": upstream.client.client_id, "client_secret": upstream.client.secret,
            "second_factor": scenario, "timeout_seconds": 5.0, **extra}


@pytest.fixture
def providers(upstream) -> list[dict]:  # noqa: ANN001
    """One provider per scenario, all the same upstream (and client), each with its own email domain."""
    return [provider_entry(upstream, "up-sso", "upstream", domains=["sso.example.com"],
                           mfa_acr_values=["urn:fentu:acr:mfa"]),
            provider_entry(upstream, "up-stack", "stack", domains=["stack.example.com"]),
            provider_entry(upstream, "up-either", "upstream-or-local", domains=["either.example.com"])]


@pytest.fixture
def config_overrides(providers) -> dict:  # noqa: ANN001
    return {"providers": providers}


@pytest.fixture
def acme(factory) -> int:  # noqa: ANN001
    return factory.org(ACME, "Acme")


@pytest.fixture
def idp(app, reserved, acme) -> Iterator[ThreadedServer]:  # noqa: ANN001
    with ThreadedServer(app, reserved) as server:
        yield server


@pytest.fixture
def rp(factory):  # noqa: ANN001, ANN201
    """The application signing people in through the IdP under test."""
    return factory.client()


@pytest.fixture
def browsers(idp, issuer) -> Iterator[Callable[..., FederatedBrowser]]:  # noqa: ANN001
    """browsers(*upstream_urls) → a new browser (its own cookies) for the IdP under test and those hosts."""
    clients: list[httpx.Client] = []

    def new(*hosts: str) -> FederatedBrowser:
        clients.append(httpx.Client(timeout=15))
        return FederatedBrowser(clients[-1], issuer, list(hosts))

    yield new
    for http in clients:
        http.close()


@pytest.fixture
def web(browsers, upstream) -> FederatedBrowser:  # noqa: ANN001
    return browsers(upstream.url)
