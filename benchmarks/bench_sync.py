"""Syncing into a store: ``store.sync()`` against its two floors and the SDK's loop.

"A year of hourly completions grouped by model and project" (about 400,000 rows), against
the emulator in its own process, its pages cached by a warm-up fetch:

- floor A: ``completions.list()`` of the same range, the fetch alone;
- floor B: a bare ``executemany`` of the same rows (``schema_for(...).rows(buckets)``,
  built before the clock starts) into an empty SQLite table with the same columns, in one
  transaction, with the store's pragmas (WAL, ``synchronous=NORMAL``): what SQLite
  itself costs from Python;
- ours: ``store.sync()`` into a fresh SQLite file, and into a fresh DuckDB file;
- the official SDK following ``next_page`` by hand (as ``bench_backfill.official_sdk``
  does), writing each page's rows with ``executemany`` and committing each page;
- a re-sync with nothing new right after the first sync: same store, same arguments
  without ``start_time``, a fresh client, the store opened again (timed from the open);
- peak RSS of syncing ``1m`` embeddings (ungrouped) over a short and a long range, each
  in a fresh child process (``python -m benchmarks.bench_sync``) into a fresh SQLite
  file, read from ``VmHWM`` as ``bench_memory`` does.

The store decides what is settled by the client's clock, so every client here is pinned
to the emulator's ``NOW``. Every timed sync writes a fresh file in a temporary directory.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

from openai_usage_async import AsyncUsageClient
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.store import open_store
from openai_usage_async.store._schema import TableSchema, schema_for
from openai_usage_async.store._sqlite import SQLiteBackend

from ._emulator import NOW
from .bench_memory import peak_kib

ROOT = pathlib.Path(__file__).resolve().parent.parent  # where `-m benchmarks...` resolves

KEY = "sk-admin-benchmark"
DAY = 86_400
ENDPOINT = "completions"
WIDTH = "1h"
GROUP_BY = ("model", "project_id")
#: The memory runs: minute embeddings, ungrouped.
MEMORY_ENDPOINT = "embeddings"
MEMORY_WIDTH = "1m"


@dataclass(frozen=True)
class Result:
    """Medians of ``runs`` runs (the SDK's loop: ``sdk_runs``) over ``days`` of the range."""

    days: int
    rows: int  # rows of the range: what the floors write
    fetch_s: float  # floor A: list()
    insert_s: float  # floor B: bare executemany, one transaction
    sqlite_s: float  # ours, into SQLite
    sqlite_rows: int
    duckdb_s: float  # ours, into DuckDB
    duckdb_rows: int
    sdk_s: float  # the SDK's next_page loop, executemany a page
    sdk_rows: int
    resync_s: float  # re-sync with nothing new, from opening the store
    resync_requests: int  # requests of the one endpoint-width it syncs
    runs: int
    sdk_runs: int

    @property
    def floor_s(self) -> float:
        return max(self.fetch_s, self.insert_s)


def arguments(days: int) -> dict[str, Any]:
    """``list()``'s and ``sync()``'s shared arguments for ``days`` ending at ``NOW``."""
    return {
        "start_time": NOW - days * DAY,
        "end_time": NOW,
        "bucket_width": WIDTH,
        "group_by": list(GROUP_BY),
    }


def pinned(base_url: str, **options: Any) -> AsyncUsageClient:
    """A client whose clock is the emulator's pinned ``NOW`` (the store's settledness)."""
    client = AsyncUsageClient(KEY, base_url=base_url, **options)
    client._requester.clock = lambda: NOW
    return client


def sqlite_table(path: str, schema: TableSchema) -> sqlite3.Connection:
    """A fresh SQLite file with the store's pragmas and one empty table of the schema's
    columns (no index), in autocommit mode: transactions are begun by hand."""
    db = sqlite3.connect(path, isolation_level=None)
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=NORMAL")
    columns = ", ".join(f'"{c.name}" {SQLiteBackend.types[c.kind]}' for c in schema.columns)
    db.execute(f'CREATE TABLE "{schema.name}" ({columns})')
    return db


def insert_sql(schema: TableSchema) -> str:
    return f'INSERT INTO "{schema.name}" VALUES ({", ".join("?" * len(schema.columns))})'


async def fetch(base_url: str, days: int) -> tuple[float, list[Any]]:
    """Floor A: (seconds of ``completions.list()``, the buckets)."""
    async with pinned(base_url) as client:
        started = time.perf_counter()
        buckets = await client.usage.completions.list(**arguments(days))
        return time.perf_counter() - started, buckets


def bare_insert(path: str, rows: Sequence[tuple[Any, ...]]) -> float:
    """Floor B: seconds of one transaction inserting ``rows`` with ``executemany``."""
    schema = schema_for(ENDPOINT, WIDTH)
    db = sqlite_table(path, schema)
    try:
        started = time.perf_counter()
        db.execute("BEGIN")
        db.executemany(insert_sql(schema), rows)
        db.execute("COMMIT")
        return time.perf_counter() - started
    finally:
        db.close()


async def ours(base_url: str, path: str, days: int) -> tuple[float, int]:
    """``store.sync()`` into a fresh store at ``path``: (seconds of the sync, rows written)."""
    async with pinned(base_url) as client, open_store(path) as store:
        started = time.perf_counter()
        report = await store.sync(client, endpoints=[ENDPOINT], **arguments(days))
        return time.perf_counter() - started, report.endpoints[ENDPOINT].rows_written


async def resync(base_url: str, path: str) -> tuple[float, int]:
    """Sync the store at ``path`` again, without ``start_time``: (seconds from opening the
    store to the sync's end, requests of the endpoint)."""
    again = {k: v for k, v in arguments(0).items() if k != "start_time"}
    async with pinned(base_url) as client:
        started = time.perf_counter()
        async with open_store(path) as store:
            report = await store.sync(client, endpoints=[ENDPOINT], **again)
            return time.perf_counter() - started, report.endpoints[ENDPOINT].requests


async def official_sdk(base_url: str, path: str, days: int) -> tuple[float, int]:
    """The SDK's ``next_page`` loop writing each page's rows to SQLite: (seconds, rows).

    Rows are built from the SDK's objects with ``getattr`` over the store's column names
    (completions has no nested field), inserted with ``executemany``, one commit a page.
    """
    from openai import AsyncOpenAI, Omit, omit

    schema = schema_for(ENDPOINT, WIDTH)
    fields = schema.column_names[2:]
    sql = insert_sql(schema)
    db = sqlite_table(path, schema)
    kwargs = arguments(days) | {"limit": ENDPOINTS[ENDPOINT].max_limit(WIDTH)}
    n = 0
    try:
        async with AsyncOpenAI(admin_api_key=KEY, base_url=base_url, max_retries=0) as sdk:
            started = time.perf_counter()
            cursor: str | Omit = omit
            while True:
                page = await sdk.admin.organization.usage.completions(**kwargs, page=cursor)
                rows = [
                    (b.start_time, b.end_time, *(getattr(r, f) for f in fields))
                    for b in page.data
                    for r in b.results
                ]
                db.execute("BEGIN")
                db.executemany(sql, rows)
                db.execute("COMMIT")
                n += len(rows)
                if not page.has_more or not page.next_page:
                    break
                cursor = page.next_page
            return time.perf_counter() - started, n
    finally:
        db.close()


def measure(base_url: str, days: int, repeat: int) -> Result:
    """Every figure but memory, against the emulator at ``base_url``: the fetch, the bare
    insert and our two syncs interleaved ``repeat`` times (medians); the SDK's loop
    ``max(1, repeat // 3)`` times (latency-bound: steady); one re-sync after each SQLite
    sync. A warm-up fetch first fills the emulator's cache; a one-day SDK run imports it."""
    schema = schema_for(ENDPOINT, WIDTH)
    _, buckets = asyncio.run(fetch(base_url, days))  # warm up: the emulator caches pages
    rows = list(schema.rows(buckets))
    del buckets
    sdk_runs = max(1, repeat // 3)
    times: dict[str, list[float]] = {
        k: [] for k in ("fetch", "insert", "sqlite", "duckdb", "sdk", "resync")
    }
    counts: dict[str, int] = {}
    requests: list[int] = []
    with tempfile.TemporaryDirectory(prefix="bench_sync_") as tmp:
        asyncio.run(official_sdk(base_url, f"{tmp}/warm.db", 1))
        for i in range(repeat):
            seconds, _ = asyncio.run(fetch(base_url, days))
            times["fetch"].append(seconds)
            times["insert"].append(bare_insert(f"{tmp}/bare{i}.db", rows))
            path = f"{tmp}/ours{i}.db"
            seconds, counts["sqlite"] = asyncio.run(ours(base_url, path, days))
            times["sqlite"].append(seconds)
            seconds, n = asyncio.run(resync(base_url, path))
            times["resync"].append(seconds)
            requests.append(n)
            seconds, counts["duckdb"] = asyncio.run(ours(base_url, f"{tmp}/ours{i}.duckdb", days))
            times["duckdb"].append(seconds)
        for i in range(sdk_runs):
            seconds, counts["sdk"] = asyncio.run(official_sdk(base_url, f"{tmp}/sdk{i}.db", days))
            times["sdk"].append(seconds)
    median = {k: statistics.median(v) for k, v in times.items()}
    return Result(
        days=days,
        rows=len(rows),
        fetch_s=median["fetch"],
        insert_s=median["insert"],
        sqlite_s=median["sqlite"],
        sqlite_rows=counts["sqlite"],
        duckdb_s=median["duckdb"],
        duckdb_rows=counts["duckdb"],
        sdk_s=median["sdk"],
        sdk_rows=counts["sdk"],
        resync_s=median["resync"],
        resync_requests=max(requests),
        runs=repeat,
        sdk_runs=sdk_runs,
    )


async def sync_minutes(base_url: str, path: str, days: int) -> int:
    """The memory run: ``days`` of ungrouped minute embeddings into the store at ``path``."""
    async with pinned(base_url) as client, open_store(path) as store:
        report = await store.sync(
            client,
            endpoints=[MEMORY_ENDPOINT],
            start_time=NOW - days * DAY,
            end_time=NOW,
            bucket_width=MEMORY_WIDTH,
            group_by=None,
        )
        return report.endpoints[MEMORY_ENDPOINT].rows_written


def peak_rss_mb(base_url: str, days: int) -> tuple[float, int, float]:
    """Run ``sync_minutes`` in a child process into a fresh SQLite file: (its peak RSS in
    MiB, rows written, seconds of the child's sync)."""
    with tempfile.TemporaryDirectory(prefix="bench_sync_") as tmp:
        out = subprocess.run(
            [sys.executable, "-m", "benchmarks.bench_sync", base_url, str(days), f"{tmp}/m.db"],
            capture_output=True,
            text=True,
            check=True,
            cwd=ROOT,
        ).stdout.split()
    return float(out[0]), int(out[1]), float(out[2])


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("base_url")
    parser.add_argument("days", type=int)
    parser.add_argument("path")
    args = parser.parse_args()
    started = time.perf_counter()
    rows = asyncio.run(sync_minutes(args.base_url, args.path, args.days))
    seconds = time.perf_counter() - started
    print(f"{peak_kib() / 1024:.1f} {rows} {seconds:.2f}")


if __name__ == "__main__":
    main()
