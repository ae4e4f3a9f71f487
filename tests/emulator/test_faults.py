"""Every fault knob does what it says, seen from a real client over loopback."""

from __future__ import annotations

import asyncio
import json
import time

import aiohttp
import pytest

from openai_usage_async.emulator import UNKNOWN_RESULT_OBJECT, Emulator, Fault
from tests.helpers import DAY, HOUR, NOW, TEST_KEY, buckets_of, fetch_all, get_json, url

QUERY = [("start_time", str(NOW - 3 * DAY)), ("end_time", str(NOW - DAY))]


async def statuses(
    http: aiohttp.ClientSession, emu: Emulator, n: int, endpoint: str = "completions"
):
    out = []
    for _ in range(n):
        async with http.get(url(emu, endpoint), params=QUERY) as response:
            await response.read()
            out.append((response.status, response.headers.copy()))
    return out


@pytest.mark.parametrize(
    ("fault", "headers"),
    [
        (Fault(status=429, retry_after_s=2, first=2), {"retry-after": "2"}),
        (Fault(status=429, retry_after_ms=150, first=2), {"retry-after-ms": "150"}),
        (Fault(status=500, first=2), {}),
        (Fault(status=503, first=2, should_retry=False), {"x-should-retry": "false"}),
    ],
)
async def test_first_n_requests_fail(http: aiohttp.ClientSession, fault: Fault, headers) -> None:
    async with Emulator(now=NOW, faults=[fault]) as emu:
        seen = await statuses(http, emu, 4)
    assert [s for s, _ in seen] == [fault.status, fault.status, 200, 200]
    for _, h in seen[:2]:
        assert {k: h.get(k) for k in headers} == headers
        assert h["x-request-id"].startswith("req_")
    assert fault.seen == 4 and fault.fired == 2


async def test_error_bodies_are_openai_shaped(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, faults=[Fault(status=429, first=1)]) as emu:
        status, body = await get_json(http, emu, "costs", QUERY[:1])
    assert status == 429
    assert body["error"]["code"] == "rate_limit_exceeded"
    assert body["error"]["type"] == "requests"


async def test_error_rate_is_seeded(http: aiohttp.ClientSession) -> None:
    runs = []
    for _ in range(2):
        fault = Fault(status=502, rate=0.3)
        async with Emulator(now=NOW, seed=11, faults=[fault]) as emu:
            runs.append([s for s, _ in await statuses(http, emu, 60)])
            stats = emu.statistics()
        assert stats.responses_by_status.get(502, 0) == fault.fired
    assert runs[0] == runs[1]
    assert 5 <= runs[0].count(502) <= 35
    assert set(runs[0]) == {200, 502}


async def test_faults_can_target_endpoints(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, faults=[Fault(status=500, endpoints=frozenset({"costs"}))]) as emu:
        assert [s for s, _ in await statuses(http, emu, 2, "costs")] == [500, 500]
        assert [s for s, _ in await statuses(http, emu, 2, "embeddings")] == [200, 200]


async def test_drop_closes_the_connection_before_any_byte() -> None:
    async with Emulator(now=NOW, faults=[Fault("drop", first=1)]) as emu:
        assert emu.base_url is not None
        host, port = emu.base_url.split("//")[1].split("/")[0].split(":")
        for expect_bytes in (False, True):
            reader, writer = await asyncio.open_connection(host, int(port))
            writer.write(
                f"GET /v1/organization/costs?start_time={NOW - DAY} HTTP/1.1\r\n"
                f"Host: {host}\r\nAuthorization: Bearer {TEST_KEY}\r\n"
                "Connection: close\r\n\r\n".encode()
            )
            await writer.drain()
            data = await reader.read()
            writer.close()
            await writer.wait_closed()
            assert bool(data) is expect_bytes
            if expect_bytes:
                assert data.startswith(b"HTTP/1.1 200")
        assert emu.statistics().dropped == 1


async def test_drop_mid_body(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, faults=[Fault("drop_mid_body", first=1)]) as emu:
        with pytest.raises(aiohttp.ClientPayloadError):
            async with http.get(url(emu, "completions"), params=QUERY) as response:
                assert response.status == 200
                await response.read()
        status, body = await get_json(http, emu, "completions", QUERY)
        assert status == 200 and len(body["data"]) == 3  # partial, whole, partial day
        assert emu.statistics().dropped == 1


