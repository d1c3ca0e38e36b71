"""Fixtures for the OpenID Connect provider tests: a user and relying parties of each kind."""
from __future__ import annotations

import pytest

from tests.support.oidc_client import Rp


@pytest.fixture
def alice(factory) -> int:  # noqa: ANN001
    return factory.user("alice@example.com", name="Alice Example")


@pytest.fixture
def make_rp(client, browser, factory, config):  # noqa: ANN001, ANN201
    """make_rp(**factory.client kwargs) → an Rp for a newly registered client."""

    def make(**kwargs) -> Rp:  # noqa: ANN003
        return Rp(client, browser, factory.client(**kwargs), config.issuer)

    return make


@pytest.fixture
def rp(make_rp, alice) -> Rp:  # noqa: ANN001
    """A confidential client (client_secret_basic, PKCE required) and a user to sign in."""
    return make_rp()


@pytest.fixture
def public_rp(make_rp, alice) -> Rp:  # noqa: ANN001
    return make_rp(public=True)
