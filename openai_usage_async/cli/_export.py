"""Writing buckets out: CSV, JSON lines, JSON pages, Parquet; to stdout or atomically to a file.

Writers stream: each page is written as it arrives, so a long backfill never sits in
memory. A file is written under a temporary name beside it and renamed into place only
when everything succeeded, so a failure (or Ctrl-C) never leaves half a file.
"""

from __future__ import annotations

import contextlib
import csv
import errno
import io
import os
import secrets
import stat
import sys
from collections.abc import Iterator
from typing import IO, Any, Protocol

import msgspec

from ..models import Directory, UnknownResult, UsagePage, _named, row_columns, to_rows

__all__ = [
    "MissingExtraError",
    "OutputError",
    "Writer",
    "atomic_output",
    "make_writer",
    "row_columns",
]


class MissingExtraError(Exception):
    """An optional dependency is not installed; the message says which extra brings it."""


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


class OutputError(Exception):
    """The output file cannot be written; the message names the path (exit code 7)."""


def _cannot(path: str, exc: OSError) -> OutputError:
    why = exc.strerror or str(exc)
    directory = os.path.dirname(os.path.abspath(path))
    if isinstance(exc, FileNotFoundError) and not os.path.isdir(directory):
        why += f" (no directory {directory})"
    return OutputError(f"--output: cannot write {path}: {why}")


def _create_beside(path: str) -> tuple[int, str]:
    """A new temporary file beside ``path``, with the mode ``open(path, "w")`` would give.

    ``tempfile.mkstemp`` makes 0600 files, a mode that would survive the rename; ``os.open``
    with 0666 lets the umask decide, as for any new file. A file being replaced keeps its
    own mode.
    """
    directory = os.path.dirname(os.path.abspath(path))
    try:
        mode: int | None = stat.S_IMODE(os.stat(path).st_mode)
    except FileNotFoundError:
        mode = None
    flags = os.O_WRONLY | os.O_CREAT | os.O_EXCL | getattr(os, "O_BINARY", 0)
    while True:
        tmp = os.path.join(directory, f".{os.path.basename(path)}.{secrets.token_hex(4)}.tmp")
        try:
            # A replaced file's own mode from the start (then chmod past the umask), so a
            # 0600 file is never readable by others through its temporary file.
            fd = os.open(tmp, flags, 0o666 if mode is None else mode)
        except FileExistsError:
            continue
        break
    if mode is not None:
        try:
            os.chmod(tmp, mode)
        except BaseException:
            os.close(fd)
            os.unlink(tmp)
            raise
    return fd, tmp


#: Errors while writing that are about the file, not the data: said with its path.
_WRITE_ERRNOS = frozenset(
    getattr(errno, name)
    for name in ("ENOSPC", "EDQUOT", "EFBIG", "EIO", "EROFS")
    if hasattr(errno, name)
)


@contextlib.contextmanager
def atomic_output(path: str | None) -> Iterator[IO[bytes]]:
    """Stdout (``path`` None or ``-``), or a temporary file renamed to ``path`` on success.

    The file gets the mode a plain ``open()`` would give it (the umask's), or keeps its
    own when it is replaced. :class:`OutputError` names the path when it cannot be written.
    """
    if path is None or path == "-":
        yield sys.stdout.buffer
        sys.stdout.buffer.flush()
        return
    if os.path.isdir(path):
        raise OutputError(f"--output: {path} is a directory; give a file name")
    try:
        fd, tmp = _create_beside(path)
    except OSError as exc:
        raise _cannot(path, exc) from None
    try:
        try:
            with os.fdopen(fd, "wb") as out:
                yield out
            os.replace(tmp, path)
        except OSError as exc:
            if exc.errno in _WRITE_ERRNOS or exc.filename in (tmp, path):
                raise _cannot(path, exc) from exc
            raise
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
    """Rows batched into ``to_arrow`` tables (real UTC timestamps), in the fixed columns."""

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
        from ..arrow import to_arrow

        self._to_arrow = to_arrow
        types = {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}
        time = pa.timestamp("s", tz="UTC")
        self._pa = pa
        self._schema = pa.schema(
            [
                (name, time if name in ("start_time", "end_time") else types[kind])
                for name, kind in columns
            ]
        )
        self._names = [name for name, _ in columns]
        self._writer = pq.ParquetWriter(out, self._schema)
        self._buckets: list[Any] = []  # the buckets of the pages not written yet
        self._count = 0
        self._dropped = _Dropped(self._names)

    def write_page(self, page: UsagePage[Any]) -> None:
        self._buckets += page.data
        self._count += sum(len(bucket.results) for bucket in page.data)
        if self._count >= self._BATCH:
            self._flush()

    def _flush(self) -> None:
        buckets, count = self._buckets, self._count
        self._buckets, self._count = [], 0
        if not count:
            return
        pa = self._pa
        table = self._to_arrow(buckets, directory=self._directory)
        # Columns of unknown result types have no place in the fixed set: dropped, and
        # said so at the end (as for CSV).
        self._dropped.fields.update(set(table.column_names) - self._dropped.known)
        arrays = []
        for field in self._schema:
            if field.name not in table.column_names:  # no result of the known type here
                arrays.append(pa.nulls(table.num_rows, field.type))
                continue
            column = table.column(field.name)
            arrays.append(column if column.type == field.type else column.cast(field.type))
        self._writer.write_table(pa.Table.from_arrays(arrays, schema=self._schema))

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
