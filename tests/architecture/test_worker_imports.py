"""What a gunicorn worker keeps in memory: after the master's preload, the worker's own app and a complete
sign-in (authorize, password, code, tokens, userinfo, refresh), none of the libraries that only rarely used
features need (SCIM, WebAuthn, QR codes, phone numbers, logos, outgoing HTTP) nor the command line or the
migrations is imported. Checked in a fresh interpreter: this test session imports far more."""
from __future__ import annotations

import json
import subprocess
import sys

from tests.support.configs import ROOT, write_config_file

NOT_IN_A_WORKER = (
    "scim2_models", "scim2_filter_parser", "pydantic", "lark", "idp.provisioning.users",   # SCIM
    "webauthn", "cbor2", "OpenSSL", "pyasn1",                                              # WebAuthn
    "segno",                                                                               # TOTP QR code
    "phonenumbers",                                                                        # SMS numbers
    "PIL",                                                                                 # logo upload
    "httpx",                                                                               # SMS, webhooks, federation
    "alembic", "mako", "idp.migrate", "idp.cli",                                           # CLI, migrations
)

WORKER = """
import json, sys
from idp import server
server._preload_modules()                           # what `python -m idp.server` does before forking
app = server.build_wsgi_app(sys.argv[1])            # what each worker does after the fork
app.config["TESTING"] = True
from tests.support.browser import Browser
from tests.support.factory import RegisteredClient
from tests.support.oidc_client import Rp
client = app.test_client()
rp = Rp(client, Browser(client=client), RegisteredClient(*json.loads(sys.argv[2])), sys.argv[3])
tokens = rp.tokens("alice@example.com")
assert rp.userinfo(tokens["access_token"]).status == 200
assert rp.refresh(tokens["refresh_token"]).status == 200
print(json.dumps(sorted(sys.modules)))
"""


def test_a_worker_that_signs_people_in_loads_none_of_the_rarely_used_libraries(tmp_path, database_url, factory):
    factory.user("alice@example.com")
    registered = factory.client(refresh_tokens=True)
    issuer = "http://127.0.0.1:8000"
    config = write_config_file(tmp_path / "config.toml", database_url, issuer)
    result = subprocess.run([sys.executable, "-c", WORKER, str(config),
                             json.dumps([registered.client_id, registered.secret, registered.redirect_uri]), issuer],
                            cwd=ROOT, capture_output=True, text=True, timeout=120)
    assert result.returncode == 0, result.stderr[-3000:]
    loaded = set(json.loads(result.stdout.splitlines()[-1]))
    assert "idp.web.scim.views" in loaded and "idp.factors.webauthn" in loaded   # the features are there
    assert sorted(name for name in loaded if any(name == unwanted or name.startswith(unwanted + ".")
                                                 for unwanted in NOT_IN_A_WORKER)) == []
