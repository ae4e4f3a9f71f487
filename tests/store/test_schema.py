"""Schema versions: a store from the previous release migrates, a newer one is refused,
and a table whose columns differ from its record is refused, never filled wrongly."""

from __future__ import annotations

import pathlib
import sqlite3
from typing import Any

import anyio.to_thread
import msgspec
import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async._version import __version__
from openai_usage_async.emulator import Emulator
from openai_usage_async.store import Store, StoreError, open_store
from openai_usage_async.store._migrate import SCHEMA_VERSION, UPGRADE_FUNCTION, UPGRADE_MESSAGE
from openai_usage_async.store._read import Reader
from openai_usage_async.store._schema import schema_for
from openai_usage_async.store._sync import _auto_group_by
from tests.helpers import DAY, NOW
from tests.store.conftest import ordered, query, table_rows, write
from tests.store.test_exact import assert_whole_and_apart, stored_buckets

TODAY = NOW // DAY * DAY
FIXTURES = pathlib.Path(__file__).parent / "fixtures"
#: The range the version 1 fixture holds (see its header).
V1_START, V1_END = TODAY - 6 * DAY, TODAY - DAY


def file_bytes(path: pathlib.Path) -> bytes:
    """The database file's bytes (readers may add SQLite's -wal/-shm beside it)."""
    return path.read_bytes()


def content(path: pathlib.Path) -> list[Any]:
    """Everything a database holds, schema and rows, read without writing."""
    if path.suffix == ".duckdb":
        import duckdb

        with duckdb.connect(str(path), read_only=True) as db:
            names = db.execute(
                "SELECT table_name, sql FROM duckdb_tables() ORDER BY table_name"
            ).fetchall()
            return [
                (n, sql, sorted(map(repr, db.execute(f'SELECT * FROM "{n}"').fetchall())))
                for n, sql in names
            ]
    db = sqlite3.connect(f"file:{path}?mode=ro", uri=True)
    try:
        return list(db.iterdump())
    finally:
        db.close()


def load_v1(path: pathlib.Path) -> None:
    """A store made by 0.1.0, from its SQL text."""
    if path.suffix == ".duckdb":
        import duckdb

        with duckdb.connect(str(path)) as db:
            db.execute((FIXTURES / "store_v1_duckdb.sql").read_text())
        return
    with sqlite3.connect(path) as db:
        db.executescript((FIXTURES / "store_v1_sqlite.sql").read_text())
        db.execute("PRAGMA journal_mode=WAL")  # as 0.1.0 left it
    db.close()


def raw(path: pathlib.Path, sql: str) -> list[tuple[Any, ...]]:
    """A statement as a program that knows nothing of the store runs it (it may write)."""
    if path.suffix == ".duckdb":
        import duckdb

        with duckdb.connect(str(path)) as db:
            return list(db.execute(sql).fetchall())
    db = sqlite3.connect(path, isolation_level=None)
    try:
        return list(db.execute(sql).fetchall())
    finally:
        db.close()


async def truth(client: AsyncUsageClient, name: str, group_by: list[str] | None) -> list[Any]:
    schema = schema_for(name, "1d")
    buckets = await getattr(client.usage, name).list(
        start_time=V1_START, end_time=V1_END, group_by=group_by
    )
    return ordered(list(schema.rows(buckets)))


async def test_a_store_from_the_previous_release_is_read_as_is_then_migrated(
    emulator: Emulator, client: AsyncUsageClient, store_path: pathlib.Path
) -> None:
    load_v1(store_path)
    before = file_bytes(store_path)
    async with open_store(store_path) as store:
        # A reader reads version 1 as it is, and never changes a byte of it.
        covered = {c.table: c for c in await store.coverage()}
        assert covered["costs_1d"].start == V1_START and covered["costs_1d"].end == V1_END
        back = await store.buckets("costs", start_time=V1_START, end_time=V1_END)
        assert sum(len(b.results) for b in back) > 0
        assert file_bytes(store_path) == before
        # The first sync migrates it, in one transaction, and repairs the split day.
        await store.sync(client, endpoints=["costs"], group_by=["project_id"], end_time=V1_END)
        await store.sync(client, endpoints=["completions"], group_by=None, end_time=V1_END)
        assert await table_rows(store, schema_for("costs", "1d")) == await truth(
            client, "costs", ["project_id"]
        )
        assert await table_rows(store, schema_for("completions", "1d")) == await truth(
            client, "completions", None
        )
        for table in ("costs_1d", "completions_1d"):
            buckets = await stored_buckets(store, table)
            assert_whole_and_apart(buckets, DAY)
            assert [s for s, _ in buckets] == list(range(V1_START, V1_END, DAY))
        meta = dict(await query(store, "SELECT key, value FROM _openai_usage_meta"))
        assert meta["schema_version"] == str(SCHEMA_VERSION)
        assert meta["migrated_from"] == "1"
        assert meta["written_by"] == __version__
        names = {p for (p,) in await query(store, "SELECT name FROM projects")}
        assert names  # the directory tables came through


