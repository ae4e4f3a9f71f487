"""The benchmark code runs end to end at tiny sizes (loopback only): it must not rot."""

from __future__ import annotations

import asyncio
import pathlib
import sqlite3

import aiohttp

from benchmarks import __main__ as runner
from benchmarks import bench_backfill as backfill
from benchmarks import bench_decode as decode
from benchmarks import bench_directory as directory_bench
from benchmarks import bench_first_bucket as first_bucket
from benchmarks import bench_serve
from benchmarks import bench_sync as sync_bench
from benchmarks._emulator import NOW, emulator_process
from openai_usage_async.emulator import Emulator
from openai_usage_async.store._schema import schema_for

TINY = backfill.Scenario("tiny", ("completions",), 3, "1h", ("model",))
TINY_ALL = backfill.Scenario("tiny, all endpoints", ("costs", "images"), 40, "1d")


def test_decoders_agree_on_a_small_page() -> None:
    body = decode.page_body("completions", 3600, 24, ("model",))
    results = {name: fn(body) for name, fn in decode.decoders("completions").items()}
    ours = results.pop(decode.OURS)
    plain = results.pop("json.loads (dicts)")
    assert len(ours.data) == len(plain["data"]) == 24
    assert sum(len(b.results) for b in ours.data) == sum(len(b["results"]) for b in plain["data"])
    sdk = results["official SDK models"]
    assert len(sdk.data) == 24
    assert sum(len(b.results) for b in sdk.data) == sum(len(b.results) for b in ours.data)


async def test_backfill_clients_count_the_same_items() -> None:
    async with Emulator(now=NOW) as emu:
        assert emu.base_url is not None
        for scenario in (TINY, TINY_ALL):
            ours = await backfill.ours(emu.base_url, scenario, 4)
            plain = await backfill.plain_loop(emu.base_url, scenario)
            sdk = await backfill.official_sdk(emu.base_url, scenario)
            assert ours == plain == sdk > 0
    assert TINY.pages() == 1 and TINY_ALL.pages() == 1 + 2  # costs: 180 a page; images: 31
    assert TINY.floor_s(1, 0.05) == 0.05


def test_the_whole_report_at_tiny_sizes(tmp_path: pathlib.Path) -> None:
    results = runner.measure_backfill([5.0], 1, (TINY, TINY_ALL))
    clients = {(r.client, r.concurrency) for r in results}
    assert clients >= {("sdk", 1), ("plain", 1), ("bare", 8), ("ours", 8)}
    assert all(r.seconds > 0 for r in results)
    lines = runner.backfill_lines(results)
    assert lines[0] == "### Backfill wall time, 5 ms latency"
    decode_lines, ratios = runner.measure_decode(2)
    assert ratios["official SDK models"] > 1  # even tiny, ours is faster
    overhead_lines, relative = runner.measure_overhead(10)
    assert relative > 0 and "requests/s" in "\n".join(overhead_lines)
    memory_lines, peaks = runner.measure_memory([1, 2])
    assert set(peaks) == {(1, "iter"), (1, "list"), (2, "iter"), (2, "list")}
    assert all(mib > 10 for mib in peaks.values())
    summary = runner.targets(results, ratios, peaks)
    assert summary[0] == "## Targets" and any("flat as the range grows" in line for line in summary)
    runner.chart(results, tmp_path / "chart.png")
    assert (tmp_path / "chart.png").read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert decode_lines[0] == "### Decode CPU per page" and memory_lines[0].startswith(
        "### Peak memory"
    )


def test_the_emulator_process_takes_the_rate_limit_options() -> None:
    async def two_at_once(base_url: str) -> list[tuple[int, str | None]]:
        url = base_url + "/organization/costs"
        params = {"start_time": str(NOW - 86_400)}
        headers = {"Authorization": "Bearer sk-admin-benchmark"}
        async with aiohttp.ClientSession(headers=headers) as http:

            async def one() -> tuple[int, str | None]:
                async with http.get(url, params=params) as r:
                    await r.read()
                    return r.status, r.headers.get("retry-after-ms")

            return sorted(await asyncio.gather(one(), one()))

    with emulator_process(
        latency_ms=300, max_concurrent=1, rate_limit_retry_after_ms=50
    ) as base_url:
        assert asyncio.run(two_at_once(base_url)) == [(200, None), (429, "50")]


