"""``serve``: what a request costs, what a quiet sync costs, and its memory over a soak.

- **Requests**: ``/metrics``, ``/`` and ``/api/summary`` of ``create_app`` on a store of a
  year of every endpoint (daily, grouped ``auto``) and on one of 30 days, against a
  static aiohttp handler that answers bytes of the same size: the median latency of
  sequential requests over one keep-alive connection, server and client in this process
  (the same for the app and the baseline). What ``serve`` serves is rendered once per
  sync, so a request should cost the same on both stores, and little more than bytes.
- **A sync with nothing new**: the requests a sync cycle sends when nothing changed, per
  table (the emulator's counters).
- **Memory over a soak**: ``openai-usage serve`` as a process against the emulator with 5%
  random faults, at ``--every 0.2s``, its RSS at each cycle (``tests/serve/soak.py``).

Every client is pinned to a moment two thirds into the emulator's last month, so the
month's figures are real.
"""

from __future__ import annotations

import asyncio
import pathlib
import statistics
import tempfile
import time
from collections.abc import Mapping
from dataclasses import dataclass, field

import aiohttp
from aiohttp import web

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from openai_usage_async.serve import create_app
from openai_usage_async.serve._app import STATE
from openai_usage_async.store import open_store

from ._emulator import NOW
from .bench_sync import DAY, KEY

PATHS = ("/metrics", "/", "/api/summary")
#: The clients' clock: 20 days into October, before the emulator's NOW (November 1st).
AT = NOW - 11 * DAY - 9 * 3600


@dataclass
class Result:
    long_days: int
    short_days: int
    p50_long: Mapping[str, float]  # path -> median seconds, the long store
    p50_short: Mapping[str, float]
    p50_static: Mapping[str, float]  # path -> median seconds of bytes of the same size
    sizes: Mapping[str, int]  # path -> bytes served (the long store)
    requests: int  # per path and store
    quiet_requests: Mapping[str, int]  # endpoint -> requests of a sync with nothing new
    rss_kib: list[tuple[int, int]] = field(default_factory=list)  # (cycle, KiB)
    soak_seconds: float = 0.0
    soak_cycles: int = 0
    soak_exit: int | None = None
    soak_mismatched: list[str] = field(default_factory=list)


def _client(base_url: str) -> AsyncUsageClient:
    client = AsyncUsageClient(KEY, base_url=base_url)
    client._requester.clock = lambda: AT
    return client


async def _make_store(base_url: str, path: str, days: int) -> None:
    async with _client(base_url) as client, open_store(path) as store:
        await store.sync(client, start_time=AT - days * DAY, end_time=AT)


async def _start(app: web.Application) -> tuple[web.AppRunner, str]:
    runner = web.AppRunner(app)
    await runner.setup()
    site = web.TCPSite(runner, "127.0.0.1", 0)
    await site.start()
    return runner, f"http://127.0.0.1:{runner.addresses[0][1]}"


async def _synced(app: web.Application) -> None:
    """Until the app's own first sync has ended and what it serves is rendered."""
    served = app[STATE]
    deadline = time.monotonic() + 120
    while (
        served.current is None
        or served.current.data is None
        or served.scheduler.status.syncs < 1
        or served.scheduler.status.syncing
    ):
        if time.monotonic() > deadline:
            raise RuntimeError("serve's first sync did not end")
        await asyncio.sleep(0.05)


async def _get(http: aiohttp.ClientSession, url: str) -> tuple[float, bytes]:
    started = time.perf_counter()
    async with http.get(url) as response:
        body = await response.read()
        if response.status != 200:
            raise RuntimeError(f"{url}: {response.status}")
    return time.perf_counter() - started, body


