"""Real headless Chromium (Debian's /usr/bin/chromium, never a downloaded browser) against the app served
on 127.0.0.1 by a ThreadedServer; the issuer is that address, so cookies and redirects are real."""
from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import ReservedPort, ThreadedServer

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = ["--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
                 "--disable-background-networking", "--disable-component-update", "--disable-sync"]
DESKTOP = {"width": 1280, "height": 900}
PHONE = {"width": 390, "height": 844}


@pytest.fixture
def live_port() -> Iterator[ReservedPort]:
    """The app's port, held from the issuer URL in its config until its server starts."""
    port = ReservedPort()
    yield port
    port.close()


@pytest.fixture
def issuer(live_port: ReservedPort) -> str:
    return f"http://127.0.0.1:{live_port.number}"


@pytest.fixture
def live_server(app, live_port: ReservedPort) -> Iterator[ThreadedServer]:  # noqa: ANN001
    with ThreadedServer(app, live_port) as server:
        yield server


@pytest.fixture(scope="session")
def chromium():  # noqa: ANN201
    if not CHROMIUM.exists() and not shutil.which("chromium"):
        pytest.skip("Debian chromium is not installed (apt-get install -y chromium)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS)
        yield browser
        browser.close()


@pytest.fixture
def context(chromium, live_server):  # noqa: ANN001, ANN201
    context = chromium.new_context(base_url=live_server.url, viewport=DESKTOP, accept_downloads=True)
    context.grant_permissions(["clipboard-read", "clipboard-write"], origin=live_server.url)
    context.set_default_timeout(10_000)
    yield context
    context.close()


@pytest.fixture
def page(context):  # noqa: ANN001, ANN201
    return context.new_page()
