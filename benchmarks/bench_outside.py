"""Outside an event loop: the synchronous client, Arrow tables and the dlt source.

Against the emulator in its own process, its pages cached by a warm-up fetch, on "a year
of hourly completions grouped by model and project" (``bench_sync``'s range):

- ``UsageClient.list()`` against ``AsyncUsageClient.list()`` (inside ``asyncio.run``),
  run alternately, each with a fresh client: what the portal thread costs a script; and
  the same for ``iter()`` over 30 days of minute embeddings (43,200 buckets), where the
  sync iterator hands a page over in one wait;
- ``to_arrow(buckets)`` against ``pandas.DataFrame(list(to_rows(buckets)))`` on buckets
  fetched beforehand (CPU only), and ``to_arrow(buckets).to_pandas()`` for a pandas user;
- the dlt source into a fresh DuckDB file (a fresh pipeline directory each run) against
  ``store.sync()`` into a fresh SQLite file, with dlt's extract, normalize and load steps
  timed from its trace.

Every client is pinned to the emulator's ``NOW`` (the sync and the source end there).
"""

from __future__ import annotations

import asyncio
import os
import pathlib
import statistics
import tempfile
import time
from dataclasses import dataclass
from typing import Any

from openai_usage_async import UsageClient, to_arrow, to_rows

from ._emulator import NOW
from .bench_decode import best_of
from .bench_sync import ENDPOINT, KEY, WIDTH, arguments, fetch, ours


def blocking(base_url: str) -> UsageClient:
    """A synchronous client whose clock is the emulator's pinned ``NOW``."""
    client = UsageClient(KEY, base_url=base_url)
    client._async._requester.clock = lambda: NOW
    return client


@dataclass(frozen=True)
class Result:
    """Medians of ``runs`` runs over ``days`` of the range."""

    days: int
    buckets: int
    rows: int
    async_list_s: float
    sync_list_s: float
    iter_buckets: int
    async_iter_s: float
    sync_iter_s: float
    pandas_s: float  # pandas.DataFrame(list(to_rows(...)))
    arrow_s: float  # to_arrow(...)
    arrow_pandas_s: float  # to_arrow(...).to_pandas()
    sqlite_sync_s: float
    sqlite_rows: int
    dlt_s: float
    dlt_rows: int
    dlt_steps: dict[str, float]  # extract, normalize, load: medians
    runs: int

    @property
    def sync_ratio(self) -> float:
        return self.sync_list_s / self.async_list_s

    @property
    def arrow_speedup(self) -> float:
        return self.pandas_s / self.arrow_s


def async_list(base_url: str, days: int) -> tuple[float, int]:
    """``AsyncUsageClient.list()`` in ``asyncio.run``: (seconds, buckets)."""
    seconds, buckets = asyncio.run(fetch(base_url, days))
    return seconds, len(buckets)


def sync_list(base_url: str, days: int) -> tuple[float, int]:
    """``UsageClient.list()``, as a script calls it: (seconds, buckets)."""
    with blocking(base_url) as client:
        started = time.perf_counter()
        buckets = getattr(client.usage, ENDPOINT).list(**arguments(days))
        return time.perf_counter() - started, len(buckets)


#: ``iter()``'s range: minute embeddings, ungrouped, ending at the emulator's NOW.
ITER_DAYS = 30


def iter_arguments(days: int) -> dict[str, Any]:
    return {"start_time": NOW - days * 86_400, "end_time": NOW, "bucket_width": "1m"}


async def _async_iter(base_url: str, days: int) -> tuple[float, int]:
    from openai_usage_async import AsyncUsageClient

    async with AsyncUsageClient(KEY, base_url=base_url) as client:
        started = time.perf_counter()
        n = 0
        async for _ in client.usage.embeddings.iter(**iter_arguments(days)):
            n += 1
        return time.perf_counter() - started, n


def async_iter(base_url: str, days: int) -> tuple[float, int]:
    """``AsyncUsageClient.iter()`` over minute buckets in ``asyncio.run``: (seconds, n)."""
    return asyncio.run(_async_iter(base_url, days))


def sync_iter(base_url: str, days: int) -> tuple[float, int]:
    """``UsageClient.iter()`` over the same buckets: (seconds, buckets)."""
    with blocking(base_url) as client:
        started = time.perf_counter()
        n = sum(1 for _ in client.usage.embeddings.iter(**iter_arguments(days)))
        return time.perf_counter() - started, n


