"""client.organization over a fake sender: checks before any request, guards, errors."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openai_usage_async import AsyncUsageClient, errors
from tests.transport.fakes import FakeSender, response

KEY = "sk-admin-SECRET-0123456789abcdef"


@pytest.fixture
async def client() -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(KEY, base_url="http://api.test/v1", max_retries=0) as c:
        yield c


def script(client: AsyncUsageClient, *items: object) -> FakeSender:
    sender = FakeSender(list(items))  # type: ignore[arg-type]
    client._requester.sender = sender
    return sender


async def test_bad_arguments_are_refused_before_any_request(client: AsyncUsageClient) -> None:
    sender = script(client)
    with pytest.raises(ValueError, match=r"^limit: 0 is outside 1\.\.100"):
        client.organization.projects.iter(limit=0)
    with pytest.raises(ValueError, match=r"^include_archived: expected True or False"):
        client.organization.projects.iter(include_archived="yes")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^project_id: expected a non-empty"):
        await client.organization.projects.api_keys.list("")
    with pytest.raises(ValueError, match=r"^emails: empty"):
        await client.organization.users.list(emails=[])
    assert sender.sent == []


async def test_queries_and_paths(client: AsyncUsageClient) -> None:
    page = {"object": "list", "data": [], "has_more": False}
    sender = script(client, response(200, page), response(200, page), response(200, page))
    await client.organization.projects.list(include_archived=True, limit=5)
    await client.organization.users.list(emails=["a@x.io", "b@x.io"])
    await client.organization.projects.service_accounts.list("proj/odd id")
    assert [s.url.removeprefix("http://api.test/v1") for s in sender.sent] == [
        "/organization/projects",
        "/organization/users",
        "/organization/projects/proj%2Fodd%20id/service_accounts",
    ]
    assert sender.sent[0].query == [("limit", "5"), ("include_archived", "true")]
    assert sender.sent[1].query == [("emails[]", "a@x.io"), ("emails[]", "b@x.io")]


async def test_a_looping_list_is_an_error_not_a_hang(client: AsyncUsageClient) -> None:
    loop = {"object": "list", "data": [{"id": "u1"}], "has_more": True, "last_id": "u1"}
    sender = script(client, response(200, loop), response(200, loop))
    with pytest.raises(errors.APIResponseValidationError, match="already followed"):
        await client.organization.users.list()
    assert len(sender.sent) == 2
    assert sender.sent[1].query == [("after", "u1")]


async def test_keys_carry_their_project(client: AsyncUsageClient) -> None:
    page = {"object": "list", "data": [{"id": "key_1", "name": "ci"}], "has_more": False}
    script(client, response(200, page))
    [key] = await client.organization.projects.api_keys.list("proj_a")
    assert (key.id, key.name, key.project_id) == ("key_1", "ci", "proj_a")


async def test_a_key_without_the_scope_gets_permission_denied_plainly(
    client: AsyncUsageClient,
) -> None:
    denied = {"error": {"message": "Missing scopes: api.management.read", "type": "x"}}
    script(client, response(403, denied), response(403, denied))
    with pytest.raises(errors.PermissionDeniedError) as info:
        await client.organization.directory()
    assert info.value.status_code == 403
