"""An async web app that awaits the client inside a request handler.

One client for the whole application (made at startup, closed at shutdown), shared by
every request: its concurrency bound and connection pool are app-wide. Runs against the
bundled emulator, serves one request to itself, prints the answer and exits:
``python docs/examples/web_app.py``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

from aiohttp import ClientSession, web

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async.emulator import run_emulator

CLIENT = web.AppKey("usage_client", AsyncUsageClient)
DAY = 86_400


async def spend_this_week(request: web.Request) -> web.Response:
    client = request.app[CLIENT]
    end = int(time.time()) // DAY * DAY + DAY
    try:
        buckets = await client.usage.costs.list(start_time=end - 7 * DAY, end_time=end)
    except errors.APIError as exc:  # the service failed after retries: say so, briefly
        raise web.HTTPBadGateway(text=f"usage API: {exc}") from exc
    days = [
        {"day": b.start_time, "usd": round(sum(c.amount.value for c in b.results if c.amount), 2)}
        for b in buckets
    ]
    return web.json_response({"days": days, "total_usd": round(sum(d["usd"] for d in days), 2)})


def make_app(base_url: str | None = None, api_key: str | None = None) -> web.Application:
    app = web.Application()

    async def usage_client(app: web.Application) -> AsyncIterator[None]:
        async with AsyncUsageClient(api_key, base_url=base_url, max_concurrency=4) as client:
            app[CLIENT] = client
            yield

    app.cleanup_ctx.append(usage_client)
    app.router.add_get("/spend", spend_this_week)
    return app


async def main() -> None:
    async with run_emulator(latency_ms=10) as base_url:
        runner = web.AppRunner(make_app(base_url, "sk-admin-demo"))
        await runner.setup()
        await web.TCPSite(runner, "127.0.0.1", 0).start()
        port = runner.addresses[0][1]
        try:
            async with ClientSession() as http, http.get(f"http://127.0.0.1:{port}/spend") as r:
                print(r.status, await r.text())
        finally:
            await runner.cleanup()


if __name__ == "__main__":
    asyncio.run(main())