async def _requests(
    base_url: str, long_path: str, short_path: str, n: int
) -> tuple[dict[str, float], dict[str, float], dict[str, float], dict[str, int]]:
    """Both apps and the static baseline up at once, each path's requests interleaved:
    (p50 long, p50 short, p50 static, sizes)."""
    async with (
        _client(base_url) as long_client,
        open_store(long_path) as long_store,
        _client(base_url) as short_client,
        open_store(short_path) as short_store,
    ):
        apps = [
            create_app(long_client, long_store, every=3600),
            create_app(short_client, short_store, every=3600),
        ]
        started = [await _start(app) for app in apps]
        static_app = web.Application()
        bodies: dict[str, bytes] = {}
        try:
            for app in apps:
                await _synced(app)
            async with aiohttp.ClientSession() as http:
                for p in PATHS:
                    _, bodies[p] = await _get(http, started[0][1] + p)

                    async def handler(
                        request: web.Request, body: bytes = bodies[p]
                    ) -> web.Response:
                        return web.Response(body=body, content_type="text/plain")

                    static_app.router.add_get(p, handler)
                static_runner, static_url = await _start(static_app)
                try:
                    times: dict[str, dict[str, list[float]]] = {
                        k: {p: [] for p in PATHS} for k in ("long", "short", "static")
                    }
                    urls = {"long": started[0][1], "short": started[1][1], "static": static_url}
                    for p in PATHS:
                        for i in range(n + 5):
                            for kind, url in urls.items():
                                seconds, _ = await _get(http, url + p)
                                if i >= 5:  # the first ones warm
                                    times[kind][p].append(seconds)
                finally:
                    await static_runner.cleanup()
        finally:
            for runner, _ in started:
                await runner.cleanup()
    p50 = {k: {p: statistics.median(v) for p, v in by.items()} for k, by in times.items()}
    return p50["long"], p50["short"], p50["static"], {p: len(b) for p, b in bodies.items()}


async def quiet_sync_requests(days: int = 10) -> dict[str, int]:
    """Requests per endpoint of a sync cycle with nothing new (a pinned emulator)."""
    async with Emulator(now=AT) as emu:
        assert emu.base_url is not None
        with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
            async with _client(emu.base_url) as client, open_store(f"{tmp}/q.db") as store:
                client._requester.clock = emu.clock
                app = create_app(client, store, every=0.3, start_time=AT - days * DAY)
                runner = web.AppRunner(app)
                await runner.setup()
                try:
                    served = app[STATE]

                    async def syncs(at_least: int) -> None:
                        deadline = time.monotonic() + 60
                        while served.scheduler.status.syncs < at_least:
                            if time.monotonic() > deadline:
                                raise RuntimeError("serve did not sync")
                            await asyncio.sleep(0.02)

                    await syncs(2)
                    before = served.scheduler.status.syncs
                    emu.reset_statistics()
                    await syncs(before + 1)
                    counts = dict(emu.statistics().requests_by_endpoint)
                finally:
                    await runner.cleanup()
    return counts


def measure(base_url: str, long_days: int, short_days: int, n: int, soak_cycles: int) -> Result:
    with tempfile.TemporaryDirectory(prefix="bench_serve_") as tmp:
        long_path, short_path = f"{tmp}/long.db", f"{tmp}/short.db"
        asyncio.run(_make_store(base_url, long_path, long_days))
        asyncio.run(_make_store(base_url, short_path, short_days))
        p50_long, p50_short, p50_static, sizes = asyncio.run(
            _requests(base_url, long_path, short_path, n)
        )
    quiet = asyncio.run(quiet_sync_requests())
    result = Result(long_days, short_days, p50_long, p50_short, p50_static, sizes, n, quiet)
    if soak_cycles:
        from tests.serve.soak import run_soak

        with tempfile.TemporaryDirectory(prefix="bench_soak_") as tmp:
            soak = run_soak(soak_cycles, pathlib.Path(tmp))
        result.rss_kib = soak.rss_kib
        result.soak_seconds, result.soak_cycles = soak.seconds, soak.cycles
        result.soak_exit, result.soak_mismatched = soak.exit_code, soak.mismatched_tables
    return result