def pending(store: Store) -> dict[str, list[tuple[int, int]]]:
    """What the store has queued for the next sync, per table."""
    with Reader(store.path) as reader:
        return reader.pending()


async def test_days_the_previous_release_stored_twice_are_fetched_again_once(
    emulator: Emulator, client: AsyncUsageClient, store_path: pathlib.Path
) -> None:
    """0.1.0 let two syncs of one store run together, and both inserted the same days;
    the migration takes those out with the split day, and queues them all."""
    load_v1(store_path)
    doubled = V1_START + DAY
    split = TODAY - 3 * DAY  # see the fixture's header
    for table in ("costs_1d", "completions_1d"):
        raw(store_path, f"INSERT INTO {table} SELECT * FROM {table} WHERE start_time = {doubled}")
    queued = [(doubled, doubled + DAY), (split, split + DAY)]
    async with open_store(store_path) as store:
        # A sync of costs that ends before the queued days migrates the store (both
        # tables) and fetches none of them (its range was settled in 0.1.0): they stay
        # queued, in costs_1d past its end as in completions_1d, which it did not sync.
        report = await store.sync(
            client,
            endpoints=["costs"],
            group_by=["project_id"],
            start_time=V1_START,
            end_time=V1_START + DAY,
        )
        assert report.requests == 0
        assert await anyio.to_thread.run_sync(pending, store) == {
            "costs_1d": queued,
            "completions_1d": queued,
        }
        await store.sync(client, endpoints=["costs"], group_by=["project_id"], end_time=V1_END)
        await store.sync(client, endpoints=["completions"], group_by=None, end_time=V1_END)
        assert await anyio.to_thread.run_sync(pending, store) == {}
        assert await table_rows(store, schema_for("costs", "1d")) == await truth(
            client, "costs", ["project_id"]
        )
        assert await table_rows(store, schema_for("completions", "1d")) == await truth(
            client, "completions", None
        )
        for table in ("costs_1d", "completions_1d"):
            assert_whole_and_apart(await stored_buckets(store, table), DAY)


async def test_the_previous_release_meeting_a_migrated_store_fails_before_writing(
    emulator: Emulator, client: AsyncUsageClient, store_path: pathlib.Path
) -> None:
    load_v1(store_path)
    async with open_store(store_path) as store:
        await store.sync(client, endpoints=["costs"], group_by=["project_id"], end_time=V1_END)
    before = content(store_path)
    # What 0.1.0 runs when it opens a store, then what it reads first: the setup is a
    # no-op, the first read fails with a message that says to upgrade.
    raw(
        store_path,
        "CREATE TABLE IF NOT EXISTS _openai_usage_tables (name TEXT PRIMARY KEY, endpoint "
        "TEXT NOT NULL, bucket_width TEXT NOT NULL, group_by TEXT NOT NULL, columns TEXT NOT "
        "NULL)",
    )
    expected = UPGRADE_MESSAGE if store_path.suffix == ".duckdb" else UPGRADE_FUNCTION
    for sql in (
        "SELECT group_by FROM _openai_usage_tables WHERE name = 'costs_1d'",
        "SELECT 1 FROM _openai_usage_tables WHERE name = 'costs_1d'",
        "SELECT start_time, end_time, fetched_at FROM _openai_usage_windows WHERE "
        "table_name = 'costs_1d' ORDER BY start_time",
    ):
        with pytest.raises(Exception, match=expected):
            raw(store_path, sql)
    assert content(store_path) == before


def rebuild(db: Any, columns: list[str], cast: dict[str, str] | None = None) -> None:
    """Remake costs_1d with these columns, in this order (``cast``: name -> SQL type)."""
    cast = cast or {}
    exprs = ", ".join(
        f'CAST("{c}" AS {cast[c]}) AS "{c}"' if c in cast else f'"{c}"' for c in columns
    )
    with db.transaction():
        db.execute(f'CREATE TABLE "rebuilt" AS SELECT {exprs} FROM "costs_1d"')
        db.execute('DROP INDEX IF EXISTS "costs_1d_time"')
        db.execute('DROP TABLE "costs_1d"')
        db.execute('ALTER TABLE "rebuilt" RENAME TO "costs_1d"')