@pytest.mark.parametrize("kind", ["truncate", "malformed"])
async def test_bad_bodies(http: aiohttp.ClientSession, kind) -> None:
    async with Emulator(now=NOW, faults=[Fault(kind, first=1)]) as emu:
        async with http.get(url(emu, "completions"), params=QUERY) as response:
            bad = await response.read()
            assert response.status == 200
            assert int(response.headers["Content-Length"]) == len(bad)
        async with http.get(url(emu, "completions"), params=QUERY) as response:
            good = await response.read()
    assert json.loads(good)["object"] == "page"
    with pytest.raises(json.JSONDecodeError):
        json.loads(bad)
    if kind == "truncate":
        assert good.startswith(bad) and len(bad) == len(good) // 2


DAY0 = NOW // DAY * DAY  # the start of the day holding NOW
WEEK = [("start_time", str(DAY0 - 7 * DAY)), ("end_time", str(DAY0))]  # 7 whole days
EMPTY_PAGE = b'{"object":"page","data":[],"has_more":false,"next_page":null}'


async def raw(http: aiohttp.ClientSession, emu: Emulator, params) -> bytes:
    async with http.get(url(emu, "completions"), params=params) as response:
        assert response.status == 200
        return await response.read()


async def test_early_end_keep_0_is_the_empty_final_page(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, faults=[Fault("early_end")]) as emu:
        assert await raw(http, emu, WEEK) == EMPTY_PAGE
        assert await raw(http, emu, QUERY) == EMPTY_PAGE


async def test_early_end_keeps_the_first_buckets(http: aiohttp.ClientSession) -> None:
    fault = Fault("early_end", keep=2, first=2)
    async with Emulator(now=NOW, faults=[fault]) as emu:
        _, cut = await get_json(http, emu, "completions", WEEK)
        _, cut_paged = await get_json(http, emu, "completions", [*WEEK, ("limit", "3")])
        _, full = await get_json(http, emu, "completions", WEEK)
        _, full_paged = await get_json(http, emu, "completions", [*WEEK, ("limit", "3")])
    assert fault.fired == 2
    assert len(full["data"]) == 7 and full["has_more"] is False
    assert cut["data"] == full["data"][:2]
    assert [b["start_time"] for b in cut["data"]] == [DAY0 - 7 * DAY, DAY0 - 6 * DAY]
    assert cut["has_more"] is False and cut["next_page"] is None
    # Where the normal page has more to come, the fault still ends the chain.
    assert full_paged["has_more"] is True and isinstance(full_paged["next_page"], str)
    assert cut_paged["data"] == full_paged["data"][:2]
    assert cut_paged["has_more"] is False and cut_paged["next_page"] is None


async def test_early_end_does_not_poison_the_page_cache(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, faults=[Fault("early_end", first=1)]) as emu:
        assert await raw(http, emu, WEEK) == EMPTY_PAGE
        full = await raw(http, emu, WEEK)
        assert len(json.loads(full)["data"]) == 7
        # A fault staged once the normal page is cached leaves the cached page intact.
        emu.faults = [Fault("early_end", keep=1, first=1)]
        assert len(json.loads(await raw(http, emu, WEEK))["data"]) == 1
        assert await raw(http, emu, WEEK) == full


