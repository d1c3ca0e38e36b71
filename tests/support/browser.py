"""A scripted "browser" for sign-ins: follows redirects within the IdP, fills and posts its forms.

Works over the Flask test client (fast) or httpx against a real server; stops at the first redirect
that leaves the IdP (to the client's redirect URI) and returns it."""
from __future__ import annotations

from dataclasses import dataclass
from urllib.parse import parse_qs, urljoin, urlsplit

from .forms import Form, form_with, forms


@dataclass
class Page:
    status: int
    url: str
    text: str
    location: str | None = None

    def form(self, field_name: str) -> Form:
        return form_with(self.text, field_name)

    @property
    def query(self) -> dict[str, str]:
        return {k: v[0] for k, v in parse_qs(urlsplit(self.location or self.url).query).items()}


class Browser:
    """Drives a Flask test client (`client`) or an httpx.Client (`http`, with base URL)."""

    def __init__(self, client=None, http=None, base: str = "http://localhost") -> None:  # noqa: ANN001
        self.client, self.http, self.base = client, http, base

    def _raw(self, method: str, url: str, data: dict | None = None) -> Page:
        if self.client is not None:
            split = urlsplit(url)
            path = split.path + (f"?{split.query}" if split.query else "")
            response = self.client.open(path, method=method, data=data, follow_redirects=False)
            return Page(response.status_code, url, response.get_data(as_text=True), response.headers.get("Location"))
        response = self.http.request(method, url, data=data, follow_redirects=False)
        return Page(response.status_code, url, response.text, response.headers.get("location"))

    def open(self, url: str, method: str = "GET", data: dict | None = None) -> Page:
        """Request url and follow redirects while they stay on the IdP."""
        url = urljoin(self.base + "/", url)
        page = self._raw(method, url, data)
        for _ in range(20):
            if page.status not in (301, 302, 303, 307) or not page.location:
                return page
            target = urljoin(url, page.location)
            if not target.startswith(self.base):
                page.location = target
                return page
            url = target
            page = self._raw("GET", url)
        raise AssertionError("redirect loop")

    def submit(self, page: Page, field_name: str, values: dict[str, str], button: tuple[str, str] | None = None) -> Page:
        form = page.form(field_name)
        data = {**form.fields, **values}
        if button:
            data[button[0]] = button[1]
        return self.open(urljoin(page.url, form.action or page.url), form.method.upper(), data)

    def sign_in(self, page: Page, email: str, password: str) -> Page:
        """Fill the email+password step shown on `page`."""
        return self.submit(page, "password", {"email": email, "password": password})

    def choose(self, page: Page, label: str) -> Page:
        """Pick "Try another way" option by its visible label."""
        for form in forms(page.text):
            if "choice" in form.fields and label in page.text:
                pass
        import re

        match = re.search(r'name="choice" value="([^"]+)">\s*<button[^>]*>\s*' + re.escape(label), page.text)
        if not match:
            raise AssertionError(f"no choice {label!r} on page")
        form = next(f for f in forms(page.text) if f.fields.get("choice") == match.group(1))
        return self.open(urljoin(page.url, form.action), "POST", form.fields)
