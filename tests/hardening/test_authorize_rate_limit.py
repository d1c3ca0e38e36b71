"""/authorize is rate-limited per client address (`[rate_limit] authorize_per_ip`): GET and POST, 429 with
Retry-After and the "Too many attempts" page, and a refused request starts no sign-in."""
from __future__ import annotations

from urllib.parse import parse_qsl

import pytest
import sqlalchemy as sa

from idp.config import ConfigError
from idp.models import LoginTransaction
from tests.support.configs import make_config
from tests.support.oidc import authorize_url, pkce_pair


@pytest.fixture
def config_overrides():  # noqa: ANN201
    return {"rate_limit": {"authorize_per_ip": "3/minute"}}


def _transactions(services) -> int:  # noqa: ANN001
    with services.database.session() as db:
        return db.scalar(sa.select(sa.func.count(LoginTransaction.id)))


def test_authorize_per_address_then_429_with_retry_after(app, factory, services, frozen_clock):  # noqa: ANN001
    rp = factory.client()
    url = authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1])
    statuses = [app.test_client().get(url).status_code for _ in range(2)]
    statuses.append(app.test_client().post("/authorize", data=dict(parse_qsl(url.split("?", 1)[1]))).status_code)
    assert statuses == [200, 200, 200]  # the sign-in page: a sign-in started
    refused = app.test_client().get(url)
    assert refused.status_code == 429
    assert 1 <= int(refused.headers["Retry-After"]) <= 60
    assert "Too many attempts" in refused.get_data(as_text=True)
    assert _transactions(services) == 3
    frozen_clock.advance(seconds=61)
    assert app.test_client().get(url).status_code == 200


def test_the_limit_is_per_address(app, factory, frozen_clock):  # noqa: ANN001
    rp = factory.client()
    url = authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1])
    for _ in range(3):
        app.test_client().get(url, environ_base={"REMOTE_ADDR": "192.0.2.1"})
    assert app.test_client().get(url, environ_base={"REMOTE_ADDR": "192.0.2.1"}).status_code == 429
    assert app.test_client().get(url, environ_base={"REMOTE_ADDR": "192.0.2.2"}).status_code == 200


def test_the_limit_is_validated(database_url):  # noqa: ANN001
    with pytest.raises(ConfigError, match="rate_limit.authorize_per_ip"):
        make_config(database_url, rate_limit={"authorize_per_ip": "lots"})
    assert make_config(database_url).rate_limit.authorize_per_ip == "300/minute"


class TestRedisDown:
    @pytest.fixture
    def config_overrides(self):  # noqa: ANN201
        from tests.support.servers import free_port
        return {"rate_limit": {"redis_url": f"redis://127.0.0.1:{free_port()}/0"}}

    def test_authorize_fails_closed_and_starts_nothing(self, app, factory, services):  # noqa: ANN001
        rp = factory.client()
        response = app.test_client().get(authorize_url(rp.client_id, rp.redirect_uri, pkce_pair()[1]))
        assert response.status_code == 503 and response.headers["Retry-After"] == "30"
        assert _transactions(services) == 0
