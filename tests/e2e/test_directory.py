"""client.organization against the emulator over loopback, with the official SDK as oracle."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator
from typing import Any

import openai
import pytest
from openai import AsyncOpenAI

from openai_usage_async import AsyncUsageClient, errors, to_rows
from openai_usage_async.emulator import Emulator, Fault, serve_in_thread
from tests.helpers import DAY, NOW, TEST_KEY


@pytest.fixture
async def sdk(emulator: Emulator) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(admin_api_key=TEST_KEY, base_url=emulator.base_url, max_retries=0)
    yield client
    await client.close()


def plain(objects: list[Any]) -> list[dict[str, Any]]:
    return [_strip(o.model_dump(mode="json")) for o in objects]


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
    assert ours(projects) == plain(theirs)  # every field, the new ones too
    users = await client.organization.users.list(**extra)
    assert ours(users) == plain([u async for u in org.users.list(**extra)])
    for project in projects:
        for access in (None, "active", "inactive", "any"):
            given: dict[str, Any] = {} if access is None else {"owner_project_access": access}
            keys = await client.organization.projects.api_keys.list(project.id, **given, **extra)
            sdk_keys = [k async for k in org.projects.api_keys.list(project.id, **given, **extra)]
            assert ours(keys) == plain(sdk_keys)  # owners, spend limits: the same values
            assert all(k.project_id == project.id for k in keys)
        if project.status == "archived":  # the service's documented 400, for both clients
            with pytest.raises(errors.BadRequestError, match="is archived"):
                await client.organization.projects.service_accounts.list(project.id, **extra)
            with pytest.raises(openai.BadRequestError, match="is archived"):
                await org.projects.service_accounts.list(project.id, **extra)
            continue
        accounts = await client.organization.projects.service_accounts.list(project.id, **extra)
        sdk_accounts = [a async for a in org.projects.service_accounts.list(project.id, **extra)]
        assert ours(accounts) == plain(sdk_accounts)


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


# -- one project's listing never fails the directory -------------------------------------------


def keys_path(project_id: str) -> str:
    return f"/organization/projects/{project_id}/api_keys"


def accounts_path(project_id: str) -> str:
    return f"/organization/projects/{project_id}/service_accounts"


def active_project(emulator: Emulator, index: int = 0) -> str:
    return [p.id for p in emulator.org.directory.projects if p.archived_at is None][index]


async def test_the_archived_projects_400_is_expected_and_quiet(
    emulator: Emulator, client: AsyncUsageClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_usage_async")
    d = emulator.org.directory
    archived = emulator.org.archived_project_id
    directory = await client.organization.directory()
    assert [(s.project_id, s.listing, s.status_code, s.expected) for s in directory.skipped] == [
        (archived, "service_accounts", 400, True)
    ]
    assert "is archived" in directory.skipped[0].reason
    # Everything else is there: its keys too (their route answers), every other account.
    assert {k.id for k in directory.api_keys} == {k.id for k in d.api_keys}
    assert [a.id for a in directory.service_accounts] == [
        a.id for a in d.service_accounts if a.project_id != archived
    ]
    assert directory.project_name(archived) is not None
    # Expected: a debug line, no warning.
    ours = [r for r in caplog.records if r.name == "openai_usage_async.directory"]
    assert [r.levelno for r in ours] == [logging.DEBUG]
    assert archived in ours[0].getMessage()
    # The old answer, as an option: then nothing is left out.
    emulator.archived_project_error = False
    complete = await client.organization.directory()
    assert complete.skipped == [] and len(complete.service_accounts) == len(d.service_accounts)


@pytest.mark.parametrize(
    ("listing", "fault", "status"),
    [
        ("api_keys", Fault(status=500), 500),
        ("api_keys", Fault(status=404), 404),
        ("api_keys", Fault(kind="drop"), None),
        ("api_keys", Fault(kind="malformed"), 200),
        ("service_accounts", Fault(status=503), 503),
        ("service_accounts", Fault(status=429, retry_after_ms=1), 429),
    ],
)
async def test_one_projects_failing_listing_leaves_out_only_that_listing(
    emulator: Emulator,
    client: AsyncUsageClient,
    caplog: pytest.LogCaptureFixture,
    listing: str,
    fault: Fault,
    status: int | None,
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_usage_async")
    d = emulator.org.directory
    emulator.archived_project_error = False  # this project alone fails
    failing = active_project(emulator)
    path = (keys_path if listing == "api_keys" else accounts_path)(failing)
    emulator.listing_faults[path] = fault
    directory = await client.organization.directory()
    [skipped] = directory.skipped
    assert (skipped.project_id, skipped.listing, skipped.status_code) == (failing, listing, status)
    assert skipped.expected is False and skipped.reason
    # Every other name is kept; only that project's keys (or accounts) are missing.
    assert [p.id for p in directory.projects] == [p.id for p in d.projects]
    assert [u.id for u in directory.users] == [u.id for u in d.users]
    lost = listing == "api_keys"
    assert [k.id for k in directory.api_keys] == [
        k.id for k in d.api_keys if not (lost and k.project_id == failing)
    ]
    assert [a.id for a in directory.service_accounts] == [
        a.id for a in d.service_accounts if lost or a.project_id != failing
    ]
    assert directory.project_name(failing) is not None
    # Retried like any request first (a 404 is not retried).
    tries = sum(1 for r in emulator.requests if r.path == "/v1" + path)
    if status == 404:
        assert tries == 1
    else:
        assert tries >= 1 + client.max_retries
    # One warning naming the listing, and never the key.
    [warning] = [
        r
        for r in caplog.records
        if r.name == "openai_usage_async.directory" and r.levelno == logging.WARNING
    ]
    assert failing in warning.getMessage() and listing in warning.getMessage()
    assert TEST_KEY not in caplog.text and TEST_KEY not in repr(directory)


@pytest.mark.parametrize("status", [401, 403])
async def test_a_key_refused_on_one_listing_still_raises(
    emulator: Emulator, client: AsyncUsageClient, status: int
) -> None:
    emulator.listing_faults[keys_path(active_project(emulator, 1))] = Fault(status=status)
    with pytest.raises((errors.AuthenticationError, errors.PermissionDeniedError)) as info:
        await client.organization.directory()
    assert info.value.status_code == status


async def test_the_directory_asks_for_every_enabled_key(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    inactive = emulator.org.directory.inactive_api_key_id
    owner = emulator.org.directory.api_key(inactive)
    assert owner is not None
    directory = await client.organization.directory()
    assert directory.api_key_name(inactive) == owner.name  # its owner lost access; still named
    sent = [r for r in emulator.requests if r.endpoint == "project_api_keys"]
    assert sent and all(("owner_project_access", "any") in r.query for r in sent)
    # Without the filter the service's membership rules hide it; with it, as asked.
    listing = client.organization.projects.api_keys
    assert inactive not in [k.id for k in await listing.list(owner.project_id)]
    assert [
        k.id for k in await listing.list(owner.project_id, owner_project_access="inactive")
    ] == [inactive]
    active = await listing.list(owner.project_id, owner_project_access="active")
    assert inactive not in [k.id for k in active] and active
    every = await listing.list(owner.project_id, owner_project_access="any", limit=1)
    assert len(every) == len(active) + 1
    [key] = [k for k in every if k.id == inactive]
    assert key.owner_project_access == "inactive"


async def test_new_fields_decode_as_served(emulator: Emulator, client: AsyncUsageClient) -> None:
    d = emulator.org.directory
    directory = await client.organization.directory()
    residencies = {p.residency for p in directory.projects}
    assert None in residencies and "GLOBAL" in residencies and len(residencies) >= 3
    assert sum(p.external_key_id is not None for p in directory.projects) == 1
    founder = directory.users[0]
    assert founder.is_default is True and founder.is_service_account is False
    assert founder.user is not None and founder.user.email == founder.email
    assert any(u.created is None for u in directory.users)
    assert all(u.created is None or u.created <= (u.added_at or 0) for u in directory.users)
    assert founder.projects is not None
    member_of = {p.id for p in founder.projects.data}
    assert member_of == {k.project_id for k in d.api_keys if k.owner_id == founder.id}
    used = [k.last_used_at for k in directory.api_keys if k.owner and k.owner.user]
    assert max(u.api_key_last_used_at or 0 for u in directory.users) == max(t or 0 for t in used)
    [limited] = [k for k in directory.api_keys if k.spend_limit is not None]
    assert limited.spend_limit is not None
    assert (limited.spend_limit.threshold_amount, limited.spend_limit.threshold_usd) == (
        50_000,
        500.0,
    )
    assert (limited.spend_limit.currency, limited.spend_limit.interval) == ("USD", "month")
    assert limited.spend_limit.enforcement is not None
    assert limited.spend_limit.enforcement.status == "inactive"


# -- the command line tells of what was left out, once ----------------------------------------


def test_the_cli_notes_left_out_listings_once_and_not_the_expected_400() -> None:
    from tests.cli.conftest import run_cli

    with serve_in_thread(now=NOW) as emu:
        assert emu.base_url is not None
        url = ["--base-url", emu.base_url]
        # Only the archived project's 400: no note at all.
        done = run_cli(*url, "directory")
        assert done.returncode == 0, done.stderr
        assert done.stderr == ""
        failing = active_project(emu)
        emu.listing_faults[keys_path(failing)] = Fault(status=500)
        emu.listing_faults[accounts_path(active_project(emu, 1))] = Fault(kind="drop")
        span = ["--start", str(NOW // DAY * DAY - 7 * DAY), "--end", str(NOW // DAY * DAY)]
        for command in (
            ["directory"],
            ["summary", *span],
            ["fetch", "costs", *span, "--group-by", "project_id", "--names"],
        ):
            done = run_cli(*url, "--max-retries", "0", *command)
            assert done.returncode == 0, done.stderr
            [note] = done.stderr.splitlines()
            assert note.startswith("openai-usage: note: the directory could not read ")
            assert f"the API keys of {failing} (HTTP 500)" in note
            assert "service accounts of" in note and "(no answer)" in note
        assert "Projects (5)" in run_cli(*url, "--max-retries", "0", "directory").stdout
