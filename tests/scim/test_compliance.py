"""scim2-tester, a SCIM 2.0 compliance checker, run against /scim/v2 (in process, through WSGI): discovery,
creation, query, attributes, replacement, PATCH add/remove/replace and deletion of Users and Groups."""
from __future__ import annotations

import uuid

import pytest
from scim2_client.engines.wsgi import WSGISCIMClient
from scim2_tester import Status, check_server


class FreshEmails(list):
    """The checker fills `userName` from the field's examples when it has some (else a random UUID, which
    this server refuses: userName is the person's email address); each pick is a new address."""

    def __len__(self) -> int:
        return 1

    def __getitem__(self, index: object) -> str:
        return f"{uuid.uuid4().hex}@example.com"


@pytest.fixture
def config_overrides() -> dict:
    return {"rate_limit": {"enabled": False}}      # the checker sends several hundred requests a minute


def test_checker_reports_no_failures(app, scim):
    client = WSGISCIMClient(app, base_url="http://localhost/scim/v2",
                            environ={"HTTP_AUTHORIZATION": f"Bearer {scim.token}"})
    client.discover()                                     # the models the server publishes on /Schemas
    user_model = client.get_resource_model("User")
    user_model.model_fields["user_name"].examples = FreshEmails()

    results = check_server(client)

    failed = [f"{r.resource_type} {r.title}: {r.reason}" for r in results
              if r.status not in (Status.SUCCESS, Status.SKIPPED)]
    assert not failed, "\n".join(failed)
    checked = {(r.resource_type, r.title) for r in results if r.status is Status.SUCCESS}
    for kind in ("User", "Group"):
        for title in ("object_creation", "object_replacement", "object_deletion", "check_add_attribute",
                      "check_remove_attribute", "check_replace_attribute"):
            assert (kind, title) in checked, (kind, title)
