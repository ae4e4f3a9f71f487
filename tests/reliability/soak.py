"""The soak: many concurrent iterators over every endpoint, against a faulty emulator.

Used by ``test_soak.py`` (a short run in CI) and by ``python -m tests.reliability`` (the
longer run whose figures docs/reliability.md reports). Loopback only, bounded in rounds
and seconds.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import Any

import anyio

from openai_usage_async import AsyncUsageClient
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async._sansio.retry import RetryPolicy
from openai_usage_async.emulator import Emulator, Fault
from tests.helpers import DAY, HOUR, NOW, TEST_KEY

BOUND = 6


def faults() -> list[Fault]:
    """About 5% of requests fail, in every way the emulator knows."""
    return [
        Fault(status=500, rate=0.015),
        Fault(status=429, retry_after_ms=2, rate=0.01),
        Fault(status=503, rate=0.005),
        Fault("drop", rate=0.005),
        Fault("drop_mid_body", rate=0.005),
        Fault("truncate", rate=0.005),
        Fault("malformed", rate=0.005),
    ]


def shapes() -> list[tuple[str, dict[str, Any]]]:
    """Two queries per endpoint: daily over 200 days in pages of 7, and hourly grouped."""
    day = NOW // DAY * DAY
    out = []
    for name, spec in ENDPOINTS.items():
        out.append((name, {"start_time": day - 200 * DAY, "end_time": day, "limit": 7}))
        if "1h" in spec.limits:
            group = spec.group_by[0]
            out.append(
                (
                    name,
                    {
                        "start_time": day - 5 * DAY - 7 * HOUR,
                        "end_time": day,
                        "bucket_width": "1h",
                        "limit": 24,
                        "group_by": [group],
                    },
                )
            )
    return out


@dataclass
class SoakReport:
    rounds: int
    iterators: int
    requests: int
    faults_fired: int
    retries: int
    buckets: int
    lost: int
    duplicated: int
    peak_in_flight: int
    seconds: float
    tasks_left: int
    open_connections_after_close: int


def our_tasks() -> int:
    """Live tasks running the client's code (not the emulator's connection handlers)."""
    count = 0
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        where = code.co_filename if code is not None else ""
        if task is not asyncio.current_task() and not task.done() and "aiohttp" not in where:
            count += "emulator" not in where
    return count


async def soak(emulator: Emulator, *, seconds: float, max_rounds: int) -> SoakReport:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as clean:
        expected = {
            i: await getattr(clean.usage, n).list(**kw) for i, (n, kw) in enumerate(shapes())
        }
    emulator.reset_statistics()
    active = faults()
    emulator.faults = active
    emulator.latency_ms, emulator.jitter_ms = 2, 3  # so that requests overlap
    tasks_before = our_tasks()
    started = time.monotonic()
    rounds = lost = duplicated = buckets = 0
    async with AsyncUsageClient(
        TEST_KEY, base_url=emulator.base_url, max_concurrency=BOUND, max_retries=10
    ) as client:
        client._requester.retry = RetryPolicy(
            max_retries=10, initial_delay_s=0.001, max_delay_s=0.02
        )

        async def one(got: dict[int, list[Any]], i: int, name: str, kwargs: dict[str, Any]) -> None:
            ordered = i % 2 == 0  # half in time order, half as ready
            items = await getattr(client.usage, name).list(**kwargs, ordered=ordered)
            got[i] = items if ordered else sorted(items, key=lambda b: b.start_time)

        while rounds < max_rounds and time.monotonic() - started < seconds:
            got: dict[int, list[Any]] = {}
            async with anyio.create_task_group() as tg:
                for i, (name, kwargs) in enumerate(shapes()):
                    tg.start_soon(one, got, i, name, kwargs)
            for i, want in expected.items():
                have = got[i]
                starts = [b.start_time for b in have]
                duplicated += len(starts) - len(set(starts))
                lost += len({b.start_time for b in want} - set(starts))
                assert have == want, f"iterator {i} differs"
                buckets += len(have)
            rounds += 1
        stats = client.statistics()
    await asyncio.sleep(0.05)
    emulator.faults = []
    emulator.latency_ms = emulator.jitter_ms = 0
    served = emulator.statistics()
    return SoakReport(
        rounds=rounds,
        iterators=rounds * len(expected),
        requests=served.requests_total,
        faults_fired=sum(f.fired for f in active),
        retries=stats.retries,
        buckets=buckets,
        lost=lost,
        duplicated=duplicated,
        peak_in_flight=served.peak_in_flight,
        seconds=time.monotonic() - started,
        tasks_left=our_tasks() - tasks_before,
        open_connections_after_close=served.open_connections,
    )
