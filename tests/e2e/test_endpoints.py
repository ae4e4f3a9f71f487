"""Every endpoint end to end over loopback: iter equals the sequential cursor chain and the SDK."""

from __future__ import annotations

import datetime as dt
import itertools

import msgspec
import pytest
from openai import AsyncOpenAI

from openai_usage_async import AsyncUsageClient, UnknownResult, UsageBucket
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator
from openai_usage_async.models import KNOWN_RESULT_TYPES
from tests.helpers import DAY, HOUR, NOW, TEST_KEY


async def sequential(client: AsyncUsageClient, endpoint: str, **kwargs) -> list[UsageBucket]:
    """What a careful user does by hand: get(), then follow next_page until has_more is false."""
    method = getattr(client.usage, endpoint)
    buckets: list[UsageBucket] = []
    page = await method.get(**kwargs)
    while True:
        buckets += page.data
        if not page.has_more:
            return buckets
        page = await method.get(**kwargs, page=page.next_page)


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_iter_equals_the_sequential_chain_and_the_sdk(
    emulator: Emulator, client: AsyncUsageClient, endpoint: str
) -> None:
    spec = ENDPOINTS[endpoint]
    start = NOW - 70 * DAY - 4321  # a partial first bucket
    kwargs = {
        "start_time": start,
        "end_time": start + 60 * DAY,
        "limit": 7,
        "group_by": ["project_id"],
    }
    buckets = await getattr(client.usage, endpoint).list(**kwargs)
    assert len(buckets) == 61
    assert buckets == await sequential(client, endpoint, **kwargs)
    tag_type = KNOWN_RESULT_TYPES[spec.result_object]
    assert all(type(r) is tag_type for b in buckets for r in b.results)
    assert sum(len(b.results) for b in buckets) > 0
    # The official SDK, page by page, reads the same numbers.
    sdk = AsyncOpenAI(admin_api_key=TEST_KEY, base_url=emulator.base_url, max_retries=0)
    async with sdk:
        method = getattr(sdk.admin.organization.usage, endpoint)
        sdk_buckets = []
        cursor = None
        while True:
            page = await method(**kwargs, **({"page": cursor} if cursor else {}))
            sdk_buckets += page.data
            if not page.has_more:
                break
            cursor = page.next_page
    ours = [msgspec.to_builtins(b.results) for b in buckets]
    theirs = [[r.model_dump(mode="json") for r in b.results] for b in sdk_buckets]
    assert ours == theirs
    assert [(b.start_time, b.end_time) for b in buckets] == [
        (b.start_time, b.end_time) for b in sdk_buckets
    ]


@pytest.mark.parametrize(
    ("width", "length", "expected"),
    [("1m", 2 * DAY + 30, 2881), ("1h", 40 * DAY, 961), ("1d", 400 * DAY, 401)],
)
async def test_long_ranges_at_each_width(
    emulator: Emulator, client: AsyncUsageClient, width: str, length: int, expected: int
) -> None:
    start = NOW - length - 3 * DAY - 17
    kwargs = {"start_time": start, "end_time": start + length, "bucket_width": width}
    buckets = await client.usage.embeddings.list(**kwargs)
    assert len(buckets) == expected
    assert buckets[0].start_time == start and buckets[-1].end_time == start + length
    assert all(a.end_time == b.start_time for a, b in itertools.pairwise(buckets))
    spec = ENDPOINTS["embeddings"]
    pages = -(-expected // spec.max_limit(width))
    assert emulator.statistics().requests_total == pages  # one request per window
    emulator.reset_statistics()
    assert buckets == await sequential(client, "embeddings", **kwargs, limit=spec.max_limit(width))


async def test_concurrency_is_bounded_and_used(emulator: Emulator) -> None:
    emulator.latency_ms = 20
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=3) as client:
        start = NOW // DAY * DAY - 300 * DAY
        buckets = await client.usage.completions.list(
            start_time=start, end_time=start + 280 * DAY, limit=7
        )
        stats = client.statistics()
    assert len(buckets) == 280
    peak = emulator.statistics().peak_in_flight
    assert peak > 1 and peak <= 3
    assert stats.limiter.peak_borrowed <= 3 and stats.requests_sent == 40
    assert (stats.windows_planned, stats.windows_done, stats.pages) == (40, 40, 40)
    assert (stats.buckets, stats.retries) == (280, 0)


async def test_ordered_false_yields_the_same_buckets(client: AsyncUsageClient) -> None:
    kwargs = {"start_time": NOW - 50 * DAY, "end_time": NOW - DAY, "limit": 3}
    ordered = await client.usage.costs.list(**kwargs)
    as_ready = await client.usage.costs.list(**kwargs, ordered=False)
    assert sorted(as_ready, key=lambda b: b.start_time) == ordered
    assert len({b.start_time for b in as_ready}) == len(as_ready) == 50  # partial ends


async def test_without_end_time_follows_the_chain_to_now(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    start = dt.datetime.fromtimestamp(NOW - 30 * HOUR, dt.UTC)
    buckets = await client.usage.completions.list(start_time=start, bucket_width="1h", limit=5)
    assert buckets[0].start_time == NOW - 30 * HOUR
    assert buckets[-1].start_time <= NOW < buckets[-1].end_time
    assert len(buckets) == 31
    assert emulator.statistics().requests_total == 7


async def test_pages_gives_the_pages_in_order(client: AsyncUsageClient) -> None:
    kwargs = {"start_time": NOW - 20 * DAY, "end_time": NOW, "limit": 6}
    pages = [p async for p in client.usage.vector_stores.pages(**kwargs)]
    assert [len(p.data) for p in pages] == [6, 6, 6, 3]
    assert [b for p in pages for b in p.data] == await client.usage.vector_stores.list(**kwargs)


async def test_filters_and_group_by_reach_the_service(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    everything = await client.usage.images.list(
        start_time=NOW - 5 * DAY, end_time=NOW - DAY, group_by=["size", "source"]
    )
    sizes = {r.size for b in everything for r in b.results}
    assert len(sizes) >= 2
    size = sorted(s for s in sizes if s)[0]
    only = await client.usage.images.list(
        start_time=NOW - 5 * DAY, end_time=NOW - DAY, group_by="size", sizes=[size]
    )
    assert {r.size for b in only for r in b.results} == {size}
    query = emulator.requests[-1].query
    assert ("sizes[]", size) in query and ("group_by[]", "size") in query


async def test_unknown_tags_and_the_result_spelling_through_the_client(
    emulator: Emulator, client
) -> None:
    emulator.unknown_tag = True
    emulator.result_key = "result"
    buckets = await client.usage.audio_speeches.list(start_time=NOW - 3 * DAY, end_time=NOW)
    unknown = [r for b in buckets for r in b.results if isinstance(r, UnknownResult)]
    assert len(unknown) == len(buckets) == 4
    assert unknown[0].details == {"tags": ["alpha", "beta"], "depth": {"level": 2}}
    known = [r for b in buckets for r in b.results if not isinstance(r, UnknownResult)]
    assert known and all(r.characters > 0 for r in known)


async def test_costs_quirk_is_handled(emulator: Emulator, client: AsyncUsageClient) -> None:
    emulator.costs_quirk = True
    day = NOW // DAY * DAY
    buckets = await client.usage.costs.list(start_time=day - 30 * DAY, end_time=day, limit=10)
    assert len(buckets) == 30
    assert emulator.statistics().responses_by_status == {200: 3}  # never followed the bad cursor
