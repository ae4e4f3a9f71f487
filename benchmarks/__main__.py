"""``python -m benchmarks [--quick] [--write]``: where we stand, as ratios measured in one run.

1. Backfill wall time against the emulator (in its own process) at 50 and 200 ms latency:
   our ``iter()``/``gather`` at concurrency 1, 4, 8, 16; the official SDK following
   ``next_page`` by hand; a plain aiohttp + json loop; the floor.
2. Decode CPU per large page: ours, the SDK's models, ``json.loads``, ``orjson.loads``.
3. Client overhead: requests per second at zero latency, ours and a plain loop.
4. Peak memory iterating minute buckets, ``iter()`` against ``list()``, two range lengths.
5. Time to first bucket and peak memory of ``iter()`` over minute buckets, 1 against 365
   days: flat, as windows are planned lazily.
6. A 429 storm (the emulator accepts 2 requests in flight, then 1): ours at its
   defaults against the official SDK's sequential ``next_page`` loop.
7. Syncing a year of hourly completions by model and project into a store, at 50 ms:
   ``store.sync()`` into SQLite and DuckDB against its floors (``list()``, a bare
   ``executemany``) and the SDK's ``next_page`` loop writing to SQLite; a re-sync with
   nothing new; peak memory syncing minute embeddings over two range lengths.
   Two syncs of the same year started together on one store, against one alone;
   ``summary --store`` on a store of the year while another process syncs into it,
   against the same idle; ``store.coverage()`` against ``summary --store``.
8. The organization directory (200 projects, 3,000 API keys) at 50 ms:
   ``client.organization.directory()`` against the SDK's auto-paging loops, project by
   project.
9. The forecast: ``store.forecast()`` on a year of costs against the bare SQL it needs;
   ``budget --store`` as a process beside ``openai-usage --version``.
10. ``serve``: ``/metrics``, ``/`` and ``/api/summary`` on a year's store against a 30-day
   store and against static bytes of the same size; the requests of a sync with nothing
   new; ``serve``'s RSS over a soak with 5% faults (a chart, docs/benchmarks-serve.png).
11. Outside an event loop, on the grouped year at 50 ms: ``UsageClient.list()`` against
   ``AsyncUsageClient.list()``; ``to_arrow`` against ``pandas.DataFrame(to_rows(...))``;
   the dlt source into DuckDB against ``store.sync()`` into SQLite, dlt's steps timed.

``--write`` also writes docs/benchmarks.md, docs/benchmarks.png and
docs/benchmarks-serve.png.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import platform
import sys
import time
from dataclasses import dataclass

from . import bench_backfill as backfill
from . import bench_budget as budget
from . import bench_decode as decode
from . import bench_directory as directory
from . import bench_first_bucket as first_bucket
from . import bench_memory as memory
from . import bench_outside as outside
from . import bench_overhead as overhead
from . import bench_serve as serve
from . import bench_store as store
from . import bench_storm as storm
from . import bench_sync as sync
from ._emulator import emulator_process

DOCS = pathlib.Path(__file__).resolve().parent.parent / "docs"
CONCURRENCY = (1, 4, 8, 16)
#: The storm: 100 ms latency, 429 with ``retry-after-ms: 50`` beyond this many in flight.
STORM_IN_FLIGHT = (2, 1)
STORM_LATENCY_MS = 100.0
STORM_RETRY_AFTER_MS = 50
SYNC_LATENCY_MS = 50.0
#: The directory: this many projects (the archived one included) and API keys, at 50 ms.
DIRECTORY_SIZE = (200, 3000)
DIRECTORY_LATENCY_MS = 50.0


@dataclass(frozen=True)
class Backfill:
    scenario: backfill.Scenario
    latency_ms: float
    client: str  # "ours", "sdk", "plain", "bare" (concurrent aiohttp, no decoding)
    concurrency: int
    seconds: float
    runs: int


@dataclass(frozen=True)
class FirstBucket:
    days: int
    seconds: float  # median time to first bucket
    runs: int
    rss_mb: float  # peak RSS of a fresh process reading the first buckets
    read: int  # buckets it read


@dataclass(frozen=True)
class Storm:
    in_flight: int  # what the emulator accepts before answering 429
    days: int
    ours: storm.Run
    sdk: storm.Run
    runs: int


@dataclass(frozen=True)
class Sync:
    figures: sync.Result  # the syncs, their floors, the SDK's loop and the re-sync
    rss: dict[int, tuple[float, int, float]]  # days of 1m -> (peak MiB, rows, seconds)


@dataclass(frozen=True)
class Listing:
    size: tuple[int, int] | None  # the emulator's --directory-size; None: its base directory
    latency_ms: float
    ours: directory.Run
    sdk: directory.Run
    runs: int

    @property
    def speedup(self) -> float:
        return self.sdk.seconds / self.ours.seconds


def row(cells: list[str]) -> str:
    return "| " + " | ".join(cells) + " |"


def table(headers: list[str], rows: list[list[str]]) -> list[str]:
    return [row(headers), row(["---"] * len(headers)), *(row(r) for r in rows)]


def measure_backfill(
    latencies: list[float], repeat: int, scenarios: tuple[backfill.Scenario, ...]
) -> list[Backfill]:
    results = []
    for latency_ms in latencies:
        with emulator_process(latency_ms=latency_ms) as base_url:
            for scenario in scenarios:
                backfill.timed(lambda s=scenario: backfill.ours(base_url, s, 16), 1)  # warm up
                once = max(1, repeat // 3)  # the sequential baselines are latency-bound: steady
                seconds, _ = backfill.timed(
                    lambda s=scenario: backfill.official_sdk(base_url, s), once
                )
                results.append(Backfill(scenario, latency_ms, "sdk", 1, seconds, once))
                seconds, _ = backfill.timed(
                    lambda s=scenario: backfill.plain_loop(base_url, s), once
                )
                results.append(Backfill(scenario, latency_ms, "plain", 1, seconds, once))
                seconds, _ = backfill.timed(
                    lambda s=scenario: backfill.bare_concurrent(base_url, s, 8), repeat
                )
                results.append(Backfill(scenario, latency_ms, "bare", 8, seconds, repeat))
                for c in CONCURRENCY:
                    runs = once if c == 1 else repeat
                    seconds, _ = backfill.timed(
                        lambda s=scenario, c=c: backfill.ours(base_url, s, c), runs
                    )
                    results.append(Backfill(scenario, latency_ms, "ours", c, seconds, runs))
                print(f"  measured: {scenario.name}, {latency_ms:g} ms", file=sys.stderr)
    return results


def backfill_lines(results: list[Backfill]) -> list[str]:
    lines: list[str] = []
    for latency_ms in sorted({r.latency_ms for r in results}):
        lines += [f"### Backfill wall time, {latency_ms:g} ms latency", ""]
        body = []
        for r in (x for x in results if x.latency_ms == latency_ms):
            floor = r.scenario.floor_s(r.concurrency, latency_ms / 1000)
            sdk = next(
                x
                for x in results
                if x.latency_ms == latency_ms and x.scenario == r.scenario and x.client == "sdk"
            )
            label = {
                "ours": "openai_usage_async",
                "sdk": "official SDK, sequential",
                "plain": "aiohttp + json, sequential",
                "bare": "aiohttp, concurrent, bytes only",
            }[r.client]
            body.append(
                [
                    r.scenario.name,
                    label,
                    str(r.concurrency),
                    str(r.scenario.pages()),
                    f"{r.seconds:.2f}",
                    f"{floor:.2f}",
                    f"{r.seconds / floor:.2f}x",
                    "" if r.client == "sdk" else f"{sdk.seconds / r.seconds:.1f}x",
                    str(r.runs),
                ]
            )
        lines += table(
            [
                "scenario",
                "client",
                "concurrency",
                "pages",
                "seconds",
                "floor",
                "vs floor",
                "faster than SDK",
                "runs (median)",
            ],
            body,
        )
        lines.append("")
    return lines


def measure_decode(repeat: int) -> tuple[list[str], dict[str, float]]:
    ratios: dict[str, float] = {}
    body = []
    for label, endpoint, width_s, buckets, group_by in (
        (
            "168 hourly buckets x ~50 results (completions by model, project)",
            "completions",
            3600,
            168,
            ("model", "project_id"),
        ),
        ("1440 minute buckets (embeddings)", "embeddings", 60, 1440, ()),
    ):
        page = decode.page_body(endpoint, width_s, buckets, group_by)
        timings = {
            name: decode.best_of(
                lambda fn=fn, page=page: fn(page),
                repeat if "SDK" not in name else max(3, repeat // 4),
            )
            for name, fn in decode.decoders(endpoint).items()
        }
        ours = timings[decode.OURS]
        for name, seconds in timings.items():
            ratio = seconds / ours
            if endpoint == "completions":
                ratios[name] = ratio
            body.append(
                [
                    f"{label}, {len(page) / 1e6:.1f} MB",
                    name,
                    f"{seconds * 1000:.2f}",
                    "" if name == decode.OURS else f"{ratio:.1f}x",
                ]
            )
    return [
        "### Decode CPU per page",
        "",
        *table(["page", "decoder", "ms (median)", "ours is faster by"], body),
        "",
    ], ratios


def measure_overhead(requests: int) -> tuple[list[str], float]:
    with emulator_process(latency_ms=0) as base_url:
        asyncio.run(overhead.plain(base_url, 20))  # warm the emulator's cache
        ours = sorted(asyncio.run(overhead.ours(base_url, requests)) for _ in range(3))[1]
        plain = sorted(asyncio.run(overhead.plain(base_url, requests)) for _ in range(3))[1]
    lines = [
        "### Client overhead: sequential requests per second at zero latency",
        "",
        f"{requests} requests of a small page, one after another; median of 3 runs.",
        "",
        *table(
            ["client", "requests/s", "relative"],
            [
                ["openai_usage_async `get()`", f"{ours:,.0f}", f"{ours / plain:.2f}"],
                ["aiohttp + json.loads", f"{plain:,.0f}", "1.00"],
            ],
        ),
        "",
    ]
    return lines, ours / plain


def measure_memory(day_spans: list[int]) -> tuple[list[str], dict[tuple[int, str], float]]:
    peaks: dict[tuple[int, str], float] = {}
    counts: dict[int, int] = {}
    with emulator_process(latency_ms=0, cache_mb=1) as base_url:
        for days in day_spans:
            for mode in ("iter", "list"):
                peaks[(days, mode)], counts[days] = memory.peak_rss_mb(base_url, days, mode)
    body = [
        [
            f"{days} days of minute buckets ({counts[days]:,} buckets, "
            f"{-(-counts[days] // 1440)} pages)",
            f"{peaks[(days, 'iter')]:.0f}",
            f"{peaks[(days, 'list')]:.0f}",
        ]
        for days in day_spans
    ]
    lines = [
        "### Peak memory (RSS, MiB, a fresh process each)",
        "",
        *table(["range", "`iter()`, ordered", "`list()`"], body),
        "",
    ]
    return lines, peaks


def measure_first_bucket(
    day_spans: list[int], repeat: int
) -> tuple[list[str], dict[int, FirstBucket]]:
    out: dict[int, FirstBucket] = {}
    with emulator_process(latency_ms=0) as base_url:
        seconds = first_bucket.time_to_first_bucket(base_url, day_spans, repeat)
        for days in day_spans:
            rss_mb, read = first_bucket.peak_rss_mb(base_url, days)
            out[days] = FirstBucket(days, seconds[days], repeat, rss_mb, read)
    body = [
        [
            f"{r.days} day{'s' * (r.days != 1)} ({first_bucket.windows(r.days):,} windows)",
            f"{r.seconds * 1000:.1f}",
            f"{r.rss_mb:.0f}",
        ]
        for r in out.values()
    ]
    lines = [
        "### Time to first bucket and peak memory, minute completions, `limit=60`",
        "",
        '`completions.iter(bucket_width="1m", limit=60)` at zero latency, from the call to '
        f"the first bucket, then closed: median of {repeat} runs, each with a fresh client. "
        f"Peak RSS: a fresh process reads the first {first_bucket.READ} buckets and closes.",
        "",
        *table(["range", "first bucket, ms", "peak RSS, MiB"], body),
        "",
    ]
    return lines, out


def measure_storm(days: int, repeat: int) -> tuple[list[str], list[Storm]]:
    results = []
    for in_flight in STORM_IN_FLIGHT:
        with emulator_process(
            latency_ms=STORM_LATENCY_MS,
            max_concurrent=in_flight,
            rate_limit_retry_after_ms=STORM_RETRY_AFTER_MS,
        ) as base_url:
            ours, sdk = storm.compare(base_url, days, repeat)
        results.append(Storm(in_flight, days, ours, sdk, repeat))
        print(f"  measured: storm, {in_flight} in flight", file=sys.stderr)
    body = []
    for r in results:
        for label, run in (
            ("openai_usage_async, defaults (`max_concurrency=8`, `max_retries=2`)", r.ours),
            ("official SDK, sequential, defaults (`max_retries=2`)", r.sdk),
        ):
            body.append(
                [
                    str(r.in_flight),
                    label,
                    f"{run.seconds:.2f}",
                    str(run.requests),
                    str(run.retries),
                    str(run.buckets),
                    f"{run.seconds / r.sdk.seconds:.2f}x",
                ]
            )
    lines = [
        f"### 429 storm: {days} days of costs, `limit={storm.LIMIT}`, "
        f"{STORM_LATENCY_MS:g} ms latency",
        "",
        "The emulator answers 429 (`retry-after-ms: "
        f"{STORM_RETRY_AFTER_MS}`) beyond the requests in flight shown. Requests count "
        f"every attempt, retries included, on the client side. Median of {repeat} runs.",
        "",
        *table(
            ["accepted in flight", "client", "seconds", "requests", "retries", "buckets", "vs SDK"],
            body,
        ),
        "",
    ]
    return lines, results


def measure_directory(
    size: tuple[int, int] | None, latency_ms: float, repeat: int
) -> tuple[list[str], Listing]:
    with emulator_process(latency_ms=latency_ms, directory_size=size) as base_url:
        ours, sdk = directory.compare(base_url, repeat)
    print("  measured: directory", file=sys.stderr)
    listing = Listing(size, latency_ms, ours, sdk, repeat)
    body = [
        [
            label,
            f"{run.seconds:.2f}",
            str(run.requests),
            f"{run.projects:,}",
            f"{run.api_keys:,}",
            f"{run.service_accounts:,}",
            f"{run.users:,}",
            "" if run is sdk else f"{listing.speedup:.1f}x",
        ]
        for label, run in (
            ("openai_usage_async `organization.directory()`, defaults (`max_concurrency=8`)", ours),
            ("official SDK, `async for` auto-paging loops, project by project", sdk),
        )
    ]
    lines = [
        f"### The organization directory: {directory_label(listing)}, {latency_ms:g} ms latency",
        "",
        "Every project (archived ones included), every user, and every project's API keys "
        f"and service accounts, in pages of {directory.LIMIT}. The SDK's loops are the "
        "obvious code: `async for` over `projects.list(include_archived=True)`, and inside "
        "it over each project's `api_keys.list()` and `service_accounts.list()`, then "
        "`users.list()`. Requests are counted on the client side. Median of "
        f"{repeat} run{'s' * (repeat != 1)}.",
        "",
        *table(
            [
                "client",
                "seconds",
                "requests",
                "projects",
                "API keys",
                "service accounts",
                "users",
                "faster than SDK",
            ],
            body,
        ),
        "",
    ]
    return lines, listing


def measure_outside(days: int, repeat: int) -> tuple[list[str], outside.Result]:
    with emulator_process(latency_ms=SYNC_LATENCY_MS) as base_url:
        r = outside.measure(base_url, days, repeat)
    print("  measured: outside an event loop", file=sys.stderr)
    steps = ", ".join(f"{name} {s:.2f} s" for name, s in r.dlt_steps.items())
    runs = f"{r.runs} run{'s' * (r.runs != 1)}"
    lines = [
        f"### Outside an event loop: {year(days)} of hourly completions by model and "
        f"project, {SYNC_LATENCY_MS:g} ms latency",
        "",
        f"{r.buckets:,} buckets, {r.rows:,} rows. The two `list()` calls alternate, each "
        f"with a fresh client (median of {runs}); the conversions run on one fetched copy "
        "of the buckets (CPU only, median); the dlt source loads into a fresh DuckDB file "
        "with a fresh pipeline directory each run, alternating with `store.sync()` into a "
        "fresh SQLite file.",
        "",
        *table(
            ["what", "seconds", "rows", "ratio"],
            [
                ["`AsyncUsageClient.list()` in `asyncio.run`", f"{r.async_list_s:.2f}", "", ""],
                [
                    "`UsageClient.list()` (the portal thread)",
                    f"{r.sync_list_s:.2f}",
                    "",
                    f"{r.sync_ratio:.2f}x the async one",
                ],
                [
                    f"`AsyncUsageClient.iter()`, {r.iter_buckets:,} minute buckets",
                    f"{r.async_iter_s:.2f}",
                    "",
                    "",
                ],
                [
                    "`UsageClient.iter()`, the same",
                    f"{r.sync_iter_s:.2f}",
                    "",
                    f"{r.sync_iter_s / r.async_iter_s:.2f}x the async one",
                ],
                [
                    "`pandas.DataFrame(list(to_rows(buckets)))`",
                    f"{r.pandas_s:.2f}",
                    f"{r.rows:,}",
                    "",
                ],
                [
                    "`to_arrow(buckets)`",
                    f"{r.arrow_s:.2f}",
                    f"{r.rows:,}",
                    f"{r.arrow_speedup:.1f}x faster",
                ],
                [
                    "`to_arrow(buckets).to_pandas()`",
                    f"{r.arrow_pandas_s:.2f}",
                    f"{r.rows:,}",
                    f"{r.pandas_s / r.arrow_pandas_s:.1f}x faster",
                ],
                [
                    "`store.sync()` into SQLite",
                    f"{r.sqlite_sync_s:.2f}",
                    f"{r.sqlite_rows:,}",
                    "",
                ],
                [
                    f"dlt source into DuckDB ({steps})",
                    f"{r.dlt_s:.2f}",
                    f"{r.dlt_rows:,}",
                    f"{r.dlt_s / r.sqlite_sync_s:.2f}x the SQLite sync",
                ],
            ],
        ),
        "",
    ]
    return lines, r


def directory_label(listing: Listing) -> str:
    return f"{listing.ours.projects:,} projects and {listing.ours.api_keys:,} keys"


def year(days: int) -> str:
    return "a year" if days == 365 else f"{days} days"


def measure_store(days: int, repeat: int) -> tuple[list[str], store.Result]:
    with emulator_process(latency_ms=SYNC_LATENCY_MS) as base_url:
        r = store.measure(base_url, days, repeat)
    print("  measured: store under several hands", file=sys.stderr)
    body = [
        ["one sync alone, into a fresh file", f"{r.one_s:.2f}", ""],
        [
            "two started together on one file, until both end",
            f"{r.two_s:.2f}",
            f"{r.two_s / r.one_s:.2f}x one (rows: {r.two_rows[0]:,}, then {r.two_rows[1]:,})",
        ],
        [f"`summary --store`, {year(r.days)}, idle store", f"{r.summary_idle_s:.3f}", ""],
        [
            f"`summary --store`, {year(r.days)}, while another process syncs into it",
            f"{r.summary_busy_s:.3f}",
            f"{r.summary_busy_s / r.summary_idle_s:.2f}x idle",
        ],
        [
            "`store.coverage()`, the same store",
            f"{r.coverage_s:.4f}",
            f"{r.coverage_s / r.summary_idle_s:.4f}x `summary --store`",
        ],
    ]
    lines = [
        f"### The store under several hands, {SYNC_LATENCY_MS:g} ms latency",
        "",
        f"Two `store.sync()` of {year(r.days)} of hourly completions by model and project, "
        "each with its own client, started together on one SQLite file: the second waits "
        "for the first (the store's lock), then fetches only the overlap. `summary --store` "
        "runs the command's own code in this process on a store of every endpoint, daily, "
        f"grouped `auto`, over {year(r.days)}; busy, another process backfills a year of "
        "three hourly endpoints into the same file meanwhile "
        f"({r.busy_reads} summaries, all during it). Medians of {r.runs} runs.",
        "",
        *table(["what", "seconds", "ratio"], body),
        "",
    ]
    return lines, r


def measure_budget(days: int, repeat: int) -> tuple[list[str], budget.Result]:
    with emulator_process(latency_ms=0) as base_url:
        r = budget.measure(base_url, days, repeat)
    print("  measured: forecast and budget", file=sys.stderr)
    body = [
        ["`store.forecast()`", f"{r.forecast_s * 1000:.2f} ms", ""],
        [
            "the bare SQL it needs (a fresh read-only connection, one query)",
            f"{r.sql_s * 1000:.2f} ms",
            f"{r.forecast_s / r.sql_s:.2f}x",
        ],
        ["`openai-usage budget --store` (a whole process)", f"{r.budget_s:.2f} s", ""],
        ["`openai-usage --version` (start-up alone)", f"{r.version_s:.2f} s", ""],
    ]
    lines = [
        f"### The forecast, on {year(r.days)} of costs ({r.rows:,} rows, grouped `auto`)",
        "",
        "`store.forecast()` reads this month and the 7 days before it through the store's "
        "read side (a read-only connection, its bookkeeping, one aggregate query, the "
        "covered days) and computes the organization's, each project's and each key's "
        "forecast; the baseline runs only that aggregate query. Medians of "
        f"{r.runs} runs, interleaved; the processes, of 3.",
        "",
        *table(["what", "time", "ratio"], body),
        "",
    ]
    return lines, r


def measure_serve(
    long_days: int, repeat: int, requests: int, soak_cycles: int
) -> tuple[list[str], serve.Result]:
    with emulator_process(latency_ms=0) as base_url:
        r = serve.measure(base_url, long_days, 30, requests, soak_cycles)
    print("  measured: serve", file=sys.stderr)
    body = [
        [
            f"`{p}`",
            f"{r.sizes[p]:,}",
            f"{r.p50_long[p] * 1000:.3f}",
            f"{r.p50_short[p] * 1000:.3f}",
            f"{r.p50_static[p] * 1000:.3f}",
            f"{r.p50_long[p] / r.p50_short[p]:.2f}x",
            f"{r.p50_long[p] / r.p50_static[p]:.2f}x",
        ]
        for p in serve.PATHS
    ]
    quiet = ", ".join(f"{e} {n}" for e, n in sorted(r.quiet_requests.items()))
    lines = [
        f"### `serve`: {year(r.long_days)} against {r.short_days} days",
        "",
        "`create_app` on a store of every endpoint (daily, grouped `auto`) over "
        f"{year(r.long_days)} and over {r.short_days} days, and a static aiohttp handler "
        "answering bytes of the same size, all three up at once in this process; each "
        f"path's {r.requests} requests interleaved over keep-alive connections; median "
        "latency in ms.",
        "",
        *table(
            [
                "path",
                "bytes",
                f"{year(r.long_days)}",
                f"{r.short_days} days",
                "static",
                "long / short",
                "long / static",
            ],
            body,
        ),
        "",
        f"A sync cycle with nothing new sent, per endpoint: {quiet}.",
        "",
    ]
    if r.rss_kib:
        kib = [k for _, k in r.rss_kib]
        warm = [k for c, k in r.rss_kib if c >= 30]
        lines += [
            f"`openai-usage serve --every 0.2s` against the emulator with 5% random faults "
            f"(500s, dropped connections), {r.soak_cycles} sync cycles in "
            f"{r.soak_seconds:.0f} s: RSS from {kib[0] / 1024:.1f} to {kib[-1] / 1024:.1f} "
            f"MiB, {min(warm) / 1024:.1f} to {max(warm) / 1024:.1f} MiB after 30 cycles; "
            f"exit code {r.soak_exit} on SIGTERM; tables differing from the service at the "
            f"end: {', '.join(r.soak_mismatched) or 'none'}.",
            "",
            "![serve's RSS over the soak](benchmarks-serve.png)",
            "",
        ]
    return lines, r


def serve_chart(r: serve.Result, path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, ax = plt.subplots(figsize=(7, 3))
    ax.plot([c for c, _ in r.rss_kib], [k / 1024 for _, k in r.rss_kib], "-", lw=1)
    ax.set_xlabel("sync cycle")
    ax.set_ylabel("RSS, MiB")
    ax.set_title("openai-usage serve, --every 0.2s, 5% faults", fontsize=9)
    low = min(k for _, k in r.rss_kib) / 1024
    ax.set_ylim(low - 5, low + 15)
    ax.grid(True, alpha=0.3)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def measure_sync(days: int, repeat: int, memory_spans: list[int]) -> tuple[list[str], Sync]:
    with emulator_process(latency_ms=SYNC_LATENCY_MS) as base_url:
        f = sync.measure(base_url, days, repeat)
    print("  measured: sync", file=sys.stderr)
    with emulator_process(latency_ms=0, cache_mb=1) as base_url:
        rss = {d: sync.peak_rss_mb(base_url, d) for d in memory_spans}
    body = []
    for label, seconds, rows, runs in (
        ("floor A: `completions.list()`, the fetch alone", f.fetch_s, f.rows, f.runs),
        (
            "floor B: bare `executemany` into an empty SQLite table, one transaction",
            f.insert_s,
            f.rows,
            f.runs,
        ),
        ("openai_usage_async `store.sync()` into SQLite", f.sqlite_s, f.sqlite_rows, f.runs),
        ("openai_usage_async `store.sync()` into DuckDB", f.duckdb_s, f.duckdb_rows, f.runs),
        (
            "official SDK, `next_page` loop, `executemany` a page into SQLite",
            f.sdk_s,
            f.sdk_rows,
            f.sdk_runs,
        ),
    ):
        body.append(
            [
                label,
                f"{seconds:.2f}",
                f"{rows:,}",
                f"{rows / seconds:,.0f}",
                f"{seconds / f.floor_s:.2f}x",
                str(runs),
            ]
        )
    memory_body = [
        [
            f"{d} days ({d * 1440:,} buckets)",
            f"{rows:,}",
            f"{seconds:.2f}",
            f"{mib:.0f}",
        ]
        for d, (mib, rows, seconds) in rss.items()
    ]
    lines = [
        f"### Syncing {year(days)} of hourly completions by model and project, "
        f"{SYNC_LATENCY_MS:g} ms latency",
        "",
        f"`store.sync()` of {f.rows:,} rows into a fresh file each run, at the client's "
        "defaults, against its floors: the fetch alone (`list()` of the same range) and "
        "SQLite alone (the same rows, built beforehand, inserted with `executemany` into "
        "a table of the same columns, no index, the store's pragmas). The SDK's loop "
        "builds each page's rows with `getattr` over the same columns and commits a page "
        f"at a time. Median of the runs shown. Re-sync with nothing new (same store, same "
        f"arguments without `start_time`, a fresh client, timed from opening the store): "
        f"{f.resync_requests} request(s), {f.resync_s:.3f} s.",
        "",
        *table(["what", "seconds", "rows", "rows/s", "vs the larger floor", "runs (median)"], body),
        "",
        "Peak RSS (VmHWM) of a fresh process syncing ungrouped `1m` embeddings into a fresh "
        "SQLite file, zero latency:",
        "",
        *table(["range", "rows written", "seconds", "peak RSS, MiB"], memory_body),
        "",
    ]
    return lines, Sync(f, rss)


def chart(results: list[Backfill], path: pathlib.Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    latencies = sorted({r.latency_ms for r in results})
    scenarios = list(dict.fromkeys(r.scenario for r in results))
    fig, axes = plt.subplots(
        len(latencies),
        len(scenarios),
        figsize=(4.2 * len(scenarios), 3.6 * len(latencies)),
        squeeze=False,
    )
    for i, latency_ms in enumerate(latencies):
        for j, scenario in enumerate(scenarios):
            ax = axes[i][j]
            mine = [r for r in results if r.latency_ms == latency_ms and r.scenario == scenario]
            ours = [r for r in mine if r.client == "ours"]
            xs = [r.concurrency for r in ours]
            ax.plot(xs, [r.seconds for r in ours], "o-", label="openai_usage_async")
            ax.plot(xs, [scenario.floor_s(c, latency_ms / 1000) for c in xs], "k--", label="floor")
            bare = next(r for r in mine if r.client == "bare")
            ax.plot([bare.concurrency], [bare.seconds], "kx", label="aiohttp, bytes only")
            for client, style, label in (
                ("sdk", "r-", "official SDK (sequential)"),
                ("plain", "g:", "aiohttp + json (sequential)"),
            ):
                value = next(r.seconds for r in mine if r.client == client)
                ax.axhline(value, color=style[0], linestyle=style[1:], label=label)
            ax.set_xscale("log", base=2)
            ax.set_yscale("log")
            ax.set_xticks(xs, [str(x) for x in xs])
            ax.set_title(f"{scenario.name}\n{latency_ms:g} ms latency", fontsize=9)
            ax.set_xlabel("max_concurrency")
            ax.set_ylabel("seconds")
            ax.grid(True, which="both", alpha=0.3)
    axes[0][0].legend(fontsize=7)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def targets(
    results: list[Backfill],
    decode_ratios: dict[str, float],
    peaks: dict[tuple[int, str], float],
    first: dict[int, FirstBucket] | None = None,
    storms: list[Storm] | None = None,
    synced: Sync | None = None,
    listing: Listing | None = None,
    beyond: outside.Result | None = None,
    held: store.Result | None = None,
    forecasted: budget.Result | None = None,
    served: serve.Result | None = None,
) -> list[str]:
    rows = []
    for latency_ms in sorted({r.latency_ms for r in results}):

        def pick(
            scenario: backfill.Scenario, client: str, c: int, latency_ms: float = latency_ms
        ) -> Backfill:
            return next(
                r
                for r in results
                if r.latency_ms == latency_ms
                and r.scenario == scenario
                and r.client == client
                and r.concurrency == c
            )

        for scenario in (backfill.YEAR_HOURLY, backfill.MONTH_MINUTES, backfill.ALL_ENDPOINTS):
            if any(r.scenario == scenario for r in results):
                r = pick(scenario, "ours", 8)
                floor = scenario.floor_s(8, latency_ms / 1000)
                ratio = r.seconds / floor
                bare = pick(scenario, "bare", 8).seconds / floor
                rows.append(
                    [
                        f"{scenario.name}, {latency_ms:g} ms, concurrency 8",
                        "within 1.25x of the floor",
                        f"{ratio:.3f}x (bare concurrent aiohttp, no decoding: {bare:.3f}x)",
                        "yes" if ratio <= 1.25 else "**no**",
                    ]
                )
        if any(r.scenario == backfill.YEAR_HOURLY_GROUPED for r in results):
            speedup = (
                pick(backfill.YEAR_HOURLY_GROUPED, "sdk", 1).seconds
                / pick(backfill.YEAR_HOURLY_GROUPED, "ours", 8).seconds
            )
            rows.append(
                [
                    f"{backfill.YEAR_HOURLY_GROUPED.name}, {latency_ms:g} ms, concurrency 8",
                    ">= 15x faster than the SDK",
                    f"{speedup:.1f}x",
                    "yes" if speedup >= 15 else "**no**",
                ]
            )
    sdk = decode_ratios.get("official SDK models")
    if sdk:
        rows.append(
            [
                "decoding a grouped hourly page",
                ">= 30x faster than the SDK's models",
                f"{sdk:.1f}x",
                "yes" if sdk >= 30 else "**no**",
            ]
        )
    orj = decode_ratios.get("orjson.loads (dicts)")
    if orj:
        rows.append(
            [
                "decoding a grouped hourly page",
                ">= 2.5x faster than orjson.loads",
                f"{orj:.1f}x",
                "yes" if orj >= 2.5 else "**no**",
            ]
        )
    spans = sorted({d for d, _ in peaks})
    if len(spans) == 2:
        small, large = (peaks[(d, "iter")] for d in spans)
        growth = large / small
        rows.append(
            [
                f"`iter()` memory, {spans[0]} to {spans[1]} days",
                "flat as the range grows",
                f"{small:.0f} to {large:.0f} MiB ({growth:.2f}x)",
                "yes" if growth <= 1.15 else "**no**",
            ]
        )
    if first and len(first) == 2:
        short, long = (first[d] for d in sorted(first))
        span = f"{short.days} vs {long.days} days of 1m, limit {first_bucket.LIMIT}"
        for what, a, b, unit in (
            ("time to first bucket", short.seconds * 1000, long.seconds * 1000, "ms"),
            (
                f"peak RSS reading the first {first_bucket.READ} buckets",
                short.rss_mb,
                long.rss_mb,
                "MiB",
            ),
        ):
            rows.append(
                [
                    f"{what}, {span}",
                    "flat (within 1.25x)",
                    f"{a:.1f} to {b:.1f} {unit} ({b / a:.2f}x)",
                    "yes" if b / a <= 1.25 else "**no**",
                ]
            )
    for st in storms or []:
        ratio = st.ours.seconds / st.sdk.seconds
        same = st.ours.starts == st.sdk.starts
        rows.append(
            [
                f"429 storm, {st.in_flight} in flight: wall time vs the SDK's loop",
                "no slower than the SDK (<= 1.0x), same buckets",
                f"{st.ours.seconds:.2f} vs {st.sdk.seconds:.2f} s ({ratio:.3f}x); "
                f"{st.ours.requests} vs {st.sdk.requests} requests; "
                f"{st.ours.buckets} vs {st.sdk.buckets} buckets",
                "yes" if ratio <= 1.0 and same else "**no**",
            ]
        )
    if synced is not None:
        f = synced.figures
        what = f"sync {year(f.days)} of hourly completions by model and project"
        ratio = f.sqlite_s / f.floor_s
        rows.append(
            [
                f"{what} into SQLite",
                "within 1.5x of the larger floor (list(), bare executemany)",
                f"{f.sqlite_s:.2f} s vs max({f.fetch_s:.2f}, {f.insert_s:.2f}) s "
                f"({ratio:.2f}x); {f.sqlite_rows / f.sqlite_s:,.0f} rows/s",
                "yes" if ratio <= 1.5 and f.sqlite_rows == f.rows else "**no**",
            ]
        )
        ratio = f.duckdb_s / f.sqlite_s
        rows.append(
            [
                f"{what} into DuckDB",
                "no slower than SQLite",
                f"{f.duckdb_s:.2f} vs {f.sqlite_s:.2f} s ({ratio:.2f}x); "
                f"{f.duckdb_rows / f.duckdb_s:,.0f} rows/s",
                "yes" if ratio <= 1.0 and f.duckdb_rows == f.rows else "**no**",
            ]
        )
        speedup = f.sdk_s / f.sqlite_s
        rows.append(
            [
                f"{what} against the SDK's next_page loop writing to SQLite",
                ">= 8x faster",
                f"{speedup:.1f}x ({f.sdk_s:.2f} vs {f.sqlite_s:.2f} s; "
                f"{f.sdk_rows:,} vs {f.sqlite_rows:,} rows)",
                "yes" if speedup >= 8 and f.sdk_rows == f.sqlite_rows else "**no**",
            ]
        )
        rows.append(
            [
                "re-sync with nothing new",
                "<= 2 requests per endpoint-width, < 1 s",
                f"{f.resync_requests} request(s), {f.resync_s:.3f} s",
                "yes" if f.resync_requests <= 2 and f.resync_s < 1 else "**no**",
            ]
        )
        if len(synced.rss) == 2:
            (few, (a, _, _)), (many, (b, _, _)) = sorted(synced.rss.items())
            rows.append(
                [
                    f"peak RSS syncing {few} vs {many} days of 1m embeddings",
                    "flat (within 1.25x)",
                    f"{a:.0f} to {b:.0f} MiB ({b / a:.2f}x)",
                    "yes" if b / a <= 1.25 else "**no**",
                ]
            )
    if held is not None:
        h = held
        rows.append(
            [
                f"two syncs of {year(h.days)} started together on one store",
                "<= 1.2x the wall time of one",
                f"{h.two_s:.2f} vs {h.one_s:.2f} s ({h.two_s / h.one_s:.2f}x)",
                "yes" if h.two_s / h.one_s <= 1.2 else "**no**",
            ]
        )
        rows.append(
            [
                f"`summary --store` on {year(h.days)} while a sync writes the store",
                "<= 2x the same on an idle store",
                f"{h.summary_busy_s:.3f} vs {h.summary_idle_s:.3f} s "
                f"({h.summary_busy_s / h.summary_idle_s:.2f}x)",
                "yes" if h.summary_busy_s / h.summary_idle_s <= 2 else "**no**",
            ]
        )
        rows.append(
            [
                "`store.coverage()` against `summary --store`",
                "<= a tenth of its time",
                f"{h.coverage_s * 1000:.1f} vs {h.summary_idle_s * 1000:.0f} ms "
                f"({h.coverage_s / h.summary_idle_s:.4f}x)",
                "yes" if h.coverage_s / h.summary_idle_s <= 0.1 else "**no**",
            ]
        )
    if forecasted is not None:
        f = forecasted
        rows.append(
            [
                f"`store.forecast()` on {year(f.days)} of costs",
                "<= 1.5x the bare SQL it needs",
                f"{f.forecast_s * 1000:.2f} vs {f.sql_s * 1000:.2f} ms "
                f"({f.forecast_s / f.sql_s:.2f}x)",
                "yes" if f.forecast_s / f.sql_s <= 1.5 else "**no**",
            ]
        )
        rows.append(
            [
                "`budget --store` as a process, beside `openai-usage --version`",
                "reported",
                f"{f.budget_s:.2f} vs {f.version_s:.2f} s",
                "yes",
            ]
        )
    if served is not None:
        for p in serve.PATHS:
            a, b, c = served.p50_long[p], served.p50_short[p], served.p50_static[p]
            rows.append(
                [
                    f"serve `{p}`, {year(served.long_days)} vs {served.short_days} days; "
                    "vs static bytes",
                    "p50 <= 1.2x; <= 2x",
                    f"{a / b:.2f}x; {a / c:.2f}x",
                    "yes" if a / b <= 1.2 and a / c <= 2 else "**no**",
                ]
            )
        worst = max(served.quiet_requests.values(), default=0)
        rows.append(
            [
                "serve: a sync cycle with nothing new",
                "<= 2 requests per table",
                f"at most {worst} per endpoint",
                "yes" if worst <= 2 else "**no**",
            ]
        )
        if served.rss_kib:
            warm = [k for c, k in served.rss_kib if c >= 30]
            spread = (max(warm) - min(warm)) / 1024
            rows.append(
                [
                    f"serve's RSS over a {served.soak_cycles}-cycle soak, 5% faults",
                    "flat after warm-up (within 5 MiB); store equals the service",
                    f"{spread:.2f} MiB after 30 cycles; mismatched tables: "
                    f"{len(served.soak_mismatched)}; exit {served.soak_exit}",
                    "yes"
                    if spread <= 5 and not served.soak_mismatched and served.soak_exit == 0
                    else "**no**",
                ]
            )
    if listing is not None:
        same = listing.ours.counts == listing.sdk.counts
        o, s = listing.ours, listing.sdk
        rows.append(
            [
                f"the directory of {directory_label(listing)}, {listing.latency_ms:g} ms",
                ">= 5x faster than the SDK's loops, the same counts",
                f"{listing.speedup:.1f}x ({s.seconds:.2f} vs {o.seconds:.2f} s; "
                f"{o.requests} vs {s.requests} requests; counts "
                f"{'equal' if same else f'differ: {o.counts} vs {s.counts}'})",
                "yes" if listing.speedup >= 5 and same else "**no**",
            ]
        )
    if beyond is not None:
        r = beyond
        rows.append(
            [
                f"`UsageClient.list()` vs `AsyncUsageClient.list()`, {year(r.days)} grouped",
                "within 1.1x",
                f"{r.sync_ratio:.2f}x ({r.sync_list_s:.2f} vs {r.async_list_s:.2f} s)",
                "yes" if r.sync_ratio <= 1.1 else "**no**",
            ]
        )
        rows.append(
            [
                f"`to_arrow` vs `pandas.DataFrame(list(to_rows(...)))`, {r.rows:,} rows",
                ">= 3x faster",
                f"{r.arrow_speedup:.1f}x ({r.pandas_s:.2f} vs {r.arrow_s:.2f} s)",
                "yes" if r.arrow_speedup >= 3 else "**no**",
            ]
        )
        rows.append(
            [
                "dlt source into DuckDB vs `store.sync()` into SQLite, the same range",
                "reported",
                f"{r.dlt_s:.2f} vs {r.sqlite_sync_s:.2f} s ({r.dlt_rows:,} vs "
                f"{r.sqlite_rows:,} rows)",
                "yes" if r.dlt_rows == r.sqlite_rows == r.rows else "**no**",
            ]
        )
    return ["## Targets", "", *table(["measure", "target", "measured", "met"], rows), ""]


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m benchmarks",
        description=__doc__,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument(
        "--quick", action="store_true", help="50 ms only, fewer repeats and smaller memory runs"
    )
    parser.add_argument(
        "--repeat", type=int, default=3, help="runs per measurement (median; default 3)"
    )
    parser.add_argument(
        "--write", action="store_true", help="write docs/benchmarks.md and docs/benchmarks.png"
    )
    args = parser.parse_args(argv)
    started = time.perf_counter()
    latencies = [50.0] if args.quick else [50.0, 200.0]
    repeat = 1 if args.quick else args.repeat
    print("decode ...", file=sys.stderr)
    decode_lines, decode_ratios = measure_decode(40 if not args.quick else 10)
    print("backfill ...", file=sys.stderr)
    results = measure_backfill(latencies, repeat, backfill.SCENARIOS)
    print("overhead ...", file=sys.stderr)
    overhead_lines, _ = measure_overhead(300 if not args.quick else 100)
    print("memory ...", file=sys.stderr)
    memory_lines, peaks = measure_memory([30, 120] if args.quick else [90, 365])
    print("first bucket ...", file=sys.stderr)
    first_lines, first = measure_first_bucket([1, 365], 5 if args.quick else 5 * repeat)
    print("429 storm ...", file=sys.stderr)
    storm_lines, storms = measure_storm(10, repeat)
    print("sync ...", file=sys.stderr)
    sync_lines, synced = measure_sync(
        90 if args.quick else 365, repeat, [30, 120] if args.quick else [30, 365]
    )
    print("store under several hands ...", file=sys.stderr)
    store_lines, held = measure_store(90 if args.quick else 365, repeat)
    print("forecast and budget ...", file=sys.stderr)
    budget_lines, forecasted = measure_budget(90 if args.quick else 365, repeat)
    print("serve ...", file=sys.stderr)
    serve_lines, served = measure_serve(
        90 if args.quick else 365, repeat, 100 if args.quick else 300, 60 if args.quick else 300
    )
    print("directory ...", file=sys.stderr)
    directory_lines, listing = measure_directory(DIRECTORY_SIZE, DIRECTORY_LATENCY_MS, repeat)
    print("outside an event loop ...", file=sys.stderr)
    outside_lines, beyond = measure_outside(90 if args.quick else 365, repeat)
    elapsed = time.perf_counter() - started
    command = "python -m benchmarks" + (" --quick" if args.quick else "") + " --write"
    lines = [
        "# Benchmarks",
        "",
        f"Generated by `{command}` in {elapsed / 60:.1f} minutes on {os.cpu_count()} cores, "
        f"Python {platform.python_version()} ({platform.machine()}). The emulator runs in "
        "its own process with the latency shown; every ratio compares figures from this "
        "one run. The floor is `ceil(pages / concurrency) x latency`, one round trip per "
        "window of the endpoint's maximum page size: no client can beat it.",
        "",
        *targets(
            results,
            decode_ratios,
            peaks,
            first,
            storms,
            synced,
            listing,
            beyond,
            held,
            forecasted,
            served,
        ),
        "![Backfill wall time against max_concurrency](benchmarks.png)",
        "",
        "What limits the figures (profiled with cProfile and a per-request timeline):",
        "",
        "- Ungrouped pages are latency-bound. What a round adds to the latency is mostly",
        "  the emulator's own work: single-threaded Python on the same two cores, it answers",
        "  each 0.33 MB minute page 5 to 10 ms late when eight arrive at once. A bare aiohttp",
        "  client fetching the same windows concurrently and decoding nothing (the x in the",
        "  chart; the parenthesis in the targets) shows that ceiling: about 1.2x the floor",
        "  for minute pages at 50 ms. Ours adds its request path (about 0.6 ms a request)",
        "  and decoding (0.5 ms a page) on top, and lands near the 1.25x line at 50 ms, well",
        "  inside it at 200 ms.",
        "- Grouped pages (5.4 MB) are CPU-bound on two cores: about 6 ms to decode and as",
        "  much again to move each page through loopback and aiohttp, on both sides. Past",
        "  concurrency 8 there is no core left to use, so 16 is no faster; the SDK spends",
        "  about 260 ms of CPU per page building pydantic models.",
        "- The SQLite sync is CPU-bound in one process: its wall time is its CPU time. The",
        "  writer thread binds the rows in `executemany` (the floor binds all 26 columns; the",
        "  store leaves out the group columns a table is not grouped by, NULL in every row: 21",
        "  here) and commits; it also builds the rows from the Structs, so the event loop only",
        "  fetches and decodes (0.3 s) and never stalls on row work. Both threads hold the GIL",
        "  in turn. Building the index once after the first load, one composite index, and the",
        "  rows off the loop took it from about 3x the floor to about 1.5x; feeding SQLite JSON",
        "  through `json_each` to skip the binding was 3.5x slower. DuckDB pays about what",
        "  binding costs to turn Python rows into Arrow columns, and opens its file per sync.",
        "- The dlt source's time is mostly dlt's extract step: the client's thread fetches and",
        "  decodes pages while the resource turns them into Arrow tables (about 0.8 s for the",
        "  grouped year) and dlt writes them as Parquet files (about 0.25 s), all under one GIL;",
        "  then the load step merges them into DuckDB (delete-insert on `start_time`, about",
        "  0.6 s). Its normalize step costs almost nothing because it gets Arrow tables, not",
        "  rows. The store writes rows straight into its file, so it needs no staging files.",
        "- `UsageClient.list()` adds one wait on the client's thread to the async call: noise",
        "  at this size. `to_arrow` hands Arrow one struct array of field tuples and lets it",
        "  split the columns in C++; pandas builds a DataFrame from 400,000 dicts in Python.",
        "",
        "## Measurements",
        "",
        *backfill_lines(results),
        *decode_lines,
        *overhead_lines,
        *memory_lines,
        *first_lines,
        *storm_lines,
        *sync_lines,
        *store_lines,
        *budget_lines,
        *serve_lines,
        *directory_lines,
        *outside_lines,
    ]
    text = "\n".join(lines) + "\n"
    sys.stdout.write(text)
    if args.write:
        (DOCS / "benchmarks.md").write_text(text)
        chart(results, DOCS / "benchmarks.png")
        serve_chart(served, DOCS / "benchmarks-serve.png")
    return 0


if __name__ == "__main__":
    sys.exit(main())
