"""The one read side: read-only connections, coverage, and what reports ask of a store.

Every reader (``Store.buckets``, ``Store.coverage``, ``Store.directory``, ``summary
--store``, ``budget``, ``serve``) comes through here. A :class:`Reader` opens the file
read-only (SQLite ``mode=ro``, DuckDB ``read_only=True``), never writes, never changes the
journal mode, never migrates: it reads version 1 and version 2 stores as they are, and
refuses a file that is not a store, or a store of a newer version, unchanged. All its
queries run in one read transaction, so what it reads is one commit's state, whatever a
sync commits meanwhile. It is blocking: the store runs it on a worker thread, never on
the sync's writer thread, so a reader never waits for a sync. Plain values out; the
formatting is the caller's.
"""

from __future__ import annotations

import datetime as dt
import os
from collections.abc import Sequence
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol, Self

import msgspec

from .._sansio.endpoints import WIDTH_SECONDS
from ..models import (
    Directory,
    OrganizationUser,
    Project,
    ProjectApiKey,
)
from . import _migrate
from ._errors import StoreError
from ._migrate import TableInfo, q
from ._plan import Checkpoint, Range, TableCoverage, coverage
from ._schema import Kind, TableSchema

__all__ = [
    "DEFAULT_OVERLAP_S",
    "CostDays",
    "CostTotal",
    "Reader",
    "StoredAlert",
    "StoredLimit",
    "UsageTotal",
]

#: The overlap coverage assumes for a table whose last sync did not record one.
DEFAULT_OVERLAP_S = 2 * 86_400


_DAY = 86_400
_EPOCH = dt.date(1970, 1, 1)


