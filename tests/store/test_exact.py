"""The store's promise, against the emulator: every result counted once, whole buckets.

Every test runs with the bucket in progress answered whole and clipped at the service's
clock (the ``emulator`` fixture), in SQLite and in DuckDB (``store_path``).
"""

from __future__ import annotations

import itertools
import logging
import os
import pathlib
import random
from collections.abc import Sequence
from typing import Any

import anyio
import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from openai_usage_async.store import Store, StoreBusyError, StoreError, _lock, _sync, open_store
from openai_usage_async.store._lock import holder
from openai_usage_async.store._plan import Range, merge, subtract
from openai_usage_async.store._read import Reader
from openai_usage_async.store._schema import schema_for
from openai_usage_async.store._sync import _auto_group_by
from tests.helpers import DAY, HOUR, NOW
from tests.store.conftest import ordered, query, table_rows

TODAY = NOW // DAY * DAY
T0 = TODAY - 10 * DAY


async def service_rows(
    client: AsyncUsageClient, name: str, start: int, end: int, width: str = "1d"
) -> list[tuple[Any, ...]]:
    """What the service answers for ``[start, end)`` now, as the store's rows."""
    schema = schema_for(name, width)
    buckets = await getattr(client.usage, name).list(
        start_time=start, end_time=end, bucket_width=width, group_by=list(_auto_group_by(name))
    )
    return ordered(list(schema.rows(buckets)))


async def stored_buckets(store: Store, table: str) -> list[tuple[int, int]]:
    """The stored buckets' (start_time, end_time), in order."""
    rows = await query(store, f'SELECT DISTINCT start_time, end_time FROM "{table}" ORDER BY 1')
    return [(int(s), int(e)) for s, e in rows]


def assert_whole_and_apart(buckets: Sequence[tuple[int, int]], width: int) -> None:
    """Every start on a boundary, at most one end per start, no two buckets overlapping."""
    starts = [s for s, _ in buckets]
    assert len(starts) == len(set(starts)), "a bucket stored in two pieces"
    assert all(s % width == 0 for s in starts), "a start between boundaries"
    for (_, e), (s, _) in itertools.pairwise(buckets):
        assert e <= s, "two stored buckets overlap"


