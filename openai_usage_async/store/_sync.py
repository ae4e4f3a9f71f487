"""``Store.sync``: every endpoint's windows fetched concurrently, written as they arrive.

A sync first checks every argument and every table it will touch, reading only (a sync
refused there writes nothing, and makes no file). Then it takes the store's lock
(``_lock``: one sync at a time per store, across processes), opens the writer (creating
or migrating the store, ``_migrate``) and plans each table (``_plan.plan_ranges``),
recording what it means to fetch as pending until the table's sync finishes. The windows
of every table become cursor chains run by the iterator engine's as-ready feed, under
the client's one concurrency bound; each chain collects its window's buckets and hands
the whole window on. A writer task takes the windows as they come, batches those
already waiting, and commits each batch in one transaction on the writer thread, which
also builds the rows (``_backend``), so fetching and writing overlap, the event loop does
no row work, and memory stays bounded however long the range.
"""

from __future__ import annotations

import datetime as dt
import itertools
import logging
import math
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, TypeVar

import anyio
import anyio.to_thread

from .._fanout import AsReadyFeed, Emit, FeedIterator, first_error
from .._sansio.cursor import Chain
from .._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from .._sansio.query import Query, to_unix, validate
from .._sansio.windows import Window, plan_windows
from ..models import UsageBucket
from . import _lock
from ._backend import SQLBackend, TableState, WindowRows, check_grouping
from ._errors import StoreBusyError
from ._migrate import TableInfo
from ._names import Names, directory_tables, refresh_names
from ._plan import count_fetch, plan_fetch, plan_ranges
from ._read import Reader
from ._schema import TableSchema, schema_for

if TYPE_CHECKING:
    from .._client import AsyncUsageClient
    from . import Store

__all__ = ["EndpointReport", "SyncReport", "directory_tables", "sync"]

T = TypeVar("T")

log = logging.getLogger("openai_usage_async.store")

#: Windows the writer commits in one transaction, at most.
BATCH_WINDOWS = 16

#: How long a sync waits for a read-only DuckDB connection in its own process to close.
IN_PROCESS_WAIT_S = 5.0


@dataclass(frozen=True, slots=True)
class EndpointReport:
    """What one sync did for one endpoint (one table)."""

    endpoint: str
    """The endpoint's name on ``client.usage`` (``"costs"``)."""
    table: str
    """Its table: ``<endpoint>_<width>`` (``"costs_1d"``)."""
    windows_fetched: int
    """Windows fetched and written, each in one transaction with its checkpoint."""
    windows_skipped: int
    """Windows already settled in the store: no request."""
    buckets_written: int
    """Buckets written, empty ones included."""
    buckets_replaced: int
    """Of those, how many had rows before and were replaced whole."""
    rows_written: int
    """Rows inserted: one per result."""
    unknown_results: int
    """Results of a tag this version does not know: counted, not stored."""
    requests: int
    """HTTP requests for this endpoint, retries included."""
    retries: int
    """How many of those requests were retries."""
    seconds: float
    """From the start of the sync until this endpoint's last window was committed."""


