"""Usage errors are one line: ``openai-usage: error: ...``, the bad value named, the
closest choice offered, the command's help pointed at; exit code 2, nothing sent."""

from __future__ import annotations

import pytest

from openai_usage_async.emulator import Emulator
from tests.cli.conftest import run_cli

ENDPOINTS = (
    "completions, embeddings, moderations, images, audio_speeches, audio_transcriptions, "
    "vector_stores, code_interpreter_sessions, costs, file_search_calls, web_search_calls, "
    "decisions"
)


@pytest.mark.parametrize(
    ("args", "line"),
    [
        (
            ["fetch", "completion", "--start", "7d"],
            "'completion' is not an endpoint; did you mean completions? "
            "(see openai-usage fetch --help)",
        ),
        (
            ["fetch", "teleports", "--start", "7d"],
            f"'teleports' is not an endpoint: {ENDPOINTS} (see openai-usage fetch --help)",
        ),
        (
            ["--concurrency", "0", "summary"],
            "--concurrency: 0 is below 1 (see openai-usage summary --help)",
        ),
        (
            ["fetch", "costs", "--start", "7d", "--concurrency", "0"],
            "--concurrency: 0 is below 1 (see openai-usage fetch --help)",
        ),
        (
            ["fetch", "costs", "--start", "7d", "--format", "xlsx"],
            "--format: 'xlsx' is not one of table, csv, jsonl, json, parquet "
            "(see openai-usage fetch --help)",
        ),
        (
            ["fetch", "costs", "--start", "7d", "--format", "jsn"],
            "--format: 'jsn' is not one of table, csv, jsonl, json, parquet; did you mean "
            "json? (see openai-usage fetch --help)",
        ),
        (["fetch", "costs"], "--start is required (see openai-usage fetch --help)"),
        (["fetch"], "ENDPOINT and --start are required (see openai-usage fetch --help)"),
        (
            ["summary", "--days", "7", "--start", "2025-11-01"],
            "--start: not allowed with --days; give one or the other "
            "(see openai-usage summary --help)",
        ),
        (
            ["summary", "--by", "proj"],
            "--by: 'proj' is not one of line_item, project, model; did you mean project? "
            "(see openai-usage summary --help)",
        ),
        (
            ["summary", "--days", "x"],
            "--days: 'x' is not a whole number (see openai-usage summary --help)",
        ),
        (["fetch", "costs", "--start"], "--start: needs a value (see openai-usage fetch --help)"),
        (
            ["fetch", "costs", "--start", "7d", "--start-time", "1"],
            "--start-time: not an option of fetch; did you mean --start? "
            "(see openai-usage fetch --help)",
        ),
        (
            ["summary", "--names"],
            "--names: not an option of summary; did you mean --no-names? "
            "(see openai-usage summary --help)",
        ),
        (
            ["fetch", "costs", "--start", "7d", "extra"],
            "'extra': an argument too many (see openai-usage fetch --help)",
        ),
        (["summry"], "'summry' is not a command; did you mean summary? (see openai-usage --help)"),
        ([], "COMMAND is required (see openai-usage --help)"),
        # The command's own checks end the same way.
        (
            ["fetch", "costs", "--start", "2026-11-10", "--end", "2026-11-01"],
            "--end: 2026-11-01 is not after --start 2026-11-10 (see openai-usage fetch --help)",
        ),
    ],
)
def test_a_usage_error_is_one_line(emu: Emulator, args: list[str], line: str) -> None:
    assert emu.base_url is not None
    done = run_cli("--base-url", emu.base_url, *args)
    assert done.returncode == 2
    assert done.stderr == f"openai-usage: error: {line}\n"
    assert done.stdout == ""
    assert emu.statistics().requests_total == 0


@pytest.mark.parametrize("command", [[], ["fetch"], ["summary"], ["sync"], ["emulator"]])
def test_help_is_still_argparse_help(command: list[str]) -> None:
    done = run_cli(*command, "--help", key=None)
    assert done.returncode == 0 and done.stderr == ""
    assert done.stdout.startswith(f"usage: openai-usage {' '.join(command)}".rstrip() + " ")


def test_a_bad_pinned_clock_is_a_usage_error() -> None:
    done = run_cli("summary", OPENAI_USAGE_NOW="soon")
    assert done.returncode == 2
    assert done.stderr.startswith("openai-usage: error: $OPENAI_USAGE_NOW: 'soon' is not a date")
    assert len(done.stderr.splitlines()) == 1
