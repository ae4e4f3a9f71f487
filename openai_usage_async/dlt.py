"""A dlt source: usage and costs into any warehouse dlt loads (DuckDB, Postgres, BigQuery, ...).

Theory of operation
-------------------
:func:`usage_source` is a dlt source with one resource per endpoint at one bucket width,
named and shaped as the store's tables (``costs_1d``: ``start_time`` and ``end_time`` in
Unix seconds, the ``group_by`` columns, then the result's fields), plus the directory as
``projects``, ``users`` and ``api_keys``.

* **Fetching** is the client's: each resource iterates ``client.usage.<endpoint>.pages``
  of one shared :class:`~openai_usage_async.UsageClient`, so a long range is split into
  windows fetched concurrently, and all resources share the client's one concurrency
  bound while dlt pulls them round-robin. The resource yields Arrow tables built
  column-wise (dlt loads them without its row-by-row normaliser).
* **Reloads replace whole buckets**: ``merge`` with the ``delete-insert`` strategy keyed
  on ``start_time`` (a merge key, not a primary key: dlt refuses NULL in primary-key
  columns, and ungrouped or unattributed group columns are NULL and stay NULL). Every
  bucket a run fetches with results replaces all the destination's rows of that bucket
  (a bucket that became empty upstream brings no row to key on: its old rows stay).
* **Incremental**: each resource keeps in dlt's state the end of the range it last
  loaded; the next run starts there minus ``overlap`` (rounded down to a bucket), so the
  buckets the service may still revise are fetched again and replaced. The state is
  committed by dlt with the load, so a failed run is simply run again.
* **Secrets** come from dlt's config as dlt users expect (``[sources.openai_usage]``
  ``api_key`` in ``secrets.toml``, or ``SOURCES__OPENAI_USAGE__API_KEY``), else from
  ``OPENAI_ADMIN_KEY``.
"""

from __future__ import annotations

import datetime as dt
import logging
import threading
from collections.abc import Iterator, Sequence
from typing import Any

from ._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from ._sansio.query import to_unix, validate

try:
    import dlt
    import pyarrow as pa
    from dlt.common.data_types import TDataType
    from dlt.common.schema.typing import (
        TColumnSchema,
        TDeleteInsertStrategyDict,
    )
    from dlt.common.typing import TSecretStrValue
    from dlt.extract import DltResource
except ImportError:  # pragma: no cover - exercised by a test that hides dlt
    raise ImportError(
        "openai_usage_async.dlt needs dlt and pyarrow: pip install 'openai_usage_async[dlt]'"
    ) from None

from . import errors
from ._blocking import UsageClient
from ._client import AsyncUsageClient
from .models import Directory, UsageBucket
from .store._backend import DirectoryTable
from .store._names import directory_tables
from .store._schema import Kind, TableSchema, schema_for
from .store._sync import _endpoint_names, _group_by, _seconds

__all__ = ["usage_source"]

log = logging.getLogger("openai_usage_async.dlt")

#: dlt's column types and Arrow's for the store's column kinds.
_DLT_TYPES: dict[Kind, TDataType] = {
    "integer": "bigint",
    "real": "double",
    "text": "text",
    "boolean": "bool",
}
_ARROW_TYPES: dict[Kind, pa.DataType] = {
    "integer": pa.int64(),
    "real": pa.float64(),
    "text": pa.string(),
    "boolean": pa.bool_(),
}

#: Buckets per Arrow table a resource yields.
_BATCH_BUCKETS = 512

_MERGE: TDeleteInsertStrategyDict = {"disposition": "merge", "strategy": "delete-insert"}


class _Lease:
    """One client for all the source's resources: made when the first one starts, closed
    when the last one running ends (a client the caller passed is never closed)."""

    def __init__(self, given: UsageClient | None, api_key: str | None, base_url: str | None):
        self._given = given
        self._arguments = (api_key, base_url)
        self._client: UsageClient | None = None
        self._users = 0
        self._lock = threading.Lock()

    def acquire(self) -> UsageClient:
        if self._given is not None:
            return self._given
        with self._lock:
            if self._client is None:
                api_key, base_url = self._arguments
                self._client = UsageClient(api_key, base_url=base_url)
            self._users += 1
            return self._client

    def release(self) -> None:
        if self._given is not None:
            return
        with self._lock:
            self._users -= 1
            client = self._client if self._users == 0 else None
            if client is not None:
                self._client = None
        if client is not None:
            client.close()


def _now(client: UsageClient) -> int:
    return int(client._async._requester.clock())


