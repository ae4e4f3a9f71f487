"""Issue 9 regressions: every bucket exactly once, or a clear error, never a quiet gap.

One test per item, against the real emulator on 127.0.0.1 (the last two are pure:
decoding and flattening, no network). Each asserts exact values: bucket start times,
lists equal to a fault-free run's, and the requests the emulator received.
"""

from __future__ import annotations

import collections
import json
from typing import Any

import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async._sansio.decode import decode_page
from openai_usage_async.emulator import Emulator, Fault
from openai_usage_async.emulator.stats import ReceivedRequest
from openai_usage_async.errors import APIConnectionError, APIResponseValidationError
from openai_usage_async.models import CostsResult, UnknownResult, to_rows
from tests.helpers import DAY, HOUR, NOW, TEST_KEY

#: Midnight UTC of the day holding NOW (NOW is 13:20 UTC, so no range below is aligned).
TODAY = NOW // DAY * DAY
COMPLETIONS = frozenset({"completions"})
THIRTY_DAYS = {"start_time": NOW - 30 * DAY, "end_time": NOW, "bucket_width": "1d"}


def params(request: ReceivedRequest) -> dict[str, str]:
    query = dict(request.query)
    assert len(query) == len(request.query), request.query  # no parameter sent twice
    return query


def spans(emulator: Emulator) -> list[tuple[int, int | None]]:
    """The ``[start_time, end_time)`` of every request received, in order (None: no end)."""
    out = []
    for request in emulator.requests:
        query = params(request)
        end = query.get("end_time")
        out.append((int(query["start_time"]), None if end is None else int(end)))
    return out


def assert_no_cursor_sent(emulator: Emulator) -> None:
    assert all("page" not in params(r) for r in emulator.requests)


async def fault_free(emulator: Emulator, endpoint: str = "completions", **kwargs: Any) -> list:
    """What a run without faults returns; the emulator's counters are zeroed after it."""
    faults, quirk = emulator.faults, emulator.costs_quirk
    emulator.faults, emulator.costs_quirk = [], False
    try:
        async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_retries=0) as c:
            return await getattr(c.usage, endpoint).list(**kwargs)
    finally:
        emulator.faults, emulator.costs_quirk = faults, quirk
        emulator.reset_statistics()


def page_body(bucket: dict[str, Any]) -> bytes:
    return json.dumps(
        {"object": "page", "data": [bucket], "has_more": False, "next_page": None}
    ).encode()


# -- 1. a page that ends early (has_more false, buckets missing) ----------------------


