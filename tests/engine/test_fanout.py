"""The iterator engine with a fake ``fetch``: no sockets, no sleeps.

A fake service answers window queries from memory; ``anyio.Event`` s stage the orderings
(a late window that fails first, a window that never answers), so every test is
deterministic.
"""

from __future__ import annotations

import gc
from collections.abc import Awaitable, Callable, Iterator
from typing import Any

import anyio
import pytest

from openai_usage_async._fanout import (
    AsReadyFeed,
    BucketIterator,
    OrderedFeed,
    PageIterator,
    Progress,
    make_follow,
)
from openai_usage_async._sansio.cursor import Chain, plan_chains
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async._sansio.query import Query, validate
from openai_usage_async.errors import NotFoundError
from openai_usage_async.models import UsageBucket, UsagePage

DAY = 86400
LATER = 10_000 * DAY  # the fake clock: long after every range here
Pairs = list[tuple[str, str]]


def serve(pairs: Pairs, width: int = DAY) -> UsagePage[Any]:
    """What a well-behaved service answers: ``limit`` buckets from the cursor or the start."""
    q = dict(pairs)
    start, end, limit = int(q["start_time"]), int(q["end_time"]), int(q["limit"])
    s = int(q.get("page", start))
    data: list[UsageBucket[Any]] = []
    while s < end and len(data) < limit:
        e = min((s // width + 1) * width, end)
        data.append(UsageBucket(start_time=s, end_time=e, results=[]))
        s = e
    return UsagePage(data=data, has_more=s < end, next_page=str(s) if s < end else None)


def query(days: int, limit: int) -> Query:
    return validate(ENDPOINTS["costs"], start_time=0, end_time=days * DAY, limit=limit)


def iterator(
    q: Query,
    fetch: Callable[[Pairs], Awaitable[UsagePage[Any]]],
    *,
    ordered: bool = True,
    lookahead: int = 4,
    chains: Iterator[Chain] | None = None,
) -> PageIterator[Any]:
    planned, count = plan_chains(q, LATER)
    follow = make_follow(fetch, lambda: LATER, Progress())
    feed = (OrderedFeed if ordered else AsReadyFeed)(chains or planned, follow, lookahead)
    return PageIterator(feed, windows=count)


async def starts(pages: PageIterator[Any]) -> list[int]:
    return [b.start_time async for b in BucketIterator(pages)]


@pytest.mark.parametrize("ordered", [True, False])
async def test_every_bucket_once(ordered: bool) -> None:
    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        return serve(pairs)

    got = await starts(iterator(query(30, 7), fetch, ordered=ordered))
    assert sorted(got) == [d * DAY for d in range(30)]
    if ordered:
        assert got == sorted(got)


async def test_pages_do_not_carry_internal_cursors() -> None:
    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        return serve([*dict(pairs, limit="2").items()])  # the service pages inside a window

    pages = [p async for p in iterator(query(6, 3), fetch)]
    assert len(pages) == 4 and all(not p.has_more and p.next_page is None for p in pages)


async def test_in_order_every_bucket_before_a_failure_arrives_then_the_error() -> None:
    """Window 2 fails while windows 0 and 1 are still in flight: 0 and 1 still arrive."""
    failed = anyio.Event()
    asked: list[int] = []

    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        start = int(dict(pairs)["start_time"])
        asked.append(start)
        if start == 6 * DAY:
            failed.set()
            raise NotFoundError("window 2", status_code=404, request_id=None, body=None)
        if start < 6 * DAY:
            await failed.wait()  # earlier windows answer only after the failure
        return serve(pairs)

    got: list[int] = []
    with pytest.raises(NotFoundError, match="window 2"):
        async for bucket in BucketIterator(iterator(query(30, 3), fetch, lookahead=4)):
            got.append(bucket.start_time)
    assert got == [d * DAY for d in range(6)]
    assert max(asked) <= 9 * DAY  # no window past the lookahead was started


async def test_as_ready_the_first_failure_stops_everything() -> None:
    cancelled: list[int] = []
    never = anyio.Event()

    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        start = int(dict(pairs)["start_time"])
        if start == 3 * DAY:
            raise NotFoundError("boom", status_code=404, request_id=None, body=None)
        try:
            await never.wait()
        except BaseException:
            cancelled.append(start)
            raise
        raise AssertionError("unreachable")

    with pytest.raises(NotFoundError):
        await starts(iterator(query(12, 3), fetch, ordered=False))
    assert sorted(cancelled) == [0, 6 * DAY, 9 * DAY]


async def test_closed_before_it_started_sends_nothing() -> None:
    calls: list[Pairs] = []

    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        calls.append(pairs)
        return serve(pairs)

    pages = iterator(query(10, 3), fetch)
    await pages.aclose()
    with pytest.raises(StopAsyncIteration):
        await pages.__anext__()
    closed_by_owner = iterator(query(10, 3), fetch)
    await closed_by_owner._close_for(RuntimeError("the client is closed"))
    with pytest.raises(RuntimeError, match="client is closed"):
        await closed_by_owner.__anext__()
    assert calls == []


async def test_cancelled_mid_window() -> None:
    never = anyio.Event()
    both_waiting = anyio.Event()
    waiting: list[int] = []
    cancelled: list[int] = []

    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        start = int(dict(pairs)["start_time"])
        if start == 0:
            return serve(pairs)
        waiting.append(start)
        if len(waiting) == 2:
            both_waiting.set()
        try:
            await never.wait()
        except BaseException:
            cancelled.append(start)
            raise
        raise AssertionError("unreachable")

    pages = iterator(query(12, 3), fetch, lookahead=3)
    first = await pages.__anext__()
    assert [b.start_time for b in first.data] == [0, DAY, 2 * DAY]
    await both_waiting.wait()  # windows 1 and 2 are mid-request; 3 has no slot yet
    await pages.aclose()
    assert sorted(cancelled) == sorted(waiting) == [3 * DAY, 6 * DAY]
    assert pages._supervisor.done and pages._supervisor.cancelled
    with pytest.raises(StopAsyncIteration):
        await pages.__anext__()


async def test_a_second_reader_gets_runtime_error_and_the_first_is_unharmed() -> None:
    release = anyio.Event()
    asked = anyio.Event()

    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        asked.set()
        await release.wait()
        return serve(pairs)

    pages = iterator(query(6, 3), fetch)
    got: list[int] = []

    async def first_reader() -> None:
        got.extend(await starts(pages))

    async with anyio.create_task_group() as tg:
        tg.start_soon(first_reader)
        await asked.wait()
        with pytest.raises(RuntimeError, match="already reading"):
            await pages.__anext__()
        release.set()
    assert got == [d * DAY for d in range(6)]


async def test_planning_is_lazy() -> None:
    """A year of minute buckets, one per window: chains are pulled as slots free."""
    q = validate(
        ENDPOINTS["completions"], start_time=0, end_time=365 * DAY, bucket_width="1m", limit=1
    )
    planned, count = plan_chains(q, LATER)
    assert count == 525_600
    pulled = 0

    def counting() -> Iterator[Chain]:
        nonlocal pulled
        for chain in planned:
            pulled += 1
            yield chain

    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        return serve(pairs, width=60)

    pages = iterator(q, fetch, lookahead=4, chains=counting())
    first = await pages.__anext__()
    assert [b.start_time for b in first.data] == [0]
    await pages.aclose()
    assert pulled <= 4 + 2  # the lookahead, plus the one waiting for a slot


async def test_a_dropped_iterator_is_cancelled_not_broken() -> None:
    """Dropping cancels the workers (CancelledError), it does not close their streams."""
    never = anyio.Event()
    seen: list[type[BaseException]] = []

    async def fetch(pairs: Pairs) -> UsagePage[Any]:
        if int(dict(pairs)["start_time"]) == 0:
            return serve(pairs)
        try:
            await never.wait()
        except BaseException as exc:
            seen.append(type(exc))
            raise
        raise AssertionError("unreachable")

    pages = iterator(query(12, 3), fetch, lookahead=3)
    await pages.__anext__()
    supervisor = pages._supervisor
    del pages
    gc.collect()
    with anyio.fail_after(5):
        await supervisor.wait()
    assert supervisor.cancelled and supervisor.error is None
    assert seen and all(t.__name__ == "CancelledError" for t in seen)