async def test_an_end_between_boundaries_then_a_resync_gives_whole_days(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    # The reproduction: `sync --end <day 7> 12:00`, then `sync --end <today>`.
    await store.sync(client, endpoints=["costs"], start_time=T0, end_time=TODAY - 3 * DAY + 43200)
    clipped = await stored_buckets(store, "costs_1d")
    assert clipped[-1] == (TODAY - 3 * DAY, TODAY - 3 * DAY + 43200)  # stored as answered
    [cov] = await store.coverage()
    assert cov.open_buckets == 1 and cov.end == TODAY - 3 * DAY + 43200
    report = await store.sync(client, endpoints=["costs"], end_time=TODAY)
    assert report.endpoints["costs"].buckets_replaced == 1  # the open day, whole now
    buckets = await stored_buckets(store, "costs_1d")
    assert buckets == [(d, d + DAY) for d in range(T0, TODAY, DAY)]  # 10 days, each once
    assert_whole_and_apart(buckets, DAY)
    assert await table_rows(store, schema_for("costs", "1d")) == await service_rows(
        client, "costs", T0, TODAY
    )
    # Per day, the sums are the service's.
    stored = dict(
        await query(store, 'SELECT start_time, SUM(amount_value) FROM "costs_1d" GROUP BY 1')
    )
    for bucket in await client.usage.costs.list(start_time=T0, end_time=TODAY):
        total = sum(r.amount.value for r in bucket.results)
        assert stored[bucket.start_time] == pytest.approx(total, rel=1e-12)


async def test_the_bucket_in_progress_follows_the_clock(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, endpoints=["completions"], start_time=T0)
    assert (await stored_buckets(store, "completions_1d"))[-1] == (TODAY, NOW)
    for later in (NOW + 5 * HOUR, TODAY + DAY + 2 * HOUR, TODAY + 3 * DAY + HOUR + 1):
        emulator.now = later
        await store.sync(client, endpoints=["completions"])
        buckets = await stored_buckets(store, "completions_1d")
        assert_whole_and_apart(buckets, DAY)
        assert buckets[-1] == (later // DAY * DAY, later)  # the day in progress, clipped
        assert buckets[0] == (T0, T0 + DAY)
        rows = await table_rows(store, schema_for("completions", "1d"))
        assert rows == await service_rows(client, "completions", T0, later)


async def test_revisions_with_an_overlap_edge_between_boundaries_replace_whole_buckets(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    overlap = 36 * HOUR  # its edge falls at 01:20 UTC: between boundaries
    await store.sync(client, endpoints=["embeddings"], start_time=T0, overlap=overlap)
    emulator.now = NOW + DAY + 1800
    emulator.revise(3)  # the recent buckets grow
    await store.sync(client, endpoints=["embeddings"], overlap=overlap)
    buckets = await stored_buckets(store, "embeddings_1d")
    assert_whole_and_apart(buckets, DAY)
    rows = await table_rows(store, schema_for("embeddings", "1d"))
    assert rows == await service_rows(client, "embeddings", T0, emulator.clock())


async def test_two_syncs_at_once_in_one_process_store_what_one_stores(
    emulator: Emulator, client: AsyncUsageClient, store_path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    emulator.latency_ms = 15  # long enough that the two really overlap
    async with open_store(store_path) as a, open_store(store_path) as b:
        async with anyio.create_task_group() as tg:
            for s in (a, a, b):  # two tasks on one Store, a third on another object
                tg.start_soon(lambda s=s: s.sync(client, endpoints=["costs"], start_time=T0))
        rows = await table_rows(a, schema_for("costs", "1d"))
    emulator.latency_ms = 0
    assert rows == await service_rows(client, "costs", T0, NOW)
    keys = [r[:7] for r in rows]  # the bucket, and costs' five group columns
    assert len(keys) == len(set(keys))


async def test_without_waiting_a_busy_store_is_refused_naming_the_holder(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    emulator.latency_ms = 50
    result: dict[str, Any] = {}

    async def first() -> None:
        result["report"] = await store.sync(client, endpoints=["costs"], start_time=T0)

    async with anyio.create_task_group() as tg:
        tg.start_soon(first)
        with anyio.fail_after(10):
            while holder(store.path) != os.getpid():  # noqa: ASYNC110 (another's file lock)
                await anyio.sleep(0.01)
        with pytest.raises(StoreBusyError, match="is syncing this store") as caught:
            await store.sync(client, endpoints=["costs"], start_time=T0, wait=False)
        assert caught.value.pid == os.getpid()
    assert result["report"].endpoints["costs"].rows_written > 0
    emulator.latency_ms = 0
    rows = await table_rows(store, schema_for("costs", "1d"))
    assert rows == await service_rows(client, "costs", T0, NOW)


async def test_a_sync_that_waited_its_turn_reads_the_clock_when_its_turn_comes(
    emulator: Emulator,
    client: AsyncUsageClient,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    await store.sync(client, endpoints=["costs"], start_time=T0)
    caplog.set_level(logging.INFO, logger="openai_usage_async.store")
    async with anyio.create_task_group() as tg:
        async with _lock.hold(store.path, wait=False):  # another sync, a day long
            tg.start_soon(lambda: store.sync(client, endpoints=["costs"]))
            with anyio.fail_after(10):
                while "waiting for" not in caplog.text:  # noqa: ASYNC110 (a log line)
                    await anyio.sleep(0.01)
            emulator.now = NOW + DAY
    [covered] = await store.coverage()
    # Up to the clock when it began its work, not when it began to wait.
    assert covered.end is not None and covered.end >= NOW + DAY
    rows = await table_rows(store, schema_for("costs", "1d"))
    assert rows == await service_rows(client, "costs", T0, NOW + DAY)


def bookkeeping(store: Store, table: str) -> tuple[list[Range], list[Range]]:
    """A table's pending ranges, and what its checkpoints cover."""
    with Reader(store.path) as reader:
        covered = merge((c.start, c.end) for c in reader.table_checkpoints(table))
        return reader.pending().get(table, []), covered


async def test_a_shorter_sync_after_a_stopped_one_leaves_the_rest_queued(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    start, table = TODAY - 120 * DAY, "completions_1h"
    hourly: dict[str, Any] = {"endpoints": ["completions"], "bucket_width": "1h", "group_by": None}
    emulator.latency_ms = 60
    async with anyio.create_task_group() as tg:  # a backfill, stopped midway
        tg.start_soon(lambda: store.sync(client, start_time=start, end_time=TODAY, **hourly))
        with anyio.fail_after(30):
            while store.progress().get("completions", (0, 0))[0] < 2:  # noqa: ASYNC110
                await anyio.sleep(0.005)
        tg.cancel_scope.cancel()
    emulator.latency_ms = 0
    done, planned = store.progress()["completions"]
    assert 2 <= done < planned
    # A sync of the first day only: what the backfill left stays queued, less what any
    # checkpoint now covers.
    await store.sync(client, start_time=start, end_time=start + DAY, **hourly)
    left, covered = await anyio.to_thread.run_sync(bookkeeping, store, table)
    assert left and subtract(left, covered) == left
    assert subtract([(start, TODAY)], [*left, *covered]) == []
    # The next plain sync fetches it: nothing is missing, nothing twice.
    await store.sync(client, end_time=TODAY, **hourly)
    left, covered = await anyio.to_thread.run_sync(bookkeeping, store, table)
    assert left == [] and covered[0][0] == start and covered[-1][1] >= TODAY
    schema = schema_for("completions", "1h")
    completions = client.usage.completions
    answer = await completions.list(start_time=start, end_time=TODAY, bucket_width="1h")
    assert await table_rows(store, schema) == ordered(list(schema.rows(answer)))


async def test_a_sync_waits_a_little_for_a_duckdb_connection_of_this_process(
    emulator: Emulator,
    client: AsyncUsageClient,
    tmp_path: pathlib.Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    """DuckDB refuses a writer while a read-only connection of the same process is open:
    a read of the store's, which ends soon, or the caller's own, which the sync cannot
    see closed: named, after a short wait, rather than waited for forever."""
    duckdb = pytest.importorskip("duckdb", reason="the duckdb extra is not installed")
    path = tmp_path / "usage.duckdb"
    monkeypatch.setattr(_sync, "IN_PROCESS_WAIT_S", 0.3)
    caplog.set_level(logging.INFO, logger="openai_usage_async.store")
    async with open_store(path) as store:
        await store.sync(client, endpoints=["costs"], start_time=T0)
        mine = duckdb.connect(str(path), read_only=True)
        try:
            with pytest.raises(StoreBusyError, match="a connection in this process") as caught:
                await store.sync(client, endpoints=["costs"])
            assert caught.value.pid == os.getpid()
            caplog.clear()
            result: dict[str, Any] = {}

            async def again() -> None:
                result["report"] = await store.sync(client, endpoints=["costs"])

            async with anyio.create_task_group() as tg:
                tg.start_soon(again)
                with anyio.fail_after(10):
                    while "waiting for it" not in caplog.text:  # noqa: ASYNC110 (a log line)
                        await anyio.sleep(0.01)
                mine.close()  # closed while it waits: it goes on
        finally:
            mine.close()
    assert result["report"].waited > 0
    assert result["report"].endpoints["costs"].windows_fetched > 0


def test_a_file_system_without_locks_is_an_error_not_a_wait() -> None:
    from openai_usage_async.store._duckdb import _error

    cause = Exception(
        'IO Error: Could not set lock on file "/mnt/x/usage.duckdb": File locks are not '
        "supported for this file system"
    )
    error = _error("/mnt/x/usage.duckdb", cause)
    assert type(error) is StoreError
    assert str(error).startswith("/mnt/x/usage.duckdb: cannot lock the DuckDB file (")
    busy = _error(
        "usage.duckdb",
        Exception(
            'IO Error: Could not set lock on file "usage.duckdb": Conflicting lock is '
            "held in /usr/bin/python3 (PID 4242) by user root"
        ),
    )
    assert isinstance(busy, StoreBusyError) and busy.pid == 4242
    assert str(busy).startswith("usage.duckdb: process 4242 has this DuckDB store open")


async def test_a_store_named_through_a_symlink_has_the_same_lock(
    emulator: Emulator, client: AsyncUsageClient, store_path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    other = tmp_path / "elsewhere"
    other.mkdir()
    link = other / ("link" + store_path.suffix)
    link.symlink_to(store_path)
    async with _lock.hold(str(store_path), wait=False), open_store(link) as store:
        with pytest.raises(StoreBusyError, match="is syncing this store") as caught:
            await store.sync(client, endpoints=["costs"], start_time=T0, wait=False)
    assert caught.value.pid == os.getpid()
    assert not await anyio.Path(store_path).exists()  # refused before it was opened


async def test_coverage_of_two_ranges_with_a_gap_and_an_open_bucket(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, endpoints=["costs"], start_time=T0 - 20 * DAY, end_time=T0 - 15 * DAY)
    await store.sync(client, endpoints=["costs"], start_time=T0, group_by="auto")
    [cov] = await store.coverage()
    assert cov.table == "costs_1d" and cov.endpoint == "costs" and cov.bucket_width == "1d"
    assert cov.group_by == _auto_group_by("costs")
    assert (cov.start, cov.end) == (T0 - 20 * DAY, NOW)
    assert cov.gaps == ((T0 - 15 * DAY, T0),)
    assert cov.open_buckets == 1  # today, clipped at now
    assert cov.settled_until == TODAY - 2 * DAY  # closed for the 2-day overlap when fetched
    assert cov.last_sync == NOW
    # A plain resume does not fill the gap between the two ranges.
    emulator.reset_statistics()
    await store.sync(client, endpoints=["costs"])
    [after] = await store.coverage()
    assert after.gaps == cov.gaps


async def test_a_refused_first_sync_leaves_no_file_behind(
    emulator: Emulator, client: AsyncUsageClient, store_path: pathlib.Path
) -> None:
    async with open_store(store_path) as store:
        with pytest.raises(ValueError, match=r"^start_time: costs_1d has never been synced"):
            await store.sync(client, endpoints=["costs"])
    assert sorted(os.listdir(store_path.parent)) == []
    assert emulator.statistics().requests_total == 0


@pytest.mark.parametrize("seed", range(4))
async def test_random_syncs_clock_moves_and_revisions_keep_the_promise(
    emulator: Emulator, client: AsyncUsageClient, store: Store, seed: int
) -> None:
    """Random sequences against the emulator: after each sync, every stored bucket starts
    on a boundary, none overlap, each is whole but the one at the sync's end, and every
    bucket up to the sync's end equals the service's answer at that sync."""
    rng = random.Random(seed)
    now = NOW
    first = TODAY - 12 * DAY
    await store.sync(client, endpoints=["costs", "embeddings"], start_time=first, bucket_width="1d")
    for _ in range(6):
        now += rng.choice([0, 600, 3 * HOUR, 20 * HOUR, DAY + 7 * HOUR])
        emulator.now = now
        if rng.random() < 0.5:
            emulator.revise()
        start = None if rng.random() < 0.5 else now // DAY * DAY - rng.randrange(1, 8) * DAY
        end = now if rng.random() < 0.5 else now - rng.randrange(0, 4 * DAY)
        if start is not None and end <= start:
            continue
        if end <= first:
            continue
        overlap = rng.choice([2 * DAY, 30 * HOUR])
        await store.sync(
            client,
            endpoints=["costs", "embeddings"],
            start_time=start,
            end_time=end,
            overlap=overlap,
        )
        for name in ("costs", "embeddings"):
            table = f"{name}_1d"
            buckets = await stored_buckets(store, table)
            assert_whole_and_apart(buckets, DAY)
            for s, e in buckets:
                if e <= end:  # later ones are an earlier sync's, which may have clipped them
                    assert e - s == DAY or e == end, (table, s, e, end, now)
            rows = await table_rows(store, schema_for(name, "1d"))
            upto = [r for r in rows if r[1] <= end]
            lo = min(s for s, _ in buckets)
            want = await service_rows(client, name, lo, max(e for _, e in buckets if e <= end))
            assert upto == [r for r in want if r[1] <= end], (table, seed)