def dlt_run(base_url: str, where: pathlib.Path, days: int) -> tuple[float, int, dict[str, float]]:
    """The dlt source into a fresh DuckDB file: (seconds, rows loaded, seconds per step)."""
    import dlt
    import duckdb

    from openai_usage_async.dlt import usage_source

    with blocking(base_url) as client:
        pipeline = dlt.pipeline(
            "bench",
            destination=dlt.destinations.duckdb(str(where / "warehouse.duckdb")),
            dataset_name="usage",
            pipelines_dir=str(where / "pipelines"),
        )
        start = arguments(days)["start_time"]
        source = usage_source([ENDPOINT], start_time=start, bucket_width=WIDTH, client=client)
        source = source.with_resources(f"{ENDPOINT}_{WIDTH}")
        started = time.perf_counter()
        pipeline.run(source)
        seconds = time.perf_counter() - started
        steps = {
            step.step: (step.finished_at - step.started_at).total_seconds()
            for step in pipeline.last_trace.steps
            if step.step in ("extract", "normalize", "load") and step.finished_at is not None
        }
    with duckdb.connect(str(where / "warehouse.duckdb"), read_only=True) as db:
        (rows,) = db.execute(f"SELECT count(*) FROM usage.{ENDPOINT}_{WIDTH}").fetchone() or (0,)
    return seconds, rows, steps


def measure(base_url: str, days: int, repeat: int) -> Result:
    """Every figure, against the emulator at ``base_url``; the lists alternate, the
    conversions run on one fetched copy, dlt and the SQLite sync alternate."""
    os.environ.setdefault("RUNTIME__DLTHUB_TELEMETRY", "false")
    _, buckets = asyncio.run(fetch(base_url, days))  # warm up: the emulator caches pages
    rows = sum(len(b.results) for b in buckets)
    lists: dict[str, list[float]] = {"async": [], "sync": []}
    iter_days = min(days, ITER_DAYS)
    iter_buckets = async_iter(base_url, iter_days)[1]  # warm up the emulator's cache
    iters: dict[str, list[float]] = {"async": [], "sync": []}
    for _ in range(repeat):
        lists["async"].append(async_list(base_url, days)[0])
        lists["sync"].append(sync_list(base_url, days)[0])
        iters["async"].append(async_iter(base_url, iter_days)[0])
        iters["sync"].append(sync_iter(base_url, iter_days)[0])
    import pandas

    conversions = max(3, repeat)
    pandas_s = best_of(lambda: pandas.DataFrame(list(to_rows(buckets))), conversions)
    arrow_s = best_of(lambda: to_arrow(buckets), conversions)
    arrow_pandas_s = best_of(lambda: to_arrow(buckets).to_pandas(), conversions)
    syncs: list[float] = []
    dlts: list[float] = []
    steps: dict[str, list[float]] = {}
    sqlite_rows = dlt_rows = 0
    with tempfile.TemporaryDirectory(prefix="bench-outside-") as tmp:
        for i in range(repeat):
            seconds, sqlite_rows = asyncio.run(ours(base_url, f"{tmp}/sync-{i}.db", days))
            syncs.append(seconds)
            where = pathlib.Path(tmp, f"dlt-{i}")
            where.mkdir()
            seconds, dlt_rows, taken = dlt_run(base_url, where, days)
            dlts.append(seconds)
            for step, s in taken.items():
                steps.setdefault(step, []).append(s)
    return Result(
        days=days,
        buckets=len(buckets),
        rows=rows,
        async_list_s=statistics.median(lists["async"]),
        sync_list_s=statistics.median(lists["sync"]),
        iter_buckets=iter_buckets,
        async_iter_s=statistics.median(iters["async"]),
        sync_iter_s=statistics.median(iters["sync"]),
        pandas_s=pandas_s,
        arrow_s=arrow_s,
        arrow_pandas_s=arrow_pandas_s,
        sqlite_sync_s=statistics.median(syncs),
        sqlite_rows=sqlite_rows,
        dlt_s=statistics.median(dlts),
        dlt_rows=dlt_rows,
        dlt_steps={k: statistics.median(v) for k, v in steps.items()},
        runs=repeat,
    )
