"""The forecast from a store, against the bare SQL it needs; ``budget``'s start-up cost.

- ``store.forecast()`` on a store of a year of costs grouped ``auto`` (by project, line
  item, API key and source: the store ``openai-usage sync`` makes), in this process,
  against the one query it cannot do without: the costs of this month and of the lookback
  days summed by day, project and key, on a fresh read-only connection. Both timed from
  opening the file.
- ``openai-usage budget --store`` as a whole process, beside ``openai-usage --version``:
  what starting Python and the package costs, which every command pays.

The emulator's clock is pinned; the forecast's ``now`` is a fixed moment in the middle of
the last month of the range, so month to date and the lookback are both real.
"""

from __future__ import annotations

import asyncio
import datetime as dt
import sqlite3
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from openai_usage_async.store import open_store

from ._emulator import NOW
from .bench_sync import DAY, KEY, ROOT, pinned

#: The forecast's clock: mid-October, two weeks before the emulator's NOW.
AT = NOW - 14 * DAY - 12 * 3600


@dataclass(frozen=True)
class Result:
    """Medians of ``runs`` runs."""

    days: int
    rows: int  # rows of costs_1d
    forecast_s: float  # store.forecast()
    sql_s: float  # the bare query it needs
    budget_s: float  # `openai-usage budget --store` as a process
    version_s: float  # `openai-usage --version` as a process
    runs: int


async def make_store(base_url: str, path: str, days: int) -> int:
    async with pinned(base_url) as client, open_store(path) as store:
        report = await store.sync(
            client, endpoints=["costs"], start_time=NOW - days * DAY, end_time=NOW
        )
        return report.endpoints["costs"].rows_written


async def forecast(path: str, repeat: int) -> list[float]:
    """``store.forecast()`` on an open store, ``repeat`` times: each call opens the file
    read-only, reads, and computes, as the bare query's run does."""
    out = []
    async with open_store(path) as store:
        for _ in range(repeat):
            started = time.perf_counter()
            f = await store.forecast(now=AT)
            out.append(time.perf_counter() - started)
    if not f.month_to_date or not f.projects:
        raise RuntimeError("the forecast found no cost")
    return out


def bare_sql(path: str) -> float:
    """The query the forecast needs, on a fresh read-only connection."""
    today = AT - AT % DAY
    month = dt.datetime.fromtimestamp(today, dt.UTC).replace(day=1)
    first = min(today - 7 * DAY, int(month.timestamp()))  # the month's start or the lookback
    started = time.perf_counter()
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        rows = db.execute(
            "SELECT start_time, project_id, api_key_id, SUM(amount_value) FROM costs_1d "
            "WHERE start_time >= ? AND start_time < ? GROUP BY 1, 2, 3",
            (first, AT + 1),
        ).fetchall()
    finally:
        db.close()
    if not rows:
        raise RuntimeError("the query found no cost")
    return time.perf_counter() - started


def process(*args: str) -> float:
    started = time.perf_counter()
    subprocess.run(
        [sys.executable, "-m", "openai_usage_async", *args],
        check=False,
        capture_output=True,
        cwd=ROOT,
        env={"OPENAI_ADMIN_KEY": KEY, "PATH": "/usr/bin:/bin"},
    )
    return time.perf_counter() - started


def measure(base_url: str, days: int, repeat: int) -> Result:
    runs = 0
    with tempfile.TemporaryDirectory(prefix="bench_budget_") as tmp:
        path = f"{tmp}/usage.db"
        rows = asyncio.run(make_store(base_url, path, days))
        asyncio.run(forecast(path, 1))  # warm: imports, the page cache
        bare_sql(path)
        runs = max(repeat, 5) * 4
        forecasts: list[float] = []
        sqls: list[float] = []
        for _ in range(4):  # interleaved
            forecasts += asyncio.run(forecast(path, runs // 4))
            sqls += [bare_sql(path) for _ in range(runs // 4)]
        budgets, versions = [], []
        for _ in range(repeat):
            budgets.append(process("budget", "--store", path, "--now", str(AT)))
            versions.append(process("--version"))
    return Result(
        days=days,
        rows=rows,
        forecast_s=statistics.median(forecasts),
        sql_s=statistics.median(sqls),
        budget_s=statistics.median(budgets),
        version_s=statistics.median(versions),
        runs=runs,
    )
