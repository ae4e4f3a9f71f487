"""A bulk backfill: 30 days of minute buckets to a JSON-lines file, flat rows, in order.

``iter()`` splits the range into windows of 1440 minutes, fetches them concurrently, and
yields every bucket exactly once, in time order, holding only a few pages in memory.
Runs against the bundled emulator: ``python docs/examples/backfill.py out.jsonl``
(``--live`` reads your organization with ``OPENAI_ADMIN_KEY``).
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import sys
import tempfile
import time
from collections.abc import Iterator
from typing import BinaryIO

import msgspec

from openai_usage_async import AsyncUsageClient, to_rows
from openai_usage_async.emulator import run_emulator

DAY = 86_400


async def backfill(client: AsyncUsageClient, out: BinaryIO, days: int = 30) -> None:
    end = int(time.time()) // DAY * DAY
    start = end - days * DAY
    encoder = msgspec.json.Encoder()
    buckets = rows = 0
    started = time.perf_counter()
    async with client.usage.completions.iter(
        start_time=start, end_time=end, bucket_width="1m", group_by=["project_id"]
    ) as iterator:
        async for bucket in iterator:
            buckets += 1
            for row in to_rows([bucket]):
                out.write(encoder.encode(row) + b"\n")
                rows += 1
    elapsed = time.perf_counter() - started
    stats = client.statistics()
    print(f"{buckets:,} minute buckets, {rows:,} rows")
    peak = stats.limiter.peak_borrowed
    print(f"{stats.requests_sent} requests, peak {peak} in flight, {elapsed:.1f}s")


@contextlib.contextmanager
def atomic_file(path: str) -> Iterator[BinaryIO]:
    """Write to a temporary file beside ``path``, renamed into place only on success."""
    directory = os.path.dirname(os.path.abspath(path))
    with tempfile.NamedTemporaryFile("wb", dir=directory, delete=False) as tmp:
        try:
            yield tmp
        except BaseException:
            tmp.close()
            os.unlink(tmp.name)
            raise
    os.replace(tmp.name, path)


async def main() -> None:
    path = next((a for a in sys.argv[1:] if not a.startswith("--")), "completions-minutes.jsonl")
    with atomic_file(path) as out:
        if "--live" in sys.argv:  # your organization, with OPENAI_ADMIN_KEY
            async with AsyncUsageClient() as client:
                await backfill(client, out)
        else:
            async with (
                run_emulator(latency_ms=20) as base_url,
                AsyncUsageClient("sk-admin-demo", base_url=base_url) as client,
            ):
                await backfill(client, out)
    print(f"wrote {path}")


if __name__ == "__main__":
    asyncio.run(main())
