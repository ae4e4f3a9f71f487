"""Syncs at once on one store file, as cron and a backfill run them: real processes.

However many start together, they take turns (one holds the store's lock for its whole
sync), and the store ends with exactly what one sync stores: every row once.
"""

from __future__ import annotations

import pathlib
import sqlite3
import subprocess
import time
from typing import Any

import pytest

from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator, serve_in_thread
from openai_usage_async.store._lock import holder
from tests.cli.conftest import run_cli, start_cli
from tests.helpers import DAY, NOW
from tests.store.test_cli_sync import dump, sync_args

TODAY = NOW // DAY * DAY
START = TODAY - 40 * DAY
TABLES = ("costs_1d", "completions_1h", "embeddings_1h")


def backfill_args(emu: Emulator, store: pathlib.Path, *extra: str) -> list[list[str]]:
    """The two commands of one whole sync: costs daily, two endpoints hourly."""
    return [
        sync_args(
            emu, store, "--start", str(START), "--end", str(TODAY), "--endpoints", "costs", *extra
        ),
        sync_args(
            emu,
            store,
            "--start",
            str(START),
            "--end",
            str(TODAY),
            "--bucket-width",
            "1h",
            "--endpoints",
            "completions,embeddings",
            *extra,
        ),
    ]


@pytest.fixture(scope="module")
def reference(served: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What one sync stores, alone."""
    store = tmp_path_factory.mktemp("one") / "one.db"
    for args in backfill_args(served, store):
        done = run_cli(*args)
        assert done.returncode == 0, done.stderr
    return dump(store)


def no_duplicates(store: pathlib.Path) -> None:
    """No (bucket, group) key twice in any table."""
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        for table in TABLES:
            endpoint = table.rsplit("_", 1)[0]
            keys = ", ".join(["start_time", *(f'"{g}"' for g in ENDPOINTS[endpoint].group_by)])
            [(rows,)] = db.execute(f'SELECT COUNT(*) FROM "{table}"').fetchall()
            [(distinct,)] = db.execute(
                f'SELECT COUNT(*) FROM (SELECT DISTINCT {keys} FROM "{table}")'
            ).fetchall()
            assert rows == distinct > 0, table


def run_together(
    emu: Emulator, commands: list[list[str]], stagger_s: float = 0.0
) -> list[subprocess.CompletedProcess[bytes]]:
    procs = []
    for i, args in enumerate(commands):
        if i and stagger_s:
            time.sleep(stagger_s)
        procs.append(start_cli(*args))
    done = []
    for proc in procs:
        out, err = proc.communicate(timeout=120)
        done.append(subprocess.CompletedProcess(proc.args, proc.returncode, out, err))
    return done


@pytest.mark.parametrize("copies", [2, 3])
def test_syncs_started_together_store_what_one_stores(
    emu: Emulator, tmp_path: pathlib.Path, copies: int, reference: dict[str, Any]
) -> None:
    emu.latency_ms = 25  # they really overlap: each takes a while
    store = tmp_path / "usage.db"
    for args in backfill_args(emu, store, "--concurrency", "2"):
        done = run_together(emu, [args] * copies)
        assert [d.returncode for d in done] == [0] * copies, [d.stderr for d in done]
        waited = [d for d in done if b"waiting for it to finish" in d.stderr]
        assert len(waited) >= 1  # the others waited, and said for whom
        assert all(b"process " in d.stderr for d in waited)
    emu.latency_ms = 0
    assert dump(store) == reference
    no_duplicates(store)


def test_a_plain_sync_during_a_backfill_waits_for_it(
    emu: Emulator, tmp_path: pathlib.Path, reference: dict[str, Any]
) -> None:
    emu.latency_ms = 25
    store = tmp_path / "usage.db"
    costs, hourly = backfill_args(emu, store, "--concurrency", "2")
    assert run_cli(*costs).returncode == 0
    # The backfill, then a second later a plain sync (cron's) of the same tables.
    plain = sync_args(emu, store, "--end", str(TODAY), "--bucket-width", "1h")
    plain += ["--endpoints", "completions,embeddings"]
    backfill = start_cli(*hourly)
    deadline = time.monotonic() + 30
    while holder(str(store)) != backfill.pid and time.monotonic() < deadline:
        time.sleep(0.01)
    assert holder(str(store)) == backfill.pid
    cron = run_cli(*plain)
    backfill.communicate(timeout=120)
    assert backfill.returncode == 0
    assert cron.returncode == 0, cron.stderr
    assert f"process {backfill.pid} is syncing this store" in cron.stderr
    emu.latency_ms = 0
    assert dump(store) == reference
    no_duplicates(store)


def test_no_wait_exits_7_at_once_naming_the_holder(
    emu: Emulator, tmp_path: pathlib.Path, reference: dict[str, Any]
) -> None:
    emu.latency_ms = 25
    store = tmp_path / "usage.db"
    costs, hourly = backfill_args(emu, store, "--concurrency", "2")
    running = start_cli(*hourly)
    deadline = time.monotonic() + 30
    while holder(str(store)) != running.pid and time.monotonic() < deadline:
        time.sleep(0.01)
    # The refused sync talks to an emulator of its own: it must send it nothing.
    with serve_in_thread(now=NOW) as other:
        assert other.base_url is not None
        refused = run_cli(*hourly, "--no-wait", "--base-url", other.base_url)
        assert other.statistics().requests_total == 0
    assert refused.returncode == 7
    assert refused.stderr == (
        f"openai-usage: error: {store}: process {running.pid} is syncing this store "
        "(--no-wait: not waiting)\n"
    )
    running.communicate(timeout=120)
    assert running.returncode == 0
    assert run_cli(*costs).returncode == 0
    emu.latency_ms = 0
    assert dump(store) == reference
    no_duplicates(store)
