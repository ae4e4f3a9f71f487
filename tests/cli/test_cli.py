"""``openai-usage`` end to end: every command, every format, every error class."""

from __future__ import annotations

import csv
import io
import json
import os
import pathlib
import pty
import re
import select
import signal
import subprocess
import sys
import time

import pyarrow.parquet as pq
import pytest

from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator, Fault
from tests.cli.conftest import cli_env, run_cli, start_cli
from tests.helpers import DAY, NOW, TEST_KEY

START = "2025-10-01"
END = "2025-11-01"  # 31 daily buckets


def base(emu: Emulator) -> list[str]:
    assert emu.base_url is not None
    return ["--base-url", emu.base_url]


@pytest.mark.parametrize("command", [[], ["fetch"], ["summary"]])
def test_help_has_examples(command: list[str]) -> None:
    done = run_cli(*command, "--help", key=None)
    assert done.returncode == 0
    assert "examples:" in done.stdout and "openai-usage" in done.stdout
    assert "UTC" in done.stdout
    if not command:
        assert "8 optional dependency missing" in done.stdout and "130 interrupted" in done.stdout


def test_version_and_console_script() -> None:
    from openai_usage_async import __version__

    done = run_cli("--version", key=None)
    assert done.stdout.strip() == f"openai-usage {__version__}"
    script = pathlib.Path(sys.executable).parent / "openai-usage"
    assert script.exists()
    via_script = subprocess.run(
        [str(script), "--version"], capture_output=True, text=True, check=True
    )
    assert via_script.stdout == done.stdout


def test_fetch_table(emu: Emulator) -> None:
    done = run_cli(
        *base(emu), "fetch", "completions", "--start", START, "--end", END, "--group-by", "model"
    )
    assert done.returncode == 0, done.stderr
    assert done.stderr == ""  # stderr is not a terminal: no progress bar
    lines = done.stdout.splitlines()
    assert lines[0].split()[:3] == ["start", "(UTC)", "model"]
    assert "input_tokens" in lines[0]
    assert re.fullmatch(r"31 buckets \(\d+ empty\), [\d,]+ results", lines[-1])
    row = lines[2].split()
    assert row[0] == "2025-10-01" and "," in row[2]  # thousands separators
    assert all(len(line) <= 100 for line in lines)  # fits the (default) terminal


def test_fetch_table_fits_a_narrow_terminal(emu: Emulator) -> None:
    done = run_cli(*base(emu), "fetch", "completions", "--start", START, "--end", END, COLUMNS="60")
    assert done.returncode == 0
    assert all(len(line) <= 60 for line in done.stdout.splitlines()[:-3])
    assert "more columns" in done.stdout


def test_csv_rows_match_the_library(emu: Emulator) -> None:
    done = run_cli(
        *base(emu),
        "fetch",
        "costs",
        "--start",
        START,
        "--end",
        END,
        "--group-by",
        "line_item",
        "--format",
        "csv",
    )
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    assert list(rows[0])[:5] == [
        "start_time",
        "end_time",
        "object",
        "amount_value",
        "amount_currency",
    ]
    import asyncio

    from openai_usage_async import AsyncUsageClient, to_rows

    async def expected() -> list[dict]:
        async with AsyncUsageClient(TEST_KEY, base_url=emu.base_url) as client:
            buckets = await client.usage.costs.list(
                start_time=1759276800, end_time=1761955200, group_by="line_item"
            )
            return list(to_rows(buckets))

    want = asyncio.run(expected())
    assert len(rows) == len(want) > 31
    assert [r["line_item"] for r in rows] == [w["line_item"] for w in want]
    assert [float(r["amount_value"]) for r in rows] == pytest.approx(
        [w["amount_value"] for w in want]
    )
    assert rows[0]["project_id"] == ""  # None is an empty cell


