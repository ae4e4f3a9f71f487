"""A month of costs from the bundled emulator: no key, no network.

Starts the emulator on a free loopback port, follows ``next_page`` through 30 days of
daily costs grouped by line item, and prints the biggest line items. Run it with
``python docs/examples/emulator_tour.py``.
"""

from __future__ import annotations

import asyncio
import collections
import json
import time

import aiohttp

from openai_usage_async.emulator import run_emulator


async def main() -> None:
    end = int(time.time()) // 86_400 * 86_400  # today, 00:00 UTC
    start = end - 30 * 86_400
    query = {"start_time": start, "end_time": end, "limit": 10, "group_by[]": "line_item"}
    totals: collections.Counter[str] = collections.Counter()
    pages = 0
    async with (
        run_emulator(latency_ms=20) as base_url,
        aiohttp.ClientSession(headers={"Authorization": "Bearer sk-admin-demo"}) as http,
    ):
        cursor = None
        while True:
            params = query | ({"page": cursor} if cursor else {})
            async with http.get(f"{base_url}/organization/costs", params=params) as response:
                response.raise_for_status()
                page = json.loads(await response.read())
            pages += 1
            for bucket in page["data"]:
                for result in bucket["results"]:
                    totals[result["line_item"]] += result["amount"]["value"]
            if not page["has_more"]:
                break
            cursor = page["next_page"]
    print(f"30 days of costs from the emulator at {base_url} ({pages} pages)")
    for line_item, amount in totals.most_common(8):
        print(f"  {line_item:<42} ${amount:>12,.2f}")
    print(f"  {'total':<42} ${sum(totals.values()):>12,.2f}")


if __name__ == "__main__":
    asyncio.run(main())
