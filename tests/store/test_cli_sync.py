"""`openai-usage sync` and `summary --store`, as users run them: real subprocesses.

The kill tests SIGKILL a real sync at several points (some mid-transaction, by chance)
and run it again: the store must end row for row what an uninterrupted sync stores, and
windows that committed are not fetched again.
"""

from __future__ import annotations

import datetime as dt
import os
import pathlib
import signal
import sqlite3
import subprocess
import time
from typing import Any

import msgspec
import pytest

from openai_usage_async.cli._output import utc
from openai_usage_async.emulator import Emulator
from tests.cli.conftest import run_cli, start_cli
from tests.helpers import DAY, NOW, TEST_KEY
from tests.store.conftest import ordered

TODAY = NOW // DAY * DAY
START = TODAY - 60 * DAY
TABLES = ("costs_1d", "completions_1h", "embeddings_1h")


def sync_args(emu: Emulator, store: pathlib.Path, *extra: str) -> list[str]:
    assert emu.base_url is not None
    return ["sync", "--store", str(store), "--base-url", emu.base_url, "-q", *extra]


def run_sync(emu: Emulator, store: pathlib.Path, *extra: str) -> None:
    for width, endpoints in (("1d", "costs"), ("1h", "completions,embeddings")):
        args = ["--start", str(START), "--end", str(TODAY), "--bucket-width", width]
        done = run_cli(*sync_args(emu, store, *args, "--endpoints", endpoints, *extra))
        assert done.returncode == 0, done.stderr


def dump(store: pathlib.Path) -> dict[str, list[tuple[Any, ...]]]:
    if store.suffix == ".duckdb":
        import duckdb

        with duckdb.connect(str(store), read_only=True) as ddb:
            return {t: ordered(ddb.execute(f'SELECT * FROM "{t}"').fetchall()) for t in TABLES}
    with sqlite3.connect(store) as db:
        return {t: ordered(list(db.execute(f'SELECT * FROM "{t}"'))) for t in TABLES}


def committed(store: pathlib.Path) -> list[tuple[str, int, int]]:
    if not store.exists():
        return []
    try:
        with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
            return list(
                db.execute("SELECT table_name, start_time, end_time FROM _openai_usage_checkpoints")
            )
    except sqlite3.OperationalError:
        return []  # not created yet