def test_jsonl_and_json(emu: Emulator, tmp_path: pathlib.Path) -> None:
    common = [
        *base(emu),
        "fetch",
        "embeddings",
        "--start",
        START,
        "--end",
        END,
        "--group-by",
        "model",
    ]
    jsonl = run_cli(*common, "--format", "jsonl")
    rows = [json.loads(line) for line in jsonl.stdout.splitlines()]
    assert rows and all(list(r)[:3] == ["start_time", "end_time", "object"] for r in rows)
    out = tmp_path / "pages.json"
    done = run_cli(*common, "--format", "json", "--output", str(out))
    assert done.returncode == 0 and done.stdout == ""
    pages = json.loads(out.read_text())
    assert [p["object"] for p in pages] == ["page"] * len(pages)
    results = [r for p in pages for b in p["data"] for r in b["results"]]
    assert len(results) == len(rows)
    assert results[0]["object"] == "organization.usage.embeddings.result"


def test_parquet(emu: Emulator, tmp_path: pathlib.Path) -> None:
    out = tmp_path / "images.parquet"
    done = run_cli(
        *base(emu),
        "fetch",
        "images",
        "--start",
        START,
        "--end",
        END,
        "--group-by",
        "size,source",
        "--format",
        "parquet",
        "-o",
        str(out),
    )
    assert done.returncode == 0, done.stderr
    table = pq.read_table(out)
    assert table.schema.field("images").type == "int64"
    assert table.schema.field("size").type == "string"
    assert table.num_rows > 31 and set(table.column("size").to_pylist()) >= {"1024x1024"}
    assert sorted(p.name for p in tmp_path.iterdir()) == ["images.parquet"]


def test_parquet_without_pyarrow_names_the_extra(emu: Emulator, tmp_path: pathlib.Path) -> None:
    code = (
        "import sys; sys.modules['pyarrow'] = None\n"
        "from openai_usage_async.cli import main\n"
        f"sys.exit(main(['--base-url', {emu.base_url!r}, 'fetch', 'costs', '--start', '3d',"
        f" '--format', 'parquet', '-o', {str(tmp_path / 'x.parquet')!r}]))"
    )
    done = subprocess.run(
        [sys.executable, "-c", code],
        capture_output=True,
        text=True,
        env=cli_env(OPENAI_ADMIN_KEY=TEST_KEY),
    )
    assert done.returncode == 8
    assert "pip install 'openai_usage_async[parquet]'" in done.stderr
    assert list(tmp_path.iterdir()) == []


def test_global_options_before_and_after_the_command(emu: Emulator) -> None:
    after = run_cli(
        "fetch",
        "costs",
        "--start",
        START,
        "--end",
        END,
        *base(emu),
        "--api-key",
        "sk-admin-after",
        key=None,
    )
    before = run_cli(
        *base(emu),
        "--api-key",
        "sk-admin-before",
        "fetch",
        "costs",
        "--start",
        START,
        "--end",
        END,
        key=None,
    )
    assert after.returncode == before.returncode == 0
    assert after.stdout == before.stdout
    both = run_cli(
        "--concurrency",
        "1",
        "--base-url",
        "http://127.0.0.1:9/v1",
        "fetch",
        "costs",
        "--start",
        START,
        *base(emu),
    )
    assert both.returncode == 0  # the one after the command wins


def test_filters_reach_the_service(emu: Emulator) -> None:
    done = run_cli(
        *base(emu),
        "fetch",
        "completions",
        "--start",
        START,
        "--end",
        END,
        "--models",
        "gpt-4o-2024-08-06,o3-2025-04-16",
        "--no-batch",
        "--format",
        "jsonl",
        "--group-by",
        "model",
    )
    assert done.returncode == 0, done.stderr
    models = {json.loads(line)["model"] for line in done.stdout.splitlines()}
    assert models == {"gpt-4o-2024-08-06", "o3-2025-04-16"}
    query = emu.requests[-1].query
    assert ("batch", "false") in query and ("models[]", "o3-2025-04-16") in query


