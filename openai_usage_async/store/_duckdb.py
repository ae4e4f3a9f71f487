"""The DuckDB backend (extra ``duckdb``): windows go in as Arrow tables, column-wise."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, ClassVar

from ._backend import SQLBackend, StoreError, q
from ._schema import Kind, TableSchema

__all__ = ["DuckDBBackend"]

_MISSING = "the DuckDB store needs the duckdb extra: pip install 'openai_usage_async[duckdb]'"


class DuckDBBackend(SQLBackend):
    """One DuckDB connection; rows are inserted as an Arrow table, never row by row."""

    types: ClassVar[dict[Kind, str]] = {
        "integer": "BIGINT",
        "real": "DOUBLE",
        "text": "VARCHAR",
        "boolean": "BOOLEAN",
    }

    def __init__(self, path: str) -> None:
        try:
            import duckdb
            import pyarrow
        except ImportError as exc:
            raise ImportError(_MISSING) from exc
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
            self.setup()
        except duckdb.Error as exc:
            raise self._error(exc) from None

    def _error(self, exc: Exception) -> StoreError:
        text = str(exc)
        if "not a valid DuckDB database" in text or "Unable to open" in text:
            return StoreError(f"{self.path}: not a DuckDB database this client can use ({text})")
        if "No space left" in text:
            return StoreError(f"{self.path}: the disk is full ({text}); nothing was half-written")
        if "Permission denied" in text or "Cannot open" in text or "read-only" in text:
            return StoreError(f"{self.path}: cannot write the store there ({text}); check the path")
        return StoreError(f"{self.path}: {text}")

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, list(parameters)).fetchall()
        except self._duckdb.Error as exc:
            raise self._error(exc) from None

    def insert(self, schema: TableSchema, rows: list[tuple[Any, ...]]) -> None:
        pa = self._arrow
        columns = list(zip(*rows, strict=True))
        table = pa.table(
            [
                pa.array(values, type=self._arrow_types[column.kind])
                for values, column in zip(columns, schema.columns, strict=True)
            ],
            names=list(schema.column_names),
        )
        try:
            self._db.register("_openai_usage_batch", table)
            try:
                self._db.execute(f"INSERT INTO {q(schema.name)} SELECT * FROM _openai_usage_batch")
            finally:
                self._db.unregister("_openai_usage_batch")
        except self._duckdb.Error as exc:
            raise self._error(exc) from None

    def insert_plain(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(q(c) for c in columns)
        marks = ", ".join("?" * len(columns))
        try:  # a few thousand rows at most: row by row is fine here
            self._db.executemany(f"INSERT INTO {q(table)} ({names}) VALUES ({marks})", rows)
        except self._duckdb.Error as exc:
            raise self._error(exc) from None

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