def test_first_bucket_and_storm_at_tiny_sizes() -> None:
    first_lines, first = runner.measure_first_bucket([1, 2], 2)
    assert sorted(first) == [1, 2]
    for fb in first.values():
        assert fb.read == first_bucket.READ and 0 < fb.seconds < 10 and fb.rss_mb > 10
    assert first_lines[0].startswith("### Time to first bucket")
    storm_lines, storms = runner.measure_storm(7, 1)  # 3 windows of limit=3
    assert [r.in_flight for r in storms] == [2, 1]
    for r in storms:
        expected = tuple(range(NOW - 7 * 86_400, NOW, 86_400))
        assert r.ours.starts == r.sdk.starts == expected  # the same buckets, in order
        assert r.sdk.requests == 3 and r.sdk.retries == 0  # one at a time: never refused
        assert r.ours.requests == 3 + r.ours.retries
    assert storms[-1].ours.retries > 0  # three windows at once, one accepted: a storm
    assert storm_lines[0].startswith("### 429 storm: 7 days of costs")
    summary = "\n".join(runner.targets([], {}, {}, first, storms))
    assert "time to first bucket, 1 vs 2 days of 1m, limit 60" in summary
    assert "peak RSS reading the first 100 buckets, 1 vs 2 days" in summary
    assert "429 storm, 2 in flight: wall time vs the SDK's loop" in summary


async def test_sync_floor_and_sdk_loop_write_the_same_rows(tmp_path: pathlib.Path) -> None:
    schema = schema_for("completions", "1h")

    def stored(path: pathlib.Path) -> list[tuple[object, ...]]:
        db = sqlite3.connect(path)
        try:
            return sorted(db.execute(f"SELECT * FROM {schema.name}").fetchall(), key=repr)
        finally:
            db.close()

    async with Emulator(now=NOW) as emu:
        assert emu.base_url is not None
        _, buckets = await sync_bench.fetch(emu.base_url, 3)
        assert len(buckets) == 72
        expected = sorted(schema.rows(buckets), key=repr)
        assert len(expected) > 72  # grouped by model and project: several rows a bucket
        _, ours = await sync_bench.ours(emu.base_url, str(tmp_path / "ours.db"), 3)
        _, sdk = await sync_bench.official_sdk(emu.base_url, str(tmp_path / "sdk.db"), 3)
        assert ours == sdk == len(expected)
        assert stored(tmp_path / "ours.db") == stored(tmp_path / "sdk.db") == expected
        seconds, requests = await sync_bench.resync(emu.base_url, str(tmp_path / "ours.db"))
        assert requests >= 1 and requests <= 2 and seconds > 0
        assert stored(tmp_path / "ours.db") == expected  # the overlap replaced, not added
    assert sync_bench.bare_insert(str(tmp_path / "bare.db"), expected) > 0
    assert stored(tmp_path / "bare.db") == expected


def test_sync_measurement_at_tiny_sizes() -> None:
    lines, synced = runner.measure_sync(2, 1, [1, 2])
    f = synced.figures
    assert f.days == 2 and f.rows > 48
    assert f.sqlite_rows == f.duckdb_rows == f.sdk_rows == f.rows  # every writer, every row
    assert f.resync_requests >= 1 and f.resync_requests <= 2
    assert all(s > 0 for s in (f.fetch_s, f.insert_s, f.sqlite_s, f.duckdb_s, f.sdk_s))
    assert sorted(synced.rss) == [1, 2]
    (mib1, rows1, _), (mib2, rows2, _) = synced.rss[1], synced.rss[2]
    assert mib1 > 10 and mib2 > 10 and 0 < rows1 < rows2 <= 2 * 1440
    assert (
        lines[0] == "### Syncing 2 days of hourly completions by model and project, 50 ms latency"
    )
    summary = "\n".join(runner.targets([], {}, {}, synced=synced))
    for label in (
        "sync 2 days of hourly completions by model and project into SQLite",
        "sync 2 days of hourly completions by model and project into DuckDB",
        "against the SDK's next_page loop writing to SQLite",
        "re-sync with nothing new",
        "peak RSS syncing 1 vs 2 days of 1m embeddings",
    ):
        assert label in summary


