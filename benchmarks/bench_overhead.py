"""Client overhead: requests per second at zero latency, ours against a plain aiohttp loop.

Both send the same small request sequentially to the emulator in another process, so
the difference is what our request path costs per page: building and checking the
query, the concurrency bound, the retry loop, decoding into typed models.
"""

from __future__ import annotations

import json
import time
from typing import Any

import aiohttp

from openai_usage_async import AsyncUsageClient

from ._emulator import NOW

KEY = "sk-admin-benchmark"
QUERY: dict[str, Any] = {"start_time": NOW - 3 * 86_400, "end_time": NOW, "bucket_width": "1d"}


async def ours(base_url: str, requests: int) -> float:
    """Requests per second through ``client.usage.costs.get``."""
    async with AsyncUsageClient(KEY, base_url=base_url) as client:
        await client.usage.costs.get(**QUERY)  # connect first
        started = time.perf_counter()
        for _ in range(requests):
            page = await client.usage.costs.get(**QUERY)
            assert page.data
        return requests / (time.perf_counter() - started)


async def plain(base_url: str, requests: int) -> float:
    """Requests per second with aiohttp and json.loads (one pooled session)."""
    params = [(k, str(v)) for k, v in QUERY.items()]
    url = base_url + "/organization/costs"
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {KEY}"}) as http:
        async with http.get(url, params=params) as response:
            await response.read()
        started = time.perf_counter()
        for _ in range(requests):
            async with http.get(url, params=params) as response:
                page = json.loads(await response.read())
            assert page["data"]
        return requests / (time.perf_counter() - started)
