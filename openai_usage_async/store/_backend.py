"""What both databases share: the bookkeeping tables, and one transaction per batch.

Every method is blocking and runs on the store's writer thread. Two bookkeeping tables
sit beside the data: ``_openai_usage_tables`` (each data table's endpoint, width and
grouping) and ``_openai_usage_windows`` (the checkpoints of ``_plan.py``). A batch of
windows commits in one transaction: for each window, the rows of every bucket that starts
in it are deleted (groups that vanished upstream vanish too; NULL group columns make a
key useless for this), the new rows inserted, and its checkpoint written. A table's
index is built after its first load rather than kept up row by row. So a bucket is
stored whole or not at all, and a sync killed at any point resumes from what committed.
"""

from __future__ import annotations

import abc
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, ClassVar

from ._plan import Checkpoint
from ._schema import Kind, TableSchema

__all__ = ["DirectoryTable", "SQLBackend", "StoreError", "WindowRows"]

TABLES = "_openai_usage_tables"
WINDOWS = "_openai_usage_windows"


class StoreError(Exception):
    """The store cannot be used: not writable, full, not a database, or damaged."""


@dataclass(slots=True)
class WindowRows:
    """One fetched window of one table, ready to commit."""

    schema: TableSchema
    start: int
    end: int
    fetched_at: int
    rows: list[tuple[Any, ...]]
    buckets: int
    #: No checkpoint overlapped it when the sync began: rows are only ever written with
    #: their checkpoint, so the range holds no row, and nothing needs deleting.
    fresh: bool = False


@dataclass(slots=True)
class DirectoryTable:
    """One directory table (``projects``, ``users``, ``api_keys``) and all its rows."""

    name: str
    columns: tuple[tuple[str, Kind], ...]
    rows: list[tuple[Any, ...]]


