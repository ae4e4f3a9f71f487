"""Time to first bucket and peak memory of ``iter()``: flat however long the range.

``completions.iter(bucket_width="1m", limit=60)`` over a short and a long range: windows
are planned lazily, so neither the first bucket's wait nor the memory of reading the
first few buckets may grow with the range. The peak RSS of each range is measured in a
fresh process (``python -m benchmarks.bench_first_bucket``), as ``bench_memory`` does.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import statistics
import subprocess
import sys
import time
from typing import Any

from openai_usage_async import AsyncUsageClient, BucketIterator

from ._emulator import NOW
from .bench_memory import peak_kib

ROOT = pathlib.Path(__file__).resolve().parent.parent  # where `-m benchmarks...` resolves

KEY = "sk-admin-benchmark"
DAY = 86_400
LIMIT = 60
#: Buckets the memory measurement reads before closing the iterator.
READ = 100


def windows(days: int) -> int:
    """The windows (requests) ``iter()`` plans for ``days`` of minutes."""
    return -(-days * 1440 // LIMIT)


def minutes(client: AsyncUsageClient, days: int) -> BucketIterator[Any]:
    """The measured call: ``days`` of minute completions ending at the pinned clock."""
    return client.usage.completions.iter(
        start_time=NOW - days * DAY, end_time=NOW, bucket_width="1m", limit=LIMIT
    )


async def first_bucket_s(base_url: str, days: int) -> float:
    """Seconds from calling ``iter()`` to holding its first bucket; then stop."""
    async with AsyncUsageClient(KEY, base_url=base_url) as client:
        started = time.perf_counter()
        async with minutes(client, days) as buckets:
            async for _ in buckets:
                elapsed = time.perf_counter() - started
                break
            else:
                raise RuntimeError("no bucket at all")
        return elapsed


def time_to_first_bucket(base_url: str, spans: list[int], repeat: int) -> dict[int, float]:
    """Median time to first bucket per range, the ranges' runs interleaved, after a warm-up
    run of each (fresh event loop and client every run)."""
    for days in spans:
        asyncio.run(first_bucket_s(base_url, days))
    runs: dict[int, list[float]] = {days: [] for days in spans}
    for _ in range(repeat):
        for days in spans:
            runs[days].append(asyncio.run(first_bucket_s(base_url, days)))
    return {days: statistics.median(times) for days, times in runs.items()}


async def read_first(base_url: str, days: int, n: int) -> int:
    """Read the first ``n`` buckets of the range, then close the iterator."""
    got = 0
    async with AsyncUsageClient(KEY, base_url=base_url) as client:
        async with minutes(client, days) as buckets:
            async for _ in buckets:
                got += 1
                if got >= n:
                    break
    return got


def peak_rss_mb(base_url: str, days: int, n: int = READ) -> tuple[float, int]:
    """Run ``read_first`` in a child process: (its peak RSS in MiB, buckets read)."""
    out = subprocess.run(
        [sys.executable, "-m", "benchmarks.bench_first_bucket", base_url, str(days), str(n)],
        capture_output=True,
        text=True,
        check=True,
        cwd=ROOT,
    ).stdout.split()
    return float(out[0]), int(out[1])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("days", type=int)
    parser.add_argument("n", type=int)
    args = parser.parse_args()
    buckets = asyncio.run(read_first(args.base_url, args.days, args.n))
    print(f"{peak_kib() / 1024:.1f} {buckets}")


if __name__ == "__main__":
    main()
