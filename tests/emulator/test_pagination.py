"""Pages, cursors and bucket boundaries, over real loopback HTTP."""

from __future__ import annotations

import itertools

import aiohttp
import pytest

from openai_usage_async._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from openai_usage_async.emulator import Emulator
from tests.helpers import DAY, HOUR, NOW, buckets_of, fetch_all, get_json

# (width, range length, page size): each crosses many pages, with a partial last page.
RANGES = [("1d", 95 * DAY, 7), ("1h", 10 * DAY + 5 * HOUR, 24), ("1m", 2 * DAY + 7, 500)]


@pytest.mark.parametrize("endpoint", [e for e in ENDPOINTS if e != "costs"])
@pytest.mark.parametrize(("width", "length", "limit"), RANGES)
async def test_pages_cover_the_range_once(
    emulator: Emulator,
    http: aiohttp.ClientSession,
    endpoint: str,
    width: str,
    length: int,
    limit: int,
) -> None:
    start = NOW - 120 * DAY - 1234  # between boundaries: a partial first bucket
    end = start + length
    params = [("start_time", str(start)), ("end_time", str(end)), ("bucket_width", width)]
    pages = await fetch_all(http, emulator, endpoint, [*params, ("limit", str(limit))])
    buckets = buckets_of(pages)
    width_s = WIDTH_SECONDS[width]
    assert all(len(p["data"]) == limit for p in pages[:-1])
    last = len(pages[-1]["data"])
    assert last >= 1 and last <= limit
    # Contiguous, half-open, aligned to UTC multiples of the width, clipped at both ends.
    assert buckets[0]["start_time"] == start
    assert buckets[0]["end_time"] == (start // width_s + 1) * width_s
    assert buckets[-1]["end_time"] == end
    for a, b in itertools.pairwise(buckets):
        assert a["end_time"] == b["start_time"]
        assert b["start_time"] % width_s == 0
    assert len({b["start_time"] for b in buckets}) == len(buckets)
    assert all(b["object"] == "bucket" and isinstance(b["results"], list) for b in buckets)
    expected_tag = ENDPOINTS[endpoint].result_object
    assert {r["object"] for b in buckets for r in b["results"]} == {expected_tag}


async def test_costs_pages_cover_the_range_once(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    start = NOW // DAY * DAY - 400 * DAY
    params = [("start_time", str(start)), ("end_time", str(start + 400 * DAY)), ("limit", "180")]
    pages = await fetch_all(http, emulator, "costs", params)
    assert [len(p["data"]) for p in pages] == [180, 180, 40]
    starts = [b["start_time"] for b in buckets_of(pages)]
    assert starts == list(range(start, start + 400 * DAY, DAY))


async def test_default_limit_and_width(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    start = NOW // DAY * DAY - 30 * DAY
    status, page = await get_json(http, emulator, "embeddings", [("start_time", str(start))])
    assert status == 200
    assert [b["end_time"] - b["start_time"] for b in page["data"]] == [DAY] * 7
    status, page = await get_json(
        http, emulator, "embeddings", [("start_time", str(start)), ("bucket_width", "1m")]
    )
    assert len(page["data"]) == 60 and page["has_more"] is True


async def test_without_end_time_runs_to_the_bucket_holding_now(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    start = NOW - 50 * HOUR
    params = [("start_time", str(start)), ("bucket_width", "1h"), ("limit", "7")]
    buckets = buckets_of(await fetch_all(http, emulator, "completions", params))
    assert buckets[-1]["start_time"] <= NOW < buckets[-1]["end_time"]
    assert buckets[-1]["end_time"] % HOUR == 0
    # Nothing happens after now: the current bucket holds only the part before it.
    assert len(buckets) == 51


async def test_future_buckets_are_empty(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    start = NOW // HOUR * HOUR + HOUR
    params = [
        ("start_time", str(start)),
        ("end_time", str(start + 5 * HOUR)),
        ("bucket_width", "1h"),
    ]
    status, page = await get_json(http, emulator, "completions", params)
    assert status == 200
    assert [b["results"] for b in page["data"]] == [[]] * 5


async def test_group_by_bracket_and_plain_repeats_are_the_same_query(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    base = [("start_time", str(NOW - 20 * DAY)), ("limit", "3")]
    brackets = [*base, ("group_by[]", "model"), ("group_by[]", "project_id")]
    plain = [*base, ("group_by", "project_id"), ("group_by", "model")]
    s1, p1 = await get_json(http, emulator, "completions", brackets)
    s2, p2 = await get_json(http, emulator, "completions", plain)
    assert s1 == s2 == 200
    assert p1 == p2
    # A cursor from one spelling continues the other: the query is the same.
    s3, p3 = await get_json(http, emulator, "completions", [*plain, ("page", p1["next_page"])])
    assert s3 == 200 and p3["data"][0]["start_time"] == p1["data"][-1]["end_time"]
    assert all(r["model"] and r["project_id"] for b in p1["data"] for r in b["results"])


async def test_cursor_is_bound_to_its_query(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    params = [("start_time", str(NOW - 20 * DAY)), ("limit", "3")]
    _, first = await get_json(http, emulator, "completions", params)
    cursor = first["next_page"]
    assert cursor.startswith("page_")
    changed = [("start_time", str(NOW - 20 * DAY)), ("limit", "4"), ("page", cursor)]
    status, body = await get_json(http, emulator, "completions", changed)
    assert status == 400
    assert body["error"]["message"] == "The page token is invalid"
    status, body = await get_json(http, emulator, "embeddings", [*params, ("page", cursor)])
    assert status == 400 and body["error"]["param"] == "page"


async def test_same_seed_same_data_other_seed_other_data(http: aiohttp.ClientSession) -> None:
    params = [("start_time", str(NOW - 3 * DAY)), ("group_by", "project_id")]
    bodies = []
    for seed in (7, 7, 8):
        async with Emulator(now=NOW, seed=seed) as emu:
            status, body = await get_json(http, emu, "completions", params)
            assert status == 200
            bodies.append(body)
    assert bodies[0] == bodies[1]
    assert bodies[0]["data"] != bodies[2]["data"]