def q(name: str) -> str:
    """A quoted SQL identifier (our names are plain, but never trust a name)."""
    return '"' + name.replace('"', '""') + '"'


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
    def insert(self, schema: TableSchema, rows: list[tuple[Any, ...]]) -> None:
        """Insert rows (tuples in the schema's column order) into the schema's table."""

    @abc.abstractmethod
    def insert_plain(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        """Insert a few rows (the directory's) into ``table``."""

    @abc.abstractmethod
    def begin(self) -> None: ...

    @abc.abstractmethod
    def commit(self) -> None: ...

    @abc.abstractmethod
    def rollback(self) -> None: ...

    @abc.abstractmethod
    def close(self) -> None: ...

    # -- shared -----------------------------------------------------------------------------

    def has_table(self, name: str) -> bool:
        """Whether a data table of that name was ever synced."""
        return bool(self.execute(f"SELECT 1 FROM {TABLES} WHERE name = ?", (name,)))

    def setup(self) -> None:
        """Create the bookkeeping tables if they are not there."""
        self.begin()
        try:
            self.execute(
                f"CREATE TABLE IF NOT EXISTS {TABLES} (name TEXT PRIMARY KEY, endpoint TEXT NOT"
                " NULL, bucket_width TEXT NOT NULL, group_by TEXT NOT NULL, columns TEXT NOT NULL)"
            )
            self.execute(
                f"CREATE TABLE IF NOT EXISTS {WINDOWS} (table_name TEXT NOT NULL, start_time"
                " BIGINT NOT NULL, end_time BIGINT NOT NULL, fetched_at BIGINT NOT NULL,"
                " PRIMARY KEY (table_name, start_time))"
            )
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def look(self, schema: TableSchema, group_by: tuple[str, ...]) -> list[Checkpoint] | None:
        """Check the table's grouping, changing nothing; its checkpoints, None if new."""
        stored = self.execute(f"SELECT group_by FROM {TABLES} WHERE name = ?", (schema.name,))
        if not stored:
            return None
        self._check_grouping(schema, stored[0][0], group_by)
        found = self.execute(
            f"SELECT start_time, end_time, fetched_at FROM {WINDOWS} WHERE table_name = ?"
            " ORDER BY start_time",
            (schema.name,),
        )
        return [Checkpoint(int(s), int(e), int(f)) for s, e, f in found]

    @staticmethod
    def _check_grouping(schema: TableSchema, stored: str, group_by: tuple[str, ...]) -> None:
        if stored != ",".join(group_by):
            had = stored.replace(",", ", ") or "nothing (ungrouped)"
            asked = ", ".join(group_by) or "nothing (ungrouped)"
            raise ValueError(
                f"group_by: {schema.name} was first synced grouped by {had}; it cannot "
                f"also hold rows grouped by {asked} (its sums would count twice). Sync "
                "with the stored grouping, or into another store."
            )

    def prepare(self, schema: TableSchema, group_by: tuple[str, ...]) -> list[Checkpoint]:
        """Create the table (or check its grouping); return its checkpoints."""
        wanted = ",".join(group_by)
        self.begin()
        try:
            stored = self.execute(f"SELECT group_by FROM {TABLES} WHERE name = ?", (schema.name,))
            if stored:
                self._check_grouping(schema, stored[0][0], group_by)
            if not stored:
                columns = ", ".join(f"{q(c.name)} {self.types[c.kind]}" for c in schema.columns)
                self.execute(f"CREATE TABLE IF NOT EXISTS {q(schema.name)} ({columns})")
                # No index yet: the first load builds it once, at its end (see `index`).
                self.execute(
                    f"INSERT INTO {TABLES} VALUES (?, ?, ?, ?, ?)",
                    (
                        schema.name,
                        schema.spec.name,
                        schema.bucket_width,
                        wanted,
                        ",".join(schema.column_names),
                    ),
                )
            else:
                self._create_index(schema)  # in case a first load was killed before its end
            found = self.execute(
                f"SELECT start_time, end_time, fetched_at FROM {WINDOWS} WHERE table_name = ?"
                " ORDER BY start_time",
                (schema.name,),
            )
            self.commit()
        except BaseException:
            self.rollback()
            raise
        return [Checkpoint(int(s), int(e), int(f)) for s, e, f in found]

    def _create_index(self, schema: TableSchema) -> None:
        # One index serves both what a report filters on (a time range) and what it groups
        # by most (the project); each more index would slow every insert.
        keys = "start_time, project_id" if "project_id" in schema.column_names else "start_time"
        self.execute(
            f"CREATE INDEX IF NOT EXISTS {q(schema.name + '_time')} ON {q(schema.name)} ({keys})"
        )

    def index(self, schema: TableSchema) -> None:
        """Build the table's index if it is not there (once, after a first load)."""
        self.begin()
        try:
            self._create_index(schema)
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def write(self, batch: Sequence[WindowRows]) -> list[int]:
        """Commit a batch of windows in one transaction; return each window's replaced
        bucket count (buckets that had rows before)."""
        replaced = []
        self.begin()
        try:
            for w in batch:
                if w.fresh:  # no checkpoint covers it, so no row can be there: just insert
                    replaced.append(0)
                    if w.rows:
                        self.insert(w.schema, w.rows)
                    self._checkpoint(w)
                    continue
                table = q(w.schema.name)
                span = (w.start, w.end)
                [(count,)] = self.execute(
                    f"SELECT COUNT(DISTINCT start_time) FROM {table}"
                    " WHERE start_time >= ? AND start_time < ?",
                    span,
                )
                replaced.append(int(count))
                self.execute(f"DELETE FROM {table} WHERE start_time >= ? AND start_time < ?", span)
                if w.rows:
                    self.insert(w.schema, w.rows)
                self._checkpoint(w)
            self.commit()
        except BaseException:
            self.rollback()
            raise
        return replaced

    def replace_directory(self, tables: Sequence[DirectoryTable]) -> None:
        """Replace the directory tables' rows, all in one transaction."""
        self.begin()
        try:
            for t in tables:
                columns = ", ".join(f"{q(name)} {self.types[kind]}" for name, kind in t.columns)
                self.execute(f"CREATE TABLE IF NOT EXISTS {q(t.name)} ({columns})")
                self.execute(f"DELETE FROM {q(t.name)}")
                if t.rows:
                    self.insert_plain(t.name, [name for name, _ in t.columns], t.rows)
            self.commit()
        except BaseException:
            self.rollback()
            raise

    def _checkpoint(self, w: WindowRows) -> None:
        # Trim the checkpoints this window overlaps, keep what lies outside it, add its own.
        name = w.schema.name
        overlapping = self.execute(
            f"SELECT start_time, end_time, fetched_at FROM {WINDOWS}"
            " WHERE table_name = ? AND start_time < ? AND end_time > ?",
            (name, w.end, w.start),
        )
        self.execute(
            f"DELETE FROM {WINDOWS} WHERE table_name = ? AND start_time < ? AND end_time > ?",
            (name, w.end, w.start),
        )
        pieces = [(w.start, w.end, w.fetched_at)]
        for start, end, fetched_at in overlapping:
            if start < w.start:
                pieces.append((start, w.start, fetched_at))
            if end > w.end:
                pieces.append((w.end, end, fetched_at))
        for start, end, fetched_at in pieces:
            self.execute(
                f"INSERT INTO {WINDOWS} VALUES (?, ?, ?, ?)", (name, start, end, fetched_at)
            )