def test_sync_then_summary_from_the_store(emu: Emulator, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "usage.db"
    args = ["--start", str(TODAY - 30 * DAY), "--end", str(TODAY)]
    done = run_cli(*sync_args(emu, store, *args))
    assert done.returncode == 0, done.stderr
    header = done.stdout.splitlines()[0].split()
    assert header == ["endpoint", "buckets", "rows", "replaced", "requests", "retries", "seconds"]
    assert any(line.startswith("costs ") for line in done.stdout.splitlines())
    assert f"store: {store}" in done.stdout
    online = run_cli(
        "summary",
        "--base-url",
        emu.base_url or "",
        "--start",
        str(TODAY - 30 * DAY),
        "--end",
        str(TODAY),
    )
    emu.reset_statistics()
    offline = run_cli(
        "summary",
        "--store",
        str(store),
        "--start",
        str(TODAY - 30 * DAY),
        "--end",
        str(TODAY),
        key=None,
    )
    assert offline.returncode == 0, offline.stderr
    assert emu.statistics().requests_total == 0  # no request, no key
    assert offline.stdout == online.stdout  # the same report


@pytest.mark.parametrize(
    ("extra", "code", "message"),
    [
        (
            [],
            2,
            "--start: completions_1d has never been synced, so there is nothing to resume "
            "from: give a --start for its first sync",
        ),
        (["--start", "30d", "--overlap", "soon"], 2, "--overlap: 'soon' is not a duration"),
        (["--start", "30d", "--endpoints", "teleports"], 2, "--endpoints: unknown endpoint"),
        (["--start", "30d", "--group-by", "size", "--endpoints", "costs"], 2, "--group-by: 'size'"),
    ],
)
def test_usage_errors_name_the_flag(
    emu: Emulator, tmp_path: pathlib.Path, extra: list[str], code: int, message: str
) -> None:
    done = run_cli(*sync_args(emu, tmp_path / "usage.db", *extra))
    assert done.returncode == code
    assert done.stderr.startswith(f"openai-usage: error: {message}")
    assert emu.statistics().requests_total == 0


def test_a_grouping_clash_is_a_usage_error_and_changes_nothing(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "usage.db"
    first = ["--start", str(TODAY - 10 * DAY), "--end", str(TODAY), "--endpoints", "costs"]
    assert run_cli(*sync_args(emu, store, *first, "--group-by", "project_id")).returncode == 0
    before = sqlite3.connect(store).execute("SELECT COUNT(*) FROM costs_1d").fetchone()
    done = run_cli(*sync_args(emu, store, *first))
    assert done.returncode == 2
    assert "--group-by: costs_1d was first synced grouped by project_id" in done.stderr
    assert sqlite3.connect(store).execute("SELECT COUNT(*) FROM costs_1d").fetchone() == before


@pytest.mark.parametrize(
    ("content", "message"),
    [
        (b"not a database at all\n" * 50, "{store}: not an SQLite database"),
        (None, "--store: cannot write {store}: No such file or directory"),
    ],
)
def test_store_errors_exit_7(
    emu: Emulator, tmp_path: pathlib.Path, content: bytes | None, message: str
) -> None:
    store = tmp_path / "usage.db" if content is not None else tmp_path / "missing" / "usage.db"
    if content is not None:
        store.write_bytes(content)
    done = run_cli(*sync_args(emu, store, "--start", "10d"))
    assert done.returncode == 7
    assert done.stderr.startswith(f"openai-usage: error: {message.format(store=store)}")
    if content is not None:
        assert store.read_bytes() == content


def test_the_duckdb_store_without_the_extra_names_it(emu: Emulator, tmp_path: pathlib.Path) -> None:
    shadow = tmp_path / "shadow" / "duckdb"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named duckdb')\n")
    done = run_cli(
        *sync_args(emu, tmp_path / "usage.duckdb", "--start", "2d", "--endpoints", "costs"),
        PYTHONPATH=str(shadow.parent),
    )
    assert done.returncode == 8
    assert "pip install 'openai_usage_async[duckdb]'" in done.stderr
    assert emu.statistics().requests_total == 0


@pytest.fixture(scope="module")
def reference(served: Emulator, tmp_path_factory: pytest.TempPathFactory) -> dict[str, Any]:
    """What an uninterrupted sync stores."""
    store = tmp_path_factory.mktemp("reference") / "reference.db"
    run_sync(served, store)
    return dump(store)


def start_slow_sync(emu: Emulator, store: pathlib.Path) -> subprocess.Popen:  # type: ignore[type-arg]
    """An hourly sync of two endpoints (2 x 9 windows), slowed down to be killed mid-way."""
    emu.latency_ms = 60
    args = ["--start", str(START), "--end", str(TODAY), "--bucket-width", "1h"]
    args += ["--endpoints", "completions,embeddings", "--concurrency", "2"]
    return start_cli(*sync_args(emu, store, *args), stderr=subprocess.DEVNULL)


@pytest.mark.parametrize("kill_after", [0, 1, 4, 9, 15])
def test_killed_at_any_moment_then_resumed_equals_an_uninterrupted_sync(
    emu: Emulator, tmp_path: pathlib.Path, kill_after: int, reference: dict[str, Any]
) -> None:
    """SIGKILL once ``kill_after`` windows have committed (0: as soon as the file exists);
    the writer may be mid-transaction then, or not: both must resume the same."""
    store = tmp_path / "usage.db"
    proc = start_slow_sync(emu, store)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline and proc.poll() is None:
        if store.exists() and len(committed(store)) >= kill_after:
            break
        time.sleep(0.005)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()  # reaps it and closes its pipe
    assert proc.returncode == -signal.SIGKILL
    survived = committed(store)
    assert kill_after <= len(survived) < 18  # killed before the end (2 endpoints x 9 windows)
    emu.latency_ms = 0
    emu.reset_statistics()
    run_sync(emu, store)
    assert dump(store) == reference
    # What committed before the kill was not fetched again (the range is long settled).
    asked = [
        (r.endpoint, int(dict(r.query)["start_time"]))
        for r in emu.requests
        if r.endpoint in ("completions", "embeddings")
    ]
    for table, start, end in survived:
        if table.endswith("_1h"):
            endpoint = table.removesuffix("_1h")
            assert not any(e == endpoint and start <= s < end for e, s in asked), (table, start)


def test_a_store_path_from_the_environment(emu: Emulator, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "from-env.db"
    assert emu.base_url is not None
    done = run_cli(
        "sync",
        "--base-url",
        emu.base_url,
        "-q",
        "--start",
        str(TODAY - 3 * DAY),
        "--end",
        str(TODAY),
        "--endpoints",
        "costs",
        OPENAI_USAGE_STORE=str(store),
    )
    assert done.returncode == 0, done.stderr
    assert store.exists() and f"store: {store}" in done.stdout
    assert TEST_KEY not in store.read_bytes().decode("latin-1")


@pytest.mark.parametrize("kill_after_s", [0.6, 0.9, 1.2])
def test_a_killed_duckdb_sync_resumes_the_same(
    emu: Emulator, tmp_path: pathlib.Path, kill_after_s: float, reference: dict[str, Any]
) -> None:
    """DuckDB locks its file against other processes, so these kills go by the clock."""
    pytest.importorskip("duckdb", reason="the duckdb extra is not installed")
    store = tmp_path / "usage.duckdb"
    proc = start_slow_sync(emu, store)
    time.sleep(kill_after_s)
    os.kill(proc.pid, signal.SIGKILL)
    proc.communicate()
    emu.latency_ms = 0
    run_sync(emu, store)
    assert dump(store) == reference


def test_an_end_between_boundaries_then_a_later_end_gives_whole_days(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    """The reproduction: `--end <day> 12:00`, then `--end <3 days later>`: 8 day buckets,
    each the service's, and the report from the store counts 8 days, not 9."""
    store = tmp_path / "usage.db"
    first = TODAY - 8 * DAY
    mid = dt.datetime.fromtimestamp(TODAY - 3 * DAY + 12 * 3600, dt.UTC).strftime("%Y-%m-%dT%H:%M")
    args = ["--start", str(first), "--end", mid, "--endpoints", "costs"]
    assert run_cli(*sync_args(emu, store, *args)).returncode == 0
    end = dt.datetime.fromtimestamp(TODAY, dt.UTC).strftime("%Y-%m-%d")
    assert run_cli(*sync_args(emu, store, "--end", end, "--endpoints", "costs")).returncode == 0
    with sqlite3.connect(f"file:{store}?mode=ro", uri=True) as db:
        days = db.execute(
            'SELECT start_time, end_time, SUM(amount_value) FROM "costs_1d" GROUP BY 1, 2 '
            "ORDER BY 1"
        ).fetchall()
    db.close()
    assert [(s, e) for s, e, _ in days] == [(d, d + DAY) for d in range(first, TODAY, DAY)]
    url = emu.base_url or ""
    online = run_cli("summary", "--base-url", url, "--start", str(first), "--end", end)
    offline = run_cli("summary", "--store", str(store), "--start", str(first), "--end", end)
    assert offline.returncode == 0, offline.stderr

    def costs_part(text: str) -> str:  # the store holds costs only: their sections
        return text.split("Tokens and requests by model")[0]

    # The same 8 bars, total, low, high, mean, and costs by line item, project and key.
    assert costs_part(offline.stdout) == costs_part(online.stdout)
    per_day = next(line for line in offline.stdout.splitlines() if line.startswith("Per day"))
    assert len(per_day.split()[-1]) == 8


def test_sync_status_says_what_the_store_covers(emu: Emulator, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "usage.db"
    args = [
        "--endpoints",
        "costs",
        "--start",
        str(TODAY - 20 * DAY),
        "--end",
        str(TODAY - 15 * DAY),
    ]
    assert run_cli(*sync_args(emu, store, *args)).returncode == 0
    args = ["--endpoints", "costs", "--start", str(TODAY - 5 * DAY), "--end", str(NOW)]
    assert run_cli(*sync_args(emu, store, *args)).returncode == 0
    emu.reset_statistics()
    table = run_cli("sync", "--status", "--store", str(store), key=None)
    as_json = run_cli("sync", "--status", "--format", "json", "--store", str(store), key=None)
    assert table.returncode == as_json.returncode == 0, table.stderr
    assert emu.statistics().requests_total == 0  # no request, no key
    lines = table.stdout.splitlines()
    assert lines[0].startswith(f"store: {store}, last sync ")
    assert lines[1].split()[:5] == ["table", "from", "to", "settled", "open"]
    row = next(line for line in lines if line.startswith("costs_1d"))
    assert utc(TODAY - 20 * DAY) in row and "1 (10 days)" in row
    [costs] = msgspec.json.decode(as_json.stdout)["tables"]
    assert costs == {
        "table": "costs_1d",
        "endpoint": "costs",
        "bucket_width": "1d",
        "group_by": ["project_id", "line_item", "api_key_id", "api_source"],
        "start": TODAY - 20 * DAY,
        "end": NOW,
        # Fetched (by the machine's clock) long after the emulator's days closed: all
        # settled, but the day it answered clipped at its "now".
        "settled_until": TODAY,
        "open_buckets": 1,
        "gaps": [[TODAY - 15 * DAY, TODAY - 5 * DAY]],
        "last_sync": costs["last_sync"],
    }
    assert costs["last_sync"] >= NOW  # the machine's clock at the end of the sync


def test_summary_from_a_store_marks_days_it_never_synced(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "usage.db"
    first = TODAY - 10 * DAY
    for lo, hi in ((first, TODAY - 7 * DAY), (TODAY - 4 * DAY, TODAY)):
        args = ["--endpoints", "costs", "--start", str(lo), "--end", str(hi)]
        assert run_cli(*sync_args(emu, store, *args)).returncode == 0
    done = run_cli("summary", "--store", str(store), "--start", str(first), "--end", str(TODAY))
    assert done.returncode == 0, done.stderr
    missing = f"{utc(TODAY - 7 * DAY)} to {utc(TODAY - 5 * DAY)}"
    assert f"has no costs for 3 days: {missing} (never synced)" in done.stderr
    per_day = next(line for line in done.stdout.splitlines() if line.startswith("Per day"))
    assert per_day.split()[-1][3:6] == "···"  # marked, not drawn as $0.00
    assert f"not in the store, left out of the total and the mean: 3 days: {missing}" in (
        done.stdout
    )
    # The total is that of the 7 days the store holds.
    online = run_cli(
        "summary", "--base-url", emu.base_url or "", "--start", str(first), "--end", str(TODAY)
    )
    costs = {
        line.split()[0]: line for line in online.stdout.splitlines() if line.startswith("Total")
    }
    assert costs["Total"] != next(
        line for line in done.stdout.splitlines() if line.startswith("Total")
    )
