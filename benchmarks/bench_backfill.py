"""Backfill wall time: our ``iter()``/``gather`` against the official SDK, a plain loop, the floor.

The floor is ``ceil(pages / concurrency) x latency`` (pages: one per window of the
endpoint's maximum page size): no client can beat it, since each window costs a round
trip. Everything runs against the emulator in another process, its pages cached after
a warm-up pass, so what is measured is the client.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
from collections.abc import Callable, Coroutine
from dataclasses import dataclass
from typing import Any

import aiohttp

from openai_usage_async import AsyncUsageClient
from openai_usage_async._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from openai_usage_async._sansio.windows import plan_windows

from ._emulator import NOW

KEY = "sk-admin-benchmark"
DAY = 86_400


@dataclass(frozen=True)
class Scenario:
    """Endpoints, a range ending at the emulator's ``NOW``, a width and a grouping."""

    name: str
    endpoints: tuple[str, ...]
    days: int
    bucket_width: str
    group_by: tuple[str, ...] = ()

    @property
    def start(self) -> int:
        return NOW - self.days * DAY

    def limit(self, endpoint: str) -> int:
        return ENDPOINTS[endpoint].max_limit(self.bucket_width)

    def pages(self) -> int:
        """Requests a client that asks for full pages needs, over all endpoints."""
        width = WIDTH_SECONDS[self.bucket_width]
        return sum(len(plan_windows(self.start, NOW, width, self.limit(e))) for e in self.endpoints)

    def floor_s(self, concurrency: int, latency_s: float) -> float:
        return math.ceil(self.pages() / concurrency) * latency_s

    def arguments(self, endpoint: str) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start_time": self.start,
            "end_time": NOW,
            "bucket_width": self.bucket_width,
        }
        if self.group_by:
            out["group_by"] = list(self.group_by)
        return out


YEAR_HOURLY = Scenario("a year of hourly completions", ("completions",), 365, "1h")
YEAR_HOURLY_GROUPED = Scenario(
    "a year of hourly completions by model and project",
    ("completions",),
    365,
    "1h",
    ("model", "project_id"),
)
MONTH_MINUTES = Scenario("30 days of minute embeddings", ("embeddings",), 30, "1m")
ALL_ENDPOINTS = Scenario("all 12 endpoints, 90 days of daily buckets", tuple(ENDPOINTS), 90, "1d")
SCENARIOS = (YEAR_HOURLY, YEAR_HOURLY_GROUPED, MONTH_MINUTES, ALL_ENDPOINTS)


def _count(buckets: list[Any]) -> int:
    return sum(len(b.results) + 1 for b in buckets)


async def ours(base_url: str, scenario: Scenario, concurrency: int) -> int:
    """``iter()`` for one endpoint, ``gather`` for several: windows fetched concurrently."""
    async with AsyncUsageClient(KEY, base_url=base_url, max_concurrency=concurrency) as client:
        if len(scenario.endpoints) > 1:
            data = await client.usage.gather({e: scenario.arguments(e) for e in scenario.endpoints})
            return sum(_count(buckets) for buckets in data.values())
        endpoint = getattr(client.usage, scenario.endpoints[0])
        n = 0
        async for bucket in endpoint.iter(**scenario.arguments(scenario.endpoints[0])):
            n += len(bucket.results) + 1
        return n


async def official_sdk(base_url: str, scenario: Scenario) -> int:
    """What the SDK's users do today: one page per call, following next_page by hand."""
    from openai import AsyncOpenAI

    sdk = AsyncOpenAI(admin_api_key=KEY, base_url=base_url, max_retries=0)
    n = 0
    async with sdk:
        for name in scenario.endpoints:
            method = getattr(sdk.admin.organization.usage, name)
            kwargs = scenario.arguments(name) | {"limit": scenario.limit(name)}
            cursor = None
            while True:
                page = await method(**kwargs, **({"page": cursor} if cursor else {}))
                n += sum(len(b.results) + 1 for b in page.data)
                if not page.has_more:
                    break
                cursor = page.next_page
    return n


async def plain_loop(base_url: str, scenario: Scenario) -> int:
    """aiohttp and json.loads, following next_page sequentially: no models at all."""
    n = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
        for name in scenario.endpoints:
            arguments = scenario.arguments(name)
            params = [(k, str(v)) for k, v in arguments.items() if k != "group_by"]
            params += [("group_by[]", g) for g in scenario.group_by]
            params.append(("limit", str(scenario.limit(name))))
            url = base_url + ENDPOINTS[name].path
            cursor = None
            while True:
                query = params + ([("page", cursor)] if cursor else [])
                async with http.get(url, params=query) as response:
                    page = json.loads(await response.read())
                n += sum(len(b["results"]) + 1 for b in page["data"])
                if not page["has_more"]:
                    break
                cursor = page["next_page"]
    return n


def timed(run: Callable[[], Coroutine[Any, Any, int]], repeat: int) -> tuple[float, int]:
    """Median wall time of ``repeat`` runs (each in a fresh event loop), and the item count."""
    times = []
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = asyncio.run(run())
        times.append(time.perf_counter() - started)
    return statistics.median(times), count


async def bare_concurrent(base_url: str, scenario: Scenario, concurrency: int) -> int:
    """The transport's own ceiling: aiohttp fetching the same windows concurrently, and
    reading the bytes without decoding them. No client that decodes can beat it."""
    semaphore = asyncio.Semaphore(concurrency)
    width = WIDTH_SECONDS[scenario.bucket_width]
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:

        async def one(name: str, start: int, end: int) -> int:
            params = [
                ("start_time", str(start)),
                ("end_time", str(end)),
                ("bucket_width", scenario.bucket_width),
                ("limit", str(scenario.limit(name))),
                *(("group_by[]", g) for g in scenario.group_by),
            ]
            async with semaphore, http.get(base_url + ENDPOINTS[name].path, params=params) as r:
                return len(await r.read())

        sizes = await asyncio.gather(
            *(
                one(name, w.start, w.end)
                for name in scenario.endpoints
                for w in plan_windows(scenario.start, NOW, width, scenario.limit(name))
            )
        )
    return len(sizes)
