"""client.organization against the emulator over loopback, with the official SDK as oracle."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest
from openai import AsyncOpenAI

from openai_usage_async import AsyncUsageClient, errors, to_rows
from openai_usage_async.emulator import Emulator, Fault
from tests.helpers import DAY, NOW, TEST_KEY


@pytest.fixture
async def sdk(emulator: Emulator) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(admin_api_key=TEST_KEY, base_url=emulator.base_url, max_retries=0)
    yield client
    await client.close()


def plain(objects: list[Any]) -> list[dict[str, Any]]:
    return [{k: v for k, v in o.model_dump(mode="json").items() if v is not None} for o in objects]


def ours(objects: list[Any]) -> list[dict[str, Any]]:
    """Our objects as the service's JSON (without the project_id we add to keys)."""
    import msgspec

    out = []
    for o in objects:
        d = msgspec.to_builtins(o)
        d.pop("project_id", None)
        out.append(_strip(d))
    return out


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    return value


@pytest.mark.parametrize("limit", [None, 2])
async def test_every_list_equals_the_official_sdks_auto_paging(
    emulator: Emulator, client: AsyncUsageClient, sdk: AsyncOpenAI, limit: int | None
) -> None:
    extra: dict[str, Any] = {} if limit is None else {"limit": limit}
    org = sdk.admin.organization
    projects = await client.organization.projects.list(include_archived=True, **extra)
    theirs = [p async for p in org.projects.list(include_archived=True, **extra)]
    assert ours(projects) == plain(theirs)
    users = await client.organization.users.list(**extra)
    assert ours(users) == plain([u async for u in org.users.list(**extra)])
    for project in projects:
        keys = await client.organization.projects.api_keys.list(project.id, **extra)
        sdk_keys = [k async for k in org.projects.api_keys.list(project.id, **extra)]
        assert [k.id for k in keys] == [k.id for k in sdk_keys]
        assert all(k.project_id == project.id for k in keys)
        for mine, their in zip(keys, sdk_keys, strict=True):
            assert mine.owner is not None and their.owner is not None
            assert mine.owner.type == their.owner.type
            if their.owner.user is not None:
                assert (
                    mine.owner.user is not None and mine.owner.user.email == their.owner.user.email
                )
            else:
                assert mine.owner.service_account is not None
                assert mine.owner.service_account.name == their.owner.service_account.name
        accounts = await client.organization.projects.service_accounts.list(project.id, **extra)
        sdk_accounts = [a async for a in org.projects.service_accounts.list(project.id, **extra)]
        assert [(a.id, a.name, a.role) for a in accounts] == [
            (a.id, a.name, a.role) for a in sdk_accounts
        ]


async def test_the_directory_names_every_id_in_usage_but_the_two_on_purpose(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    directory = await client.organization.directory()
    org = emulator.org
    assert {p.id for p in directory.projects} == {p.id for p in org.directory.projects}
    assert len(directory.api_keys) == len(org.directory.api_keys)
    assert directory.project_name(org.archived_project_id)  # archived, but in the directory
    assert directory.api_key_name(org.deleted_api_key_id) is None  # deleted: None, no error
    buckets = await client.usage.completions.list(
        start_time=NOW - 30 * DAY, end_time=NOW, group_by=["project_id", "user_id", "api_key_id"]
    )
    rows = list(to_rows(buckets, directory=directory))
    assert rows
    for row in rows:
        assert row["project_name"] is not None, row["project_id"]
        assert row["user_email"] is not None, row["user_id"]
        if row["api_key_id"] == org.deleted_api_key_id:
            assert row["api_key_name"] is None
        else:
            assert row["api_key_name"] is not None, row["api_key_id"]
    assert any(r["api_key_id"] == org.deleted_api_key_id for r in rows)


async def test_the_directory_is_fetched_concurrently_under_the_bound(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.latency_ms = 20
    await client.organization.directory()
    stats = emulator.statistics()
    assert stats.peak_in_flight > 1
    assert stats.peak_in_flight <= client.max_concurrency


async def test_an_unknown_project_is_not_found(client: AsyncUsageClient) -> None:
    with pytest.raises(errors.NotFoundError) as info:
        await client.organization.projects.api_keys.list("proj_nope")
    assert info.value.status_code == 404


async def test_directory_requests_are_retried_like_usage_requests(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.faults = [Fault(status=503, first=1, endpoints=frozenset({"projects"}))]
    projects = await client.organization.projects.list()
    assert projects and emulator.statistics().responses_by_status[503] == 1
