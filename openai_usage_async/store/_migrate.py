"""Schema versions: what each version of the store holds, and the way from one to the next.

A store records its schema version in ``_openai_usage_meta`` (key ``schema_version``).
Version 1 had no such table; it is recognised by its ``_openai_usage_tables``.

* A sync (the one writer) opens the store, and a store of an older version is migrated
  there, in one transaction: it is migrated whole or not at all.
* A store of a newer version is refused, naming both versions; nothing is written.
* Readers never migrate: they read versions 1 and 2 as they are.
* Version 1's code must refuse a migrated store rather than write to it, but it does not
  read any version number. So version 2 leaves a view under each of version 1's two
  bookkeeping names, and the first thing version 1 reads from them fails with an error
  that says to upgrade: loudly, before it writes anything.
* Rows go in by column name, never by position, and a data table whose real columns
  differ from what the store recorded for it is refused, saying what differs: a value is
  never put in another field's column. A field this version knows and the table lacks
  (a new result field) becomes a new column, NULL in the rows before it.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Protocol

import msgspec

from .._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from .._version import __version__
from ._errors import StoreError
from ._plan import Checkpoint, Range, merge, trim
from ._schema import Kind, TableSchema, schema_for

__all__ = [
    "SCHEMA_VERSION",
    "VERSIONS",
    "TableInfo",
    "add_columns",
    "check_columns",
    "create",
    "migrate",
    "read_checkpoints",
    "read_pending",
    "read_registry",
    "version_of",
]

#: The schema version this release writes.
SCHEMA_VERSION: Final = 2

#: What each version added, for people (``docs/backfill.md`` shows it).
VERSIONS: Final[dict[int, str]] = {
    1: (
        "openai_usage_async 0.1: one table per endpoint and width; _openai_usage_tables "
        "(each table's endpoint, width, grouping and column names) and "
        "_openai_usage_windows (checkpoints); the directory's projects, users, api_keys"
    ),
    2: (
        "openai_usage_async 0.2: _openai_usage_meta (schema_version); the registry "
        "(_openai_usage_registry) records each column's kind, the overlap and the last "
        "sync; checkpoints in _openai_usage_checkpoints, and _openai_usage_pending (what a "
        "sync began and did not finish); days that 0.1 stored in two pieces, or twice, are "
        "removed and fetched again whole by the next sync; version 1's bookkeeping names "
        "become views that make 0.1 refuse the store; spend_limits and spend_alerts"
    ),
}

META: Final = "_openai_usage_meta"
REGISTRY: Final = "_openai_usage_registry"
CHECKPOINTS: Final = "_openai_usage_checkpoints"
PENDING: Final = "_openai_usage_pending"
V1_TABLES: Final = "_openai_usage_tables"
V1_WINDOWS: Final = "_openai_usage_windows"

#: What version 1 reads first from its bookkeeping names, in a version 2 store: the
#: error text it shows (DuckDB), or the name of the function it cannot find (SQLite).
UPGRADE_MESSAGE: Final = (
    "this store was migrated to schema version 2 by openai_usage_async 0.2 or newer; "
    "upgrade openai_usage_async to use it"
)
UPGRADE_FUNCTION: Final = "this_store_needs_openai_usage_async_0_2_or_newer"


class Database(Protocol):
    """What reading the bookkeeping needs of a connection (the writer's or a reader's)."""

    @property
    def path(self) -> str: ...
    @property
    def types(self) -> Mapping[Kind, str]: ...
    def execute(self, sql: str, parameters: Sequence[Any] = ()) -> list[tuple[Any, ...]]: ...
    def tables(self) -> set[str]: ...
    def columns(self, table: str) -> list[tuple[str, str]]: ...


class Writer(Database, Protocol):
    """What creating and migrating need more: the writer's connection."""

    def tripwire(self, name: str, columns: Sequence[str]) -> str: ...


@dataclass(frozen=True, slots=True)
class TableInfo:
    """What the store recorded about one data table."""

    name: str
    endpoint: str
    bucket_width: str
    group_by: tuple[str, ...]
    columns: tuple[tuple[str, Kind | None], ...]  # kind None: version 1 did not record it
    overlap_s: int | None = None
    last_sync: int | None = None

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(name for name, _ in self.columns)

    @property
    def width_s(self) -> int:
        return WIDTH_SECONDS[self.bucket_width]


