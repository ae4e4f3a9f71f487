"""A 429 storm: our client at its defaults against the official SDK's sequential loop.

The emulator answers 429 (``retry-after-ms``) beyond ``max_concurrent`` requests in
flight. Ours, at ``max_concurrency=8`` and ``max_retries=2``, fetches the range's
windows concurrently, is refused, and must settle on what the service accepts without
failing or falling behind a client that never asks for two pages at once. Requests are
counted on the client side: every attempt, retries included.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass

from openai_usage_async import AsyncUsageClient

from ._emulator import NOW

KEY = "sk-admin-benchmark"
DAY = 86_400
#: Buckets a page: small, so that a few days make several windows.
LIMIT = 3


@dataclass(frozen=True)
class Run:
    """One client's pass over the range: what it got, what it sent, how long it took."""

    seconds: float
    starts: tuple[int, ...]  # the buckets' start times, in the order received
    requests: int  # every attempt
    retries: int  # attempts after a refused one

    @property
    def buckets(self) -> int:
        return len(self.starts)


async def ours(base_url: str, days: int) -> Run:
    """``costs.list()`` at the client's defaults."""
    async with AsyncUsageClient(KEY, base_url=base_url) as client:
        started = time.perf_counter()
        buckets = await client.usage.costs.list(
            start_time=NOW - days * DAY, end_time=NOW, limit=LIMIT
        )
        seconds = time.perf_counter() - started
        stats = client.statistics()
    starts = tuple(b.start_time for b in buckets)
    return Run(seconds, starts, stats.requests_sent, stats.retries)


async def official_sdk(base_url: str, days: int) -> Run:
    """The SDK at its defaults (``max_retries=2``), following ``next_page`` by hand."""
    import httpx2
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient, Omit, omit

    requests = pages = 0

    async def on_request(request: httpx2.Request) -> None:
        nonlocal requests
        requests += 1

    http = DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
    starts: list[int] = []
    async with AsyncOpenAI(admin_api_key=KEY, base_url=base_url, http_client=http) as sdk:
        started = time.perf_counter()
        cursor: str | Omit = omit
        while True:
            page = await sdk.admin.organization.usage.costs(
                start_time=NOW - days * DAY,
                end_time=NOW,
                limit=LIMIT,
                page=cursor,
            )
            pages += 1
            starts += (b.start_time for b in page.data)
            if not page.has_more or not page.next_page:
                break
            cursor = page.next_page
        seconds = time.perf_counter() - started
    return Run(seconds, tuple(starts), requests, requests - pages)


def median_run(runs: list[Run]) -> Run:
    """The run of median wall time (its counts belong to that run)."""
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def compare(base_url: str, days: int, repeat: int) -> tuple[Run, Run]:
    """(ours, the SDK's): the median of ``repeat`` interleaved runs each, fresh event loop
    and client every run, after a warm-up run of each (the SDK imports lazily)."""
    asyncio.run(ours(base_url, days))
    asyncio.run(official_sdk(base_url, days))
    mine: list[Run] = []
    theirs: list[Run] = []
    for _ in range(repeat):
        mine.append(asyncio.run(ours(base_url, days)))
        theirs.append(asyncio.run(official_sdk(base_url, days)))
    return median_run(mine), median_run(theirs)
