"""Writing buckets out: CSV, JSON lines, JSON pages, Parquet; to stdout or atomically to a file.

Writers stream: each page is written as it arrives, so a long backfill never sits in
memory. A file is written under a temporary name beside it and renamed into place only
when everything succeeded, so a failure (or Ctrl-C) never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv
import io
import os
import sys
import tempfile
from collections.abc import Iterator
from typing import IO, Any, Protocol

import msgspec

from ..models import NAME_COLUMNS, Directory, UnknownResult, UsagePage, _named, to_rows

__all__ = ["MissingExtraError", "Writer", "atomic_output", "make_writer", "row_columns"]


class MissingExtraError(Exception):
    """An optional dependency is not installed; the message says which extra brings it."""


def row_columns(result_type: type, names: bool = False) -> list[tuple[str, str]]:
    """The flat-row columns of a result type, with a kind: int, float, str or bool; with
    ``names``, each ID column is followed by its name column (see ``to_rows``)."""
    info = msgspec.inspect.type_info(result_type)
    assert isinstance(info, msgspec.inspect.StructType)
    columns = [("start_time", "int"), ("end_time", "int"), ("object", "str")]
    kinds = {
        msgspec.inspect.IntType: "int",
        msgspec.inspect.FloatType: "float",
        msgspec.inspect.StrType: "str",
        msgspec.inspect.BoolType: "bool",
    }
    for field in info.fields:
        t = field.type
        if isinstance(t, msgspec.inspect.UnionType):
            t = next(x for x in t.types if not isinstance(x, msgspec.inspect.NoneType))
        if isinstance(t, msgspec.inspect.StructType):  # a cost's amount
            columns += [(f"{field.name}_value", "float"), (f"{field.name}_currency", "str")]
        else:
            columns.append((field.name, kinds.get(type(t), "str")))
            if names and field.name in NAME_COLUMNS:
                columns.append((NAME_COLUMNS[field.name][0], "str"))
    return columns


def page_to_builtins(page: UsagePage[Any], directory: Directory | None = None) -> dict[str, Any]:
    """A page as plain JSON values, unknown results spelled as the server sent them; with
    a ``directory``, names follow their IDs in each result."""
    out: dict[str, Any] = msgspec.to_builtins(page)
    for bucket, plain in zip(page.data, out["data"], strict=True):
        for i, result in enumerate(bucket.results):
            if isinstance(result, UnknownResult):
                plain["results"][i] = {"object": result.object, **result.fields}
            if directory is not None:
                plain["results"][i] = _named(plain["results"][i], directory)
    return out


@contextlib.contextmanager
def atomic_output(path: str | None) -> Iterator[IO[bytes]]:
    """Stdout (``path`` None or ``-``), or a temporary file renamed to ``path`` on success."""
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    directory = os.path.dirname(os.path.abspath(path))
    fd, tmp = tempfile.mkstemp(dir=directory, prefix=f".{os.path.basename(path)}.", suffix=".tmp")
    try:
        with os.fdopen(fd, "wb") as out:
            yield out
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise


class Writer(Protocol):
    def write_page(self, page: UsagePage[Any]) -> None: ...

    def close(self) -> None: ...


class _JSONLines:
    def __init__(self, out: IO[bytes], directory: Directory | None) -> None:
        self._out = out
        self._encoder = msgspec.json.Encoder()
        self._directory = directory

    def write_page(self, page: UsagePage[Any]) -> None:
        rows = to_rows(page.data, directory=self._directory)
        lines = [self._encoder.encode(row) for row in rows]
        if lines:
            self._out.write(b"\n".join(lines) + b"\n")

    def close(self) -> None:
        pass


class _JSONPages:
    def __init__(self, out: IO[bytes], directory: Directory | None) -> None:
        self._out = out
        self._directory = directory
        self._first = True
        self._encoder = msgspec.json.Encoder()
        out.write(b"[")

    def write_page(self, page: UsagePage[Any]) -> None:
        self._out.write(b"\n" if self._first else b",\n")
        self._first = False
        self._out.write(self._encoder.encode(page_to_builtins(page, self._directory)))

    def close(self) -> None:
        self._out.write(b"\n]\n")


class _Dropped:
    """Counts fields of unknown result types that a fixed set of columns cannot hold."""

    def __init__(self, columns: list[str]) -> None:
        self.known = set(columns)
        self.fields: set[str] = set()

    def check(self, row: dict[str, Any]) -> None:
        extra = row.keys() - self.known
        if extra:
            self.fields |= extra

    def warn(self, fmt: str) -> None:
        if self.fields:
            print(
                f"openai-usage: warning: {fmt} has no column for {', '.join(sorted(self.fields))} "
                "(results of a type this version does not know); --format jsonl keeps them",
                file=sys.stderr,
            )


class _CSV:
    def __init__(
        self, out: IO[bytes], columns: list[tuple[str, str]], directory: Directory | None
    ) -> None:
        self._directory = directory
        self._text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
        self._names = [name for name, _ in columns]
        self._writer = csv.writer(self._text)
        self._writer.writerow(self._names)
        self._dropped = _Dropped(self._names)

    def write_page(self, page: UsagePage[Any]) -> None:
        for row in to_rows(page.data, directory=self._directory):
            self._dropped.check(row)
            self._writer.writerow([_csv_cell(row.get(name)) for name in self._names])

    def close(self) -> None:
        self._text.flush()
        self._text.detach()
        self._dropped.warn("CSV")


def _csv_cell(value: object) -> object:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    return value


class _Parquet:
    _BATCH = 50_000

    def __init__(
        self, out: IO[bytes], columns: list[tuple[str, str]], directory: Directory | None
    ) -> None:
        self._directory = directory
        try:
            import pyarrow as pa
            import pyarrow.parquet as pq
        except ImportError:
            raise MissingExtraError(
                "--format parquet needs pyarrow: pip install 'openai_usage_async[parquet]'"
            ) from None
        types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}
        self._pa = pa
        self._schema = pa.schema([(name, types[kind]) for name, kind in columns])
        self._names = [name for name, _ in columns]
        self._writer = pq.ParquetWriter(out, self._schema)
        self._rows: list[dict[str, Any]] = []
        self._dropped = _Dropped(self._names)

    def write_page(self, page: UsagePage[Any]) -> None:
        for row in to_rows(page.data, directory=self._directory):
            self._dropped.check(row)
            self._rows.append(row)
        if len(self._rows) >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        if self._rows:
            table = self._pa.Table.from_pylist(self._rows, schema=self._schema)
            self._writer.write_table(table)
            self._rows = []

    def close(self) -> None:
        self._flush()
        self._writer.close()
        self._dropped.warn("Parquet")


def make_writer(
    fmt: str, out: IO[bytes], result_type: type, directory: Directory | None = None
) -> Writer:
    """A streaming writer of ``fmt`` (csv, jsonl, json, parquet) for this result type; with
    a ``directory``, names follow their IDs."""
    if fmt == "jsonl":
        return _JSONLines(out, directory)
    if fmt == "json":
        return _JSONPages(out, directory)
    columns = row_columns(result_type, names=directory is not None)
    if fmt == "csv":
        return _CSV(out, columns, directory)
    if fmt == "parquet":
        return _Parquet(out, columns, directory)
    raise ValueError(f"format: {fmt!r} is not a streaming format")
