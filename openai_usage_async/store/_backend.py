"""The writer: what both databases share, one transaction per batch of windows.

Every method is blocking and runs on the sync's writer thread, while the sync holds the
store's lock (``_lock``). A batch of windows commits in one transaction: for each window
its rows are built from the fetched Structs (here, off the event loop), the rows of every
bucket that starts in it are deleted if any checkpoint says they may be there (checked
inside the transaction, so a window is never inserted twice, lock or no lock), the new
rows are inserted by column name, and its checkpoint is written. A bucket is stored whole
or not at all, and a sync killed at any point resumes from what committed.
"""

from __future__ import annotations

import abc
import contextlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ..models import UsageBucket
from . import _migrate
from ._errors import StoreError
from ._migrate import CHECKPOINTS, PENDING, REGISTRY, TableInfo, q
from ._plan import Checkpoint, Range, merge, subtract, trim
from ._schema import Kind, TableSchema

__all__ = ["DirectoryTable", "SQLBackend", "StoreError", "TableState", "WindowRows", "q"]


@dataclass(slots=True)
class WindowRows:
    """One fetched window of one table, ready to commit: its buckets, as fetched."""

    schema: TableSchema
    start: int
    fetched_at: int
    buckets: list[UsageBucket[Any]]


@dataclass(frozen=True, slots=True)
class Written:
    """What committing one window did."""

    buckets: int
    replaced: int
    rows: int
    unknown: int


@dataclass(slots=True)
class TableState:
    """A data table as a sync finds it: its record, checkpoints and pending ranges."""

    info: TableInfo
    checkpoints: list[Checkpoint]
    pending: list[Range]
    new: bool


@dataclass(slots=True)
class DirectoryTable:
    """A table replaced whole by each sync that can read it (the directory, spend limits)."""

    name: str
    columns: tuple[tuple[str, Kind], ...]
    rows: list[tuple[Any, ...]]