@pytest.mark.parametrize(
    ("args", "code", "message"),
    [
        (["fetch", "costs", "--start", "last tuesday"], 2, "--start: 'last tuesday' is not a date"),
        (["fetch", "teleports", "--start", "3d"], 2, "'teleports' is not an endpoint: "),
        (
            ["fetch", "costs", "--start", "3d", "--group-by", "model"],
            2,
            "costs: --group-by: 'model'",
        ),
        (
            ["fetch", "costs", "--start", "3d", "--models", "x"],
            2,
            "costs: --models: not an argument",
        ),
        (["fetch", "costs", "--start", "3d", "--bucket-width", "1h"], 2, "--bucket-width: '1h'"),
        (
            ["fetch", "costs", "--start", "2026-11-10", "--end", "2026-11-01"],
            2,
            "openai-usage: error: --end: 2026-11-01 is not after --start 2026-11-10 (see "
            "openai-usage fetch --help)\n",
        ),
        (
            ["fetch", "costs", "--start", "9000-01-01"],
            2,
            "openai-usage: error: --start: 9000-01-01 is not before now (",
        ),
        (["fetch", "costs", "--start", "1763904000000"], 2, "looks like milliseconds"),
        (["fetch", "costs", "--start", "1969-12-31"], 2, "--start: '1969-12-31' is before 1970"),
        (["summary", "--days", "0"], 2, "--days: 0"),
        (["summary", "--days", "100000"], 2, "--days: 100,000 days reach back before 1970"),
        (["summary", "--start", "9000-01-01"], 2, "--start: 9000-01-01 is not before today ("),
        (["--concurrency", "0", "summary"], 2, "error: --concurrency: 0 is below 1"),
        (["summary", "--concurrency", "0"], 2, "error: --concurrency: 0 is below 1"),
        (["--timeout", "0", "summary"], 2, "error: --timeout: '0' is not a positive number"),
        (["--timeout", "nan", "summary"], 2, "error: --timeout: 'nan' is not a positive"),
        (["--max-retries", "-1", "summary"], 2, "error: --max-retries: -1 is below 0"),
    ],
)
def test_usage_errors(emu: Emulator, args: list[str], code: int, message: str) -> None:
    done = run_cli(*base(emu), *args)
    assert done.returncode == code
    assert message in done.stderr
    assert len(done.stderr.splitlines()) == 1 and done.stderr.startswith("openai-usage: error: ")
    assert done.stderr.endswith(" --help)\n")
    assert "Traceback" not in done.stderr and done.stdout == ""
    assert "--end-time" not in done.stderr and "--max-concurrency" not in done.stderr
    assert "ClientTimeout" not in done.stderr and "unexpected" not in done.stderr
    assert emu.statistics().requests_total == 0


def test_no_key(emu: Emulator) -> None:
    done = run_cli(*base(emu), "summary", key=None)
    assert done.returncode == 3
    assert done.stderr.startswith("openai-usage: error: no API key: set OPENAI_ADMIN_KEY")
    assert len(done.stderr.splitlines()) == 1


@pytest.mark.parametrize("key", ["sk-proj-oops", "sk-admin-wrong"])
def test_key_refused(emu: Emulator, key: str) -> None:
    emu._api_key = TEST_KEY
    done = run_cli(*base(emu), "fetch", "costs", "--start", "3d", key=key)
    assert done.returncode == 4
    assert "the API refused the key" in done.stderr and "Admin key" in done.stderr
    assert len(done.stderr.splitlines()) == 1 and key not in done.stderr
    verbose = run_cli(*base(emu), "--verbose", "fetch", "costs", "--start", "3d", key=key)
    assert verbose.returncode == 4 and "Traceback" in verbose.stderr
    assert key not in verbose.stderr + verbose.stdout


def test_api_error(emu: Emulator) -> None:
    emu.faults.append(Fault(status=500))
    done = run_cli(*base(emu), "--max-retries", "1", "fetch", "costs", "--start", "3d")
    assert done.returncode == 5
    assert "Error code: 500" in done.stderr and len(done.stderr.splitlines()) == 1


