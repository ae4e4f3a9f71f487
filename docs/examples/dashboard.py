"""A dashboard's data in one call: costs and usage from several endpoints at once.

``client.usage.gather`` fetches every endpoint concurrently under the client's one
concurrency bound. Runs against the bundled emulator (no key, no network):
``python docs/examples/dashboard.py``. With ``--live`` it reads your organization,
with the Admin key in ``OPENAI_ADMIN_KEY``.
"""

from __future__ import annotations

import asyncio
import collections
import sys
import time

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import run_emulator

DAY = 86_400


async def dashboard(client: AsyncUsageClient, days: int = 30) -> None:
    end = int(time.time()) // DAY * DAY  # today, 00:00 UTC (exclusive)
    start = end - days * DAY
    data = await client.usage.gather(
        {
            "costs": {"group_by": ["line_item"]},
            "completions": {"group_by": ["model"]},
            "embeddings": None,
            "images": None,
            "web_search_calls": None,
        },
        start_time=start,
        end_time=end,
    )
    cost_by_item: collections.Counter[str] = collections.Counter()
    for bucket in data["costs"]:
        for cost in bucket.results:
            if cost.amount is not None:
                cost_by_item[cost.line_item or "(other)"] += cost.amount.value
    tokens_by_model: collections.Counter[str] = collections.Counter()
    for bucket in data["completions"]:
        for r in bucket.results:
            tokens_by_model[r.model or "(all)"] += r.input_tokens + r.output_tokens
    daily = [sum(c.amount.value for c in b.results if c.amount) for b in data["costs"]]
    top = max(daily) or 1.0
    bars = "".join(" ▁▂▃▄▅▆▇█"[round(8 * d / top)] for d in daily)

    print(f"Last {days} days: ${sum(cost_by_item.values()):,.2f}   daily {bars}")
    print("Top line items:")
    for item, amount in cost_by_item.most_common(5):
        print(f"  {item:<40} ${amount:>12,.2f}")
    print("Tokens by model:")
    for model, tokens in tokens_by_model.most_common(5):
        print(f"  {model:<40} {tokens:>16,}")
    for name in ("embeddings", "images", "web_search_calls"):
        print(f"{name}: {sum(len(b.results) > 0 for b in data[name])} of {days} days with usage")


async def main() -> None:
    if "--live" in sys.argv:
        async with AsyncUsageClient() as client:  # OPENAI_ADMIN_KEY
            await dashboard(client)
        return
    async with run_emulator(latency_ms=20) as base_url:
        async with AsyncUsageClient("sk-admin-demo", base_url=base_url) as client:
            await dashboard(client)


if __name__ == "__main__":
    asyncio.run(main())
