"""Relative starts of daily data are whole days, and the partial day a fetch runs into is
marked. The command line's clock is pinned to the emulator's with ``$OPENAI_USAGE_NOW``."""

from __future__ import annotations

import csv
import io
import json
import re

from openai_usage_async.emulator import Emulator
from tests.cli.conftest import run_cli
from tests.helpers import DAY, NOW

PINNED = {"OPENAI_USAGE_NOW": str(NOW)}  # 2025-11-23 13:20 UTC, the emulator's clock
TODAY = NOW // DAY * DAY


def base(emu: Emulator) -> list[str]:
    assert emu.base_url is not None
    return ["--base-url", emu.base_url]


def total(summary: str) -> str:
    [line] = [x for x in summary.splitlines() if x.startswith("Total cost")]
    return line.split()[-1]


def test_fetch_start_7d_has_the_complete_days_of_summary_days_7(emu: Emulator) -> None:
    fetch = run_cli(*base(emu), "fetch", "costs", "--start", "7d", "--format", "json", **PINNED)
    assert fetch.returncode == 0, fetch.stderr
    buckets = [b for page in json.loads(fetch.stdout) for b in page["data"]]
    assert [b["start_time"] for b in buckets] == [TODAY - i * DAY for i in range(7, -1, -1)]
    assert buckets[-1]["end_time"] == NOW  # no --end: to now, today's partial day
    complete = sum(r["amount"]["value"] for b in buckets[:-1] for r in b["results"])
    assert complete > 0
    summary = run_cli(*base(emu), "summary", "--days", "7", "--no-names", **PINNED)
    assert summary.returncode == 0, summary.stderr
    assert summary.stdout.startswith(
        "OpenAI usage 2025-11-16 to 2025-11-23 (end exclusive; 7 days, UTC)"
    )
    assert total(summary.stdout) == f"${complete:,.2f}"
    relative = run_cli(*base(emu), "summary", "--start", "7d", "--no-names", **PINNED)
    assert relative.stdout == summary.stdout


def test_the_table_marks_the_partial_last_day(emu: Emulator) -> None:
    done = run_cli(*base(emu), "fetch", "costs", "--start", "7d", **PINNED)
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    assert lines[2].startswith("2025-11-16  ")  # a whole day, not 2025-11-16 13:20:00
    assert re.fullmatch(r"8 buckets \(0 empty\), [\d,]+ results", lines[-2])
    assert lines[-1] == "the last day, 2025-11-23, is partial: up to 13:20 UTC"
    whole = run_cli(*base(emu), "fetch", "costs", "--start", "7d", "--end", "0d", **PINNED)
    assert whole.stdout.splitlines()[-1].startswith("7 buckets (0 empty), ")  # no note
    rows = list(
        csv.DictReader(
            io.StringIO(
                run_cli(
                    *base(emu), "fetch", "costs", "--start", "7d", "--format", "csv", **PINNED
                ).stdout
            )
        )
    )
    assert int(rows[0]["start_time"]) == TODAY - 7 * DAY
    assert int(rows[-1]["end_time"]) == NOW  # CSV: the data as it is, no note


def test_hours_ago_stay_hours_ago(emu: Emulator) -> None:
    done = run_cli(
        *base(emu),
        "fetch",
        "completions",
        "--start",
        "3h",
        "--bucket-width",
        "1h",
        "--format",
        "json",
        **PINNED,
    )
    assert done.returncode == 0, done.stderr
    buckets = [b for page in json.loads(done.stdout) for b in page["data"]]
    assert buckets[0]["start_time"] == NOW - 3 * 3600  # 10:20, as asked
    table = run_cli(
        *base(emu), "fetch", "completions", "--start", "3h", "--bucket-width", "1h", **PINNED
    )
    assert table.stdout.splitlines()[-2:] == [
        "the first hour, 2025-11-23 10:00, is partial: from 10:20 UTC",
        "the last hour, 2025-11-23 13:00, is partial: up to 13:20 UTC",
    ]