def test_network_down() -> None:
    done = run_cli(
        "--base-url",
        "http://127.0.0.1:9/v1",
        "--max-retries",
        "0",
        "fetch",
        "costs",
        "--start",
        "3d",
    )
    assert done.returncode == 6
    assert "check your network, or --base-url" in done.stderr
    assert len(done.stderr.splitlines()) == 1


def test_a_failure_leaves_no_file(emu: Emulator, tmp_path: pathlib.Path) -> None:
    emu.faults.append(Fault(status=503, endpoints=frozenset({"costs"})))
    target = tmp_path / "costs.csv"
    done = run_cli(
        *base(emu),
        "--max-retries",
        "0",
        "fetch",
        "costs",
        "--start",
        "400d",
        "--format",
        "csv",
        "-o",
        str(target),
    )
    assert done.returncode == 5
    assert list(tmp_path.iterdir()) == []


def test_output_that_cannot_be_written(emu: Emulator, tmp_path: pathlib.Path) -> None:
    done = run_cli(
        *base(emu),
        "fetch",
        "costs",
        "--start",
        "3d",
        "--format",
        "csv",
        "-o",
        str(tmp_path / "no" / "x.csv"),
    )
    assert done.returncode == 7
    missing = tmp_path / "no"
    assert done.stderr == (
        f"openai-usage: error: --output: cannot write {missing / 'x.csv'}: No such file or "
        f"directory (no directory {missing})\n"
    )
    assert emu.statistics().requests_total == 0  # checked before any request


def test_a_closed_pipe_is_not_an_error(emu: Emulator) -> None:
    proc = start_cli(
        *base(emu),
        "fetch",
        "embeddings",
        "--start",
        "2025-10-01",
        "--end",
        "2025-10-04",
        "--bucket-width",
        "1m",
        "--format",
        "jsonl",
    )
    assert proc.stdout is not None and proc.stderr is not None
    assert json.loads(proc.stdout.readline())["object"].endswith("embeddings.result")
    proc.stdout.close()  # like `| head -1`
    assert proc.wait(timeout=60) == 0
    with proc.stderr:
        assert proc.stderr.read() == b""


def test_ctrl_c(emu: Emulator, tmp_path: pathlib.Path) -> None:
    emu.latency_ms = 3000
    target = tmp_path / "out.csv"
    start = str(NOW - 3 * DAY + 17)  # marks this process's requests
    proc = start_cli(
        *base(emu),
        "fetch",
        "costs",
        "--start",
        start,
        "--end",
        str(NOW),
        "--format",
        "csv",
        "-o",
        str(target),
        text=True,
    )
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:  # until its request is in flight
        if any(("start_time", start) in r.query for r in emu.requests):
            break
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=20)
    assert proc.returncode == 130
    assert err.strip() == "openai-usage: interrupted" and out == ""
    # Promptly: it hung up on the request rather than waiting for the 3 s answer.
    deadline = time.monotonic() + 10
    while emu.statistics().cancelled == 0 and time.monotonic() < deadline:
        time.sleep(0.01)
    assert emu.statistics().cancelled >= 1
    assert list(tmp_path.iterdir()) == []


def test_progress_bar_on_a_terminal(emu: Emulator, tmp_path: pathlib.Path) -> None:
    emu.latency_ms = 150
    master, slave = pty.openpty()
    data = tmp_path / "out.jsonl"
    proc = start_cli(
        *base(emu),
        "--concurrency",
        "2",
        "fetch",
        "costs",
        "--start",
        "2024-01-01",
        "--end",
        "2025-11-01",
        "--limit",
        "30",
        "--format",
        "jsonl",
        "-o",
        str(data),
        stderr=slave,
    )
    os.close(slave)
    seen = b""
    while True:
        ready, _, _ = select.select([master], [], [], 30)
        if not ready:
            break
        try:
            chunk = os.read(master, 4096)
        except OSError:
            break
        if not chunk:
            break
        seen += chunk
    out, _ = proc.communicate(timeout=60)
    os.close(master)
    assert proc.returncode == 0
    text = seen.decode()
    assert "windows" in text and "buckets" in text and "/23 windows" in text
    assert text.endswith("\r\x1b[2K")  # cleared when done
    assert out == b""  # nothing but data goes to stdout, and the data went to the file
    starts = [json.loads(line)["start_time"] for line in data.read_text().splitlines()]
    assert starts == sorted(set(starts)) and 600 < len(starts) <= 670  # quiet days have no row