async def test_unclipped_sends_whole_edge_buckets(http: aiohttp.ClientSession) -> None:
    # QUERY starts and ends mid-day: clipped, its buckets are a partial, a whole and a
    # partial day; unclipped, they are the three whole days around them.
    start, end = NOW - 3 * DAY, NOW - DAY
    aligned = [("start_time", str(start // DAY * DAY)), ("end_time", str(end // DAY * DAY + DAY))]
    async with Emulator(now=NOW, faults=[Fault("unclipped", first=1)]) as emu:
        _, whole = await get_json(http, emu, "completions", QUERY)
        _, clipped = await get_json(http, emu, "completions", QUERY)
        _, expected = await get_json(http, emu, "completions", aligned)
    bounds = [(b["start_time"], b["end_time"]) for b in whole["data"]]
    assert bounds == [
        (DAY0 - 3 * DAY, DAY0 - 2 * DAY),
        (DAY0 - 2 * DAY, DAY0 - DAY),
        (DAY0 - DAY, DAY0),
    ]
    assert whole == expected
    assert whole["has_more"] is False and whole["next_page"] is None
    # The next, unfaulted request is clipped as usual, with other values at the edges.
    assert [(b["start_time"], b["end_time"]) for b in clipped["data"]] == [
        (start, DAY0 - 2 * DAY),
        (DAY0 - 2 * DAY, DAY0 - DAY),
        (DAY0 - DAY, end),
    ]
    assert clipped["data"][1] == whole["data"][1]
    for i in (0, 2):
        assert clipped["data"][i]["results"] != whole["data"][i]["results"]


async def test_unclipped_pages_follow_the_clipped_range(http: aiohttp.ClientSession) -> None:
    # 1h buckets over 13:20 .. 19:40 (seven of them), three to a page.
    start, end = NOW - 2 * DAY, NOW - 2 * DAY + 6 * HOUR + 20 * 60
    query = [("start_time", str(start)), ("end_time", str(end)), ("bucket_width", "1h")]
    aligned = [
        ("start_time", str(start // HOUR * HOUR)),
        ("end_time", str(end // HOUR * HOUR + HOUR)),
        ("bucket_width", "1h"),
    ]
    async with Emulator(now=NOW, faults=[Fault("unclipped")]) as emu:
        pages = await fetch_all(http, emu, "completions", [*query, ("limit", "3")])
        emu.faults = []
        _, expected = await get_json(http, emu, "completions", aligned)
    assert [len(p["data"]) for p in pages] == [3, 3, 1]
    assert buckets_of(pages) == expected["data"]
    assert len(expected["data"]) == 7
    assert pages[0]["data"][0]["start_time"] == start // HOUR * HOUR < start
    assert pages[-1]["data"][-1]["end_time"] == end // HOUR * HOUR + HOUR > end


async def test_slow_responses_trip_a_client_timeout(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, faults=[Fault("slow", delay_ms=2000, first=1)]) as emu:
        with pytest.raises(asyncio.TimeoutError):
            async with http.get(
                url(emu, "costs"), params=QUERY[:1], timeout=aiohttp.ClientTimeout(total=0.05)
            ) as response:
                await response.read()
        status, _ = await get_json(http, emu, "costs", QUERY[:1])
        assert status == 200


async def test_latency_delays_every_response(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, latency_ms=60, jitter_ms=20) as emu:
        started = time.monotonic()
        status, _ = await get_json(http, emu, "costs", QUERY[:1])
        assert status == 200
        assert time.monotonic() - started >= 0.055  # a lower bound: cannot flake on a slow machine


async def test_result_key_spelling(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, result_key="result") as emu:
        _, body = await get_json(http, emu, "completions", QUERY)
    assert all("result" in b and "results" not in b for b in body["data"])
    assert any(b["result"] for b in body["data"])


async def test_unknown_tag_is_added_to_every_bucket(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, unknown_tag=True) as emu:
        _, body = await get_json(http, emu, "audio_speeches", QUERY)
    for bucket in body["data"]:
        unknown = [r for r in bucket["results"] if r["object"] == UNKNOWN_RESULT_OBJECT]
        assert len(unknown) == 1
        assert unknown[0]["details"] == {"tags": ["alpha", "beta"], "depth": {"level": 2}}
        known = [r for r in bucket["results"] if r["object"] != UNKNOWN_RESULT_OBJECT]
        assert known and all(r["object"].endswith("audio_speeches.result") for r in known)


async def test_costs_quirk(http: aiohttp.ClientSession) -> None:
    query = [("start_time", str(NOW // DAY * DAY - 10 * DAY)), ("end_time", str(NOW // DAY * DAY))]
    async with Emulator(now=NOW, costs_quirk=True) as emu:
        status, page = await get_json(http, emu, "costs", [*query, ("limit", "10")])
        assert status == 200 and len(page["data"]) == 10
        assert page["has_more"] is True and page["next_page"]
        status, body = await get_json(
            http, emu, "costs", [*query, ("limit", "10"), ("page", page["next_page"])]
        )
        assert status == 400 and body["error"]["message"] == "The page token is invalid"
        # The quirk is specific to costs; an incomplete chain still pages normally.
        status, usage = await get_json(http, emu, "embeddings", [*query, ("limit", "10")])
        assert usage["has_more"] is False and usage["next_page"] is None
        _, first = await get_json(http, emu, "costs", [*query, ("limit", "4")])
        _, second = await get_json(
            http, emu, "costs", [*query, ("limit", "4"), ("page", first["next_page"])]
        )
        assert second["data"][0]["start_time"] == first["data"][-1]["end_time"]


async def test_max_concurrent_answers_429_beyond_the_limit(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, max_concurrent=3, latency_ms=400) as emu:

        async def one() -> tuple[int, str | None]:
            async with http.get(url(emu, "costs"), params=QUERY[:1]) as response:
                await response.read()
                return response.status, response.headers.get("retry-after-ms")

        results = await asyncio.gather(*(one() for _ in range(8)))
        stats = emu.statistics()
    assert sorted(s for s, _ in results) == [200] * 3 + [429] * 5
    assert {h for s, h in results if s == 429} == {"20"}
    assert stats.peak_in_flight >= 3  # the three held, plus each refused one briefly


async def test_revision_grows_only_the_most_recent_buckets(http: aiohttp.ClientSession) -> None:
    start = NOW // HOUR * HOUR - 8 * HOUR
    query = [("start_time", str(start)), ("bucket_width", "1h"), ("group_by", "model")]
    async with Emulator(now=NOW, revision_window_s=3 * HOUR) as emu:
        before = buckets_of(await fetch_all(http, emu, "completions", query))
        emu.revise()
        after = buckets_of(await fetch_all(http, emu, "completions", query))
        assert emu.revision == 1
    assert len(before) == len(after) == 9
    for old, new in zip(before, after, strict=True):
        old_total = sum(r["input_tokens"] for r in old["results"])
        new_total = sum(r["input_tokens"] for r in new["results"])
        if old["end_time"] > NOW - 3 * HOUR and old_total:
            assert new_total > old_total
        else:
            assert new == old


async def test_the_current_bucket_grows_with_the_clock(http: aiohttp.ClientSession) -> None:
    query = [("start_time", str(NOW // HOUR * HOUR)), ("bucket_width", "1h")]
    async with Emulator(now=NOW) as emu:
        _, early = await get_json(http, emu, "completions", query)
        emu.now = NOW + 600
        _, later = await get_json(http, emu, "completions", query)
    tokens = [p["data"][0]["results"][0]["input_tokens"] for p in (early, later)]
    assert tokens[1] > tokens[0] > 0


async def test_statistics_and_recorded_requests(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, latency_ms=100) as emu:
        await asyncio.gather(*(get_json(http, emu, "costs", QUERY) for _ in range(4)))
        await get_json(http, emu, "images", [*QUERY, ("group_by[]", "size")])
        stats = emu.statistics()
        requests = emu.requests
        emu.reset_statistics()
        assert emu.statistics().requests_total == 0 and not emu.requests
    assert stats.requests_total == 5
    assert stats.requests_by_endpoint == {"costs": 4, "images": 1}
    assert stats.responses_by_status == {200: 5}
    assert 2 <= stats.peak_in_flight <= 4
    assert stats.in_flight == 0
    last = requests[-1]
    assert last.endpoint == "images" and last.method == "GET"
    assert last.query == (*QUERY, ("group_by[]", "size"))
    assert "authorization" not in {k.lower() for k in last.headers}
    assert last.headers["user-agent"].startswith("Python/")


def test_fault_arguments_are_checked() -> None:
    with pytest.raises(ValueError, match=r"^first and rate"):
        Fault(first=1, rate=0.5)
    with pytest.raises(ValueError, match=r"^rate"):
        Fault(rate=1.5)
    with pytest.raises(ValueError, match=r"^status"):
        Fault(status=200)
    with pytest.raises(ValueError, match=r"^keep: -1"):
        Fault("early_end", keep=-1)
    assert Fault("early_end", keep=0).keep == 0