def _arrow(schema: TableSchema, buckets: list[UsageBucket[Any]]) -> pa.Table:
    """The table's rows as Arrow columns: the row tuples go through one struct array, so
    Arrow splits them into columns in C++ (the values come from decoding, so each is of
    its column's type)."""
    struct = pa.struct([(c.name, _ARROW_TYPES[c.kind]) for c in schema.columns])
    columns = pa.array(list(schema.rows(buckets)), type=struct).flatten()
    return pa.Table.from_arrays(columns, schema=pa.schema(list(struct)))


def _columns(schema: TableSchema) -> dict[str, TColumnSchema]:
    return {c.name: {"data_type": _DLT_TYPES[c.kind], "nullable": True} for c in schema.columns}


def _endpoint_resource(
    lease: _Lease,
    schema: TableSchema,
    *,
    start: int,
    group_by: tuple[str, ...],
    overlap_s: int,
) -> DltResource:
    width = WIDTH_SECONDS[schema.bucket_width]
    name = schema.spec.name

    def rows() -> Iterator[pa.Table]:
        state = dlt.current.resource_state()
        loaded = state.get("group_by")
        if loaded is not None and tuple(loaded) != group_by:
            raise ValueError(
                f"group_by: {schema.name} was loaded grouped by {', '.join(loaded) or 'nothing'}"
                f"; load it the same way, or into a new dataset"
            )
        first = start
        synced_to = state.get("synced_to")
        if synced_to is not None and state.get("start_time", start) <= start:
            first = max(start, synced_to - overlap_s)
            first -= first % width
        client = lease.acquire()
        try:
            end = _now(client)
            if end <= first:
                return
            batch: list[UsageBucket[Any]] = []
            unknown = 0
            endpoint = getattr(client.usage, name)
            with endpoint.pages(  # pages, not buckets: one wait on the client's thread each
                start_time=first,
                end_time=end,
                bucket_width=schema.bucket_width,
                group_by=list(group_by) or None,
            ) as pages:
                for page in pages:
                    batch += page.data
                    if len(batch) >= _BATCH_BUCKETS:
                        unknown += schema.unknown(batch)
                        yield _arrow(schema, batch)
                        batch = []
            if batch:
                unknown += schema.unknown(batch)
                yield _arrow(schema, batch)
            if unknown:
                log.warning(
                    "%s: %d results of a type this version does not know were left out",
                    schema.name,
                    unknown,
                )
        finally:
            lease.release()
        # Reached only when every bucket was yielded: dlt commits this with the load.
        state["start_time"] = min(start, state.get("start_time", start))
        state["synced_to"] = end
        state["group_by"] = list(group_by)

    return dlt.resource(
        rows(),
        name=schema.name,
        write_disposition=_MERGE,
        merge_key="start_time",
        columns=_columns(schema),
    )


def _directory_resources(lease: _Lease) -> list[DltResource]:
    """``projects``, ``users`` and ``api_keys``, from one read, each replaced only by a
    complete read of it: a directory that cannot be read (a key without the scope, a
    failure after the retries) leaves all three as they are, and ``api_keys`` stays as it
    is when a project's key list was left out (``Directory.skipped``)."""
    found: dict[str, dict[str, DirectoryTable] | None] = {}
    lock = threading.Lock()

    def tables() -> dict[str, DirectoryTable] | None:
        with lock:
            if "tables" not in found:
                found["tables"] = _read_directory(lease)
            return found["tables"]

    def resource(name: str, columns: tuple[tuple[str, Kind], ...]) -> DltResource:
        arrow_schema = pa.schema(
            [pa.field(n, _ARROW_TYPES[k], nullable=n != "id") for n, k in columns]
        )

        def rows() -> Iterator[Any]:
            got = tables()
            if got is None or name not in got:
                return  # keep the table as it is (see below)
            table = got[name]
            values = list(zip(*table.rows, strict=True)) if table.rows else [()] * len(columns)
            arrow = pa.Table.from_arrays(
                [pa.array(v, _ARROW_TYPES[k]) for v, (_, k) in zip(values, columns, strict=True)],
                schema=arrow_schema,
            )
            yield dlt.mark.with_hints(arrow, dlt.mark.make_hints(write_disposition="replace"))

        hints: dict[str, TColumnSchema] = {
            n: {"data_type": _DLT_TYPES[k], "nullable": n != "id"} for n, k in columns
        }
        # "append" until a complete read says "replace" with its rows: dlt truncates the
        # table of a "replace" resource that yields nothing (an empty replace), and a
        # directory that cannot be read must leave the table as it is, not empty it.
        return dlt.resource(
            rows(),
            name=name,
            write_disposition="append",
            primary_key="id",
            columns=hints,
        )

    # The columns, from an empty directory (the shapes do not depend on the rows).
    shapes = directory_tables(Directory(projects=[], users=[], api_keys=[]))
    return [resource(t.name, t.columns) for t in shapes]


