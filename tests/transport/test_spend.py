"""Spend limits and alerts over a fake sender: checks before any request, the paths and
queries sent, and the 429s that are answered at once and leave the limiter alone."""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Any

import pytest

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async._sansio.responses import NOT_RATE_LIMIT_CODES
from tests.transport.fakes import FakeSender, response

KEY = "sk-admin-SECRET-0123456789abcdef"
BASE = "http://api.test/v1"
EMPTY: dict[str, Any] = {
    "object": "list",
    "data": [],
    "first_id": None,
    "last_id": None,
    "has_more": False,
}
LIMIT = {"object": "organization.spend_limit", "threshold_amount": 99_999}


@pytest.fixture
async def client() -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(KEY, base_url=BASE, max_retries=2, max_concurrency=8) as c:
        c._requester._sleep = _no_sleep
        yield c


async def _no_sleep(delay_s: float) -> None:
    return None


def script(client: AsyncUsageClient, *items: object) -> FakeSender:
    sender = FakeSender(list(items))  # type: ignore[arg-type]
    client._requester.sender = sender
    return sender


def alert(n: int, scope: str = "organization") -> dict[str, Any]:
    return {
        "id": f"spend_alert_{n}",
        "object": f"{scope}.spend_alert",
        "threshold_amount": n * 100,
        "currency": "USD",
        "interval": "month",
        "notification_channel": {"type": "email", "recipients": [f"{n}@example.com"]},
    }


async def test_bad_arguments_are_refused_before_any_request(client: AsyncUsageClient) -> None:
    sender = script(client)
    org = client.organization
    with pytest.raises(ValueError, match=r"^limit: 0 gives pages without alerts"):
        org.spend_alerts.iter(limit=0)
    with pytest.raises(ValueError, match=r"^limit: 101 is outside 1\.\.100"):
        await org.spend_alerts.list(limit=101)
    with pytest.raises(ValueError, match=r"^order: expected one of 'asc', 'desc', got 'up'"):
        org.projects.spend_alerts.iter("proj_a", order="up")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match=r"^project_id: expected a non-empty"):
        org.projects.spend_alerts.iter(" ")
    with pytest.raises(ValueError, match=r"^project_id: expected a non-empty"):
        await org.projects.spend_limit.get("")
    for name in ("limit", "after", "order"):
        with pytest.raises(ValueError, match=rf"^extra_query: '{name}' is set by the client"):
            await org.spend_alerts.list(extra_query={name: "x"})
    with pytest.raises(ValueError, match=r"^extra_headers: 'Authorization' is set by the client"):
        await org.spend_limit.get(extra_headers={"Authorization": "Bearer other"})
    with pytest.raises(ValueError, match=r"^extra_query: expected a mapping"):
        await org.projects.spend_limit.get("proj_a", extra_query="x=1")  # type: ignore[arg-type]
    assert sender.sent == []


async def test_paths_queries_and_extras(client: AsyncUsageClient) -> None:
    sender = script(client, *(response(200, LIMIT) for _ in range(2)), response(200, EMPTY))
    sender.script.append(response(200, EMPTY))
    org = client.organization
    await org.spend_limit.get(extra_query={"beta": True}, extra_headers={"X-Trace": "t1"})
    limit = await org.projects.spend_limit.get("proj/odd id")
    await org.spend_alerts.list(order="desc", limit=3, extra_query={"before": "spend_alert_9"})
    await org.projects.spend_alerts.list("proj_b")
    assert [s.url.removeprefix(BASE) for s in sender.sent] == [
        "/organization/spend_limit",
        "/organization/projects/proj%2Fodd%20id/spend_limit",
        "/organization/spend_alerts",
        "/organization/projects/proj_b/spend_alerts",
    ]
    assert sender.sent[0].query == [("beta", "true")]
    assert sender.sent[0].headers["X-Trace"] == "t1"
    assert sender.sent[1].query == []
    assert sender.sent[2].query == [("limit", "3"), ("order", "desc"), ("before", "spend_alert_9")]
    assert sender.sent[3].query == []
    assert limit is not None and limit.project_id == "proj/odd id"  # the ID as given