def test_summary(emu: Emulator) -> None:
    emu.latency_ms = 20
    done = run_cli(
        *base(emu), "summary", "--start", "2025-10-01", "--end", "2025-11-01", "--by", "model"
    )
    assert done.returncode == 0, done.stderr
    out = done.stdout
    assert out.startswith("OpenAI usage 2025-10-01 to 2025-11-01 (end exclusive; 31 days, UTC)")
    for section in [
        "Total cost   $",
        "Per day      ",
        "Cost by line item",
        "Cost by project",
        "Cost by API key",
        "Tokens and requests by model",
        "Top users by completion tokens",
        "Other usage",
        "Top movers by model: the last 15 days against the 15 before",
    ]:
        assert section in out
    spark = out.splitlines()[3].split(None, 2)[2]
    assert len(spark) == 31
    assert emu.statistics().requests_by_endpoint["costs"] == 1
    usage = {e for e in emu.statistics().requests_by_endpoint if e in ENDPOINTS}
    assert len(usage) == 12  # every endpoint, concurrently
    assert emu.statistics().peak_in_flight > 1


def test_summary_days_and_by_project(emu: Emulator) -> None:
    done = run_cli(*base(emu), "summary", "--days", "7", "--by", "project")
    assert done.returncode == 0, done.stderr
    assert "(end exclusive; 7 days, UTC)" in done.stdout
    lines = done.stdout.splitlines()
    title = lines.index("Top movers by project: the last 3 days against the 3 before")
    first = time.strftime("%Y-%m-%d", time.gmtime((int(time.time()) // DAY - 7) * DAY))
    assert lines[title + 1] == (
        f"  (7 days: the first, {first}, is left out to compare equal spans)"
    )


def test_summary_of_an_even_number_of_days_leaves_no_day_out(emu: Emulator) -> None:
    done = run_cli(*base(emu), "summary", "--days", "2", "--no-names")
    assert done.returncode == 0, done.stderr
    assert "(end exclusive; 2 days, UTC)" in done.stdout
    lines = done.stdout.splitlines()
    title = lines.index("Top movers by line item: the last day against the day before")
    assert lines[title + 1].split() == ["before", "after", "change"]
    assert "left out" not in done.stdout
    one = run_cli(*base(emu), "summary", "--days", "1", "--no-names")
    assert "(end exclusive; 1 day, UTC)" in one.stdout


def test_demo() -> None:
    done = run_cli("demo", "--days", "10", key=None)
    assert done.returncode == 0, done.stderr
    assert done.stderr.startswith("openai-usage demo: the bundled emulator at http://127.0.0.1:")
    assert "Total cost   $" in done.stdout and "Top movers by line item" in done.stdout


def test_emulator_command() -> None:
    proc = start_cli(
        "emulator", "--port", "0", "--latency", "5", "--now", str(NOW), text=True, key=None
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        done = run_cli(
            "--base-url",
            base_url,
            "fetch",
            "costs",
            "--start",
            str(NOW - 3 * DAY),
            "--end",
            str(NOW),
            "--format",
            "jsonl",
        )
        assert done.returncode == 0 and len(done.stdout.splitlines()) == 4
    finally:
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=10)
    assert proc.returncode == 0


@pytest.mark.parametrize("width", [80, 120, 40])
def test_the_costs_table_keeps_amount_and_groups_at_any_width(emu: Emulator, width: int) -> None:
    done = run_cli(
        *base(emu),
        "fetch",
        "costs",
        "--start",
        START,
        "--end",
        "2025-10-04",
        "--group-by",
        "line_item,project_id",
        COLUMNS=str(width),
    )
    assert done.returncode == 0, done.stderr
    lines = done.stdout.splitlines()
    table = lines[: lines.index("")]
    assert all(len(line) <= width for line in table)
    columns = lines[0].split()
    assert columns[:2] == ["start", "(UTC)"] and "amount_currency" not in columns
    assert [c[:4] for c in columns[2:5]] == ["line", "proj", "amou"]
    rows = [line for line in table if line.startswith("2025-")]
    assert len(rows) == 651 and all(re.search(r" \$[\d,]+\.\d\d\b", row) for row in rows)
    assert "amount_value" not in done.stdout
    if width == 120:  # room for all once the IDs are short
        assert columns[-2:] == ["quantity", "quantity_unit"] and "…" in table[2]
        assert not re.search(r"\d\.00\b", table[2].split("$")[1])  # whole quantities


def test_the_table_hint_names_jsonl_for_unknown_result_types(emu: Emulator) -> None:
    emu.unknown_tag = True
    try:
        done = run_cli(
            *base(emu), "fetch", "vector_stores", "--start", START, "--end", END, COLUMNS="60"
        )
    finally:
        emu.unknown_tag = False
    assert done.returncode == 0, done.stderr
    note = " ".join(done.stdout.split("\n\n")[0].splitlines()[-3:])
    assert "details" in note and "use --format jsonl for all" in note
    assert "--format csv" not in done.stdout


def test_one_bucket_is_singular(emu: Emulator) -> None:
    done = run_cli(*base(emu), "fetch", "costs", "--start", START, "--end", "2025-10-02")
    assert done.returncode == 0, done.stderr
    assert re.fullmatch(r"1 bucket \(0 empty\), 1 result", done.stdout.splitlines()[-1])


def test_verbose_logs_our_requests_not_asyncio(emu: Emulator) -> None:
    done = run_cli(*base(emu), "-v", "fetch", "costs", "--start", START, "--end", END)
    assert done.returncode == 0, done.stderr
    assert "DEBUG openai_usage_async: GET /organization/costs -> 200" in done.stderr
    assert "Using selector" not in done.stderr and " asyncio:" not in done.stderr


BROKEN = (
    "import sys\n"
    "from openai_usage_async.cli import _commands, main\n"
    "async def broken(args):\n"
    "    raise ValueError('a bug')\n"
    "_commands.COMMANDS['directory'] = broken\n"
    "sys.exit(main(sys.argv[1:]))\n"
)


def test_a_bug_asks_for_verbose_only_without_it() -> None:
    quiet = subprocess.run(
        [sys.executable, "-c", BROKEN, "directory"], capture_output=True, text=True, timeout=60
    )
    assert quiet.returncode == 1
    assert quiet.stderr == (
        "openai-usage: error: unexpected ValueError: a bug (rerun with --verbose)\n"
    )
    verbose = subprocess.run(
        [sys.executable, "-c", BROKEN, "-v", "directory"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert verbose.returncode == 1
    assert "Traceback" in verbose.stderr and "rerun with --verbose" not in verbose.stderr
    assert verbose.stderr.endswith(
        "openai-usage: error: unexpected ValueError: a bug (please report it with the "
        "traceback above)\n"
    )


def test_sync_says_one_request_and_one_row(emu: Emulator, tmp_path: pathlib.Path) -> None:
    store = str(tmp_path / "one.db")
    sync = [*base(emu), "sync", "--store", store, "--endpoints", "costs", "--group-by", "none"]
    done = run_cli(*sync, "--start", START, "--end", "2025-10-02", "-q")
    assert done.returncode == 0, done.stderr
    assert re.search(r"^1 row in \d+\.\ds, 1 request$", done.stdout, re.MULTILINE), done.stdout