def _read_directory(lease: _Lease) -> dict[str, DirectoryTable] | None:
    """The directory's tables, without those a skipped listing left incomplete; None
    when it cannot be read at all."""
    client = lease.acquire()
    try:
        directory = client.organization.directory()
    except errors.APIError as exc:
        log.warning("the directory could not be read, its tables are left as they are: %s", exc)
        return None
    finally:
        lease.release()
    out = {t.name: t for t in directory_tables(directory)}
    missing = [s for s in directory.skipped if s.listing == "api_keys"]
    if missing:
        log.warning(
            "the API keys of %d project%s could not be read, the api_keys table is left as it is",
            len(missing),
            "" if len(missing) == 1 else "s",
        )
        del out["api_keys"]
    return out


@dlt.source(name="openai_usage", section="openai_usage", max_table_nesting=0)
def usage_source(
    endpoints: str | Sequence[str] = "all",
    *,
    start_time: int | dt.datetime,
    bucket_width: str = "1d",
    group_by: str | Sequence[str] | None = "auto",
    overlap: dt.timedelta | float = dt.timedelta(days=2),
    api_key: TSecretStrValue | None = None,
    base_url: str | None = None,
    client: UsageClient | None = None,
) -> list[DltResource]:
    """Usage and costs as a dlt source: one resource per endpoint, and the directory.

    Each endpoint in ``endpoints`` (``"all"``: every endpoint with ``bucket_width``) is a
    resource named as the store's table, ``<endpoint>_<bucket_width>`` (``costs_1d``,
    ``completions_1d``, ...), with its columns: ``start_time`` and ``end_time`` (Unix
    seconds), the ``group_by`` columns (NULL when not grouped by them or unattributed),
    then the result's fields (a cost's ``amount`` as ``amount_value`` and
    ``amount_currency``). ``projects``, ``users`` and ``api_keys`` hold the directory,
    replaced on every run that can read it; when it cannot be read (a key without the
    scope, a failure after the retries) they are kept as they are, with a warning, and so
    is ``api_keys`` when one project's keys could not be read (``Directory.skipped``).

    The first run loads from ``start_time`` (rounded down to a bucket) to now; later runs
    load from where the last one ended minus ``overlap`` (a ``timedelta`` or seconds), and
    the buckets they fetch replace the destination's rows of those buckets (``merge``,
    ``delete-insert`` on ``start_time``; a bucket that became empty upstream keeps its old
    rows, having none to key on). ``group_by="auto"`` is every ``group_by`` value
    of the endpoint (costs: all but ``user_id``); a resource keeps the grouping of its
    first load.

    ``api_key`` and ``base_url`` come from dlt's config when not given
    (``[sources.openai_usage]`` in ``secrets.toml`` / ``config.toml``, or
    ``SOURCES__OPENAI_USAGE__API_KEY``), then from ``OPENAI_ADMIN_KEY`` and
    ``OPENAI_BASE_URL``. ``client`` is a :class:`~openai_usage_async.UsageClient` to
    fetch with instead (its concurrency bound, its session); the source does not close it.
    Every argument is checked when the source is made, before any request.
    """
    if bucket_width not in WIDTH_SECONDS:
        raise ValueError(f"bucket_width: {bucket_width!r} is not one of 1m, 1h, 1d")
    width = WIDTH_SECONDS[bucket_width]
    names = _endpoint_names(endpoints, bucket_width)
    overlap_s = _seconds("overlap", overlap)
    start = to_unix("start_time", start_time)
    start -= start % width
    groupings = {name: _group_by(name, group_by) for name in names}
    for name in names:
        validate(
            ENDPOINTS[name],
            start_time=start,
            bucket_width=bucket_width,
            group_by=groupings[name] or None,
        )
    if client is None:
        AsyncUsageClient(api_key, base_url=base_url)  # the key and URL, checked now
    elif not isinstance(client, UsageClient):
        raise ValueError(f"client: expected a UsageClient, got {client!r}")
    lease = _Lease(client, api_key, base_url)
    resources = [
        _endpoint_resource(
            lease,
            schema_for(name, bucket_width),
            start=start,
            group_by=groupings[name],
            overlap_s=overlap_s,
        )
        for name in names
    ]
    return resources + _directory_resources(lease)
