"""Resources stay bounded: one connection pool, bounded queues, flat memory."""

from __future__ import annotations

import asyncio

import anyio

from benchmarks import bench_memory
from benchmarks._emulator import emulator_process
from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from tests.helpers import DAY, NOW, TEST_KEY


async def test_the_connection_pool_is_bounded(emulator: Emulator) -> None:
    emulator.latency_ms = 5
    peak = 0

    async def watch() -> None:
        nonlocal peak
        while True:
            peak = max(peak, emulator.statistics().open_connections)
            await asyncio.sleep(0.002)

    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=3) as client:
        async with anyio.create_task_group() as tg:
            tg.start_soon(watch)
            data = await client.usage.gather(
                ["costs", "completions", "embeddings", "images", "moderations"],
                start_time=NOW - 200 * DAY,
                end_time=NOW,
                limit=7,
            )
            tg.cancel_scope.cancel()
        connector = client._sender.session().connector
        assert connector is not None and connector.limit == 3
    assert all(len(buckets) == 201 for buckets in data.values())
    assert emulator.statistics().requests_total == 5 * 29
    assert peak >= 1 and peak <= 3


def test_memory_is_flat_across_a_long_as_ready_iteration() -> None:
    with emulator_process(latency_ms=0, cache_mb=1) as base_url:
        short, n_short = bench_memory.peak_rss_mb(base_url, 8, "as_ready")
        long, n_long = bench_memory.peak_rss_mb(base_url, 40, "as_ready")
        kept_short, _ = bench_memory.peak_rss_mb(base_url, 8, "list")
        kept_long, _ = bench_memory.peak_rss_mb(base_url, 40, "list")
    assert (n_short, n_long) == (8 * 1440, 40 * 1440)
    assert long < short * 1.15  # five times the range, the same memory
    assert kept_long - kept_short > 3 * max(long - short, 1.0)  # while a list grows with it
