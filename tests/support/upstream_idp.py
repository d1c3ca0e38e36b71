"""A second instance of this IdP, serving as the upstream OpenID provider of the IdP under test.

Its own SQLite file, its own config (issuer http://127.0.0.1:<port>), a confidential client whose
redirect URI is the tested IdP's /federation/callback, served over real HTTP by a ThreadedServer.
Its users sign in with the real password step, and the real authenticator app step when enrolled, so
the `amr` in its ID tokens is what really happened there."""
from __future__ import annotations

import dataclasses
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

from idp.app import create_app
from idp.migrate import ensure_default_organisation
from idp.oauth.keys import KeyRing, ensure_signing_keys, rotate_keys
from idp.services import Services, build_services

from .configs import make_config
from .databases import create_sqlite_schema, sqlite_url
from .factors import enrol_totp
from .factory import Factory, RegisteredClient
from .servers import ReservedPort, ThreadedServer


@dataclass
class UpstreamIdp:
    url: str
    services: Services
    factory: Factory
    client: RegisteredClient

    def user(self, email: str, **kwargs: Any) -> int:
        return self.factory.user(email, **kwargs)

    def enrol_totp(self, email: str) -> str:
        """An authenticator app for the upstream user: their sign-ins there then prove MFA (amr otp)."""
        return enrol_totp(self.services, email)

    def rotate_keys(self) -> None:
        """`idp keys rotate` on the upstream, switching at once (no publication delay): new signing
        keys; with keep=0 the old ones leave its JWKS."""
        with self.services.database.session() as db:
            rotate_keys(db, self.services.kek, timedelta(0), delay=timedelta(0))


@contextmanager
def upstream_idp(directory: Path, redirect_uri: str, **overrides: Any) -> Iterator[UpstreamIdp]:
    """A second instance of this IdP on a port of its own (held while it is being built), its database in
    `directory`, with a client for `redirect_uri`."""
    directory.mkdir(parents=True, exist_ok=True)
    port = ReservedPort()
    try:
        url = f"http://127.0.0.1:{port.number}"
        database = sqlite_url(directory)
        create_sqlite_schema(database)
        services = build_services(make_config(database, issuer=url, **overrides))
        # see `idp keys rotate` at once (the key cache is otherwise checked every few seconds)
        services = dataclasses.replace(services, keys=KeyRing(services.kek, check_interval=0.0))
        with services.database.session() as db:
            ensure_default_organisation(db)
            ensure_signing_keys(db, services.kek)
        app = create_app(services.config, services)
        factory = Factory(services)
        client = factory.client(redirect_uri)
        try:
            with ThreadedServer(app, port):
                yield UpstreamIdp(url, services, factory, client)
        finally:
            services.database.dispose()
    finally:
        port.close()
