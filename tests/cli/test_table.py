"""The ``fetch`` table, pure: which columns matter, in what order, and how it fits."""

from __future__ import annotations

import pytest

from openai_usage_async.cli._output import fit_table, number, plural
from openai_usage_async.cli._table import usage_table
from openai_usage_async.models import (
    CompletionsResult,
    CostAmount,
    CostsResult,
    Directory,
    Project,
    UnknownResult,
    UsageBucket,
    VectorStoresResult,
)

DAY = 86_400
T0 = 1_761_955_200  # 2025-11-01
PROJECTS = ["proj_mtsL4FqbYQ2xWcR8vN3kPz7A", "proj_9jZICffu4G7FgtJsThJv07In"]


def costs() -> list[UsageBucket[CostsResult]]:
    results = [
        CostsResult(
            amount=CostAmount(value=1389.5612, currency="usd"),
            line_item="gpt-4o-mini-2024-07-18, cached input",
            project_id=PROJECTS[0],
            quantity=22_000_000.0,
            quantity_unit="tokens",
        ),
        CostsResult(
            amount=CostAmount(value=7.5, currency="usd"),
            line_item="code interpreter sessions",
            project_id=PROJECTS[1],
            quantity=251.0,
            quantity_unit="sessions",
        ),
    ]
    return [UsageBucket(start_time=T0, end_time=T0 + DAY, results=results)]


def header(lines: list[str]) -> list[str]:
    return lines[0].replace("start (UTC)", "start").split()


@pytest.mark.parametrize("width", [80, 120, 40])
def test_costs_keep_the_amount_and_the_grouping_columns(width: int) -> None:
    lines = usage_table(costs(), "costs", DAY, width=width)
    table = lines[: lines.index("")]
    assert all(len(line) <= width for line in table), "\n".join(table)
    columns = header(lines)
    assert columns[0] == "start"
    assert "amount_currency" not in columns and "amount_value" not in columns
    # Order: bucket start, grouping columns, then the amount (maybe cut at 40 columns).
    assert [c[:4] for c in columns[1:4]] == ["line", "proj", "amou"]
    assert "$7.50" in lines[2] + lines[3]
    assert lines[-1] == "1 bucket (0 empty), 2 results"


def test_ids_are_shortened_before_any_column_goes() -> None:
    lines = usage_table(costs(), "costs", DAY, width=110)
    columns = ["start", "line_item", "project_id", "amount", "quantity", "quantity_unit"]
    assert header(lines) == columns
    first = next(line for line in lines if "cached input" in line)
    assert "proj_mtsL4F… " in first and PROJECTS[0] not in first
    assert "$1,389.56" in first
    assert "22,000,000 " in first and ".00" not in first.split("$")[0]  # integers plain
    assert not any("more column" in line for line in lines)


def test_with_room_the_ids_are_whole() -> None:
    lines = usage_table(costs(), "costs", DAY, width=200)
    assert PROJECTS[0] in "\n".join(lines)


def test_at_80_columns_the_low_priority_columns_go_first_and_are_listed() -> None:
    lines = usage_table(costs(), "costs", DAY, width=80)
    assert header(lines) == ["start", "line_item", "project_id", "amount"]
    assert "(2 more columns: quantity, quantity_unit; use --format csv for all)" in lines


def test_one_hidden_column_is_singular() -> None:
    lines = fit_table(["a", "b"], [["x" * 10, "y" * 20]], width=25, drop=[1], hint="h")
    assert lines == ["a", "-" * 10, "x" * 10, "(1 more column: b; h)"]


def test_names_take_the_place_of_long_ids_when_the_table_is_narrow() -> None:
    directory = Directory(
        projects=[Project(id=PROJECTS[0], name="Checkout")], users=[], api_keys=[]
    )
    wide = usage_table(costs(), "costs", DAY, directory, width=200)
    assert header(wide)[1:4] == ["line_item", "project_id", "project_name"]
    narrow = usage_table(costs(), "costs", DAY, directory, width=80)
    assert header(narrow)[1:4] == ["line_item", "project", "amount"]
    text = "\n".join(narrow)
    assert "Checkout" in text
    assert "proj_9jZICf…" in text  # no name in the directory: the short ID


def test_usage_keeps_tokens_and_requests_and_drops_breakdowns_first() -> None:
    result = CompletionsResult(
        input_tokens=1_398_960,
        output_tokens=1_808_208,
        num_model_requests=2_088,
        input_cached_tokens=273_528,
        input_audio_tokens=0,
        model="gpt-4.1-mini-2025-04-14",
        project_id=PROJECTS[0],
    )
    buckets = [UsageBucket(start_time=T0, end_time=T0 + DAY, results=[result])]
    for width in (40, 80):
        lines = usage_table(buckets, "completions", DAY, width=width)
        columns = header(lines)
        assert columns == ["start", "project_id", "model", *columns[-3:]]
        assert columns[-3:] == ["input_tokens", "output_tokens", "requests"], width
        note = " ".join(lines[3 : lines.index("")])
        assert note.startswith("(2 more columns: input_cached_tokens, input_audio_tokens;")
    assert all(len(line) <= 80 for line in lines[:3]) and "proj_mtsL4F…" in lines[2]
    # At 40 columns the measures alone do not fit: the table is wider, but what is
    # left of the text still says something.
    narrow = usage_table(buckets, "completions", DAY, width=40)
    assert "proj_mtsL4F…  gpt-4.1-min…" in narrow[2]
    full = usage_table(buckets, "completions", DAY, width=200)
    assert header(full)[-2:] == ["input_cached_tokens", "input_audio_tokens"]


def test_bytes_are_gib() -> None:
    result = VectorStoresResult(usage_bytes=3 * 2**30 // 2, project_id="proj_a")
    lines = usage_table(
        [UsageBucket(start_time=T0, end_time=T0 + DAY, results=[result])],
        "vector_stores",
        DAY,
        width=80,
    )
    assert lines[0].split()[-2:] == ["usage", "(GiB)"]
    assert lines[2].endswith(" 1.50")


def test_hidden_fields_of_an_unknown_type_point_to_jsonl() -> None:
    unknown = UnknownResult(
        object="organization.usage.teleports.result",
        fields={"renders": 3, "quality": "hd", "details": {"depth": 2}},
    )
    known = costs()[0].results
    buckets = [UsageBucket(start_time=T0, end_time=T0 + DAY, results=[*known, unknown])]
    lines = usage_table(buckets, "costs", DAY, width=80)
    note = " ".join(lines[lines.index("") - 3 : lines.index("")])
    assert "renders" in note and "quality" in note and "details" in note
    assert "use --format jsonl for all" in note and "--format csv" not in note
    wide = "\n".join(usage_table(buckets, "costs", DAY, width=300))
    assert '{"depth":2}' in wide


@pytest.mark.parametrize(
    ("value", "text"),
    [(22_000_000.0, "22,000,000"), (2.5, "2.50"), (1234, "1,234"), (None, ""), (0.001, "0.001")],
)
def test_numbers(value: object, text: str) -> None:
    assert number(value) == text


def test_plural() -> None:
    assert [plural(1, "bucket"), plural(0, "bucket"), plural(1_000, "day")] == [
        "1 bucket",
        "0 buckets",
        "1,000 days",
    ]