def test_directory_at_the_base_size() -> None:
    lines, listing = runner.measure_directory(None, 0.0, 1)
    ours, sdk = listing.ours, listing.sdk
    assert ours.counts == sdk.counts  # the same projects, keys, service accounts, users
    assert ours.projects > 1 and ours.api_keys > ours.projects and ours.users > 0
    assert ours.service_accounts > 0
    assert ours.requests == sdk.requests  # the same pages of 100, ours concurrently
    assert ours.seconds > 0 and sdk.seconds > 0
    assert lines[0].startswith("### The organization directory: ")
    summary = "\n".join(runner.targets([], {}, {}, listing=listing))
    assert f"the directory of {ours.projects} projects and {ours.api_keys} keys" in summary
    assert "counts equal" in summary


async def test_directory_clients_agree_on_a_grown_directory() -> None:
    async with Emulator(now=NOW, directory_size=(12, 150)) as emu:
        assert emu.base_url is not None
        ours = await directory_bench.ours(emu.base_url)
        sdk = await directory_bench.official_sdk(emu.base_url)
    assert ours.counts == sdk.counts
    assert (ours.projects, ours.api_keys) == (12, 150)


def test_outside_an_event_loop_at_tiny_sizes() -> None:
    lines, r = runner.measure_outside(2, 1)
    assert r.buckets == 48 and r.rows > r.buckets  # hourly, grouped: several rows a bucket
    assert r.sqlite_rows == r.dlt_rows == r.rows  # every path loads every row
    assert r.iter_buckets == 2 * 1440 and r.sync_iter_s > 0 and r.async_iter_s > 0
    assert set(r.dlt_steps) == {"extract", "normalize", "load"}
    assert all(s > 0 for s in (r.async_list_s, r.sync_list_s, r.pandas_s, r.arrow_s, r.dlt_s))
    assert lines[0].startswith("### Outside an event loop: 2 days of hourly completions")
    summary = "\n".join(runner.targets([], {}, {}, beyond=r))
    assert "within 1.1x" in summary and ">= 3x faster" in summary


def test_store_under_several_hands_at_tiny_sizes() -> None:
    lines, held = runner.measure_store(5, 1)
    assert held.two_rows[0] > 0 and held.two_rows[1] < held.two_rows[0]  # the second waited
    assert held.one_s > 0 and held.two_s > 0 and held.busy_reads == 1
    assert 0 < held.coverage_s < held.summary_idle_s
    summary = "\n".join(runner.targets([], {}, {}, held=held))
    for measure in (
        "two syncs of 5 days started together on one store",
        "`summary --store` on 5 days while a sync writes the store",
        "`store.coverage()` against `summary --store`",
    ):
        assert measure in summary
    assert "### The store under several hands" in "\n".join(lines)


def test_forecast_and_serve_at_tiny_sizes(tmp_path: pathlib.Path) -> None:
    budget_lines, forecasted = runner.measure_budget(40, 1)
    assert "### The forecast, on 40 days of costs" in "\n".join(budget_lines)
    assert forecasted.rows > 0 and forecasted.forecast_s > 0 and forecasted.sql_s > 0
    assert forecasted.budget_s > 0 and forecasted.version_s > 0
    serve_lines, served = runner.measure_serve(40, 1, 5, 0)
    assert set(served.sizes) == set(bench_serve.PATHS) and all(served.sizes.values())
    assert served.quiet_requests and max(served.quiet_requests.values()) <= 2
    summary = "\n".join(runner.targets([], {}, {}, forecasted=forecasted, served=served))
    assert "`store.forecast()` on 40 days of costs" in summary
    assert "serve: a sync cycle with nothing new" in summary
    assert "### `serve`: 40 days against 30 days" in "\n".join(serve_lines)
    served.rss_kib = [(1, 50_000), (40, 50_100)]
    runner.serve_chart(served, tmp_path / "rss.png")
    assert (tmp_path / "rss.png").read_bytes().startswith(b"\x89PNG")
