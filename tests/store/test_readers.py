"""Readers never write and never wait long: during a sync, on read-only files, on files
that are not stores."""

from __future__ import annotations

import contextlib
import json
import pathlib
import shutil
import sqlite3
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator

import anyio
import pytest

from openai_usage_async.emulator import Emulator
from openai_usage_async.store import StoreBusyError, StoreError, open_store
from openai_usage_async.store._lock import holder
from tests.cli.conftest import cli_env, run_cli, start_cli
from tests.helpers import DAY, NOW
from tests.store.test_cli_sync import sync_args

TODAY = NOW // DAY * DAY
START = TODAY - 30 * DAY
SPAN = ["--start", str(START), "--end", str(TODAY)]


def make_store(emu: Emulator, store: pathlib.Path) -> None:
    done = run_cli(*sync_args(emu, store, *SPAN))
    assert done.returncode == 0, done.stderr


def summary(store: pathlib.Path) -> subprocess.CompletedProcess[str]:
    return run_cli("summary", "--store", str(store), *SPAN, key=None)


def slow_sync(emu: Emulator, store: pathlib.Path) -> subprocess.Popen:  # type: ignore[type-arg]
    """A long hourly backfill, holding the store while the test reads it."""
    emu.latency_ms = 40
    args = ["--start", str(START - 60 * DAY), "--end", str(TODAY), "--bucket-width", "1h"]
    args += ["--endpoints", "completions,embeddings,images", "--concurrency", "2"]
    proc = start_cli(*sync_args(emu, store, *args), stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while holder(str(store)) != proc.pid and time.monotonic() < deadline:
        time.sleep(0.01)
    assert holder(str(store)) == proc.pid
    return proc


def stop(proc: subprocess.Popen, emu: Emulator) -> None:  # type: ignore[type-arg]
    proc.kill()
    proc.communicate()
    emu.latency_ms = 0


def test_summary_from_a_store_answers_while_a_sync_writes_it(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "usage.db"
    make_store(emu, store)
    idle = summary(store)
    assert idle.returncode == 0, idle.stderr
    proc = slow_sync(emu, store)
    try:
        time.sleep(0.5)  # it commits windows meanwhile
        busy = summary(store)
        assert proc.poll() is None  # the sync was still running all along
    finally:
        stop(proc, emu)
    assert busy.returncode == 0, busy.stderr
    assert busy.stdout == idle.stdout  # the costs it reports were not being rewritten


async def test_reading_during_a_sync_takes_no_wait(emu: Emulator, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "usage.db"
    make_store(emu, store)
    proc = slow_sync(emu, store)
    try:
        async with open_store(store) as s:
            for _ in range(5):
                started = time.monotonic()
                costs = await s.buckets("costs", start_time=START, end_time=TODAY)
                covered = await s.coverage()
                assert time.monotonic() - started < 2.0  # the contract's bound
                assert len(costs) == 30 and {c.table for c in covered} >= {"costs_1d"}
                await anyio.sleep(0.1)
        assert proc.poll() is None
    finally:
        stop(proc, emu)


async def test_a_duckdb_store_during_a_sync_is_refused_at_once_naming_the_holder(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb extra is not installed")
    store = tmp_path / "usage.duckdb"
    make_store(emu, store)
    proc = slow_sync(emu, store)
    try:
        started = time.monotonic()
        async with open_store(store) as s:
            with pytest.raises(StoreBusyError, match=f"process {proc.pid} is syncing") as caught:
                await s.coverage()
        assert caught.value.pid == proc.pid
        assert time.monotonic() - started < 2.0
        refused = summary(store)
        assert refused.returncode == 7
        assert f"process {proc.pid} is syncing this DuckDB store" in refused.stderr
    finally:
        stop(proc, emu)


#: A program that reads a DuckDB store: it holds the file open until told to close it.
DUCKDB_READER = """
import sys, duckdb
db = duckdb.connect(sys.argv[1], read_only=True)
print(db.execute("SELECT count(*) FROM costs_1d").fetchone()[0], flush=True)
sys.stdin.readline()
db.close()
"""


def test_a_sync_waits_for_a_duckdb_reader_in_another_process_to_close_the_store(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    pytest.importorskip("duckdb", reason="the duckdb extra is not installed")
    store = tmp_path / "usage.duckdb"
    make_store(emu, store)
    reader = subprocess.Popen(
        [sys.executable, "-c", DUCKDB_READER, str(store)],
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        text=True,
    )
    assert reader.stdin is not None and reader.stdout is not None
    try:
        assert int(reader.stdout.readline()) > 0  # it has the store open
        earlier = START - 5 * DAY
        more = ["--start", str(earlier), "--end", str(TODAY), "--endpoints", "costs"]
        refused = run_cli(*sync_args(emu, store, *more, "--no-wait"))
        assert refused.returncode == 7
        assert f"process {reader.pid} has this DuckDB store open" in refused.stderr
        waiting = start_cli(*sync_args(emu, store, *more), text=True)
        deadline = time.monotonic() + 1.0
        while time.monotonic() < deadline and waiting.poll() is None:
            time.sleep(0.05)
        assert waiting.poll() is None  # it waits for the reader, rather than failing
        reader.stdin.write("\n")
        reader.stdin.flush()
        assert reader.wait(timeout=30) == 0
        out, err = waiting.communicate(timeout=60)
    finally:
        reader.kill()
        reader.communicate()
    assert waiting.returncode == 0, err
    assert f"process {reader.pid} has this DuckDB store open" in err and "waiting" in err
    assert out.splitlines()[1].startswith("costs ")  # its report: the endpoint's line
    status = run_cli("sync", "--status", "--store", str(store), "--format", "json", key=None)
    assert status.returncode == 0, status.stderr
    [costs] = [t for t in json.loads(status.stdout)["tables"] if t["table"] == "costs_1d"]
    assert costs["start"] == earlier  # the sync that waited stored the days it was asked


@contextlib.contextmanager
def immutable(path: pathlib.Path) -> Iterator[None]:
    """``chattr +i``: not even root may write it (removed whatever happens)."""
    subprocess.run(["chattr", "+i", str(path)], check=True)
    try:
        yield
    finally:
        subprocess.run(["chattr", "-i", str(path)], check=True)


@pytest.mark.parametrize("where", ["file", "directory"])
def test_a_read_only_store_is_read_and_left_byte_identical(
    emu: Emulator, tmp_path: pathlib.Path, where: str
) -> None:
    folder = tmp_path / "store"
    folder.mkdir()
    store = folder / "usage.db"
    make_store(emu, store)
    want = summary(store).stdout
    before = store.read_bytes()
    store.chmod(0o444)
    # A file nobody may change; or a directory where SQLite cannot make its -shm file.
    with immutable(store if where == "file" else folder):
        done = summary(store)
        status = run_cli("sync", "--status", "--store", str(store), key=None)
    assert done.returncode == 0, done.stderr
    assert done.stdout == want
    assert status.returncode == 0 and "costs_1d" in status.stdout
    assert store.read_bytes() == before


#: A writer killed before SQLite folded its last commit into the database file.
KILLED_WRITER = """
import os, sys, sqlite3
db = sqlite3.connect(sys.argv[1], isolation_level=None)
db.execute("PRAGMA wal_autocheckpoint=0")
db.execute("DELETE FROM costs_1d WHERE start_time = ?", (int(sys.argv[2]),))
os._exit(0)
"""


def test_a_read_only_directory_whose_wal_still_holds_commits_is_refused(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    """SQLite reads such a store only as immutable, which ignores the -wal file: it would
    read the store as it was before those commits."""
    folder = tmp_path / "store"
    folder.mkdir()
    store = folder / "usage.db"
    make_store(emu, store)
    subprocess.run([sys.executable, "-c", KILLED_WRITER, str(store), str(START)], check=True)
    (folder / "usage.db-shm").unlink()  # as a copy of the files would leave them
    assert (folder / "usage.db-wal").stat().st_size > 0
    with immutable(folder):
        refused = summary(store)
    assert refused.returncode == 7
    assert refused.stderr.startswith(
        f"openai-usage: error: {store}: its last commits may still be in {store}-wal"
    )
    # Where SQLite may make its -shm file, a reader sees that commit.
    day = "SELECT count(*) FROM costs_1d WHERE start_time = ?"
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        assert db.execute(day, (START,)).fetchall() == [(0,)]
    db.close()
    with sqlite3.connect(f"file:{store}?mode=ro&immutable=1", uri=True) as db:
        assert db.execute(day, (START,)).fetchall() != [(0,)]  # what it would have read
    db.close()


@pytest.mark.parametrize("journal", ["delete", "wal"])
def test_a_file_that_is_not_a_store_is_refused_unchanged(
    emu: Emulator, tmp_path: pathlib.Path, journal: str
) -> None:
    other = tmp_path / "notes.db"
    with sqlite3.connect(other) as db:
        db.execute(f"PRAGMA journal_mode={journal}")
        db.execute("CREATE TABLE notes (id INTEGER PRIMARY KEY, text TEXT)")
        db.execute("INSERT INTO notes (text) VALUES ('keep me')")
    db.close()
    before = other.read_bytes()
    read = summary(other)
    synced = run_cli(*sync_args(emu, other, *SPAN, "--endpoints", "costs"))
    for done in (read, synced):
        assert done.returncode == 7
        assert done.stderr.startswith(
            f"openai-usage: error: {other}: not a store of openai-usage "
            "(it holds other tables: notes)"
        )
    assert other.read_bytes() == before
    assert not (tmp_path / "notes.db.lock").exists()  # refused before it was locked
    with sqlite3.connect(other) as db:
        assert db.execute("SELECT name FROM sqlite_master").fetchall() == [("notes",)]
    db.close()


async def test_a_store_path_that_is_a_directory_or_missing(tmp_path: pathlib.Path) -> None:
    with pytest.raises(StoreError, match="is a directory"):
        async with open_store(tmp_path):
            pass
    async with open_store(tmp_path / "none.db") as s:
        with pytest.raises(StoreError, match="no store there"):
            await s.coverage()
    assert not (tmp_path / "none.db").exists()


def test_a_store_in_a_directory_its_user_may_not_write(
    emu: Emulator,
) -> None:
    """Not root: SQLite says "attempt to write a readonly database" there, not "unable to
    open" (what root gets under chattr +i)."""
    # Outside pytest's temporary tree, which only root may enter.
    folder = pathlib.Path(tempfile.mkdtemp(prefix="openai-usage-ro-", dir="/tmp"))
    store = folder / "usage.db"
    make_store(emu, store)
    want = summary(store).stdout
    last = sqlite3.connect(store)
    last.execute("SELECT count(*) FROM sqlite_master").fetchall()
    last.close()  # the last connection closed cleanly: no -wal, no -shm left
    assert sorted(p.name for p in folder.iterdir()) == ["usage.db", "usage.db.lock"]
    before = store.read_bytes()
    store.chmod(0o644)
    folder.chmod(0o555)
    try:
        done = subprocess.run(
            [
                "setpriv",
                "--reuid=65534",
                "--regid=65534",
                "--clear-groups",
                sys.executable,
                "-m",
                "openai_usage_async",
                "summary",
                "--store",
                str(store),
                *SPAN,
            ],
            capture_output=True,
            text=True,
            timeout=60,
            cwd="/",
            env=cli_env(),  # as run_cli's: the same terminal width
        )
        after = store.read_bytes()
    finally:
        folder.chmod(0o755)
        shutil.rmtree(folder)
    assert done.returncode == 0, done.stderr
    assert done.stdout == want
    assert after == before