async def test_alerts_follow_after_and_carry_their_project(client: AsyncUsageClient) -> None:
    page1 = {**EMPTY, "data": [alert(1, "project"), alert(2, "project")], "has_more": True}
    page1 |= {"first_id": "spend_alert_1", "last_id": "spend_alert_2"}
    page2 = {**EMPTY, "data": [alert(3, "project")], "first_id": "spend_alert_3"}
    sender = script(client, response(200, page1), response(200, page2))
    alerts = await client.organization.projects.spend_alerts.list("proj_a", limit=2, order="asc")
    assert [(a.id, a.threshold_usd, a.project_id) for a in alerts] == [
        ("spend_alert_1", 1.0, "proj_a"),
        ("spend_alert_2", 2.0, "proj_a"),
        ("spend_alert_3", 3.0, "proj_a"),
    ]
    assert [s.query for s in sender.sent] == [
        [("limit", "2"), ("order", "asc")],
        [("limit", "2"), ("order", "asc"), ("after", "spend_alert_2")],
    ]


async def test_a_looping_alert_list_is_an_error_not_a_hang(client: AsyncUsageClient) -> None:
    loop = {**EMPTY, "data": [alert(1)], "has_more": True, "last_id": "spend_alert_1"}
    sender = script(client, response(200, loop), response(200, loop))
    with pytest.raises(errors.APIResponseValidationError, match="already followed"):
        await client.organization.spend_alerts.list()
    assert len(sender.sent) == 2


async def test_404_is_none_and_403_is_raised_without_retry(client: AsyncUsageClient) -> None:
    missing = {"error": {"message": "No hard spend limit is set.", "type": "invalid_request_error"}}
    denied = {"error": {"message": "Missing scopes: api.organization.read", "code": None}}
    sender = script(client, response(404, missing), response(404, missing), response(403, denied))
    assert await client.organization.spend_limit.get() is None
    assert await client.organization.projects.spend_limit.get("proj_a") is None
    with pytest.raises(errors.PermissionDeniedError) as info:
        await client.organization.spend_limit.get()
    assert (info.value.status_code, info.value.retries) == (403, 0)
    assert len(sender.sent) == 3  # one request each: none retried


async def test_an_invalid_url_404_is_not_no_limit(client: AsyncUsageClient) -> None:
    wrong = {"error": {"message": "Invalid URL (GET /organization/spend_limit)", "type": "x"}}
    script(client, response(404, wrong))
    with pytest.raises(errors.NotFoundError, match="Invalid URL"):
        await client.organization.spend_limit.get()


def rate_limited(code: str | None) -> Any:
    body = {"error": {"message": "m", "type": "requests", "param": None, "code": code}}
    return response(429, body, {"retry-after-ms": "1"})


@pytest.mark.parametrize("code", sorted(NOT_RATE_LIMIT_CODES))
async def test_a_429_that_no_wait_fixes_is_raised_at_once(
    client: AsyncUsageClient, code: str
) -> None:
    sender = script(client, rate_limited(code), response(200))
    before = client.statistics().limiter
    with pytest.raises(errors.RateLimitError) as info:
        await client.usage.costs.get(start_time=1_763_000_000)
    exc = info.value
    spend = code.endswith("_spend_limit_exceeded")
    assert isinstance(exc, errors.SpendLimitExceededError) is spend
    assert "not a rate limit" in exc.message and exc.retries == 0
    assert len(sender.sent) == 1  # never retried
    after = client.statistics().limiter
    # The bound did not shrink: all 8 tokens, no decrease.
    assert (before.total_tokens, after.total_tokens, after.decreases) == (8, 8, 0)
    assert client.statistics().retries == 0


async def test_a_rate_limit_429_still_shrinks_the_bound_and_is_retried(
    client: AsyncUsageClient,
) -> None:
    # The contrast: the same 429 with the throttling code halves the bound and is retried.
    sender = script(client, rate_limited("rate_limit_exceeded"), response(200))
    await client.usage.costs.get(start_time=1_763_000_000)
    assert len(sender.sent) == 2
    limiter = client.statistics().limiter
    assert (limiter.total_tokens, limiter.decreases) == (4, 1)


async def test_the_spend_429_on_a_spend_path_too(client: AsyncUsageClient) -> None:
    sender = script(client, rate_limited("project_spend_limit_exceeded"))
    with pytest.raises(errors.SpendLimitExceededError) as info:
        await client.organization.projects.spend_alerts.list("proj_a")
    assert info.value.scope == "project" and len(sender.sent) == 1
