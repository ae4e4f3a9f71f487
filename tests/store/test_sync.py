"""store.sync against the emulator over loopback, in SQLite and in DuckDB."""

from __future__ import annotations

import asyncio
import datetime as dt
import pathlib
import re
import time
from typing import Any
from unittest import mock

import anyio
import msgspec
import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator, Fault
from openai_usage_async.forecast import forecast_month
from openai_usage_async.store import Store, StoreError, open_store
from openai_usage_async.store._schema import schema_for
from openai_usage_async.store._sqlite import SQLiteBackend
from openai_usage_async.store._sync import _auto_group_by
from tests.helpers import DAY, NOW
from tests.store.conftest import insert_rows, ordered, query, table_rows

TODAY = NOW // DAY * DAY
T0 = TODAY - 10 * DAY  # ten whole days, then the partial day up to NOW
SETTLED = TODAY - 2 * DAY  # a sync at NOW re-fetches from here next time (overlap 2 days)


async def expected(client: AsyncUsageClient, name: str, start: int, end: int) -> list[tuple]:
    schema = schema_for(name, "1d")
    buckets = await getattr(client.usage, name).list(
        start_time=start, end_time=end, group_by=list(_auto_group_by(name))
    )
    return ordered(list(schema.rows(buckets)))


async def test_a_full_sync_equals_list_row_for_row(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    report = await store.sync(client, start_time=T0)
    assert set(report.endpoints) == set(ENDPOINTS)
    for name in ENDPOINTS:
        want = await expected(client, name, T0, NOW)
        got = await table_rows(store, schema_for(name, "1d"))
        assert got == want, name
        assert report.endpoints[name].rows_written == len(want)
        assert report.endpoints[name].buckets_written == 11  # 10 days and the partial one
        assert report.endpoints[name].buckets_replaced == 0
    # Sums over a table equal the service's ungrouped totals.
    totals = await client.usage.completions.list(start_time=T0, end_time=NOW)
    [(tokens,)] = await query(store, 'SELECT SUM(input_tokens) FROM "completions_1d"')
    assert tokens == sum(r.input_tokens for b in totals for r in b.results)
    costs = await client.usage.costs.list(start_time=T0, end_time=NOW)
    [(amount,)] = await query(store, 'SELECT SUM(amount_value) FROM "costs_1d"')
    assert amount == pytest.approx(sum(r.amount.value for b in costs for r in b.results))


async def test_a_resync_with_nothing_new_fetches_only_the_overlap(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, start_time=T0, endpoints=["costs", "completions"])
    before = await table_rows(store, schema_for("completions", "1d"))
    had = {
        name: {r[0] for r in await table_rows(store, schema_for(name, "1d")) if r[0] >= SETTLED}
        for name in ("costs", "completions")
    }
    emulator.reset_statistics()
    report = await store.sync(client, endpoints=["costs", "completions"])
    for name in ("costs", "completions"):
        r = report.endpoints[name]
        assert r.requests >= 1 and r.requests <= 2 and r.windows_fetched == 1
        assert r.buckets_written == 3  # from NOW - 2 days, aligned down, to NOW
        assert r.buckets_replaced == len(had[name])
    usage = emulator.statistics().requests_by_endpoint
    assert sum(n for e, n in usage.items() if e in ENDPOINTS) == report.requests
    assert await table_rows(store, schema_for("completions", "1d")) == before


async def test_an_incremental_sync_adds_replaces_and_touches_nothing_else(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, start_time=T0, endpoints=["completions"])
    schema = schema_for("completions", "1d")
    first = await table_rows(store, schema)
    old = [r for r in first if r[0] < SETTLED]
    had = {r[0] for r in first if r[0] >= SETTLED}
    # A group that vanished upstream, in the overlap: the re-fetch must remove it.
    stray = (TODAY - DAY, TODAY, "proj_gone") + (None,) * (len(schema.columns) - 3)
    await insert_rows(store, schema, [stray])
    emulator.now = NOW + DAY + 3600
    emulator.revise()
    report = await store.sync(client, endpoints=["completions"])
    got = await table_rows(store, schema)
    assert got == await expected(client, "completions", T0, NOW + DAY + 3600)
    assert all(r[2] != "proj_gone" for r in got)
    assert [r for r in got if r[0] < SETTLED] == old  # settled buckets untouched
    r = report.endpoints["completions"]
    assert r.buckets_written == 4  # 3 in the overlap, 1 new
    assert r.buckets_replaced == len(had | {TODAY - DAY})


async def test_a_first_sync_needs_a_start(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    with pytest.raises(ValueError, match=r"^start_time: costs_1d has never been synced"):
        await store.sync(client, endpoints=["costs", "completions"], start_time=None)
    assert emulator.statistics().requests_total == 0
    # Nothing was created, so the first real sync may choose any grouping.
    report = await store.sync(client, endpoints=["costs"], start_time=T0, group_by=None)
    ungrouped = await client.usage.costs.list(start_time=T0, end_time=NOW)
    assert report.endpoints["costs"].rows_written == sum(len(b.results) for b in ungrouped) > 0


async def test_a_table_keeps_its_grouping(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, start_time=T0, endpoints=["costs"], group_by=["project_id"])
    emulator.reset_statistics()
    with pytest.raises(
        ValueError, match=r"^group_by: costs_1d was first synced grouped by project_id"
    ):
        await store.sync(client, endpoints=["costs"])  # auto: every group
    assert emulator.statistics().requests_total == 0


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"endpoints": ["teleports"]}, r"^endpoints: unknown endpoint 'teleports'"),
        ({"endpoints": "costs"}, r"^endpoints: expected 'all' or a list"),
        ({"bucket_width": "1w"}, r"^bucket_width: '1w'"),
        ({"endpoints": ["costs"], "bucket_width": "1h"}, r"^bucket_width: '1h' is not supported"),
        ({"group_by": ["size"], "endpoints": ["costs"]}, r"^group_by: 'size'"),
        ({"overlap": "2d"}, r"^overlap: expected a timedelta"),
        ({"overlap": dt.timedelta(days=-1)}, r"^overlap: .* is negative"),
        ({"overlap": float("inf")}, r"^overlap: inf is not a number of seconds"),
        ({"overlap": float("nan")}, r"^overlap: nan is not a number of seconds"),
        ({"end_time": T0 - DAY}, r"^end_time: .* is not after start_time"),
    ],
)
async def test_bad_arguments_are_refused_before_any_request(
    emulator: Emulator, client: AsyncUsageClient, store: Store, arguments: dict, match: str
) -> None:
    with pytest.raises(ValueError, match=match):
        await store.sync(client, **{"start_time": T0, **arguments})
    assert emulator.statistics().requests_total == 0


