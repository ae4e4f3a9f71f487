"""A local store of usage and costs that backfills, resumes and stays current.

::

    from openai_usage_async import AsyncUsageClient
    from openai_usage_async.store import open_store

    async with AsyncUsageClient() as client, open_store("usage.db") as store:
        report = await store.sync(client, endpoints="all", start_time=t0, bucket_width="1h")
        print(report)

``open_store(path)`` opens SQLite (the standard library's; the default) or, for a path
ending in ``.duckdb``, DuckDB (extra ``duckdb``). Each endpoint and width gets a table
``<endpoint>_<width>`` with ``start_time``, ``end_time``, the endpoint's ``group_by``
columns and the result's fields. A sync replaces whole buckets, commits each window with
its checkpoint, resumes where a killed sync stopped, and re-fetches the last ``overlap``
of what it stored before, because the service revises recent buckets. See
``docs/backfill.md`` for the schema, example SQL and scheduling.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio
import anyio.to_thread

from .._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from .._sansio.query import to_unix
from ..models import (
    CostAmount,
    Directory,
    OrganizationUser,
    Project,
    ProjectApiKey,
    UsageBucket,
)
from ._backend import SQLBackend, StoreError, q
from ._schema import schema_for
from ._sync import EndpointReport, SyncReport, sync

if TYPE_CHECKING:
    from .._client import AsyncUsageClient

__all__ = [
    "DuckDBStore",
    "EndpointReport",
    "SQLiteStore",
    "Store",
    "StoreError",
    "SyncReport",
    "open_store",
]

T = TypeVar("T")


class Store:
    """A store of usage tables in one database file; use it as ``async with``.

    Every database call runs on one writer thread, so the event loop never blocks on
    the database. :class:`SQLiteStore` and :class:`DuckDBStore` are the two kinds.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._db: SQLBackend | None = None
        self._writer: anyio.CapacityLimiter | None = None
        self._live: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @staticmethod
    def backend(path: str) -> SQLBackend:
        """Open the database at ``path`` (blocking: the writer thread calls it)."""
        raise NotImplementedError

    async def _run(self, fn: Callable[..., T], *args: Any) -> T:
        if self._writer is None:
            self._writer = anyio.CapacityLimiter(1)
        return await anyio.to_thread.run_sync(fn, *args, limiter=self._writer)

    def _backend_or_raise(self) -> SQLBackend:
        if self._db is None:
            raise RuntimeError(f"{self!r} is not open; use `async with open_store(...)`")
        return self._db

    async def open(self) -> None:
        """Open (or create) the database; ``async with`` does it for you."""
        if self._db is None:
            self._db = await self._run(self.backend, self.path)

    async def aclose(self) -> None:
        """Close the database. Idempotent."""
        db, self._db = self._db, None
        if db is not None:
            await self._run(db.close)

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def directory(self) -> Directory | None:
        """The names kept by the last sync that could read the directory, or None."""
        return await _read_directory(self)

    def progress(self) -> dict[str, tuple[int, int]]:
        """For a sync in progress (or the last one): endpoint -> (windows done, planned)."""
        return dict(self._live)

    async def sync(
        self,
        client: AsyncUsageClient,
        *,
        endpoints: str | Sequence[str] = "all",
        start_time: int | dt.datetime | None = None,
        end_time: int | dt.datetime | None = None,
        bucket_width: str = "1d",
        group_by: str | Sequence[str] | None = "auto",
        overlap: dt.timedelta | float = dt.timedelta(days=2),
    ) -> SyncReport:
        """Fetch what the store lacks, and the recent buckets the service may have revised.

        ``endpoints`` is ``"all"`` (every endpoint that has ``bucket_width``: costs only
        has ``1d``) or a list of ``client.usage`` names. ``start_time`` is needed the first
        time a table is synced (it is rounded down to a bucket boundary, so tables hold
        whole buckets); later syncs resume where the table ends, minus ``overlap`` (a
        ``timedelta`` or seconds). ``end_time`` defaults to now (the client's clock).
        ``group_by="auto"`` is every ``group_by`` value of the endpoint (costs: all but
        ``user_id``); ``None`` or ``[]`` is ungrouped. A table keeps the grouping it was
        first synced with: another raises ``ValueError`` naming the stored one. Every
        argument is checked before any request. Windows of all endpoints are fetched
        concurrently under the client's ``max_concurrency``; each window's rows and its
        checkpoint commit in one transaction, so a sync killed at any moment and run again
        ends with exactly what an uninterrupted sync stores.
        """
        return await sync(
            self,
            client,
            endpoints=endpoints,
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            group_by=group_by,
            overlap=overlap,
        )

    async def buckets(
        self,
        endpoint: str,
        *,
        start_time: int | dt.datetime,
        end_time: int | dt.datetime,
        bucket_width: str = "1d",
        group_by: Sequence[str] = (),
    ) -> list[UsageBucket[Any]]:
        """Read a table back as the client's buckets, summed over the groups not asked for.

        Every bucket of ``[start_time, end_time)`` is returned, empty where the table has
        no rows: the same shape ``client.usage.<endpoint>.list()`` gives, with no request.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint: unknown endpoint {endpoint!r}")
        if bucket_width not in WIDTH_SECONDS:
            raise ValueError(f"bucket_width: {bucket_width!r} is not one of 1m, 1h, 1d")
        schema = schema_for(endpoint, bucket_width)
        for g in group_by:
            if g not in schema.spec.group_by:
                raise ValueError(f"group_by: {g!r} is not a group_by value of {endpoint}")
        start, end = to_unix("start_time", start_time), to_unix("end_time", end_time, round_up=True)
        db = self._backend_or_raise()
        exists = await self._run(db.has_table, schema.name)
        if not exists:
            raise LookupError(
                f"{schema.name}: not in {self.path}; sync it first "
                f"(openai-usage sync --endpoints {endpoint} --bucket-width {bucket_width})"
            )
        select, fields = [], []
        for column in schema.columns[2:]:
            if column.name in group_by:
                select.append(q(column.name))
            elif column.kind in ("integer", "real"):
                select.append(f"SUM({q(column.name)})")
            elif column.name in schema.spec.group_by:
                select.append("NULL")
            else:
                select.append(f"MAX({q(column.name)})")
            fields.append(column.name)
        keys = ", ".join(["start_time", "end_time", *(q(g) for g in group_by)])
        sql = (
            f"SELECT start_time, end_time, {', '.join(select)} FROM {q(schema.name)} "
            f"WHERE start_time >= ? AND start_time < ? GROUP BY {keys} ORDER BY {keys}"
        )
        rows = await self._run(db.execute, sql, (start, end))
        by_start: dict[int, tuple[int, list[Any]]] = {}
        for row in rows:
            values = dict(zip(fields, row[2:], strict=True))
            if "amount_value" in values:  # the one nested field, back to its Struct
                value, currency = values.pop("amount_value"), values.pop("amount_currency")
                values["amount"] = (
                    None
                    if value is None and currency is None
                    else CostAmount(value=value, currency=currency)
                )
            entry = by_start.setdefault(int(row[0]), (int(row[1]), []))
            entry[1].append(schema.result_type(**values))
        width = WIDTH_SECONDS[bucket_width]
        out: list[UsageBucket[Any]] = []
        edge = start
        while edge < end:
            stored = by_start.get(edge)
            bucket_end = stored[0] if stored else min(edge - edge % width + width, end)
            out.append(
                UsageBucket(
                    start_time=edge, end_time=bucket_end, results=stored[1] if stored else []
                )
            )
            edge = bucket_end
        return out


async def _read_directory(store: Store) -> Directory | None:
    db = store._backend_or_raise()
    try:
        projects = await store._run(db.execute, "SELECT id, name, status FROM projects")
        users = await store._run(db.execute, "SELECT id, name, email, role FROM users")
        keys = await store._run(db.execute, "SELECT id, project_id, name FROM api_keys")
    except StoreError:
        return None  # never synced with a key that may read the directory
    return Directory(
        projects=[Project(id=i, name=n, status=st) for i, n, st in projects],
        users=[OrganizationUser(id=i, name=n, email=e, role=r) for i, n, e, r in users],
        api_keys=[ProjectApiKey(id=i, project_id=p, name=n) for i, p, n in keys],
    )


class SQLiteStore(Store):
    """A store in an SQLite file (the standard library's ``sqlite3``, WAL mode)."""

    @staticmethod
    def backend(path: str) -> SQLBackend:
        from ._sqlite import SQLiteBackend

        return SQLiteBackend(path)


class DuckDBStore(Store):
    """A store in a DuckDB file (extra ``duckdb``); rows go in column-wise, as Arrow."""

    @staticmethod
    def backend(path: str) -> SQLBackend:
        from ._duckdb import DuckDBBackend

        return DuckDBBackend(path)


def open_store(path: str | os.PathLike[str]) -> Store:
    """:class:`DuckDBStore` for a path ending in ``.duckdb``, else :class:`SQLiteStore`."""
    text = os.fspath(path)
    if text.endswith(".duckdb"):
        return DuckDBStore(text)
    return SQLiteStore(text)