@dataclass(frozen=True, slots=True)
class SyncReport:
    """What one sync did, per endpoint; ``str()`` is a one-screen table.

    ``rows_written`` and ``requests`` are the totals over the endpoints.
    """

    endpoints: dict[str, EndpointReport]
    """Endpoint name -> what the sync did for it."""
    seconds: float
    """The whole sync's wall time, from when it held the store (``waited`` not included)."""
    directory_rows: dict[str, int] | None = None
    """Rows written to the directory tables (``projects``, ``users``, ``api_keys``), or
    None when the directory could not be read, or was not asked for (the tables are left
    as they were)."""
    directory_note: str | None = None
    """Why the names were not (all) refreshed, when they were not: a key that may not read
    the directory, the service failing, or some projects' listings that failed."""
    waited: float = 0.0
    """Seconds it waited for another sync of the same store to finish first."""
    spend_rows: dict[str, int] | None = None
    """Rows written to ``spend_limits`` and ``spend_alerts``, or None when they could not
    be read (the tables are left as they were)."""
    spend_note: str | None = None
    """Why the spend limits and alerts were not refreshed, when they were not."""

    @property
    def rows_written(self) -> int:
        """Rows written, over every endpoint."""
        return sum(r.rows_written for r in self.endpoints.values())

    @property
    def requests(self) -> int:
        """HTTP requests, over every endpoint, retries included."""
        return sum(r.requests for r in self.endpoints.values())

    def __str__(self) -> str:
        headers = ("endpoint", "buckets", "rows", "replaced", "requests", "retries", "seconds")
        rows = [
            (
                r.endpoint,
                f"{r.buckets_written:,}",
                f"{r.rows_written:,}",
                f"{r.buckets_replaced:,}",
                f"{r.requests:,}",
                f"{r.retries:,}",
                f"{r.seconds:.1f}",
            )
            for r in self.endpoints.values()
        ]
        widths = [max(len(h), *(len(row[i]) for row in rows)) for i, h in enumerate(headers)]
        lines = [
            "  ".join(
                h.ljust(w) if i == 0 else h.rjust(w)
                for i, (h, w) in enumerate(zip(headers, widths, strict=True))
            )
        ]
        for row in rows:
            lines.append(
                "  ".join(
                    c.ljust(w) if i == 0 else c.rjust(w)
                    for i, (c, w) in enumerate(zip(row, widths, strict=True))
                )
            )
        written, requests = self.rows_written, self.requests
        lines.append(
            f"{written:,} row{'' if written == 1 else 's'} in {self.seconds:.1f}s, "
            f"{requests:,} request{'' if requests == 1 else 's'}"
            + (f", after waiting {self.waited:.1f}s for another sync" if self.waited >= 0.1 else "")
        )
        if self.directory_rows is None:
            lines.append(f"directory: {self.directory_note or 'not read'}")
        else:
            counts = ", ".join(f"{n:,} {t}" for t, n in self.directory_rows.items())
            extra = f"; {self.directory_note}" if self.directory_note else ""
            lines.append(f"directory: {counts}{extra}")
        if self.spend_rows is not None:
            limits = self.spend_rows.get("spend_limits", 0)
            alerts = self.spend_rows.get("spend_alerts", 0)
            lines.append(
                f"spend: {limits:,} limit{'' if limits == 1 else 's'}, "
                f"{alerts:,} alert{'' if alerts == 1 else 's'}"
            )
        elif self.spend_note:
            lines.append(f"spend limits and alerts: {self.spend_note}")
        return "\n".join(lines)


@dataclass
class _Tally:
    """Per-endpoint counters while a sync runs (also the requester's counter)."""

    schema: TableSchema
    written: TableSchema | None = None  # the columns its rows hold values in
    skipped: int = 0
    fetched: int = 0
    buckets: int = 0
    replaced: int = 0
    rows: int = 0
    unknown: int = 0
    planned: int = 0
    requests: int = 0
    retries: int = 0
    finished_at: float | None = None


@dataclass
class _Job:
    """One table's part of a sync: its query and the windows it must fetch."""

    tally: _Tally
    chains: Iterator[Chain]
    count: int


def _chains(query: Query, windows: Iterator[Window]) -> Iterator[Chain]:
    """One chain per window, made as the fetcher pulls them."""
    return (Chain(query, w) for w in windows)


def _auto_group_by(endpoint: str) -> tuple[str, ...]:
    spec = ENDPOINTS[endpoint]
    if endpoint == "costs":  # the costs endpoint is grouped by everything but user_id
        return tuple(g for g in spec.group_by if g != "user_id")
    return spec.group_by


def _seconds(name: str, value: object) -> int:
    if isinstance(value, dt.timedelta):
        seconds = value.total_seconds()
    elif isinstance(value, int | float) and not isinstance(value, bool):
        seconds = float(value)
    else:
        raise ValueError(f"{name}: expected a timedelta or seconds, got {value!r}")
    if math.isnan(seconds) or math.isinf(seconds):
        raise ValueError(f"{name}: {value!r} is not a number of seconds")
    if seconds < 0:
        raise ValueError(f"{name}: {value!r} is negative")
    return int(seconds)


def _endpoint_names(endpoints: str | Sequence[str], width: str) -> list[str]:
    if endpoints == "all":
        return [n for n, s in ENDPOINTS.items() if width in s.limits]
    if isinstance(endpoints, str) or not isinstance(endpoints, Sequence):
        raise ValueError(
            f"endpoints: expected 'all' or a list of endpoint names, got {endpoints!r}"
        )
    names = list(dict.fromkeys(endpoints))
    if not names:
        raise ValueError("endpoints: empty; pass 'all' or at least one endpoint name")
    for name in names:
        if name not in ENDPOINTS:
            known = ", ".join(ENDPOINTS)
            raise ValueError(f"endpoints: unknown endpoint {name!r} (known: {known})")
    return names