def q(name: str) -> str:
    """A quoted SQL identifier (our names are plain, but never trust a name)."""
    return '"' + name.replace('"', '""') + '"'


def _kinds_json(columns: Iterable[tuple[str, Kind | None]]) -> str:
    return msgspec.json.encode([[n, k] for n, k in columns]).decode()


def version_of(db: Database) -> int | None:
    """The store's schema version; None for an empty database. Refuses what is not a store."""
    names = db.tables()
    if META in names:
        rows = db.execute(f"SELECT value FROM {META} WHERE key = 'schema_version'")
        try:
            return int(rows[0][0])
        except (IndexError, ValueError, TypeError):
            raise StoreError(
                f"{db.path}: {META} has no schema_version: the store is damaged"
            ) from None
    if V1_TABLES in names:
        return 1
    if not names:
        return None
    raise StoreError(
        f"{db.path}: not a store of openai-usage (it holds other tables: "
        f"{', '.join(sorted(names)[:5])}); give the path of a store, or a new file"
    )


def check_version(db: Database, version: int) -> None:
    """Refuse a store written by a newer version, naming both."""
    if version <= SCHEMA_VERSION:
        return
    by = db.execute(f"SELECT value FROM {META} WHERE key = 'written_by'")
    who = f" by openai_usage_async {by[0][0]}" if by else ""
    raise StoreError(
        f"{db.path}: this store has schema version {version} (written{who}); this release "
        f"(openai_usage_async {__version__}) knows versions up to {SCHEMA_VERSION}: "
        "upgrade openai_usage_async to read or sync it"
    )


# -- reading, any version ---------------------------------------------------------------------


def _group(text: str) -> tuple[str, ...]:
    return tuple(g for g in text.split(",") if g)


def read_registry(db: Database, version: int) -> dict[str, TableInfo]:
    """Every data table the store recorded, by name."""
    out: dict[str, TableInfo] = {}
    if version == 1:
        rows = db.execute(
            f"SELECT name, endpoint, bucket_width, group_by, columns FROM {V1_TABLES}"
        )
        for name, endpoint, width, group_by, columns in rows:
            names = tuple(c for c in str(columns).split(",") if c)
            out[name] = TableInfo(
                name, endpoint, width, _group(group_by), tuple((n, None) for n in names)
            )
        return out
    rows = db.execute(
        f"SELECT name, endpoint, bucket_width, group_by, columns, overlap_s, last_sync "
        f"FROM {REGISTRY} ORDER BY name"
    )
    for name, endpoint, width, group_by, columns, overlap_s, last_sync in rows:
        kinds = msgspec.json.decode(columns, type=list[tuple[str, Kind]])
        out[name] = TableInfo(
            name,
            endpoint,
            width,
            _group(group_by),
            tuple(kinds),
            None if overlap_s is None else int(overlap_s),
            None if last_sync is None else int(last_sync),
        )
    return out


def read_checkpoints(
    db: Database, version: int, table_name: str | None = None
) -> dict[str, list[Checkpoint]]:
    """Every table's checkpoints (or one table's), in order of start."""
    table = V1_WINDOWS if version == 1 else CHECKPOINTS
    out: dict[str, list[Checkpoint]] = {}
    where, parameters = ("WHERE table_name = ? ", (table_name,)) if table_name else ("", ())
    rows = db.execute(
        f"SELECT table_name, start_time, end_time, fetched_at FROM {table} {where}"
        "ORDER BY table_name, start_time",
        parameters,
    )
    for name, start, end, fetched_at in rows:
        out.setdefault(name, []).append(Checkpoint(int(start), int(end), int(fetched_at)))
    return out


def read_pending(db: Database, version: int) -> dict[str, list[Range]]:
    """What unfinished syncs (and migrations) left to fetch, per table."""
    if version == 1:
        return {}
    out: dict[str, list[Range]] = {}
    for name, start, end in db.execute(
        f"SELECT table_name, start_time, end_time FROM {PENDING} ORDER BY table_name, start_time"
    ):
        out.setdefault(name, []).append((int(start), int(end)))
    return out


# -- the columns of a data table ------------------------------------------------------------


