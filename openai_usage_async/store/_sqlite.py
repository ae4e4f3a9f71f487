"""The SQLite backend: the standard library's ``sqlite3``, in WAL mode.

The writer sets WAL (readers then never wait for it, nor it for them). Readers open the
file read-only (``mode=ro``): they never write, never change the journal mode, and so
never change a byte of the database file. In a directory where SQLite cannot make the
``-shm`` file a WAL reader needs (a read-only directory), they open it ``immutable=1``,
unless its ``-wal`` file holds commits (which an immutable read would not see).
"""

from __future__ import annotations

import os
import sqlite3
import urllib.parse
from collections.abc import Sequence
from typing import Any, ClassVar

from ._backend import SQLBackend
from ._errors import StoreError
from ._migrate import UPGRADE_FUNCTION, q
from ._schema import Kind

__all__ = ["SQLiteBackend", "SQLiteReader"]

_TYPES: dict[Kind, str] = {
    "integer": "INTEGER",
    "real": "REAL",
    "text": "TEXT",
    "boolean": "INTEGER",
}

#: How long a reader waits for a lock SQLite cannot avoid (a store in rollback-journal
#: mode, or WAL recovery after a crash): readers never wait long.
READ_TIMEOUT_S = 2.0


def store_error(path: str, exc: sqlite3.Error, *, reading: bool = False) -> StoreError:
    text = str(exc)
    if "not a database" in text or "malformed" in text:
        return StoreError(f"{path}: not an SQLite database this client can use ({text})")
    if "disk is full" in text or "disk I/O error" in text:
        return StoreError(f"{path}: the disk is full or failing ({text}); nothing was half-written")
    if "locked" in text or "busy" in text:
        return StoreError(f"{path}: the database is locked by another program ({text})")
    if reading and "unable to open" in text:
        return StoreError(f"{path}: cannot read the store there ({text}); check the path")
    if "unable to open" in text or "readonly" in text or "read-only" in text:
        return StoreError(f"{path}: cannot write the store there ({text}); check the path")
    return StoreError(f"{path}: {text}")


def _tables(db: sqlite3.Connection) -> set[str]:
    rows = db.execute(
        "SELECT name FROM sqlite_master WHERE type IN ('table', 'view') "
        "AND name NOT LIKE 'sqlite_%'"
    ).fetchall()
    return {str(name) for (name,) in rows}


def _columns(db: sqlite3.Connection, table: str) -> list[tuple[str, str]]:
    return [(str(r[1]), str(r[2]).upper()) for r in db.execute(f"PRAGMA table_info({q(table)})")]


class SQLiteBackend(SQLBackend):
    """``sqlite3`` in autocommit mode; every transaction is begun and ended explicitly."""

    types: ClassVar[dict[Kind, str]] = _TYPES

    def __init__(self, path: str) -> None:
        super().__init__(path)
        try:
            # One writer thread uses it at a time, hence no thread check.
            self._db = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        except sqlite3.Error as exc:
            raise store_error(path, exc) from None
        try:
            self._db.execute("PRAGMA journal_mode=WAL")
            # WAL + NORMAL: a crash of the process (even SIGKILL) loses no committed window;
            # a power cut may lose the last ones, never consistency.
            self._db.execute("PRAGMA synchronous=NORMAL")
            self._db.execute("PRAGMA busy_timeout=10000")
        except sqlite3.Error as exc:
            self._db.close()
            raise store_error(path, exc) from None

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None

    def insert(
        self, table: str, columns: Sequence[tuple[str, Kind]], rows: list[tuple[Any, ...]]
    ) -> None:
        names = ", ".join(q(name) for name, _ in columns)
        marks = ", ".join("?" * len(columns))
        try:
            self._db.executemany(f"INSERT INTO {q(table)} ({names}) VALUES ({marks})", rows)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None

    def tables(self) -> set[str]:
        try:
            return _tables(self._db)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None

    def columns(self, table: str) -> list[tuple[str, str]]:
        try:
            return _columns(self._db, table)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc) from None

    def tripwire(self, name: str, columns: Sequence[str]) -> str:
        # SQLite has no function that raises; a function that does not exist fails the
        # first statement that reads the view, naming itself.
        rest = "".join(f", NULL AS {q(c)}" for c in columns[1:])
        return f"CREATE VIEW {q(name)} AS SELECT {UPGRADE_FUNCTION}() AS {q(columns[0])}{rest}"

    def begin(self) -> None:
        self.execute("BEGIN IMMEDIATE")

    def commit(self) -> None:
        self.execute("COMMIT")

    def rollback(self) -> None:
        if self._db.in_transaction:
            self._db.execute("ROLLBACK")

    def close(self) -> None:
        self._db.close()


class SQLiteReader:
    """A read-only connection: never a write, never a change of journal mode."""

    types: dict[Kind, str] = _TYPES

    def __init__(self, path: str) -> None:
        self.path = path
        uri = "file:" + urllib.parse.quote(os.path.abspath(path))
        try:
            self._db = self._connect(uri + "?mode=ro")
        except sqlite3.OperationalError as exc:
            if "unable to open" not in str(exc) and "readonly" not in str(exc):
                raise store_error(path, exc, reading=True) from None
            # A WAL store in a directory where its -shm file cannot be made (read-only:
            # "unable to open" as root, "attempt to write a readonly database" for others):
            # read the file as it is, which SQLite allows only as immutable.
            try:
                self._db = self._connect(uri + "?mode=ro&immutable=1")
            except sqlite3.Error as again:
                raise store_error(path, again, reading=True) from None
            # An immutable read ignores the -wal file: refuse one that may hold commits
            # (more than its 32-byte header), rather than read the store as before them.
            wal = os.path.abspath(path) + "-wal"
            try:
                frames = os.stat(wal).st_size > 32
            except OSError:
                frames = False
            if frames:
                self._db.close()
                raise StoreError(
                    f"{path}: its last commits may still be in {wal}, and SQLite cannot make "
                    "the -shm file it needs to read them there (a read-only directory); "
                    "let the reader write in that directory, or run a sync of the store "
                    "where it can write, which folds them into the database"
                ) from None
        except sqlite3.Error as exc:
            raise store_error(path, exc, reading=True) from None

    @staticmethod
    def _connect(uri: str) -> sqlite3.Connection:
        db = sqlite3.connect(uri, uri=True, check_same_thread=False, timeout=READ_TIMEOUT_S)
        try:
            db.execute("SELECT count(*) FROM sqlite_master").fetchall()  # opens it for real
        except BaseException:
            db.close()
            raise
        return db

    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]:
        try:
            return self._db.execute(sql, parameters).fetchall()
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, reading=True) from None

    def tables(self) -> set[str]:
        try:
            return _tables(self._db)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, reading=True) from None

    def columns(self, table: str) -> list[tuple[str, str]]:
        try:
            return _columns(self._db, table)
        except sqlite3.Error as exc:
            raise store_error(self.path, exc, reading=True) from None

    def begin(self) -> None:
        """One read transaction: every query until :meth:`end` sees the same commit."""
        self.execute("BEGIN")

    def end(self) -> None:
        if self._db.in_transaction:
            self._db.execute("COMMIT")

    def close(self) -> None:
        self._db.close()