def _group_by(endpoint: str, group_by: object) -> tuple[str, ...]:
    if group_by == "auto":
        return _auto_group_by(endpoint)
    if group_by is None:
        return ()
    query = validate(ENDPOINTS[endpoint], start_time=0, group_by=group_by)
    return tuple(g for g in ENDPOINTS[endpoint].group_by if g in query.group_by)


async def sync(
    store: Store,
    client: AsyncUsageClient,
    *,
    endpoints: str | Sequence[str] = "all",
    start_time: int | dt.datetime | None = None,
    end_time: int | dt.datetime | None = None,
    bucket_width: str = "1d",
    group_by: object = "auto",
    overlap: dt.timedelta | float = dt.timedelta(days=2),
    wait: bool = True,
    directory: bool = True,
) -> SyncReport:
    """See :meth:`Store.sync`."""
    started = time.perf_counter()
    clock = client._requester.clock
    if bucket_width not in WIDTH_SECONDS:
        raise ValueError(f"bucket_width: {bucket_width!r} is not one of 1m, 1h, 1d")
    width = WIDTH_SECONDS[bucket_width]
    names = _endpoint_names(endpoints, bucket_width)
    overlap_s = _seconds("overlap", overlap)
    now = int(clock())
    end = to_unix("end_time", end_time, round_up=True) if end_time is not None else now
    start = None if start_time is None else to_unix("start_time", start_time)
    if start is not None:
        start -= start % width  # whole buckets only: a table never holds a partial first one
        if end <= start:
            raise ValueError(f"end_time: {end} is not after start_time ({start})")
    groupings = {name: _group_by(name, group_by) for name in names}
    for name in names:  # every argument checked before any request or table
        validate(
            ENDPOINTS[name],
            start_time=start if start is not None else 0,
            end_time=end,
            bucket_width=bucket_width,
            group_by=groupings[name] or None,
        )
    schemas = {name: schema_for(name, bucket_width) for name in names}
    # Every table checked before any is created, reading only: a sync refused here leaves
    # no file behind, not even a new one. (A DuckDB store being synced cannot be read:
    # then the same checks wait for the lock.)
    try:
        known = await store._read(_registry, missing_ok=True)
    except StoreBusyError:
        pass
    else:
        _check_tables(known, schemas, groupings, start is None)
    asked = time.perf_counter()
    async with _lock.hold(store.path, wait=wait):
        waited = time.perf_counter() - asked
        writer = _Writer(store)
        try:
            known, waited_more = await _open_writer(writer, wait=wait)
            waited += waited_more
            started += waited
            # The clock as the sync begins its work: not as it began waiting its turn.
            now = int(clock())
            if end_time is None:
                end = now
            _check_tables(known, schemas, groupings, start is None)
            tables = [schema.name for schema in schemas.values()]
            await writer.run(writer.backend.check_tables, known, tables)
            return await _sync_locked(
                store,
                client,
                writer,
                schemas=schemas,
                groupings=groupings,
                start=start,
                end=end,
                now=now,
                width=width,
                overlap_s=overlap_s,
                started=started,
                waited=waited,
                directory=directory,
            )
        finally:
            with anyio.CancelScope(shield=True):
                await writer.run(writer.close)


async def _open_writer(writer: _Writer, *, wait: bool) -> tuple[dict[str, TableInfo], float]:
    """Open the writer; the seconds it waited to. A DuckDB store that another process
    has open cannot be opened for writing until it closes it: with ``wait``, try again
    until then. A read-only connection in this process (a read of the store) is waited
    for ``IN_PROCESS_WAIT_S`` at most: longer, it is the caller's own, which this sync
    waiting would never see closed."""
    busy_since: float | None = None
    while True:
        try:
            known = await writer.run(writer.open)
        except StoreBusyError as exc:
            now = time.perf_counter()
            mine = exc.pid == os.getpid()
            waited_long = busy_since is not None and now - busy_since > IN_PROCESS_WAIT_S
            if not wait or (mine and waited_long):
                raise
            if busy_since is None:
                log.info("%s; waiting for it", exc)
                busy_since = now
            await anyio.sleep(_lock.POLL_S)
        else:
            return known, 0.0 if busy_since is None else time.perf_counter() - busy_since


