"""The scripted browser across hosts: the IdP under test and its upstream providers (real HTTP servers).

`Browser` stops at the first redirect that leaves its base; a federated sign-in goes to the upstream
provider and comes back, so this one follows redirects while they stay on any of its hosts, and stops
(returning the redirect) when one leaves them all: the application's redirect URI."""
from __future__ import annotations

from urllib.parse import urljoin, urlsplit

import httpx

from .browser import Browser, Page

REDIRECTS = (301, 302, 303, 307, 308)


def origin(url: str) -> tuple[str, str]:
    parts = urlsplit(url)
    return parts.scheme, parts.netloc


class FederatedBrowser(Browser):
    """An httpx-driven browser (one cookie jar) that follows redirects across `hosts` (base URLs)."""

    def __init__(self, http: httpx.Client, base: str, hosts: list[str]) -> None:
        super().__init__(http=http, base=base)
        self.origins = {origin(base), *(origin(h) for h in hosts)}
        self.visited: list[str] = []

    def add_host(self, url: str) -> None:
        self.origins.add(origin(url))

    def open(self, url: str, method: str = "GET", data: dict | None = None) -> Page:
        url = urljoin(self.base + "/", url)
        page = self._raw(method, url, data)
        self.visited.append(url)
        for _ in range(30):
            if page.status not in REDIRECTS or not page.location:
                return page
            target = urljoin(url, page.location)
            if origin(target) not in self.origins:
                page.location = target
                return page
            url = target
            page = self._raw("GET", url)
            self.visited.append(url)
        raise AssertionError(f"redirect loop: {self.visited[-5:]}")