def _kind_of(declared: str) -> Kind | None:
    text = declared.upper()
    if "INT" in text:
        return "integer"
    if any(t in text for t in ("REAL", "DOUBLE", "FLOAT")):
        return "real"
    if any(t in text for t in ("TEXT", "CHAR", "VARCHAR", "STRING")):
        return "text"
    if "BOOL" in text:
        return "boolean"
    return None


def _column_kind(path: str, table: str, name: str, declared: str) -> Kind:
    """The kind of a column this version does not know, from its declared type."""
    kind = _kind_of(declared)
    if kind is None:
        raise StoreError(
            f"{path}: table {table}: column {name} has type {declared!r}, which no version of "
            "openai-usage writes; it was changed outside openai-usage: restore it, or sync "
            "into a new store"
        )
    return kind


def check_columns(db: Database, info: TableInfo) -> None:
    """Refuse a data table whose real columns differ from what the store recorded."""
    real = db.columns(info.name)
    if not real:
        raise StoreError(
            f"{db.path}: the store records a table {info.name}, but it is not there "
            "(dropped outside openai-usage?); sync into a new store, or restore it"
        )
    recorded = info.column_names
    names = [n for n, _ in real]
    problems = []
    missing = [n for n in recorded if n not in names]
    extra = [n for n in names if n not in recorded]
    if missing:
        problems.append("missing " + ", ".join(missing))
    if extra:
        problems.append("not recorded " + ", ".join(extra))
    common = [n for n in names if n in recorded]
    if [n for n in recorded if n in names] != common:
        moved = [
            a for a, b in zip([n for n in recorded if n in names], common, strict=True) if a != b
        ]
        problems.append("in another order " + ", ".join(moved))
    by_name = dict(real)
    for name, kind in info.columns:
        # Compared by kind (SQLite's INT is its INTEGER), not by the type's spelling.
        declared = by_name.get(name)
        if kind is not None and declared and _kind_of(declared) != _kind_of(db.types[kind]):
            problems.append(f"{name} is {by_name[name]}, recorded {db.types[kind]}")
    if problems:
        raise StoreError(
            f"{db.path}: table {info.name} does not have the columns the store recorded "
            f"for it ({'; '.join(problems)}). It was changed outside openai-usage, so its "
            "rows cannot be trusted to be where they belong: restore it as it was, or sync "
            "into a new store"
        )


def add_columns(db: Writer, info: TableInfo, schema: TableSchema) -> TableInfo:
    """Add the columns this version knows and the table lacks (NULL in the old rows).

    Runs inside the caller's transaction; returns the updated record.
    """
    have = set(info.column_names)
    new = [c for c in schema.columns if c.name not in have]
    if not new:
        return info
    for column in new:
        db.execute(
            f"ALTER TABLE {q(info.name)} ADD COLUMN {q(column.name)} {db.types[column.kind]}"
        )
    columns = info.columns + tuple((c.name, c.kind) for c in new)
    db.execute(
        f"UPDATE {REGISTRY} SET columns = ? WHERE name = ?", (_kinds_json(columns), info.name)
    )
    return TableInfo(
        info.name,
        info.endpoint,
        info.bucket_width,
        info.group_by,
        columns,
        info.overlap_s,
        info.last_sync,
    )


# -- creating and migrating (the writer, inside one transaction) ---------------------------------


def _create_bookkeeping(db: Writer) -> None:
    db.execute(f"CREATE TABLE {META} (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    db.execute(
        f"CREATE TABLE {REGISTRY} (name TEXT PRIMARY KEY, endpoint TEXT NOT NULL, bucket_width "
        "TEXT NOT NULL, group_by TEXT NOT NULL, columns TEXT NOT NULL, overlap_s BIGINT, "
        "last_sync BIGINT)"
    )
    db.execute(
        f"CREATE TABLE {CHECKPOINTS} (table_name TEXT NOT NULL, start_time BIGINT NOT NULL, "
        "end_time BIGINT NOT NULL, fetched_at BIGINT NOT NULL, PRIMARY KEY (table_name, "
        "start_time))"
    )
    db.execute(
        f"CREATE TABLE {PENDING} (table_name TEXT NOT NULL, start_time BIGINT NOT NULL, "
        "end_time BIGINT NOT NULL)"
    )
    # What version 1 reads first: it fails there, saying to upgrade (see the docstring).
    db.execute(db.tripwire(V1_TABLES, ("name", "endpoint", "bucket_width", "group_by", "columns")))
    db.execute(db.tripwire(V1_WINDOWS, ("table_name", "start_time", "end_time", "fetched_at")))