async def damage(store: Store, how: str) -> str:
    """Change costs_1d behind the store's back; what the refusal must name."""
    columns = list(schema_for("costs", "1d").column_names)
    if how == "dropped":
        await write(store, lambda db: rebuild(db, [c for c in columns if c != "amount_currency"]))
        return "missing amount_currency"
    if how == "swapped":
        i, j = columns.index("line_item"), columns.index("amount_value")
        columns[i], columns[j] = columns[j], columns[i]
        await write(store, lambda db: rebuild(db, columns))
        return "in another order"
    assert how == "retyped"
    await write(store, lambda db: rebuild(db, columns, {"amount_value": db.types["text"]}))
    return "amount_value is"


@pytest.mark.parametrize("how", ["dropped", "swapped", "retyped"])
async def test_a_table_whose_columns_differ_from_its_record_is_refused(
    emulator: Emulator, client: AsyncUsageClient, store: Store, store_path: pathlib.Path, how: str
) -> None:
    await store.sync(client, endpoints=["costs"], start_time=TODAY - 5 * DAY)
    what = await damage(store, how)
    before = content(store_path)
    emulator.reset_statistics()
    with pytest.raises(StoreError, match=f"table costs_1d does not have the columns .*{what}"):
        await store.sync(client, endpoints=["costs"])
    with pytest.raises(StoreError, match=f"table costs_1d does not have the columns .*{what}"):
        await store.buckets("costs", start_time=TODAY - 5 * DAY, end_time=TODAY)
    assert content(store_path) == before  # nothing written, no value in another's column
    usage = emulator.statistics().requests_by_endpoint
    assert usage.get("costs", 0) == 0


async def test_a_store_from_a_newer_version_is_refused_naming_both(
    emulator: Emulator, client: AsyncUsageClient, store: Store, store_path: pathlib.Path
) -> None:
    await store.sync(client, endpoints=["costs"], start_time=TODAY - 3 * DAY)

    def newer(db: Any) -> None:
        with db.transaction():
            db.execute("UPDATE _openai_usage_meta SET value = '3' WHERE key = 'schema_version'")
            db.execute("UPDATE _openai_usage_meta SET value = '9.1.0' WHERE key = 'written_by'")

    await write(store, newer)
    before = content(store_path)
    message = (
        r"schema version 3 \(written by openai_usage_async 9\.1\.0\); this release "
        rf"\(openai_usage_async {__version__}\) knows versions up to {SCHEMA_VERSION}"
    )
    with pytest.raises(StoreError, match=message):
        await store.sync(client, endpoints=["costs"])
    with pytest.raises(StoreError, match=message):
        await store.coverage()
    assert content(store_path) == before


async def test_a_field_newer_than_the_table_becomes_a_column_null_in_old_rows(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    """A store written before ``quantity_unit`` existed: the next sync adds the column
    (in its one transaction), old rows NULL in it, fetched rows filled."""
    await store.sync(client, endpoints=["costs"], start_time=TODAY - 8 * DAY)
    schema = schema_for("costs", "1d")
    older = [c for c in schema.columns if c.name != "quantity_unit"]

    def forget(db: Any) -> None:
        rebuild(db, [c.name for c in older])
        kinds = msgspec.json.encode([[c.name, c.kind] for c in older]).decode()
        with db.transaction():
            db.execute(
                "UPDATE _openai_usage_registry SET columns = ? WHERE name = 'costs_1d'", (kinds,)
            )

    await write(store, forget)
    emulator.now = NOW + DAY
    await store.sync(client, endpoints=["costs"])
    rows = await query(
        store, 'SELECT start_time, COUNT(quantity_unit), COUNT(*) FROM "costs_1d" GROUP BY 1'
    )
    by_day = {int(s): (int(units), int(n)) for s, units, n in rows}
    buckets = await client.usage.costs.list(
        start_time=TODAY - 8 * DAY, end_time=NOW + DAY, group_by=list(_auto_group_by("costs"))
    )
    served = {b.start_time: sum(r.quantity_unit is not None for r in b.results) for b in buckets}
    refetched = TODAY - 2 * DAY  # the overlap of the sync at NOW, and what is new
    for day, (units, n) in by_day.items():
        if day < refetched:
            assert units == 0 and n > 0, day  # settled rows, from before the field
        else:  # fetched again: the field filled where the service fills it
            assert units == served[day] > 0, day
    covered = [c for c in await store.coverage() if c.table == "costs_1d"]
    assert covered and covered[0].gaps == ()