async def test_faults_during_a_sync_lose_and_duplicate_nothing(
    emulator: Emulator, client: AsyncUsageClient, store_path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    clean_path = tmp_path / ("clean" + store_path.suffix)
    async with open_store(clean_path) as clean:
        await clean.sync(client, start_time=T0 - 60 * DAY, endpoints=["costs", "embeddings"])
        want = {n: await table_rows(clean, schema_for(n, "1d")) for n in ("costs", "embeddings")}
    # Faults are checked in order: requests 1-2 get a 500, the 3rd is dropped mid-body, the
    # 4th ends its chain early; and beyond 2 in flight, 429s.
    usage = frozenset({"costs", "embeddings"})
    emulator.faults = [
        Fault(status=500, first=2, endpoints=usage),
        Fault(kind="drop_mid_body", first=1, endpoints=usage),
        Fault(kind="early_end", keep=1, first=1, endpoints=usage),
    ]
    emulator.max_concurrent = 2
    async with open_store(store_path) as store:
        report = await store.sync(
            client, start_time=T0 - 60 * DAY, endpoints=["costs", "embeddings"]
        )
        for name in ("costs", "embeddings"):
            assert await table_rows(store, schema_for(name, "1d")) == want[name]
    assert report.endpoints["costs"].retries + report.endpoints["embeddings"].retries >= 3
    assert all(f.fired == 1 or f.fired == 2 for f in emulator.faults)


async def test_unknown_results_are_counted_not_stored(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    emulator.unknown_tag = True
    report = await store.sync(client, start_time=T0, endpoints=["images"])
    assert report.endpoints["images"].unknown_results == 11  # one per bucket
    got = await table_rows(store, schema_for("images", "1d"))
    assert len(got) == report.endpoints["images"].rows_written > 0


async def test_a_file_that_is_not_a_database(
    client: AsyncUsageClient, store_path: pathlib.Path
) -> None:
    await anyio.Path(store_path).write_bytes(b"this is a spreadsheet, honest\n" * 100)
    with pytest.raises(StoreError, match=f"^{re.escape(str(store_path))}: not an? .*database"):
        async with open_store(store_path):
            pass
    left = await anyio.Path(store_path).read_bytes()
    assert left.startswith(b"this is a spreadsheet")  # left alone


async def test_a_path_that_cannot_be_written(store_path: pathlib.Path) -> None:
    missing = store_path.parent / "no" / "such" / "dir" / store_path.name
    with pytest.raises(StoreError, match=f"^{re.escape(str(missing))}: cannot write the store"):
        async with open_store(missing):
            pass


async def test_read_back_as_buckets(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, start_time=T0, endpoints=["costs"])
    back = await store.buckets("costs", start_time=T0, end_time=NOW, group_by=["line_item"])
    direct = await client.usage.costs.list(start_time=T0, end_time=NOW, group_by="line_item")

    assert [(b.start_time, b.end_time) for b in back] == [
        (b.start_time, b.end_time) for b in direct
    ]
    for a, b in zip(back, direct, strict=True):
        mine = {r.line_item: r.amount.value for r in a.results}
        theirs = {r.line_item: r.amount.value for r in b.results}
        assert mine == pytest.approx(theirs, rel=1e-9)
    with pytest.raises(LookupError, match="sync it first"):
        await store.buckets("images", start_time=T0, end_time=NOW)


async def test_read_back_from_between_boundaries_gives_the_first_bucket_whole(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, start_time=T0, endpoints=["costs"])
    whole = await store.buckets("costs", start_time=T0, end_time=NOW, group_by="project_id")
    later = await store.buckets(
        "costs", start_time=T0 + 5 * 3600, end_time=NOW, group_by="project_id"
    )
    assert later == whole and whole[0].start_time == T0 and whole[0].results
    with pytest.raises(ValueError, match=r"^end_time: .* is not after start_time"):
        await store.buckets("costs", start_time=T0 + DAY, end_time=T0 + 3600)


async def test_a_full_disk_leaves_the_store_as_it_was(
    emulator: Emulator, client: AsyncUsageClient, tmp_path: pathlib.Path
) -> None:
    """SQLite's page limit stands in for a full disk: same error, SQLITE_FULL."""
    async with open_store(tmp_path / "usage.db") as store:
        await store.sync(client, start_time=T0, endpoints=["completions"])
        schema = schema_for("completions", "1d")
        before = await table_rows(store, schema)
        windows = await query(store, "SELECT * FROM _openai_usage_checkpoints")
        [(pages,)] = await query(store, "PRAGMA page_count")
        # The limit is a connection's: the sync's writer sets it as it opens.
        limit = SQLiteBackend.__init__

        def full(self: SQLiteBackend, path: str) -> None:
            limit(self, path)
            self.execute(f"PRAGMA max_page_count = {pages}")

        with mock.patch.object(SQLiteBackend, "__init__", full):
            with pytest.raises(StoreError, match="disk is full"):
                await store.sync(client, start_time=T0 - 300 * DAY, endpoints=["completions"])
        # Nothing half-written: the rows and checkpoints are those of the last good sync.
        assert await table_rows(store, schema) == before
        assert await query(store, "SELECT * FROM _openai_usage_checkpoints") == windows


async def test_sync_keeps_the_directory_tables_for_joins(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    report = await store.sync(client, start_time=T0, endpoints=["costs"])
    d = emulator.org.directory
    assert report.directory_rows == {
        "projects": len(d.projects),
        "users": len(d.users),
        "api_keys": len(d.api_keys),
    }
    joined = await query(
        store,
        'SELECT p.name, SUM(c.amount_value) FROM "costs_1d" c JOIN projects p ON p.id = '
        "c.project_id GROUP BY p.name ORDER BY 2 DESC",
    )
    assert joined and {name for name, _ in joined} <= {p.name for p in d.projects}
    # A key that may not read the directory: the names stay as the last sync left them.
    directory = frozenset({"projects", "users", "project_api_keys", "project_service_accounts"})
    emulator.faults = [Fault(status=403, endpoints=directory)]
    again = await store.sync(client, endpoints=["costs"])
    assert again.directory_rows is None
    assert "directory: not readable with this key" in str(again)
    [(count,)] = await query(store, "SELECT COUNT(*) FROM projects")
    assert count == len(d.projects)


async def test_a_float_end_time_rounds_up_as_the_client_does(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    # end_time = T0 + 1 day + 0.5 s: the bucket starting at T0 + 1 day has begun, so it is
    # in the range, as in client.usage.costs.list(); flooring the end would drop it.
    end = T0 + DAY + 0.5
    report = await store.sync(client, endpoints=["costs"], start_time=T0, end_time=end)
    listed = await client.usage.costs.list(start_time=T0, end_time=end)
    assert report.endpoints["costs"].buckets_written == len(listed) == 2


async def test_sync_snapshots_spend_limits_and_alerts_beside_the_directory(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    report = await store.sync(client, start_time=T0, endpoints=["costs"])
    org = emulator.org.directory
    active = [p.id for p in org.projects if p.status != "archived"]
    want_limits = []
    for project_id in [None, *active]:
        limit = emulator.spend_limit(project_id)
        if limit is not None:
            scope = "organization" if project_id is None else "project"
            state = limit["enforcement"]["status"]
            want_limits.append((scope, project_id, None, limit["threshold_amount"] / 100, state))
    directory = await client.organization.directory()
    for key in directory.api_keys:
        if key.spend_limit is not None:
            state = key.spend_limit.enforcement.status if key.spend_limit.enforcement else None
            want_limits.append(
                ("api_key", key.project_id, key.id, key.spend_limit.threshold_usd, state)
            )
    stored = await query(
        store,
        "SELECT scope, project_id, api_key_id, threshold_usd, enforcement, fetched_at "
        "FROM spend_limits",
    )
    assert sorted((r[:5] for r in stored), key=str) == sorted(want_limits, key=str)
    assert {r[5] for r in stored} == {NOW}
    assert {"enforcing", "inactive"} <= {r[4] for r in stored}
    assert any(r[0] == "api_key" for r in stored)
    want_alerts = sorted(
        (
            "organization" if project_id is None else "project",
            project_id,
            a["id"],
            a["threshold_amount"] / 100,
            msgspec.json.encode(a["notification_channel"]["recipients"]).decode(),
        )
        for project_id in [None, *active]
        for a in emulator.spend_alerts(project_id)
    )
    alerts = await query(
        store, "SELECT scope, project_id, id, threshold_usd, recipients FROM spend_alerts"
    )
    assert sorted(alerts, key=str) == sorted(want_alerts, key=str)
    assert report.spend_rows == {"spend_limits": len(want_limits), "spend_alerts": len(alerts)}
    assert f"spend: {len(want_limits)} limits, {len(alerts)} alerts" in str(report)
    # A key without the scope: what is stored stays, and the sync goes on.
    emulator.spend_forbidden = True
    again = await store.sync(client, endpoints=["costs"])
    assert again.spend_rows is None and again.spend_note is not None
    assert "limits and alerts kept as stored" in str(again)
    assert sorted(await query(store, "SELECT * FROM spend_limits"), key=str) == sorted(
        stored, key=str
    )
    # directory=False: neither the names nor the limits are read.
    emulator.spend_forbidden = False
    emulator.reset_statistics()
    usage_only = await store.sync(client, endpoints=["costs"], directory=False)
    assert usage_only.directory_rows is None and usage_only.spend_rows is None
    assert set(emulator.statistics().requests_by_endpoint) == {"costs"}


async def test_the_forecast_from_the_store_is_the_forecast_of_the_service_buckets(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    month = dt.datetime.fromtimestamp(NOW, dt.UTC).replace(day=1, hour=0, minute=0, second=0)
    start = int(month.timestamp()) - 10 * DAY  # the lookback reaches the previous month
    await store.sync(client, start_time=start, endpoints=["costs"])
    stored = await store.forecast(now=NOW)
    buckets = await client.usage.costs.list(
        start_time=start, end_time=NOW, group_by=list(_auto_group_by("costs"))
    )
    want = forecast_month(buckets, now=NOW)
    assert stored.month_to_date == pytest.approx(want.month_to_date, rel=1e-9)
    assert stored.daily_rate == pytest.approx(want.daily_rate, rel=1e-9)
    assert stored.forecast == pytest.approx(want.forecast, rel=1e-9)
    assert stored.month_to_date > 0 and len(stored.rate_days) == 7
    assert set(stored.projects) == set(want.projects) and len(stored.projects) > 1
    assert set(stored.api_keys) == set(want.api_keys) and len(stored.api_keys) > 1
    for project_id, p in want.projects.items():
        assert stored.projects[project_id].forecast == pytest.approx(p.forecast, rel=1e-9)
    assert (
        stored.threshold(want.forecast).crossing_date == want.threshold(want.forecast).crossing_date
    )


async def test_days_the_store_never_synced_are_left_out_of_the_rate(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    # Two days of the lookback never synced: they are not days of $0.
    await store.sync(
        client, start_time=TODAY - 9 * DAY, end_time=TODAY - 4 * DAY, endpoints=["costs"]
    )
    await store.sync(client, start_time=TODAY - 2 * DAY, endpoints=["costs"])
    stored = await store.forecast(now=NOW)
    assert list(stored.rate_days) == [
        dt.datetime.fromtimestamp(t, dt.UTC).date()
        for t in (TODAY - 7 * DAY, TODAY - 6 * DAY, TODAY - 5 * DAY, TODAY - 2 * DAY, TODAY - DAY)
    ]
    have = [
        b
        for b in await client.usage.costs.list(start_time=TODAY - 9 * DAY, end_time=NOW)
        if not TODAY - 4 * DAY <= b.start_time < TODAY - 2 * DAY
    ]
    assert stored.daily_rate == pytest.approx(forecast_month(have, now=NOW).daily_rate, rel=1e-9)
    async with open_store(store.path + "-none" + pathlib.Path(store.path).suffix) as empty:
        await empty.sync(client, start_time=TODAY - DAY, endpoints=["embeddings"])
        with pytest.raises(LookupError, match=r"costs_1d: not in .*; sync costs first"):
            await empty.forecast(now=NOW)


async def test_a_native_cancel_never_closes_the_writer_under_a_call(
    emulator: Emulator, client: AsyncUsageClient, tmp_path: pathlib.Path
) -> None:
    """``Task.cancel()`` (Ctrl-C in the CLI, an app's shutdown) can end the await of a
    worker thread that still writes: the connection must not be closed under it."""
    events: list[str] = []
    write, close = SQLiteBackend.write, SQLiteBackend.close

    def slow_write(self: SQLiteBackend, batch: Any) -> Any:
        events.append("write start")
        time.sleep(0.3)
        try:
            return write(self, batch)
        finally:
            events.append("write end")

    def logged_close(self: SQLiteBackend) -> None:
        events.append("close")
        close(self)

    with (
        mock.patch.object(SQLiteBackend, "write", slow_write),
        mock.patch.object(SQLiteBackend, "close", logged_close),
    ):
        async with open_store(tmp_path / "usage.db") as store:
            task = asyncio.get_running_loop().create_task(
                store.sync(client, endpoints=["costs"], start_time=T0 - 200 * DAY)
            )
            while "write start" not in events:  # noqa: ASYNC110 (set on a worker thread)
                await asyncio.sleep(0.005)
            task.cancel()
            with pytest.raises(asyncio.CancelledError):
                await task
        for _ in range(100):  # a thread that outlived the task ends on its own
            if "write end" in events:
                break
            await asyncio.sleep(0.01)
    assert events.count("close") == 1
    assert events.index("close") > events.index("write end"), events


async def test_buckets_take_one_group_by_value_as_a_string(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, start_time=T0, endpoints=["costs"])
    one = await store.buckets("costs", start_time=T0, end_time=NOW, group_by="project_id")
    listed = await store.buckets("costs", start_time=T0, end_time=NOW, group_by=["project_id"])
    assert one == listed and any(b.results for b in one)
    assert all(r.project_id is not None and r.line_item is None for b in one for r in b.results)
    with pytest.raises(ValueError, match=r"^group_by: 'size' is not a group_by value of costs"):
        await store.buckets("costs", start_time=T0, end_time=NOW, group_by="size")