def _set_meta(db: Writer, **values: str) -> None:
    for key, value in values.items():
        db.execute(f"DELETE FROM {META} WHERE key = ?", (key,))
        db.execute(f"INSERT INTO {META} (key, value) VALUES (?, ?)", (key, value))


def create(db: Writer) -> None:
    """Make an empty database a store of this version."""
    _create_bookkeeping(db)
    _set_meta(db, schema_version=str(SCHEMA_VERSION), written_by=__version__)


def stamp(db: Writer) -> None:
    """Record this release as the store's last writer."""
    _set_meta(db, written_by=__version__)


def migrate(db: Writer, version: int) -> None:
    """Bring a store of an older version to this one (inside the caller's transaction)."""
    if version == 1:
        _from_1(db)
    _set_meta(
        db, schema_version=str(SCHEMA_VERSION), written_by=__version__, migrated_from=str(version)
    )


def _from_1(db: Writer) -> None:
    registry = read_registry(db, 1)
    checkpoints = read_checkpoints(db, 1)
    for info in registry.values():
        check_columns(db, info)  # refuse before changing anything
    _create_bookkeeping_v2_over_v1(db)
    for info in registry.values():
        known = {c.name: c.kind for c in schema_for(info.endpoint, info.bucket_width).columns}
        real = dict(db.columns(info.name))
        columns = tuple(
            (n, known.get(n) or _column_kind(db.path, info.name, n, real[n]))
            for n in info.column_names
        )
        db.execute(
            f"INSERT INTO {REGISTRY} (name, endpoint, bucket_width, group_by, columns) "
            "VALUES (?, ?, ?, ?, ?)",
            (
                info.name,
                info.endpoint,
                info.bucket_width,
                ",".join(info.group_by),
                _kinds_json(columns),
            ),
        )
        mine, pending = _repair(db, info, checkpoints.get(info.name, []))
        for c in mine:
            db.execute(
                f"INSERT INTO {CHECKPOINTS} (table_name, start_time, end_time, fetched_at) "
                "VALUES (?, ?, ?, ?)",
                (info.name, c.start, c.end, c.fetched_at),
            )
        for lo, hi in pending:
            db.execute(
                f"INSERT INTO {PENDING} (table_name, start_time, end_time) VALUES (?, ?, ?)",
                (info.name, lo, hi),
            )


def _create_bookkeeping_v2_over_v1(db: Writer) -> None:
    db.execute(f"DROP TABLE {V1_TABLES}")
    db.execute(f"DROP TABLE {V1_WINDOWS}")
    _create_bookkeeping(db)


def _repair(
    db: Writer, info: TableInfo, checkpoints: list[Checkpoint]
) -> tuple[list[Checkpoint], list[Range]]:
    """Take out every bucket version 1 may have stored wrongly (rows and checkpoints),
    and queue it for the next sync, which fetches it whole:

    * one bucket stored in two pieces: version 1 could resume a sync in the middle of a
      bucket;
    * one bucket stored twice: version 1 let two syncs of one store run together, and
      each inserted the bucket's results. A bucket holds one result per group, so two
      rows with the same start and the same values in every group column the endpoint
      has (those the table is not grouped by too: NULL, or not) say so.
    """
    w = info.width_s
    table = q(info.name)
    split = {
        int(s) - int(s) % w
        for (s,) in db.execute(
            f"SELECT DISTINCT start_time FROM {table} WHERE start_time % {w} <> 0"
        )
    }
    split |= {c.start - c.start % w for c in checkpoints if c.start % w}
    groups = [g for g in ENDPOINTS[info.endpoint].group_by if g in info.column_names]
    keys = ", ".join(["start_time", *map(q, groups)])
    doubled = {
        int(s) - int(s) % w
        for (s,) in db.execute(
            f"SELECT DISTINCT start_time FROM (SELECT {keys} FROM {table} GROUP BY {keys} "
            "HAVING COUNT(*) > 1) AS doubled"
        )
    }
    pending = merge((b, b + w) for b in split | doubled)
    for lo, hi in pending:
        db.execute(f"DELETE FROM {q(info.name)} WHERE start_time >= ? AND start_time < ?", (lo, hi))
        checkpoints = trim(checkpoints, (lo, hi), w)
    return checkpoints, pending
