"""A client bound to the loopback emulator (its clock shared), and a store of each kind."""

from __future__ import annotations

import pathlib
from collections.abc import AsyncIterator
from typing import Any

import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from openai_usage_async.store import Store, open_store
from openai_usage_async.store._schema import TableSchema
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import TEST_KEY


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


async def table_rows(store: Store, schema: TableSchema) -> list[tuple[Any, ...]]:
    db = store._backend_or_raise()
    columns = ", ".join(f'"{c}"' for c in schema.column_names)
    return ordered(await store._run(db.execute, f'SELECT {columns} FROM "{schema.name}"'))


async def insert_rows(store: Store, schema: TableSchema, rows: list[tuple[Any, ...]]) -> None:
    """Put rows in behind the sync's back (to stage a group that vanished upstream)."""
    db = store._backend_or_raise()

    def insert() -> None:
        db.begin()
        db.insert(schema, rows)
        db.commit()

    await store._run(insert)
