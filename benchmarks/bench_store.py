"""The store under several hands: two syncs at once, reading while a sync writes, coverage.

- **Two syncs started together** on one store file, each with its own client (as two
  processes would have), syncing the grouped year of hourly completions (``bench_sync``'s
  range): the wall time until both end, against one sync alone into a fresh file. The
  second waits for the first, then has only the overlap left to fetch.
- **``summary --store`` while a sync runs**: the command's own code (``cli.main``, in this
  process: argument parsing, the reads, the report) on a store of the grouped year (every
  endpoint, ``1d``, grouped ``auto``: what ``openai-usage sync --start`` makes), idle and
  then while another process backfills hourly completions into the same file.
- **``store.coverage()``** on the same store, against ``summary --store``'s time.

Every client is pinned to the emulator's ``NOW``.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass

from openai_usage_async import cli
from openai_usage_async.store import open_store

from ._emulator import NOW
from .bench_sync import DAY, ENDPOINT, KEY, ROOT, arguments, ours, pinned


@dataclass(frozen=True)
class Result:
    """Medians of ``runs`` runs."""

    days: int
    one_s: float  # one sync alone, into a fresh file
    two_s: float  # two started together on one file, until both end
    two_rows: tuple[int, int]  # rows each of the two wrote (the second: the overlap)
    summary_idle_s: float  # summary --store, nothing else running
    summary_busy_s: float  # the same while another process syncs into the file
    busy_reads: int  # summaries measured while that sync ran
    coverage_s: float  # store.coverage() on the same store
    runs: int


async def two_at_once(base_url: str, path: str, days: int) -> tuple[float, tuple[int, int]]:
    """Two syncs of the same range on one file, started together: (seconds until both
    end, rows each wrote)."""

    async def one() -> int:
        async with pinned(base_url) as client, open_store(path) as store:
            report = await store.sync(client, endpoints=[ENDPOINT], **arguments(days))
            return report.endpoints[ENDPOINT].rows_written

    started = time.perf_counter()
    a, b = await asyncio.gather(one(), one())
    return time.perf_counter() - started, (max(a, b), min(a, b))


async def grouped_year(base_url: str, path: str, days: int) -> None:
    """The store `openai-usage sync --start` makes: every endpoint, daily, grouped auto."""
    async with pinned(base_url) as client, open_store(path) as store:
        await store.sync(client, start_time=NOW - days * DAY, end_time=NOW)


def summary(path: str, days: int) -> float:
    """Seconds of ``openai-usage summary --store PATH`` over the range, in this process."""
    out, err = io.StringIO(), io.StringIO()
    start, end = str(NOW // DAY * DAY - days * DAY), str(NOW // DAY * DAY)
    argv = ["summary", "--store", path, "--start", start, "--end", end]
    started = time.perf_counter()
    with contextlib.redirect_stdout(out), contextlib.redirect_stderr(err):
        code = cli.main(argv)
    seconds = time.perf_counter() - started
    if code != 0 or "Total cost" not in out.getvalue():
        raise RuntimeError(f"summary --store failed ({code}): {err.getvalue()}")
    return seconds


async def coverage(path: str) -> float:
    async with open_store(path) as store:
        started = time.perf_counter()
        tables = await store.coverage()
        seconds = time.perf_counter() - started
    if not tables:
        raise RuntimeError("coverage() found no table")
    return seconds


#: The other process's backfill: long enough to outlast the summaries measured during it.
BUSY_DAYS = 365


def backfill_process(base_url: str, path: str) -> subprocess.Popen[bytes]:
    """Another process backfilling a year of three hourly endpoints into the same store."""
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openai_usage_async",
            "sync",
            "-q",
            "--store",
            path,
            "--base-url",
            base_url,
            "--endpoints",
            "completions,embeddings,images",
            "--bucket-width",
            "1h",
            "--start",
            str(NOW - BUSY_DAYS * DAY),
            "--end",
            str(NOW),
            "--concurrency",
            "1",
        ],
        env={"OPENAI_ADMIN_KEY": KEY, "PATH": "/usr/bin:/bin"},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        cwd=ROOT,
    )


def measure(base_url: str, days: int, repeat: int) -> Result:
    """Every figure against the emulator at ``base_url`` (whose pages a warm-up cached)."""
    ones, twos, idles, busies, covers = [], [], [], [], []
    rows: tuple[int, int] = (0, 0)
    with tempfile.TemporaryDirectory(prefix="bench_store_") as tmp:
        asyncio.run(ours(base_url, f"{tmp}/warm.db", days))  # the emulator caches pages
        for i in range(repeat):
            seconds, _ = asyncio.run(ours(base_url, f"{tmp}/one{i}.db", days))
            ones.append(seconds)
            seconds, rows = asyncio.run(two_at_once(base_url, f"{tmp}/two{i}.db", days))
            twos.append(seconds)
        store = f"{tmp}/year.db"
        asyncio.run(grouped_year(base_url, store, days))
        summary(store, days)  # warm: imports, the file in the page cache
        for _ in range(repeat):
            idles.append(summary(store, days))
            covers.append(asyncio.run(coverage(store)))
        proc = backfill_process(base_url, store)
        try:
            time.sleep(1.0)  # it holds the store and commits windows
            for _ in range(repeat):
                if proc.poll() is not None:
                    break
                busies.append(summary(store, days))
            running = proc.poll() is None
        finally:
            proc.kill()
            proc.communicate()
        if not running or len(busies) < repeat:
            raise RuntimeError("the sync ended before the summaries: lengthen its range")
    return Result(
        days=days,
        one_s=statistics.median(ones),
        two_s=statistics.median(twos),
        two_rows=rows,
        summary_idle_s=statistics.median(idles),
        summary_busy_s=statistics.median(busies),
        busy_reads=len(busies),
        coverage_s=statistics.median(covers),
        runs=repeat,
    )
