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
its checkpoint, resumes where a killed sync stopped, and re-fetches what is not settled
(the last ``overlap``, and buckets stored clipped), because the service revises recent
buckets. One sync at a time holds the store; readers never wait for it. See
``docs/backfill.md`` for the schema, locking, migrations, coverage and example SQL.
"""

from __future__ import annotations

import datetime as dt
import os
import time
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any, Self, TypeVar

import anyio
import anyio.to_thread

from .._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from .._sansio.query import to_unix
from ..forecast import MonthForecast, _check_now, forecast_daily
from ..models import CostAmount, Directory, UsageBucket
from ._backend import SQLBackend
from ._errors import StoreBusyError, StoreError
from ._plan import TableCoverage
from ._read import CostDays, Reader
from ._schema import schema_for
from ._sync import EndpointReport, SyncReport, sync

if TYPE_CHECKING:
    from .._client import AsyncUsageClient

__all__ = [
    "DuckDBStore",
    "EndpointReport",
    "SQLiteStore",
    "Store",
    "StoreBusyError",
    "StoreError",
    "SyncReport",
    "TableCoverage",
    "open_store",
]

T = TypeVar("T")


class Store:
    """A store of usage tables in one database file; use it as ``async with``.

    Opening checks the path and, if the file exists, that it is a store this version
    can use; it creates nothing. :meth:`sync` is the one writer: it creates the file if
    needed, and holds the store's lock while it runs, so syncs from any number of
    processes, threads or tasks take turns. Every reader (:meth:`buckets`,
    :meth:`coverage`, :meth:`directory`) opens the file read-only on a worker thread: it
    never writes, never waits for a sync, and works on a read-only file.
    :class:`SQLiteStore` and :class:`DuckDBStore` are the two kinds.
    """

    def __init__(self, path: str | os.PathLike[str]) -> None:
        self.path = os.fspath(path)
        self._open = False
        self._live: dict[str, tuple[int, int]] = {}

    def __repr__(self) -> str:
        return f"{type(self).__name__}({self.path!r})"

    @staticmethod
    def backend(path: str) -> SQLBackend:
        """Open the database at ``path`` for writing (blocking: a sync's writer thread)."""
        raise NotImplementedError

    def _check_open(self) -> None:
        if not self._open:
            raise RuntimeError(f"{self!r} is not open; use `async with open_store(...)`")

    async def _read(self, fn: Callable[..., T], *args: Any, missing_ok: bool = False) -> T:
        """``fn(reader, *args)`` in one read-only session, on a worker thread (``reader``
        is None for a store not made yet, when ``missing_ok``)."""
        self._check_open()

        def run() -> T:
            if missing_ok and not os.path.exists(self.path):
                return fn(None, *args)
            with Reader(self.path) as reader:
                return fn(reader, *args)

        return await anyio.to_thread.run_sync(run)

    async def open(self) -> None:
        """Check the path (``async with`` does it for you); creates nothing."""
        if self._open:
            return
        await anyio.to_thread.run_sync(self._probe)
        self._open = True

    def _probe(self) -> None:
        path = self.path
        if path.endswith(".duckdb"):
            from ._duckdb import _import

            _import()  # without the extra: an ImportError naming it, before anything else
        if os.path.isdir(path):
            raise StoreError(f"{path}: is a directory; give the path of a store file")
        parent = os.path.dirname(os.path.abspath(path))
        if not os.path.isdir(parent):
            raise StoreError(f"{path}: cannot write the store there (no directory {parent})")
        if os.path.exists(path) and os.path.getsize(path) > 0:
            try:
                Reader(path).close()  # a store this version can use, or refused unchanged
            except StoreBusyError:
                pass  # a DuckDB store a sync holds: a sync waits for it, a read says so

    async def aclose(self) -> None:
        """Close the store. Idempotent."""
        self._open = False

    async def __aenter__(self) -> Self:
        await self.open()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    async def directory(self) -> Directory | None:
        """The names kept by the last sync that could read the directory, or None."""
        return await self._read(Reader.directory)

    async def coverage(self) -> list[TableCoverage]:
        """What each table covers: its range, what is settled, open buckets, and gaps
        no sync has stored (see :class:`TableCoverage`). Reads only the bookkeeping."""
        return await self._read(Reader.coverage)

    async def forecast(
        self, now: int | float | dt.datetime | None = None, *, lookback_days: int = 7
    ) -> MonthForecast:
        """This month's spend and its month-end forecast, from ``costs_1d`` (see
        :mod:`openai_usage_async.forecast` for the method), per organization, project and,
        when the table is grouped by it, API key. ``now`` defaults to the machine's clock.

        Only days the store covers with a whole bucket that had closed when fetched count
        in the daily rate: a day never synced, or stored while in progress, is left out,
        never taken for $0. Raises ``LookupError`` when the store has no costs table.
        """
        moment = time.time() if now is None else now
        _, today = _check_now(moment)
        first = min(today.replace(day=1), today - dt.timedelta(days=max(1, lookback_days)))
        start = (first - dt.date(1970, 1, 1)).days * 86_400
        end = to_unix("now", moment, round_up=True)

        def read(reader: Reader) -> CostDays:
            try:
                return reader.cost_days(start, end)
            except LookupError:
                raise LookupError(
                    f"costs_1d: not in {self.path}; sync costs first "
                    "(openai-usage sync --endpoints costs --start ...)"
                ) from None

        days = await self._read(read)
        return forecast_daily(
            days.organization,
            covered=days.covered,
            now=moment,
            lookback_days=lookback_days,
            projects=days.projects,
            api_keys=days.api_keys if days.by_key else None,
        )

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
        wait: bool = True,
        directory: bool = True,
    ) -> SyncReport:
        """Fetch what the store lacks, and the recent buckets the service may have revised.

        ``endpoints`` is ``"all"`` (every endpoint that has ``bucket_width``: costs only
        has ``1d``) or a list of ``client.usage`` names. ``start_time`` is needed the first
        time a table is synced (it is rounded down to a bucket boundary, so tables hold
        whole buckets); later syncs resume where the table ends, re-fetching what is not
        settled: the last ``overlap`` (a ``timedelta`` or seconds) of what was fetched,
        and any bucket stored clipped (at an ``end_time`` between boundaries, or at the
        service's "now"), which is fetched again whole. ``end_time`` defaults to now (the
        client's clock). ``group_by="auto"`` is every ``group_by`` value of the endpoint
        (costs: all but ``user_id``); ``None`` or ``[]`` is ungrouped. A table keeps the
        grouping it was first synced with: another raises ``ValueError`` naming the stored
        one. Every argument is checked before any request, and before anything is
        written.

        One sync at a time per store: with ``wait`` (the default) a sync waits for the one
        in progress in any process (and, for a DuckDB store, for any other process that has
        the file open), then reads the clock; with ``wait=False`` it raises
        :class:`StoreBusyError` naming the holder's pid. A store written by an older
        version is migrated first (in one transaction); one written by a newer version is
        refused. Windows of all endpoints are fetched concurrently under the client's
        ``max_concurrency``; each window's rows and its checkpoint commit in one
        transaction, so a sync killed at any moment and run again ends with exactly what
        an uninterrupted sync stores.

        With ``directory`` (the default) it also refreshes the names (``projects``,
        ``users``, ``api_keys``) and the spend limits and alerts (``spend_limits``,
        ``spend_alerts``), beside the usage: never failing the sync for them, and keeping
        what is stored when they cannot be read. ``directory=False`` syncs usage only.
        """
        self._check_open()
        return await sync(
            self,
            client,
            endpoints=endpoints,
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            group_by=group_by,
            overlap=overlap,
            wait=wait,
            directory=directory,
        )

    async def buckets(
        self,
        endpoint: str,
        *,
        start_time: int | dt.datetime,
        end_time: int | dt.datetime,
        bucket_width: str = "1d",
        group_by: str | Sequence[str] = (),
    ) -> list[UsageBucket[Any]]:
        """Read a table back as the client's buckets, summed over the groups not asked for.

        Every bucket of ``[start_time, end_time)`` is returned, empty where the table has
        no rows: the same shape ``client.usage.<endpoint>.list()`` gives, with no request.
        ``group_by`` is one ``group_by`` value or a list of them. A bucket the store holds
        clipped (open) comes back as stored. Days the store never synced come back empty
        too: :meth:`coverage` says which ranges it holds. The store holds whole buckets: a
        ``start_time`` between boundaries is rounded down to its bucket's start, so the
        first bucket comes back whole.
        """
        if endpoint not in ENDPOINTS:
            raise ValueError(f"endpoint: unknown endpoint {endpoint!r}")
        if bucket_width not in WIDTH_SECONDS:
            raise ValueError(f"bucket_width: {bucket_width!r} is not one of 1m, 1h, 1d")
        schema = schema_for(endpoint, bucket_width)
        groups = (group_by,) if isinstance(group_by, str) else tuple(group_by)
        for g in groups:
            if g not in schema.spec.group_by:
                known = ", ".join(schema.spec.group_by)
                raise ValueError(
                    f"group_by: {g!r} is not a group_by value of {endpoint} (known: {known})"
                )
        start, end = to_unix("start_time", start_time), to_unix("end_time", end_time, round_up=True)
        if end <= start:
            raise ValueError(f"end_time: {end} is not after start_time ({start})")
        width = WIDTH_SECONDS[bucket_width]
        start -= start % width

        def read(reader: Reader) -> list[tuple[Any, ...]]:
            try:
                return reader.bucket_rows(schema, start, end, groups)
            except LookupError:
                raise LookupError(
                    f"{schema.name}: not in {self.path}; sync it first "
                    f"(openai-usage sync --endpoints {endpoint} --bucket-width {bucket_width})"
                ) from None

        rows = await self._read(read)
        fields = [c.name for c in schema.columns[2:]]
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
        out: list[UsageBucket[Any]] = []
        edge = start
        while edge < end:
            stored = by_start.get(edge)
            boundary = min(edge - edge % width + width, end)
            if stored:
                out.append(UsageBucket(start_time=edge, end_time=stored[0], results=stored[1]))
            else:
                out.append(UsageBucket(start_time=edge, end_time=boundary, results=[]))
            edge = boundary  # after a clipped bucket, the next starts on its boundary
        return out


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