def _registry(reader: Reader | None) -> dict[str, TableInfo]:
    return reader.registry if reader is not None else {}


def _check_tables(
    registry: dict[str, TableInfo],
    schemas: dict[str, TableSchema],
    groupings: dict[str, tuple[str, ...]],
    resume: bool,
) -> None:
    """Refuse a grouping that differs from a table's, and a resume of a table never synced."""
    for name, schema in schemas.items():
        info = registry.get(schema.name)
        if info is not None:
            check_grouping(schema.name, info.group_by, groupings[name])
        elif resume:
            raise ValueError(
                f"start_time: {schema.name} has never been synced, so there is nothing to "
                "resume from: give a start_time for its first sync"
            )


class _Writer:
    """The sync's database connection, used from one thread at a time.

    Every call holds ``_busy`` on its worker thread, and so does :meth:`close`: however
    the sync is cancelled (a native ``Task.cancel()`` can end the await of a worker
    thread that still runs), the connection is never closed under a call still using it.
    """

    def __init__(self, store: Store) -> None:
        self.store = store
        self.db: SQLBackend | None = None
        self.limiter = anyio.CapacityLimiter(1)
        self._busy = threading.RLock()

    async def run(self, fn: Callable[..., T], *args: Any) -> T:
        def call() -> T:
            with self._busy:
                return fn(*args)

        return await anyio.to_thread.run_sync(call, limiter=self.limiter)

    def open(self) -> dict[str, TableInfo]:
        self.db = self.store.backend(self.store.path)
        try:
            return self.db.open_schema()
        except BaseException:
            self._close()
            raise

    def close(self) -> None:
        with self._busy:
            self._close()

    def _close(self) -> None:
        db, self.db = self.db, None
        if db is not None:
            db.close()

    @property
    def backend(self) -> SQLBackend:
        assert self.db is not None
        return self.db


async def _sync_locked(
    store: Store,
    client: AsyncUsageClient,
    writer: _Writer,
    *,
    schemas: dict[str, TableSchema],
    groupings: dict[str, tuple[str, ...]],
    start: int | None,
    end: int,
    now: int,
    width: int,
    overlap_s: int,
    started: float,
    waited: float,
    directory: bool,
) -> SyncReport:
    db = writer.backend
    jobs: list[_Job] = []
    states: dict[str, TableState] = {}
    planned: dict[str, list[tuple[int, int]]] = {}
    for name, schema in schemas.items():
        state: TableState = await writer.run(db.prepare, schema, groupings[name])
        if start is None and not state.checkpoints and not state.pending:
            # Created by a sync that committed nothing: there is still nothing to resume.
            raise ValueError(
                f"start_time: {schema.name} has never been synced, so there is nothing to "
                "resume from: give a start_time for its first sync"
            )
        states[name] = state
        ranges = planned[name] = plan_ranges(
            start=start,
            end=end,
            now=now,
            checkpoints=state.checkpoints,
            pending=state.pending,
            width_s=width,
            overlap_s=overlap_s,
        )
        tally = _Tally(schema, schema.grouped(state.info.group_by))
        if not ranges:
            jobs.append(_Job(tally, iter(()), 0))
            continue
        query = validate(
            ENDPOINTS[name],
            start_time=ranges[0][0],
            end_time=ranges[-1][1],
            bucket_width=schema.bucket_width,
            group_by=groupings[name] or None,
        )
        count = count_fetch(ranges, width_s=width, size=query.page_size)
        asked = start if start is not None else ranges[0][0]
        if start is None and state.checkpoints:
            asked = min(asked, state.checkpoints[0].start)
        if end > asked:
            whole = len(plan_windows(asked, end, width, query.page_size))
            tally.skipped = max(0, whole - count)
        await writer.run(db.begin_table, schema.name, ranges)
        chains = _chains(query, plan_fetch(ranges, width_s=width, size=query.page_size))
        tally.planned = count
        jobs.append(_Job(tally, chains, count))
    by_endpoint = {job.tally.schema.spec.name: job.tally for job in jobs}
    store._live = {name: (0, t.planned) for name, t in by_endpoint.items()}
    total = sum(job.count for job in jobs)
    names = Names()

    async def refresh() -> None:
        nonlocal names
        names = await refresh_names(client, writer.run, db, client._requester.clock)

    try:
        async with anyio.create_task_group() as tg:
            if directory:
                tg.start_soon(refresh)
            if total:
                await _fetch_and_write(
                    writer, client, jobs, by_endpoint, total, clock=client._requester.clock
                )
    except BaseExceptionGroup as group:
        raise _cause(group) from None
    finished = int(client._requester.clock())
    for name, state in states.items():
        await writer.run(db.finish_table, state, planned[name], finished, overlap_s)
    elapsed = time.perf_counter() - started
    return SyncReport(
        {
            name: EndpointReport(
                endpoint=name,
                table=t.schema.name,
                windows_fetched=t.fetched,
                windows_skipped=t.skipped,
                buckets_written=t.buckets,
                buckets_replaced=t.replaced,
                rows_written=t.rows,
                unknown_results=t.unknown,
                requests=t.requests,
                retries=t.retries,
                seconds=(t.finished_at - started) if t.finished_at is not None else 0.0,
            )
            for name, t in by_endpoint.items()
        },
        elapsed,
        names.directory,
        names.directory_note if directory else "not refreshed by this sync (directory=False)",
        waited,
        names.spend,
        names.spend_note,
    )


