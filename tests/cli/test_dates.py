"""How the command line reads times (pure)."""

from __future__ import annotations

import pytest

from openai_usage_async.cli._args import parse_time

NOW = 1_763_904_000.0


def now() -> float:
    return NOW


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("2025-11-23", 1_763_856_000),
        ("2025-11-23T13:20:00", 1_763_904_000),
        ("2025-11-23T13:20:00Z", 1_763_904_000),
        ("2025-11-23T15:20:00+02:00", 1_763_904_000),
        ("1763904000", 1_763_904_000),
        ("now", 1_763_904_000),
        ("7d", 1_763_904_000 - 7 * 86_400),
        ("24h", 1_763_904_000 - 86_400),
        ("90m", 1_763_904_000 - 5_400),
        ("2w", 1_763_904_000 - 14 * 86_400),
        (" 30s ", 1_763_904_000 - 30),
    ],
)
def test_accepted_forms(text: str, expected: int) -> None:
    assert parse_time(text, now=now) == expected


@pytest.mark.parametrize("text", ["yesterday", "2025-13-01", "7 days", "-5", "2025/11/23", ""])
def test_refused_forms_say_what_is_accepted(text: str) -> None:
    with pytest.raises(ValueError, match="is not a date; use YYYY-MM-DD"):
        parse_time(text, now=now)


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("1969-12-31", "'1969-12-31' is before 1970-01-01"),
        ("0001-01-01T00:00:00+05:00", "is before 1970-01-01"),
        ("100000w", "'100000w' is before 1970-01-01"),
        ("999999999999", "'999999999999' is after the year 9999"),
        (
            "1763904000000",
            r"'1763904000000' looks like milliseconds; give Unix seconds \(1763904000\)",
        ),
    ],
)
def test_out_of_range_is_a_clear_value_error(text: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        parse_time(text, now=now)


def test_the_edges_of_the_range() -> None:
    assert parse_time("0", now=now) == 0
    assert parse_time("9999-12-31T23:59:59Z", now=now) == 253_402_300_799


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("7d", 1_763_856_000 - 7 * 86_400),  # 00:00 UTC, 7 days before 2025-11-23
        ("1d", 1_763_856_000 - 86_400),
        ("0d", 1_763_856_000),
        ("2w", 1_763_856_000 - 14 * 86_400),
        ("24h", 1_763_904_000 - 86_400),  # hours stay a time ago
        ("90m", 1_763_904_000 - 5_400),
        ("now", 1_763_904_000),
        ("2025-11-20T06:00:00Z", 1_763_618_400),
    ],
)
def test_days_ago_are_midnights_for_daily_buckets(text: str, expected: int) -> None:
    assert parse_time(text, now=now, whole_days=True) == expected