async def test_early_end_re_asks_from_the_first_missing_bucket(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    expected = await fault_free(emulator, **THIRTY_DAYS)
    # 13:20 thirty days ago to 13:20 today touches 31 days: one window of 31 (the max).
    assert len(expected) == 31
    assert expected[0].start_time == NOW - 30 * DAY and expected[-1].end_time == NOW
    fault = Fault(kind="early_end", keep=0, first=1, endpoints=COMPLETIONS)
    emulator.faults = [fault]

    got = await client.usage.completions.list(**THIRTY_DAYS)

    assert got == expected
    assert fault.fired == 1
    assert emulator.statistics().requests_total == 2
    assert emulator.statistics().responses_by_status == {200: 2}
    # The re-ask is a fresh query from the first missing bucket (here the first one).
    assert spans(emulator) == [(NOW - 30 * DAY, NOW), (NOW - 30 * DAY, NOW)]
    assert_no_cursor_sent(emulator)


async def test_early_end_on_the_first_request_with_windows_of_seven(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    expected = await fault_free(emulator, **THIRTY_DAYS, limit=7)
    assert len(expected) == 31
    # Windows of 7 buckets: 13:20 thirty days ago to midnight 23 days ago, three whole
    # weeks, then the last three buckets up to 13:20 today.
    planned = [(NOW - 30 * DAY, TODAY - 23 * DAY)]
    planned += [(TODAY - d * DAY, TODAY - (d - 7) * DAY) for d in (23, 16, 9)]
    planned += [(TODAY - 2 * DAY, NOW)]
    fault = Fault(kind="early_end", keep=0, first=1, endpoints=COMPLETIONS)
    emulator.faults = [fault]

    got = await client.usage.completions.list(**THIRTY_DAYS, limit=7)

    assert got == expected
    assert [b.start_time for b in got] == [b.start_time for b in expected]
    assert fault.fired == 1
    # Five windows of up to 7 buckets, one request each, plus one re-ask of the window
    # the fault emptied: a fresh query of that same window, never a cursor.
    assert planned == [(w[0].start_time, w[-1].end_time) for w in _chunks(expected, 7)]
    assert emulator.statistics().requests_total == 6
    sent = collections.Counter(spans(emulator))
    assert set(sent) == set(planned)
    [(re_asked, twice)] = [(span, n) for span, n in sent.items() if n != 1]
    assert twice == 2
    assert spans(emulator).index(re_asked) == 0  # the emptied window was the first request
    assert_no_cursor_sent(emulator)


async def test_early_end_keeping_two_of_seven_re_asks_from_the_third(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    week = {"start_time": TODAY - 7 * DAY, "end_time": TODAY, "bucket_width": "1d", "limit": 7}
    expected = await fault_free(emulator, **week)
    assert [b.start_time for b in expected] == [TODAY - d * DAY for d in range(7, 0, -1)]
    fault = Fault(kind="early_end", keep=2, first=1, endpoints=COMPLETIONS)
    emulator.faults = [fault]

    got = await client.usage.completions.list(**week)

    assert got == expected
    assert emulator.statistics().requests_total == 2
    # The first missing bucket is the third: TODAY - 5 days.
    assert spans(emulator) == [(TODAY - 7 * DAY, TODAY), (TODAY - 5 * DAY, TODAY)]
    assert params(emulator.requests[1])["limit"] == "7"
    assert_no_cursor_sent(emulator)


async def test_early_end_on_every_request_raises(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.faults = [Fault(kind="early_end", keep=0, endpoints=COMPLETIONS)]

    with pytest.raises(APIResponseValidationError, match=str(NOW - 30 * DAY)):
        await client.usage.completions.list(**THIRTY_DAYS)

    # One request and one re-ask that brought nothing new: then the error, no loop.
    assert emulator.statistics().requests_total == 2
    assert spans(emulator) == [(NOW - 30 * DAY, NOW)] * 2
    assert_no_cursor_sent(emulator)


def _chunks(items: list, n: int) -> list[list]:
    """``items`` in runs of ``n``: the buckets of each window of ``n`` buckets."""
    return [items[i : i + n] for i in range(0, len(items), n)]


# -- 2. edge buckets the service did not clip ------------------------------------------

#: 18:20 five days ago to 06:20 today: both edges inside a day, six days touched.
UNALIGNED = {"start_time": NOW - 5 * DAY + 5 * HOUR, "end_time": NOW - 7 * HOUR}


@pytest.mark.parametrize("limit", [None, 2], ids=["one-window", "three-windows"])
async def test_unclipped_edge_buckets_are_kept(
    emulator: Emulator, client: AsyncUsageClient, limit: int | None
) -> None:
    start, end = UNALIGNED["start_time"], UNALIGNED["end_time"]
    assert start % DAY and end % DAY  # really unaligned for 1d
    extra = {"bucket_width": "1d"} | ({} if limit is None else {"limit": limit})
    clipped = await fault_free(emulator, **UNALIGNED, **extra)
    whole_days = await fault_free(
        emulator, start_time=TODAY - 5 * DAY, end_time=TODAY + DAY, **extra
    )
    assert [b.start_time for b in clipped] == [start] + [TODAY - d * DAY for d in range(4, -1, -1)]
    assert len(clipped) == len(whole_days) == 6
    emulator.faults = [Fault(kind="unclipped")]

    got = await client.usage.completions.list(**UNALIGNED, **extra)

    assert [(b.start_time, b.end_time) for b in got] == [
        (TODAY - d * DAY, TODAY - (d - 1) * DAY) for d in range(5, -1, -1)
    ]
    assert got[0].start_time < start < got[0].end_time  # the whole day holding the start
    assert got[-1].start_time < end < got[-1].end_time  # the whole day holding the end
    assert got[1:-1] == clipped[1:-1]  # inner buckets as a fault-free run has them
    assert got == whole_days  # the edge buckets as the service sent them, whole
    windows = 1 if limit is None else 3
    assert emulator.statistics().requests_total == windows
    assert emulator.faults[0].fired == windows
    assert_no_cursor_sent(emulator)


# -- 3. iterators of a closed client ------------------------------------------------------

COSTS = {"start_time": TODAY - 20 * DAY, "end_time": TODAY, "limit": 3}


async def test_iterator_made_before_aclose_raises_when_read_after(emulator: Emulator) -> None:
    client = AsyncUsageClient(TEST_KEY, base_url=emulator.base_url)
    iterator = client.usage.costs.iter(**COSTS)
    await client.aclose()

    seen = []
    with pytest.raises(RuntimeError, match="closed") as info:
        async for bucket in iterator:
            seen.append(bucket)
    assert not isinstance(info.value, APIConnectionError)
    assert seen == []
    assert emulator.statistics().requests_total == 0  # never read before: nothing sent


async def test_iterator_read_once_before_aclose_raises_when_read_after(
    emulator: Emulator,
) -> None:
    emulator.latency_ms = 20  # the later windows are still in flight at aclose
    client = AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=2)
    # Pages of one bucket, so no bucket of a page delivered before aclose waits unread.
    iterator = client.usage.costs.iter(**COSTS | {"limit": 1})
    first = await iterator.__anext__()
    assert (first.start_time, first.end_time) == (TODAY - 20 * DAY, TODAY - 19 * DAY)
    await client.aclose()

    seen = []
    with pytest.raises(RuntimeError, match="closed") as info:
        async for bucket in iterator:
            seen.append(bucket)
    assert not isinstance(info.value, APIConnectionError)
    assert seen == []  # not the rest of a range that was never fetched
    assert emulator.statistics().requests_total < 20  # 20 windows; aclose stopped the rest


# -- 4. costs with no end_time, under the costs quirk ----------------------------------


async def test_costs_without_end_time_under_the_quirk(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    start = NOW - 20 * DAY
    expected = await fault_free(emulator, "costs", start_time=start, end_time=TODAY + DAY)
    assert [b.start_time for b in expected] == [start] + [
        TODAY - d * DAY for d in range(19, -1, -1)
    ]
    assert expected[-1].start_time <= NOW < expected[-1].end_time  # the bucket holding NOW
    emulator.costs_quirk = True

    got = await client.usage.costs.list(start_time=start)

    assert got == expected
    stats = emulator.statistics()
    assert 400 not in stats.responses_by_status
    assert stats.responses_by_status == {200: 2}
    # The closed days in one window, then today's open tail: each one request, and the
    # tail's quirky cursor (has_more true past the range) is not followed.
    assert spans(emulator) == [(start, TODAY), (TODAY, None)]
    assert_no_cursor_sent(emulator)


async def test_costs_without_end_time_are_fetched_concurrently(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    start = NOW - 20 * DAY
    expected = await fault_free(emulator, "costs", start_time=start, end_time=TODAY + DAY, limit=3)
    assert len(expected) == 21
    emulator.costs_quirk = True
    emulator.latency_ms = 30

    got = await client.usage.costs.list(start_time=start, limit=3)

    assert got == expected
    stats = emulator.statistics()
    assert stats.peak_in_flight > 1
    assert stats.responses_by_status == {200: stats.requests_total}
    # The 20 closed days in windows of three (seven windows), then today's open tail.
    assert stats.requests_total == 8
    closed = [(start, TODAY - 17 * DAY)] + [
        (TODAY - d * DAY, TODAY - (d - 3) * DAY) for d in (17, 14, 11, 8, 5)
    ]
    closed += [(TODAY - 2 * DAY, TODAY)]
    assert sorted(spans(emulator), key=lambda s: s[0]) == [*closed, (TODAY, None)]
    assert_no_cursor_sent(emulator)


# -- 5. (pure) to_rows: an unknown result's fields named like the bucket's columns -----


def test_pure_to_rows_keeps_unknown_result_fields_named_like_bucket_columns() -> None:
    result = {"object": "organization.usage.future.result", "start_time": 1, "end_time": 2, "n": 3}
    bucket = {"object": "bucket", "start_time": TODAY, "end_time": TODAY + DAY, "results": [result]}
    page = decode_page(page_body(bucket), "completions")
    [decoded] = page.data[0].results
    assert isinstance(decoded, UnknownResult)

    [row] = to_rows(page.data)

    assert row == {
        "start_time": TODAY,
        "end_time": TODAY + DAY,
        "object": "organization.usage.future.result",
        "result_start_time": 1,
        "result_end_time": 2,
        "n": 3,
    }


# -- 6. (pure) a cost amount missing its value or currency -----------------------------


@pytest.mark.parametrize(
    ("amount", "value", "currency"),
    [({"currency": "usd"}, None, "usd"), ({"value": 1.5}, 1.5, None), ({}, None, None)],
    ids=["no-value", "no-currency", "neither"],
)
def test_pure_cost_amount_missing_value_or_currency_decodes(
    amount: dict[str, Any], value: float | None, currency: str | None
) -> None:
    result = {"object": "organization.costs.result", "amount": amount, "project_id": "proj_a"}
    bucket = {"object": "bucket", "start_time": TODAY, "end_time": TODAY + DAY, "results": [result]}
    page = decode_page(page_body(bucket), "costs")
    [decoded] = page.data[0].results
    assert isinstance(decoded, CostsResult)
    assert decoded.amount is not None
    assert (decoded.amount.value, decoded.amount.currency) == (value, currency)
    assert decoded.project_id == "proj_a"

    [row] = to_rows(page.data)

    assert (row["start_time"], row["end_time"]) == (TODAY, TODAY + DAY)
    assert (row["amount_value"], row["amount_currency"]) == (value, currency)
    assert row["object"] == "organization.costs.result" and row["project_id"] == "proj_a"
