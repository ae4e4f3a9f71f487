"""Spend limits and alerts, and the 429s that are not rate limits, over loopback."""

from __future__ import annotations

import math
from collections.abc import Awaitable, Callable
from typing import Any

import msgspec
import pytest

from openai_usage_async import AsyncUsageClient, SpendAlert, SpendLimit, UsageClient, errors
from openai_usage_async.emulator import Emulator, Fault
from tests.e2e.conftest import fast_retries
from tests.helpers import DAY, NOW, TEST_KEY


def served(obj: SpendLimit | SpendAlert) -> dict[str, Any]:
    """Ours as the service's JSON: without the project_id the client adds."""
    out: dict[str, Any] = msgspec.to_builtins(obj)
    out.pop("project_id")
    # An optional field the service left out is None here (nested nulls are sent as such).
    return {k: v for k, v in out.items() if v is not None}


def project_ids(emulator: Emulator) -> list[str]:
    return [p.id for p in emulator.org.directory.projects]


# -- every method equals the emulator's ground truth -------------------------------------------


async def test_the_limits_equal_the_ground_truth(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    org = await client.organization.spend_limit.get()
    assert org is not None and served(org) == emulator.spend_limit()
    assert (org.threshold_usd, org.scope, org.enforcing, org.project_id) == (
        60_000.0,
        "organization",
        False,
        None,
    )
    seen = {}
    for project_id in project_ids(emulator):
        limit = await client.organization.projects.spend_limit.get(project_id)
        expected = emulator.spend_limit(project_id)
        if expected is None:
            assert limit is None  # the service's 404: no limit
            continue
        assert limit is not None and served(limit) == expected
        assert (limit.project_id, limit.scope) == (project_id, "project")
        seen[project_id] = limit
    spend = emulator.spend
    assert set(seen) == {spend.enforcing_project_id, spend.inactive_project_id}
    assert seen[spend.enforcing_project_id].enforcing
    assert seen[spend.enforcing_project_id].threshold_usd == 1_000.0
    assert not seen[spend.inactive_project_id].enforcing
    assert seen[spend.inactive_project_id].notification_channel is None
    # One request each, the 404s included: nothing was retried.
    assert emulator.statistics().requests_total == 1 + len(project_ids(emulator))
    assert client.statistics().retries == 0


@pytest.mark.parametrize("limit", [None, 1, 2])
@pytest.mark.parametrize("order", [None, "asc", "desc"])
async def test_the_alerts_equal_the_ground_truth_page_by_page(
    emulator: Emulator, client: AsyncUsageClient, limit: int | None, order: Any
) -> None:
    for project_id in [None, *project_ids(emulator)]:
        emulator.reset_statistics()
        if project_id is None:
            alerts = await client.organization.spend_alerts.list(limit=limit, order=order)
        else:
            alerts = await client.organization.projects.spend_alerts.list(
                project_id, limit=limit, order=order
            )
        expected = emulator.spend_alerts(project_id)
        if order == "desc":
            expected.reverse()
        assert [served(a) for a in alerts] == expected
        assert all(a.project_id == project_id for a in alerts)
        # Small pages follow `after`: one request a page, each after the last ID before it.
        requests = emulator.requests
        assert len(requests) == max(1, math.ceil(len(expected) / (limit or 20)))
        afters = [dict(r.query).get("after") for r in requests]
        page = limit or 20
        assert afters == [None, *(expected[i * page - 1]["id"] for i in range(1, len(requests)))]
        assert all(dict(r.query).get("order") == order for r in requests)


async def test_iter_stops_its_requests_when_left_early(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    alerts = client.organization.spend_alerts.iter(limit=1)
    first = await alerts.__anext__()
    await alerts.aclose()  # type: ignore[attr-defined]
    assert first.id == emulator.spend_alerts()[0]["id"]
    assert emulator.statistics().requests_by_endpoint == {"spend_alerts": 1}


# -- 404, 403 ------------------------------------------------------------------------------------


async def test_no_limits_at_all_is_none_everywhere(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.spend_limits = False
    assert await client.organization.spend_limit.get() is None
    for project_id in project_ids(emulator):
        assert await client.organization.projects.spend_limit.get(project_id) is None
    assert len(await client.organization.spend_alerts.list()) == 3  # alerts are not limits


async def test_a_wrong_base_url_is_not_no_limit(emulator: Emulator) -> None:
    assert emulator.base_url is not None
    bare = emulator.base_url.removesuffix("/v1")
    async with AsyncUsageClient(TEST_KEY, base_url=bare) as client:
        with pytest.raises(errors.NotFoundError, match="does not end in /v1"):
            await client.organization.spend_limit.get()


async def test_an_unknown_project(emulator: Emulator, client: AsyncUsageClient) -> None:
    # A limit's 404 does not say which it is: None. Its alerts' 404 is an error.
    assert await client.organization.projects.spend_limit.get("proj_nope") is None
    with pytest.raises(errors.NotFoundError, match="No such project"):
        await client.organization.projects.spend_alerts.list("proj_nope")


@pytest.mark.parametrize("which", ["limit", "alerts", "project limit", "project alerts"])
async def test_403_is_raised_after_exactly_one_request(
    emulator: Emulator, client: AsyncUsageClient, which: str
) -> None:
    emulator.spend_forbidden = True
    org = client.organization
    project = emulator.spend.inactive_project_id
    calls: dict[str, Callable[[], Awaitable[object]]] = {
        "limit": lambda: org.spend_limit.get(),
        "alerts": lambda: org.spend_alerts.list(),
        "project limit": lambda: org.projects.spend_limit.get(project),
        "project alerts": lambda: org.projects.spend_alerts.list(project),
    }
    with pytest.raises(errors.PermissionDeniedError) as info:
        await calls[which]()
    assert (info.value.status_code, info.value.retries) == (403, 0)
    assert emulator.statistics().requests_total == 1


# -- the 429s that are not rate limits ------------------------------------------------------------


async def test_the_spend_429_is_raised_after_one_request_and_the_bound_stays(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.spend_limit_reached = True
    before = client.statistics().limiter
    with pytest.raises(errors.SpendLimitExceededError) as info:
        await client.usage.costs.get(start_time=NOW - 3 * DAY, end_time=NOW)
    exc = info.value
    assert (exc.status_code, exc.code, exc.scope, exc.retries) == (
        429,
        "organization_spend_limit_exceeded",
        "organization",
        0,
    )
    assert str(exc).startswith("Error code: 429 - A hard spend limit was reached")
    assert emulator.statistics().requests_total == 1
    after = client.statistics().limiter
    assert (before.total_tokens, after.total_tokens, after.decreases) == (4, 4, 0)
    # The organization's limit says so: a state, reached.
    limit = await client.organization.spend_limit.get()
    assert limit is not None and limit.enforcing


async def test_many_windows_at_once_meet_the_spend_429_without_a_retry(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.spend_limit_reached = True
    emulator.latency_ms = 5  # several windows in flight together
    with pytest.raises(errors.SpendLimitExceededError):
        await client.usage.completions.list(
            start_time=NOW - 60 * DAY, end_time=NOW, bucket_width="1h"
        )
    stats = client.statistics()
    assert stats.retries == 0
    assert stats.limiter.total_tokens == 4 and stats.limiter.decreases == 0
    # One request per window started, none sent twice; every answer the spend 429.
    windows = [(dict(r.query)["start_time"], dict(r.query)["end_time"]) for r in emulator.requests]
    assert len(windows) == len(set(windows)) >= 1
    assert set(emulator.statistics().responses_by_status) == {429}


@pytest.mark.parametrize(
    "code",
    [
        "insufficient_quota",
        "billing_not_active",
        "credit_balance_exhausted",
        "usage_limit_exceeded",
        "organization_usage_limit_exceeded",
        "project_spend_limit_exceeded",
    ],
)
async def test_the_other_codes_no_wait_fixes(
    emulator: Emulator, client: AsyncUsageClient, code: str
) -> None:
    # A fault that would let the second attempt through: the client must not make one.
    emulator.faults = [Fault(status=429, code=code, first=1, retry_after_ms=1)]
    with pytest.raises(errors.RateLimitError) as info:
        await client.usage.costs.get(start_time=NOW - DAY, end_time=NOW)
    exc = info.value
    assert exc.code == code and exc.retries == 0
    if code == "project_spend_limit_exceeded":
        assert isinstance(exc, errors.SpendLimitExceededError) and exc.scope == "project"
    else:
        assert type(exc) is errors.RateLimitError
    assert "not a rate limit" in exc.message
    assert emulator.statistics().requests_total == 1
    limiter = client.statistics().limiter
    assert (limiter.total_tokens, limiter.decreases) == (4, 0)


async def test_a_rate_limit_429_is_retried_as_before(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.faults = [Fault(status=429, code="rate_limit_exceeded", first=1, retry_after_ms=1)]
    page = await client.usage.costs.get(start_time=NOW - DAY, end_time=NOW)
    assert page.data and emulator.statistics().requests_total == 2
    assert client.statistics().limiter.decreases == 1


# -- the synchronous client has the same surface ------------------------------------------------


def test_the_sync_client_reads_limits_and_alerts(emu: Emulator) -> None:
    assert emu.base_url is not None
    project = emu.spend.inactive_project_id
    with UsageClient(TEST_KEY, base_url=emu.base_url) as client:
        limit = client.organization.spend_limit.get()
        assert isinstance(limit, SpendLimit) and served(limit) == emu.spend_limit()
        plimit = client.organization.projects.spend_limit.get(project)
        assert served(plimit) == emu.spend_limit(project) and plimit.project_id == project
        missing = emu.spend.alert_only_project_id
        assert client.organization.projects.spend_limit.get(missing) is None
        alerts = client.organization.spend_alerts.list(limit=1)
        assert [served(a) for a in alerts] == emu.spend_alerts()
        palerts = list(client.organization.projects.spend_alerts.iter(project, order="desc"))
        assert [served(a) for a in palerts] == emu.spend_alerts(project)[::-1]
        with pytest.raises(ValueError, match=r"^limit: 0 gives pages"):
            client.organization.spend_alerts.iter(limit=0)
        emu.spend_forbidden = True
        try:
            with pytest.raises(errors.PermissionDeniedError):
                client.organization.spend_limit.get()
        finally:
            emu.spend_forbidden = False
        emu.spend_limit_reached = True
        try:
            with pytest.raises(errors.SpendLimitExceededError):
                client.usage.costs.get(start_time=NOW - DAY, end_time=NOW)
        finally:
            emu.spend_limit_reached = False
        assert client.statistics().retries == 0


async def test_fast_retries_do_not_hide_a_retry(emulator: Emulator) -> None:
    # The same check with a retry budget of 5: still exactly one request.
    assert emulator.base_url is not None
    emulator.spend_limit_reached = True
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_retries=5) as client:
        fast_retries(client)
        with pytest.raises(errors.SpendLimitExceededError):
            await client.usage.costs.get(start_time=NOW - DAY, end_time=NOW)
    assert emulator.statistics().requests_total == 1
