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
    keys = client.organization.projects.api_keys
    for bad in ("some", "ANY", "", 1, True):
        with pytest.raises(ValueError, match=r"^owner_project_access: expected one of 'active'"):
            await keys.list("proj_a", owner_project_access=bad)  # type: ignore[arg-type]
        with pytest.raises(ValueError, match=r"^owner_project_access: "):
            keys.iter("proj_a", owner_project_access=bad)  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^extra_query: 'owner_project_access' is set by the"):
        await keys.list("proj_a", extra_query={"owner_project_access": "any"})
    for name in ("owner_project_access", "include_archived", "limit"):
        with pytest.raises(ValueError, match=rf"^extra_query: '{name}' is set by the client"):
            await client.organization.directory(extra_query={name: "x"})
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


@pytest.mark.parametrize("access", ["active", "inactive", "any", None])
async def test_the_keys_owner_project_access_filter_is_sent(
    client: AsyncUsageClient, access: str | None
) -> None:
    page = {"object": "list", "data": [], "has_more": False}
    sender = script(client, response(200, page))
    given = {} if access is None else {"owner_project_access": access}
    await client.organization.projects.api_keys.list("proj_a", limit=7, **given)  # type: ignore[arg-type]
    expected = [("limit", "7")] + ([] if access is None else [("owner_project_access", access)])
    assert sender.sent[0].query == expected


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
