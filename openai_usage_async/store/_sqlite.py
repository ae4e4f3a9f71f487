"""The SQLite backend: the standard library's ``sqlite3``, in WAL mode."""

from __future__ import annotations

import sqlite3
from collections.abc import Sequence
from typing import Any, ClassVar

from ._backend import SQLBackend, StoreError, q
from ._schema import Kind, TableSchema

__all__ = ["SQLiteBackend"]


def _store_error(path: str, exc: sqlite3.Error) -> StoreError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path}: not an SQLite database this client can use ({text})")
    if "disk is full" in text or "disk I/O error" in text:
        return StoreError(f"{path}: the disk is full or failing ({text}); nothing was half-written")
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return StoreError(f"{path}: cannot write the store there ({text}); check the path")
    return StoreError(f"{path}: {text}")


class SQLiteBackend(SQLBackend):
    """``sqlite3`` in autocommit mode; every transaction is begun and ended explicitly."""

    types: ClassVar[dict[Kind, str]] = {
        "integer": "INTEGER",
        "real": "REAL",
        "text": "TEXT",
        "boolean": "INTEGER",
    }

    def __init__(self, path: str) -> None:
        super().__init__(path)
        try:
            # One writer thread uses it at a time (the store serializes), hence no thread check.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a crash of the process (even SIGKILL) loses no committed window;
            # a power cut may lose the last ones, never consistency.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
            self.setup()
        except sqlite3.Error as exc:
            raise _store_error(path, exc) from None

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def insert(self, schema: TableSchema, rows: list[tuple[Any, ...]]) -> None:
        marks = ", ".join("?" * len(schema.columns))
        try:
            self._db.executemany(f"INSERT INTO {q(schema.name)} VALUES ({marks})", rows)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def insert_plain(self, table: str, columns: Sequence[str], rows: list[tuple[Any, ...]]) -> None:
        names = ", ".join(q(c) for c in columns)
        marks = ", ".join("?" * len(columns))
        try:
            self._db.executemany(f"INSERT INTO {q(table)} ({names}) VALUES ({marks})", rows)
        except sqlite3.Error as exc:
            raise _store_error(self.path, exc) from None

    def begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        self._db.close()
