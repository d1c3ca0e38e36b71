"""Client ids as the command line sees them."""
from __future__ import annotations


def test_client_ids_can_be_typed_on_the_command_line(monkeypatch):  # noqa: ANN001
    """A client id never starts with "-", which `idp client grant ID ...` would read as an option."""
    from idp import clients

    tokens = iter(["-starts-with-a-dash", "_fine"])
    monkeypatch.setattr(clients, "new_token", lambda _n: next(tokens))
    assert clients.new_client_id() == "_fine"