def _day(t: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=t // _DAY)


@dataclass
class CostDays:
    """Costs per UTC day by scope (USD), and the days a whole, closed bucket covers."""

    by_key: bool
    organization: dict[dt.date, float] = field(default_factory=dict)
    projects: dict[str, dict[dt.date, float]] = field(default_factory=dict)
    api_keys: dict[str, dict[dt.date, float]] = field(default_factory=dict)
    covered: set[dt.date] = field(default_factory=set)


@dataclass(frozen=True, slots=True)
class CostTotal:
    """Costs summed over a range for one project, line item and API key."""

    project_id: str | None
    line_item: str | None
    api_key_id: str | None
    usd: float


@dataclass(frozen=True, slots=True)
class UsageTotal:
    """Tokens and model requests summed over a range for one model and project."""

    endpoint: str
    model: str | None
    project_id: str | None
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    model_requests: int


@dataclass(frozen=True, slots=True)
class StoredLimit:
    """A row of ``spend_limits``."""

    scope: str
    project_id: str | None
    api_key_id: str | None
    threshold_usd: float
    enforcement: str | None
    fetched_at: int


@dataclass(frozen=True, slots=True)
class StoredAlert:
    """A row of ``spend_alerts``."""

    scope: str
    project_id: str | None
    id: str
    threshold_usd: float
    recipients: tuple[str, ...]
    fetched_at: int


class _Connection(Protocol):
    path: str
    types: dict[Kind, str]

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def tables(self) -> set[str]: ...
    def columns(self, table: str) -> list[tuple[str, str]]: ...
    def begin(self) -> None: ...
    def end(self) -> None: ...
    def close(self) -> None: ...


def connect(path: str) -> _Connection:
    """A read-only connection to the store at ``path`` (which must exist)."""
    if os.path.isdir(path):
        raise StoreError(f"{path}: is a directory; give the path of a store file")
    if not os.path.exists(path):
        raise StoreError(
            f"{path}: no store there; make one with `openai-usage sync --store {path} --start ...`"
        )
    if path.endswith(".duckdb"):
        from ._duckdb import DuckDBReader

        return DuckDBReader(path)
    from ._sqlite import SQLiteReader

    return SQLiteReader(path)


class Reader:
    """One read session of a store: ``with Reader(path) as r: r.coverage()``."""

    def __init__(self, path: str) -> None:
        self.path = path
        self._db = connect(path)
        try:
            self._db.begin()  # the version, like all the rest, read in one transaction
            version = _migrate.version_of(self._db)
            if version is not None:
                _migrate.check_version(self._db, version)
            self.version = version
            self._registry: dict[str, TableInfo] | None = None
            self._checkpoints: dict[str, list[Checkpoint]] | None = None
            self._checked: set[str] = set()
        except BaseException:
            self._db.close()
            raise

    def close(self) -> None:
        try:
            self._db.end()
        finally:
            self._db.close()

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        return self._db.execute(sql, parameters)

    @property
    def registry(self) -> dict[str, TableInfo]:
        """The store's data tables, by name (empty for an empty store)."""
        if self._registry is None:
            self._registry = (
                {} if self.version is None else _migrate.read_registry(self._db, self.version)
            )
        return self._registry

    @property
    def checkpoints(self) -> dict[str, list[Checkpoint]]:
        if self._checkpoints is None:
            self._checkpoints = (
                {} if self.version is None else _migrate.read_checkpoints(self._db, self.version)
            )
        return self._checkpoints

    def table_checkpoints(self, name: str) -> list[Checkpoint]:
        """One table's checkpoints (without reading every table's)."""
        if self._checkpoints is not None:
            return self._checkpoints.get(name, [])
        if self.version is None:
            return []
        return _migrate.read_checkpoints(self._db, self.version, name).get(name, [])

    def pending(self) -> dict[str, list[Range]]:
        return {} if self.version is None else _migrate.read_pending(self._db, self.version)

    def table(self, name: str) -> TableInfo | None:
        """A data table's record, its columns checked against the real table."""
        info = self.registry.get(name)
        if info is not None and name not in self._checked:
            _migrate.check_columns(self._db, info)
            self._checked.add(name)
        return info

    # -- coverage ---------------------------------------------------------------------------

    def coverage(self) -> list[TableCoverage]:
        """Every data table's :class:`TableCoverage`, by name."""
        out = []
        for name, info in sorted(self.registry.items()):
            checkpoints = self.checkpoints.get(name, [])
            last = info.last_sync
            if last is None and checkpoints and self.version == 1:
                last = max(c.fetched_at for c in checkpoints)
            out.append(
                coverage(
                    table=name,
                    endpoint=info.endpoint,
                    bucket_width=info.bucket_width,
                    group_by=info.group_by,
                    checkpoints=checkpoints,
                    width_s=WIDTH_SECONDS[info.bucket_width],
                    overlap_s=DEFAULT_OVERLAP_S if info.overlap_s is None else info.overlap_s,
                    last_sync=last,
                )
            )
        return out

    def covered(self, name: str) -> list[Range]:
        """The ranges of a table that some sync stored (merged)."""
        from ._plan import merge

        return merge((c.start, c.end) for c in self.checkpoints.get(name, []))

    # -- buckets ----------------------------------------------------------------------------

    def bucket_rows(
        self, schema: TableSchema, start: int, end: int, group_by: Sequence[str]
    ) -> list[tuple[Any, ...]]:
        """Rows of ``(start_time, end_time, <every column after them>)`` summed over the
        groups not asked for, by bucket and group, in order."""
        info = self.table(schema.name)
        if info is None:
            raise LookupError(schema.name)
        have = set(info.column_names)
        select = []
        for column in schema.columns[2:]:
            name = q(column.name)
            if column.name not in have:
                select.append("NULL")  # a field this version knows, newer than the table
            elif column.name in group_by:
                select.append(name)
            elif column.kind in ("integer", "real"):
                select.append(f"SUM({name})")
            elif column.name in schema.spec.group_by:
                select.append("NULL")
            else:
                select.append(f"MAX({name})")
        keys = ", ".join(["start_time", "end_time", *(q(g) for g in group_by)])
        sql = (
            f"SELECT start_time, end_time, {', '.join(select)} FROM {q(schema.name)} "
            f"WHERE start_time >= ? AND start_time < ? GROUP BY {keys} ORDER BY {keys}"
        )
        return self.execute(sql, (start, end))

    # -- costs by day, limits and alerts -------------------------------------------------------

    def cost_days(self, start: int, end: int) -> CostDays:
        """Costs per UTC day of ``[start, end)`` from ``costs_1d``, for the organization,
        each project and (when the table is grouped by it) each API key; and the days the
        table covers with a whole bucket that had closed when it was fetched."""
        info = self.table("costs_1d")
        if info is None:
            raise LookupError("costs_1d")
        have = set(info.column_names)
        project = q("project_id") if "project_id" in info.group_by else "NULL"
        key = q("api_key_id") if "api_key_id" in info.group_by else "NULL"
        value = "amount_value" if "amount_value" in have else "NULL"
        rows = self.execute(
            f"SELECT start_time, {project}, {key}, SUM({value}) FROM costs_1d "
            "WHERE start_time >= ? AND start_time < ? GROUP BY 1, 2, 3",
            (start, end),
        )
        out = CostDays(by_key="api_key_id" in info.group_by)
        for start_time, project_id, api_key_id, usd in rows:
            day = _day(int(start_time))
            amount = float(usd or 0.0)
            out.organization[day] = out.organization.get(day, 0.0) + amount
            scope = out.projects.setdefault(project_id or "", {})
            scope[day] = scope.get(day, 0.0) + amount
            if out.by_key:
                keyed = out.api_keys.setdefault(api_key_id or "", {})
                keyed[day] = keyed.get(day, 0.0) + amount
        for c in self.table_checkpoints("costs_1d"):
            first = max(c.start, start - start % _DAY)
            for day_start in range(first - first % _DAY, min(c.end, end), _DAY):
                whole = day_start >= c.start and day_start + _DAY <= c.end
                if whole and day_start + _DAY <= c.fetched_at:
                    out.covered.add(_day(day_start))
        return out

    def cost_totals(self, start: int | None = None, end: int | None = None) -> list[CostTotal]:
        """Costs summed by project, line item and API key (the columns the table is
        grouped by; None where it is not), over the whole table or ``[start, end)``."""
        info = self.table("costs_1d")
        if info is None:
            raise LookupError("costs_1d")
        picks = [
            q(g) if g in info.group_by else "NULL"
            for g in ("project_id", "line_item", "api_key_id")
        ]
        where, parameters = "", tuple[int, ...]()
        if start is not None and end is not None:
            where, parameters = "WHERE start_time >= ? AND start_time < ?", (start, end)
        rows = self.execute(
            f"SELECT {', '.join(picks)}, SUM(amount_value) FROM costs_1d {where} GROUP BY 1, 2, 3",
            parameters,
        )
        return [CostTotal(p, item, key, float(usd or 0.0)) for p, item, key, usd in rows]

    def usage_totals(
        self, table: str, start: int | None = None, end: int | None = None
    ) -> list[UsageTotal]:
        """Tokens and model requests of a usage table, summed by model and project (None
        where the table is not grouped by them), over the whole table or ``[start, end)``.
        A field the table has no column for sums to 0."""
        info = self.table(table)
        if info is None:
            raise LookupError(table)
        have = set(info.column_names)
        picks = [q(g) if g in info.group_by else "NULL" for g in ("model", "project_id")]
        sums = [
            f"SUM({q(f)})" if f in have else "0"
            for f in ("input_tokens", "output_tokens", "input_cached_tokens", "num_model_requests")
        ]
        where, parameters = "", tuple[int, ...]()
        if start is not None and end is not None:
            where, parameters = "WHERE start_time >= ? AND start_time < ?", (start, end)
        rows = self.execute(
            f"SELECT {', '.join(picks)}, {', '.join(sums)} FROM {q(table)} {where} GROUP BY 1, 2",
            parameters,
        )
        return [
            UsageTotal(info.endpoint, model, project, *(int(v or 0) for v in values))
            for model, project, *values in rows
        ]

    def spend_limits(self) -> list[StoredLimit] | None:
        """The hard limits the last sync that could read them stored; None if none did."""
        if "spend_limits" not in self._db.tables():
            return None
        rows = self.execute(
            "SELECT scope, project_id, api_key_id, threshold_usd, enforcement, fetched_at "
            "FROM spend_limits"
        )
        return [StoredLimit(*r) for r in rows]

    def spend_alerts(self) -> list[StoredAlert] | None:
        """The spend alerts the last sync that could read them stored; None if none did."""
        if "spend_alerts" not in self._db.tables():
            return None
        rows = self.execute(
            "SELECT scope, project_id, id, threshold_usd, recipients, fetched_at FROM spend_alerts"
        )
        return [
            StoredAlert(scope, project, i, usd, tuple(msgspec.json.decode(who or "[]")), at)
            for scope, project, i, usd, who, at in rows
        ]

    # -- the directory ----------------------------------------------------------------------

    def directory(self) -> Directory | None:
        """The names kept by the last sync that could read the directory, or None."""
        tables = self._db.tables()
        if not {"projects", "users", "api_keys"} <= tables:
            return None
        projects = self.execute("SELECT id, name, status FROM projects")
        users = self.execute("SELECT id, name, email, role FROM users")
        keys = self.execute("SELECT id, project_id, name FROM api_keys")
        return Directory(
            projects=[Project(id=i, name=n, status=st) for i, n, st in projects],
            users=[OrganizationUser(id=i, name=n, email=e, role=r) for i, n, e, r in users],
            api_keys=[ProjectApiKey(id=i, project_id=p, name=n) for i, p, n in keys],
        )