class SQLBackend(abc.ABC):
    """The SQL both backends speak; subclasses connect, map kinds and insert rows."""

    types: ClassVar[dict[Kind, str]]

    def __init__(self, path: str) -> None:
        self.path = path

    # -- what a backend provides -------------------------------------------------------------

    @abc.abstractmethod
    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        """Run one statement; return its rows."""

    @abc.abstractmethod
    def insert(
        self, table: str, columns: Sequence[tuple[str, Kind]], rows: list[tuple[Any, ...]]
    ) -> None:
        """Insert rows (tuples in the order of ``columns``, (name, kind) pairs) by name."""

    @abc.abstractmethod
    def tables(self) -> set[str]:
        """The names of the database's tables and views."""

    @abc.abstractmethod
    def columns(self, table: str) -> list[tuple[str, str]]:
        """A table's columns in order, as (name, declared type); empty if no such table."""

    @abc.abstractmethod
    def tripwire(self, name: str, columns: Sequence[str]) -> str:
        """SQL for a view that fails when read, saying to upgrade (see ``_migrate``)."""

    @abc.abstractmethod
    def begin(self) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- shared -----------------------------------------------------------------------------

    @contextlib.contextmanager
    def transaction(self) -> Iterator[None]:
        self.begin()
        try:
            yield
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def open_schema(self) -> dict[str, TableInfo]:
        """Create the store, or migrate it from an older version (one transaction);
        refuse a newer one. The registry of its data tables."""
        with self.transaction():
            version = _migrate.version_of(self)
            if version is None:
                _migrate.create(self)
            else:
                _migrate.check_version(self, version)
                if version < _migrate.SCHEMA_VERSION:
                    _migrate.migrate(self, version)
            return _migrate.read_registry(self, _migrate.SCHEMA_VERSION)

    def check_tables(self, registry: dict[str, TableInfo], names: Sequence[str]) -> None:
        """Refuse the sync, before it writes anything, if a table it will write has
        columns that differ from what the store recorded."""
        for name in names:
            if name in registry:
                _migrate.check_columns(self, registry[name])

    def prepare(self, schema: TableSchema, group_by: tuple[str, ...]) -> TableState:
        """Create the table, or check it (grouping, columns) and add the columns this
        version knows that it lacks; its checkpoints and pending ranges."""
        with self.transaction():
            registry = _migrate.read_registry(self, _migrate.SCHEMA_VERSION)
            info = registry.get(schema.name)
            new = info is None
            if info is None:
                columns = ", ".join(f"{q(c.name)} {self.types[c.kind]}" for c in schema.columns)
                self.execute(f"CREATE TABLE {q(schema.name)} ({columns})")
                # No index yet: the first load builds it once, at its end (see `finish`).
                info = TableInfo(
                    schema.name,
                    schema.spec.name,
                    schema.bucket_width,
                    group_by,
                    tuple((c.name, c.kind) for c in schema.columns),
                )
                self.execute(
                    f"INSERT INTO {REGISTRY} (name, endpoint, bucket_width, group_by, columns) "
                    "VALUES (?, ?, ?, ?, ?)",
                    (
                        info.name,
                        info.endpoint,
                        info.bucket_width,
                        ",".join(group_by),
                        _migrate._kinds_json(info.columns),
                    ),
                )
            else:
                check_grouping(schema.name, info.group_by, group_by)
                _migrate.check_columns(self, info)
                info = _migrate.add_columns(self, info, schema)
                self._create_index(schema.name, info.column_names)  # a killed first load
            checkpoints = _migrate.read_checkpoints(self, _migrate.SCHEMA_VERSION).get(
                schema.name, []
            )
            pending = _migrate.read_pending(self, _migrate.SCHEMA_VERSION).get(schema.name, [])
        return TableState(info, checkpoints, pending, new)

    def begin_table(self, table: str, ranges: Sequence[Range]) -> None:
        """Record what this sync means to fetch, so that a sync that does not finish
        leaves it for the next one."""
        with self.transaction():
            old = self.execute(
                f"SELECT start_time, end_time FROM {PENDING} WHERE table_name = ?", (table,)
            )
            self.execute(f"DELETE FROM {PENDING} WHERE table_name = ?", (table,))
            for lo, hi in merge([*((int(s), int(e)) for s, e in old), *ranges]):
                self.execute(
                    f"INSERT INTO {PENDING} (table_name, start_time, end_time) VALUES (?, ?, ?)",
                    (table, lo, hi),
                )

    def finish_table(
        self, state: TableState, fetched: Sequence[Range], last_sync: int, overlap_s: int
    ) -> None:
        """The table's sync fetched every range of ``fetched``: those are no longer
        pending, nor is what a checkpoint now covers; what else was pending (past this
        sync's end) stays for the next one. Its index exists."""
        name = state.info.name
        with self.transaction():
            _migrate.stamp(self)
            pending = [
                (int(s), int(e))
                for s, e in self.execute(
                    f"SELECT start_time, end_time FROM {PENDING} WHERE table_name = ?", (name,)
                )
            ]
            if pending:
                covered = [
                    (int(s), int(e))
                    for s, e in self.execute(
                        f"SELECT start_time, end_time FROM {CHECKPOINTS} WHERE table_name = ?",
                        (name,),
                    )
                ]
                self.execute(f"DELETE FROM {PENDING} WHERE table_name = ?", (name,))
                for lo, hi in subtract(pending, [*fetched, *covered]):
                    self.execute(
                        f"INSERT INTO {PENDING} (table_name, start_time, end_time) "
                        "VALUES (?, ?, ?)",
                        (name, lo, hi),
                    )
            self.execute(
                f"UPDATE {REGISTRY} SET last_sync = ?, overlap_s = ? WHERE name = ?",
                (last_sync, overlap_s, name),
            )
            self._create_index(name, state.info.column_names)

    def _create_index(self, table: str, columns: Sequence[str]) -> None:
        # One index serves both what a report filters on (a time range) and what it groups
        # by most (the project); each more index would slow every insert.
        keys = "start_time, project_id" if "project_id" in columns else "start_time"
        self.execute(f"CREATE INDEX IF NOT EXISTS {q(table + '_time')} ON {q(table)} ({keys})")

    def write(self, batch: Sequence[WindowRows]) -> list[Written]:
        """Commit a batch of windows in one transaction; what each one did."""
        out = []
        with self.transaction():
            for w in batch:
                out.append(self._write_window(w))
        return out

    def _write_window(self, w: WindowRows) -> Written:
        schema, name = w.schema, w.schema.name
        rows = list(schema.rows(w.buckets))
        unknown = schema.unknown(w.buckets)
        end = w.buckets[-1].end_time if w.buckets else w.start
        if end <= w.start:  # nothing answered yet (a window in the service's future)
            return Written(0, 0, 0, unknown)
        table = q(name)
        # Checked here, inside the transaction: rows are only ever written with their
        # checkpoint, so with no checkpoint over the window there is nothing to delete.
        overlapping = [
            Checkpoint(int(s), int(e), int(f))
            for s, e, f in self.execute(
                f"SELECT start_time, end_time, fetched_at FROM {CHECKPOINTS}"
                " WHERE table_name = ? AND start_time < ? AND end_time > ?",
                (name, end, w.start),
            )
        ]
        replaced = 0
        if overlapping:
            span = (w.start, end)
            [(count,)] = self.execute(
                f"SELECT COUNT(DISTINCT start_time) FROM {table}"
                " WHERE start_time >= ? AND start_time < ?",
                span,
            )
            replaced = int(count)
            self.execute(f"DELETE FROM {table} WHERE start_time >= ? AND start_time < ?", span)
            self.execute(
                f"DELETE FROM {CHECKPOINTS} WHERE table_name = ? AND start_time < ? AND "
                "end_time > ?",
                (name, end, w.start),
            )
        if rows:
            self.insert(name, schema.column_kinds, rows)
        pieces = trim(overlapping, (w.start, end), schema.width_s)
        for c in [*pieces, Checkpoint(w.start, end, w.fetched_at)]:
            self.execute(
                f"INSERT INTO {CHECKPOINTS} (table_name, start_time, end_time, fetched_at) "
                "VALUES (?, ?, ?, ?)",
                (name, c.start, c.end, c.fetched_at),
            )
        return Written(len(w.buckets), replaced, len(rows), unknown)

    def replace_tables(self, tables: Sequence[DirectoryTable]) -> None:
        """Replace whole tables (the directory's, the spend limits'), in one transaction;
        a table whose columns changed between versions is made anew."""
        with self.transaction():
            for t in tables:
                wanted = [name for name, _ in t.columns]
                have = [name for name, _ in self.columns(t.name)]
                if have and have != wanted:
                    self.execute(f"DROP TABLE {q(t.name)}")
                    have = []
                if not have:
                    columns = ", ".join(f"{q(n)} {self.types[k]}" for n, k in t.columns)
                    self.execute(f"CREATE TABLE {q(t.name)} ({columns})")
                else:
                    self.execute(f"DELETE FROM {q(t.name)}")
                if t.rows:
                    self.insert(t.name, t.columns, t.rows)


def check_grouping(table: str, stored: tuple[str, ...], group_by: tuple[str, ...]) -> None:
    """A table keeps the grouping it was first synced with."""
    if stored != group_by:
        had = ", ".join(stored) or "nothing (ungrouped)"
        asked = ", ".join(group_by) or "nothing (ungrouped)"
        raise ValueError(
            f"group_by: {table} was first synced grouped by {had}; it cannot "
            f"also hold rows grouped by {asked} (its sums would count twice). Sync "
            "with the stored grouping, or into another store."
        )
