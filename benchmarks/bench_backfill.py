"""Backfill wall time: our ``iter()`` against the official SDK, a plain loop, and the floor.

The floor is ``ceil(pages / concurrency) x latency``: no client can beat it, since each
window is one round trip. Everything runs against the emulator in another process, its
pages cached after a warm-up pass, so what is measured is the client.
"""

from __future__ import annotations

import asyncio
import json
import math
import statistics
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

import aiohttp

from openai_usage_async import AsyncUsageClient

from ._emulator import NOW

KEY = "sk-admin-benchmark"
DAY = 86_400


@dataclass(frozen=True)
class Scenario:
    name: str
    endpoint: str
    days: int
    bucket_width: str
    group_by: tuple[str, ...] = ()

    @property
    def start(self) -> int:
        return NOW - self.days * DAY

    def pages(self, page_size: int) -> int:
        return math.ceil(
            self.days * DAY // {"1m": 60, "1h": 3600, "1d": DAY}[self.bucket_width] / page_size
        )

    def kwargs(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "start_time": self.start,
            "end_time": NOW,
            "bucket_width": self.bucket_width,
        }
        if self.group_by:
            out["group_by"] = list(self.group_by)
        return out


YEAR_HOURLY = Scenario("a year of hourly completions", "completions", 365, "1h")
YEAR_HOURLY_GROUPED = Scenario(
    "a year of hourly completions by model and project",
    "completions",
    365,
    "1h",
    ("model", "project_id"),
)
MONTH_MINUTES = Scenario("30 days of minute embeddings", "embeddings", 30, "1m")


async def ours(base_url: str, scenario: Scenario, concurrency: int) -> int:
    async with AsyncUsageClient(KEY, base_url=base_url, max_concurrency=concurrency) as client:
        endpoint = getattr(client.usage, scenario.endpoint)
        n = 0
        async for bucket in endpoint.iter(**scenario.kwargs()):
            n += len(bucket.results) + 1
        return n


async def official_sdk(base_url: str, scenario: Scenario) -> int:
    """What the SDK's users do today: one page per call, following next_page by hand."""
    from openai import AsyncOpenAI

    sdk = AsyncOpenAI(admin_api_key=KEY, base_url=base_url, max_retries=0)
    async with sdk:
        method = getattr(sdk.admin.organization.usage, scenario.endpoint)
        kwargs = scenario.kwargs() | {"limit": 168 if scenario.bucket_width == "1h" else 1440}
        n = 0
        cursor = None
        while True:
            page = await method(**kwargs, **({"page": cursor} if cursor else {}))
            n += sum(len(b.results) + 1 for b in page.data)
            if not page.has_more:
                return n
            cursor = page.next_page


async def plain_loop(base_url: str, scenario: Scenario) -> int:
    """aiohttp and json.loads, following next_page sequentially: no models at all."""
    spec_path = {
        "completions": "/organization/usage/completions",
        "embeddings": "/organization/usage/embeddings",
    }
    kwargs = scenario.kwargs()
    params: list[tuple[str, str]] = [(k, str(v)) for k, v in kwargs.items() if k != "group_by"]
    params += [("group_by[]", g) for g in scenario.group_by]
    params.append(("limit", "168" if scenario.bucket_width == "1h" else "1440"))
    n = 0
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
        cursor = None
        while True:
            query = params + ([("page", cursor)] if cursor else [])
            async with http.get(base_url + spec_path[scenario.endpoint], params=query) as response:
                page = json.loads(await response.read())
            n += sum(len(b["results"]) + 1 for b in page["data"])
            if not page["has_more"]:
                return n
            cursor = page["next_page"]


def timed(run: Callable[[], Awaitable[int]], repeat: int) -> tuple[float, int]:
    """Median wall time of ``repeat`` runs (each in a fresh event loop), and the item count."""
    times = []
    count = 0
    for _ in range(repeat):
        started = time.perf_counter()
        count = asyncio.run(run())  # type: ignore[arg-type]
        times.append(time.perf_counter() - started)
    return statistics.median(times), count
