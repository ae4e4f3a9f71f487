"""The benchmark code runs (tiny sizes, loopback only): it must not rot between releases."""

from __future__ import annotations

import asyncio

from benchmarks import bench_backfill as backfill
from benchmarks import bench_decode as decode
from benchmarks._emulator import NOW
from openai_usage_async.emulator import Emulator

TINY = backfill.Scenario("tiny", "completions", 3, "1h", ("model",))


def test_decoders_agree_on_a_small_page() -> None:
    body = decode.page_body("completions", 3600, 24, ("model",))
    results = {name: fn(body) for name, fn in decode.decoders("completions").items()}
    ours = results.pop("openai_usage_async (msgspec Structs)")
    plain = results.pop("json.loads (dicts)")
    assert len(ours.data) == len(plain["data"]) == 24
    assert sum(len(b.results) for b in ours.data) == sum(len(b["results"]) for b in plain["data"])
    sdk = results.get("official SDK models")
    assert sdk is not None and len(sdk.data) == 24
    assert decode.best_of(lambda: decode.decode_page(body), 2) > 0


async def test_backfill_clients_count_the_same_items() -> None:
    async with Emulator(now=NOW) as emu:
        assert emu.base_url is not None
        ours = await backfill.ours(emu.base_url, TINY, 4)
        plain = await backfill.plain_loop(emu.base_url, TINY)
        sdk = await backfill.official_sdk(emu.base_url, TINY)
    assert ours == plain == sdk > 72
    assert TINY.pages(168) == 1


def test_timed_reports_a_median() -> None:
    async def work() -> int:
        await asyncio.sleep(0)
        return 7

    seconds, count = backfill.timed(work, 3)
    assert count == 7 and seconds >= 0
