"""A client bound to the loopback emulator (its clock shared), and a store of each kind."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator, Callable, Iterator
from typing import Any

import anyio
import anyio.to_thread
import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator, serve_in_thread
from openai_usage_async.store import Store, open_store
from openai_usage_async.store._read import Reader
from openai_usage_async.store._schema import TableSchema
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import NOW, TEST_KEY


@pytest.fixture(params=["whole", "clipped"])
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """The emulator, with the bucket in progress answered whole, then clipped at its clock:
    every store test runs both ways, as the service answers both ways."""
    async with Emulator(now=NOW, in_progress=request.param) as emu:
        yield emu


@pytest.fixture(scope="module", params=["whole", "clipped"])
def served(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The same, on a thread of its own, for the command line's subprocesses."""
    with serve_in_thread(now=NOW, in_progress=request.param) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=4) as c:
        yield same_clock(fast_retries(c, max_retries=8), emulator)


@pytest.fixture(params=["sqlite", "duckdb"])
def store_path(request: pytest.FixtureRequest, tmp_path: pathlib.Path) -> pathlib.Path:
    if request.param == "duckdb":
        # CI installs the duckdb extra, so this runs there; it skips only where it is missing.
        pytest.importorskip("duckdb", reason="the duckdb extra is not installed")
        return tmp_path / "usage.duckdb"
    return tmp_path / "usage.db"


@pytest.fixture
async def store(store_path: pathlib.Path) -> AsyncIterator[Store]:
    async with open_store(store_path) as s:
        yield s


def ordered(rows: list[tuple[Any, ...]]) -> list[tuple[Any, ...]]:
    """Rows in a canonical order (NULLs first in each column)."""
    return sorted(rows, key=lambda r: [(v is not None, v if v is not None else 0) for v in r])


async def query(store: Store, sql: str, parameters: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """Rows of ``sql`` read from the store as a reader does (read-only)."""

    def read() -> list[tuple[Any, ...]]:
        with Reader(store.path) as reader:
            return reader.execute(sql, parameters)

    return await anyio.to_thread.run_sync(read)


async def table_rows(store: Store, schema: TableSchema) -> list[tuple[Any, ...]]:
    columns = ", ".join(f'"{c}"' for c in schema.column_names)
    return ordered(await query(store, f'SELECT {columns} FROM "{schema.name}"'))


async def write(store: Store, fn: Callable[[Any], Any]) -> Any:
    """Run ``fn(backend)`` on a writer connection of its own, behind the sync's back."""

    def run() -> Any:
        db = store.backend(store.path)
        try:
            return fn(db)
        finally:
            db.close()

    return await anyio.to_thread.run_sync(run)


async def insert_rows(store: Store, schema: TableSchema, rows: list[tuple[Any, ...]]) -> None:
    """Put rows in behind the sync's back (to stage a group that vanished upstream)."""

    def insert(db: Any) -> None:
        with db.transaction():
            db.insert(schema.name, schema.column_kinds, rows)

    await write(store, insert)