def _short(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status is not None else type(exc).__name__


_Fetched = tuple[Chain, list[UsageBucket[Any]], int]


async def _fetch_and_write(
    writer: _Writer,
    client: AsyncUsageClient,
    jobs: list[_Job],
    tallies: dict[str, _Tally],
    total: int,
    *,
    clock: Callable[[], float],
) -> None:
    requester = client._requester
    endpoints = client.usage._endpoints
    progress = client._progress

    async def follow(chain: Chain, emit: Emit[_Fetched]) -> None:
        name = chain.query.spec.name
        endpoint, tally = endpoints[name], tallies[name]
        fetched_at = int(clock())
        buckets: list[UsageBucket[Any]] = []
        while not chain.done:
            pairs = chain.next_request(clock())
            page = await requester.get(chain.query.spec.path, pairs, endpoint._decipher, tally)
            new = chain.feed(page)
            buckets += new
            progress.pages += 1
            progress.buckets += len(new)
        progress.windows_done += 1
        await emit((chain, buckets, fetched_at))

    chains = itertools.chain.from_iterable(job.chains for job in jobs)
    feed: AsReadyFeed[_Fetched] = AsReadyFeed(chains, follow, 2 * client.max_concurrency)
    windows: FeedIterator[_Fetched] = FeedIterator(
        feed, windows=total, progress=client._progress, register=client._register
    )
    send, receive = anyio.create_memory_object_stream[_Fetched](BATCH_WINDOWS)

    async def write() -> None:
        async with receive:
            async for first in receive:
                batch = [first]
                while len(batch) < BATCH_WINDOWS:
                    try:
                        batch.append(receive.receive_nowait())
                    except (anyio.WouldBlock, anyio.EndOfStream):
                        break
                await _commit(writer, batch, tallies)

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(write)
            async with send, windows:
                async for item in windows:
                    await send.send(item)
    except BaseExceptionGroup as group:
        raise _cause(group) from None


def _cause(group: BaseExceptionGroup[BaseException]) -> BaseException:
    """The error that stopped the sync: not the broken stream it left behind."""
    _, rest = group.split((anyio.BrokenResourceError, anyio.ClosedResourceError))
    return first_error(rest if rest is not None else group)


async def _commit(writer: _Writer, batch: list[_Fetched], tallies: dict[str, _Tally]) -> None:
    prepared = []
    for chain, buckets, fetched_at in batch:
        window = chain.window
        assert window is not None
        tally = tallies[chain.query.spec.name]
        schema = tally.written or tally.schema
        # The rows are built from the Structs on the writer thread, not on the event loop.
        prepared.append(WindowRows(schema, window.start, fetched_at, buckets))
    written = await writer.run(writer.backend.write, prepared)
    now = time.perf_counter()
    for w, done in zip(prepared, written, strict=True):
        tally = tallies[w.schema.spec.name]
        tally.fetched += 1
        tally.buckets += done.buckets
        tally.replaced += done.replaced
        tally.rows += done.rows
        tally.unknown += done.unknown
        tally.finished_at = now
        writer.store._live[w.schema.spec.name] = (tally.fetched, tally.planned)
