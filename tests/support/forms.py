"""Reading HTML forms the way a browser would, to drive sign-ins without a browser."""
from __future__ import annotations

from dataclasses import dataclass, field
from html.parser import HTMLParser


@dataclass
class Form:
    action: str
    method: str
    fields: dict[str, str] = field(default_factory=dict)
    inputs: list[dict[str, str]] = field(default_factory=list)
    buttons: list[dict[str, str]] = field(default_factory=list)


class _Parser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.forms: list[Form] = []
        self._current: Form | None = None

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        if tag == "form":
            self._current = Form(action=a.get("action", ""), method=a.get("method", "get").lower())
            self.forms.append(self._current)
        elif tag in ("input", "textarea", "select") and self._current is not None:
            self._current.inputs.append(a)
            if a.get("name") and a.get("type") not in ("checkbox", "radio", "submit"):
                self._current.fields[a["name"]] = a.get("value", "")
        elif tag == "button" and self._current is not None:
            self._current.buttons.append(a)

    def handle_endtag(self, tag: str) -> None:
        if tag == "form":
            self._current = None


def forms(html: str) -> list[Form]:
    parser = _Parser()
    parser.feed(html)
    return parser.forms


def form_with(html: str, name: str) -> Form:
    """The first form that has an input called `name`."""
    for form in forms(html):
        if name in form.fields or any(i.get("name") == name for i in form.inputs):
            return form
    raise AssertionError(f"no form with a field {name!r} in page:\n{html[:2000]}")


def post_form(browser, page, action: str, **values: str):  # noqa: ANN001, ANN201
    """Submit the page's form whose action is `action`, with its own fields (CSRF token included) and `values`."""
    form = next(f for f in forms(page.text) if f.action == action)
    return browser.open(action, "POST", {**form.fields, **values})
