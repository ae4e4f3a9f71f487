"""The DuckDB backend (extra ``duckdb``): windows go in as Arrow tables, column-wise.

DuckDB lets one process at a time open a file for writing, and no other process read it
meanwhile. A sync holds the file only for its own duration; a reader that comes during a
sync is refused at once, naming the process that syncs, rather than left to wait. A
sync that comes while another process reads the file waits for it to close the file
(``wait=False``: is refused, naming that process).
"""

from __future__ import annotations

import os
import re
from collections.abc import Sequence
from typing import Any, ClassVar

from ._backend import SQLBackend
from ._errors import StoreBusyError, StoreError, holder_text
from ._lock import holder
from ._migrate import UPGRADE_MESSAGE, q
from ._schema import Kind

__all__ = ["DuckDBBackend", "DuckDBReader"]

_MISSING = "the DuckDB store needs the duckdb extra: pip install 'openai_usage_async[duckdb]'"

_TYPES: dict[Kind, str] = {
    "integer": "BIGINT",
    "real": "DOUBLE",
    "text": "VARCHAR",
    "boolean": "BOOLEAN",
}


def _import() -> Any:
    try:
        import duckdb
        import pyarrow  # noqa: F401  (the writer's batches are Arrow tables)
    except ImportError as exc:
        raise ImportError(_MISSING) from exc
    return duckdb


def _error(path: str, exc: Exception, *, reading: bool = False) -> StoreError:
    text = str(exc)
    found = re.search(r"PID (\d+)", text)
    if not reading and "different configuration" in text:
        # The sync holds the store's lock: what has the file open is no sync of ours.
        return StoreBusyError(
            f"{path}: a connection in this process has this DuckDB store open read-only (a "
            "read of the store, or a duckdb.connect of your own), and DuckDB lets no one "
            "write to it until it is closed",
            os.getpid(),
        )
    if not reading and "Conflicting lock" in text:
        pid = int(found.group(1)) if found else None
        who = "another process" if pid is None else f"process {pid}"
        return StoreBusyError(
            f"{path}: {who} has this DuckDB store open, and DuckDB lets no one else write "
            "to it until it closes it",
            pid,
        )
    if reading and (
        "Conflicting lock" in text
        or "Could not set lock" in text
        or "different configuration" in text
    ):
        pid = holder(path)
        if pid is None and found:
            pid = int(found.group(1))
        return StoreBusyError(
            f"{path}: {holder_text(pid)} is syncing this DuckDB store, and DuckDB lets no "
            "one read it meanwhile; try again when that sync ends (or use SQLite, which "
            "readers share with a sync)",
            pid,
        )
    if "Could not set lock" in text:  # not another process: the file system's refusal
        return StoreError(f"{path}: cannot lock the DuckDB file ({text})")
    if "not a valid DuckDB database" in text or "Unable to open" in text:
        return StoreError(f"{path}: not a DuckDB database this client can use ({text})")
    if "No space left" in text:
        return StoreError(f"{path}: the disk is full ({text}); nothing was half-written")
    if reading and ("Permission denied" in text or "Cannot open" in text):
        return StoreError(f"{path}: cannot read the store there ({text}); check the path")
    if "Permission denied" in text or "Cannot open" in text or "read-only" in text:
        return StoreError(f"{path}: cannot write the store there ({text}); check the path")
    return StoreError(f"{path}: {text}")


_TABLES = (
    "SELECT table_name FROM information_schema.tables WHERE table_schema = 'main'"
    " AND table_catalog = current_database()"
)
_COLUMNS = (
    "SELECT column_name, data_type FROM information_schema.columns WHERE table_name = ?"
    " AND table_schema = 'main' AND table_catalog = current_database()"
    " ORDER BY ordinal_position"
)


class DuckDBBackend(SQLBackend):
    """One DuckDB connection; rows are inserted as an Arrow table, never row by row."""

    types: ClassVar[dict[Kind, str]] = _TYPES

    def __init__(self, path: str) -> None:
        duckdb = _import()
        import pyarrow

        super().__init__(path)
        self._duckdb = duckdb
        self._arrow = pyarrow
        self._arrow_types = {
            "integer": pyarrow.int64(),
            "real": pyarrow.float64(),
            "text": pyarrow.string(),
            "boolean": pyarrow.bool_(),
        }
        try:
            self._db = duckdb.connect(path)
        except duckdb.Error as exc:
            raise _error(path, exc) from None

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._db.execute(sql, list(parameters)).fetchall())
        except self._duckdb.Error as exc:
            raise _error(self.path, exc) from None

    def insert(
        self, table: str, columns: Sequence[tuple[str, Kind]], rows: list[tuple[Any, ...]]
    ) -> None:
        pa = self._arrow
        values = list(zip(*rows, strict=True))
        batch = pa.table(
            [
                pa.array(v, type=self._arrow_types[kind])
                for v, (_, kind) in zip(values, columns, strict=True)
            ],
            names=[name for name, _ in columns],
        )
        names = ", ".join(q(name) for name, _ in columns)
        try:
            self._db.register("_openai_usage_batch", batch)
            try:  # by column name, never by position
                self._db.execute(
                    f"INSERT INTO {q(table)} ({names}) SELECT {names} FROM _openai_usage_batch"
                )
            finally:
                self._db.unregister("_openai_usage_batch")
        except self._duckdb.Error as exc:
            raise _error(self.path, exc) from None

    def tables(self) -> set[str]:
        return {str(n) for (n,) in self.execute(_TABLES)}

    def columns(self, table: str) -> list[tuple[str, str]]:
        return [(str(n), str(t).upper()) for n, t in self.execute(_COLUMNS, (table,))]

    def tripwire(self, name: str, columns: Sequence[str]) -> str:
        message = UPGRADE_MESSAGE.replace("'", "''")
        rest = "".join(f", NULL AS {q(c)}" for c in columns[1:])
        return f"CREATE VIEW {q(name)} AS SELECT error('{message}') AS {q(columns[0])}{rest}"

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        try:
            self._db.execute("ROLLBACK")
        except self._duckdb.Error:
            pass  # no transaction was open

    def close(self) -> None:
        self._db.close()


class DuckDBReader:
    """A read-only connection (``read_only=True``): refused at once during a sync."""

    types: dict[Kind, str] = _TYPES

    def __init__(self, path: str) -> None:
        duckdb = _import()
        self.path = path
        self._duckdb = duckdb
        try:
            self._db = duckdb.connect(path, read_only=True)
        except duckdb.Error as exc:
            raise _error(path, exc, reading=True) from None

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return list(self._db.execute(sql, list(parameters)).fetchall())
        except self._duckdb.Error as exc:
            raise _error(self.path, exc, reading=True) from None

    def tables(self) -> set[str]:
        return {str(n) for (n,) in self.execute(_TABLES)}

    def columns(self, table: str) -> list[tuple[str, str]]:
        return [(str(n), str(t).upper()) for n, t in self.execute(_COLUMNS, (table,))]

    def begin(self) -> None:
        self.execute("BEGIN TRANSACTION")

    def end(self) -> None:
        try:
            self._db.execute("COMMIT")
        except self._duckdb.Error:
            pass

    def close(self) -> None:
        self._db.close()
