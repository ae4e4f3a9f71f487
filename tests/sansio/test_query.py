"""Argument validation and query building: pure, no loop, no sockets."""

from __future__ import annotations

import datetime as dt
import typing

import pytest

from openai_usage_async._sansio import endpoints
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async._sansio.query import check_extra_headers, to_unix, validate

COMPLETIONS = ENDPOINTS["completions"]
COSTS = ENDPOINTS["costs"]
UTC = dt.UTC


def test_pairs_order_bracket_arrays_and_booleans() -> None:
    q = validate(
        COMPLETIONS,
        start_time=100,
        end_time=200,
        bucket_width="1h",
        limit=5,
        group_by=["model", "project_id", "model"],
        filters={"project_ids": ["p1", "p2"], "batch": False, "models": "gpt-4o"},
    )
    assert q.pairs(page="page_ab+c/=") == [
        ("start_time", "100"),
        ("end_time", "200"),
        ("bucket_width", "1h"),
        ("limit", "5"),
        ("group_by[]", "model"),
        ("group_by[]", "project_id"),
        ("project_ids[]", "p1"),
        ("project_ids[]", "p2"),
        ("batch", "false"),
        ("models[]", "gpt-4o"),
        ("page", "page_ab+c/="),
    ]
    assert q.pairs(start_time=150, end_time=160, limit=9)[:4] == [
        ("start_time", "150"),
        ("end_time", "160"),
        ("bucket_width", "1h"),
        ("limit", "9"),
    ]


def test_defaults() -> None:
    q = validate(COSTS, start_time=0)
    assert (q.bucket_width, q.limit, q.end_time, q.group_by, q.filters) == (
        "1d",
        None,
        None,
        (),
        (),
    )
    assert q.page_size == 180
    assert validate(COMPLETIONS, start_time=0, bucket_width="1m").page_size == 1440
    assert q.pairs() == [("start_time", "0"), ("bucket_width", "1d")]


def test_aware_datetimes_become_unix_seconds() -> None:
    t = dt.datetime(2025, 1, 2, 3, 4, 5, 999_000, tzinfo=UTC)
    assert to_unix("start_time", t) == 1735787045
    plus_two = dt.datetime(2025, 1, 2, 5, 4, 5, tzinfo=dt.timezone(dt.timedelta(hours=2)))
    assert to_unix("end_time", plus_two) == 1735787045


@pytest.mark.parametrize(
    ("spec", "kwargs", "starts"),
    [
        (COMPLETIONS, {"start_time": dt.datetime(2025, 1, 1)}, "start_time: naive datetime"),
        (COMPLETIONS, {"start_time": "2025-01-01"}, "start_time: expected Unix seconds"),
        (COMPLETIONS, {"start_time": float("nan")}, "start_time: nan is not a time"),
        (COMPLETIONS, {"start_time": b"0"}, "start_time: expected Unix seconds"),
        (
            COMPLETIONS,
            {"start_time": 1_730_419_200_000},
            "start_time: 1730419200000 looks like milliseconds, not Unix seconds; "
            "pass start_time=1730419200",
        ),
        (
            COMPLETIONS,
            {"start_time": 0, "end_time": 1_730_419_200_000.5},
            "end_time: 1730419200000.5 looks like milliseconds",
        ),
        (COMPLETIONS, {"start_time": 0, "end_time": 1_730_419_200 * 10**6}, "end_time: 1730"),
        (COMPLETIONS, {"start_time": 10.5, "end_time": 10.25}, "end_time: 10.25 is not after"),
        (COMPLETIONS, {"start_time": True}, "start_time: expected Unix seconds"),
        (COMPLETIONS, {"start_time": -1}, "start_time: -1 is before 1970"),
        (COMPLETIONS, {"start_time": 10, "end_time": 10}, "end_time: 10 is not after start_time"),
        (COMPLETIONS, {"start_time": 10, "end_time": dt.datetime(2025, 1, 1)}, "end_time: naive"),
        (
            COMPLETIONS,
            {"start_time": 0, "bucket_width": "2h"},
            "bucket_width: '2h' is not supported",
        ),
        (COMPLETIONS, {"start_time": 0, "bucket_width": ["1d"]}, "bucket_width: ['1d'] is not"),
        (
            COSTS,
            {"start_time": 0, "bucket_width": "1h"},
            "bucket_width: '1h' is not supported by costs",
        ),
        (COMPLETIONS, {"start_time": 0, "limit": 0}, "limit: 0 is below 1"),
        (COMPLETIONS, {"start_time": 0, "limit": 32}, "limit: 32 exceeds the 1d maximum (31)"),
        (
            COMPLETIONS,
            {"start_time": 0, "limit": 200, "bucket_width": "1h"},
            "limit: 200 exceeds the 1h maximum (168)",
        ),
        (COSTS, {"start_time": 0, "limit": 181}, "limit: 181 exceeds the 1d maximum (180)"),
        (COMPLETIONS, {"start_time": 0, "limit": "5"}, "limit: expected an int"),
        (
            COMPLETIONS,
            {"start_time": 0, "group_by": ["size"]},
            "group_by: 'size' is not a group_by",
        ),
        (
            COSTS,
            {"start_time": 0, "group_by": "model"},
            "group_by: 'model' is not a group_by value of costs",
        ),
        (COMPLETIONS, {"start_time": 0, "group_by": [1]}, "group_by: expected non-empty strings"),
        (COMPLETIONS, {"start_time": 0, "group_by": 5}, "group_by: expected a string or a list"),
    ],
)
def test_bad_arguments_name_themselves(spec, kwargs, starts: str) -> None:
    with pytest.raises(ValueError) as info:
        validate(spec, **kwargs)
    assert str(info.value).startswith(starts)


@pytest.mark.parametrize(
    ("spec", "filters", "starts"),
    [
        (
            COSTS,
            {"models": ["gpt-4o"]},
            "models: not an argument of costs (its filters: project_ids",
        ),
        (COMPLETIONS, {"projects": ["p"]}, "projects: not an argument of completions"),
        (COMPLETIONS, {"project_ids": []}, "project_ids: empty; leave it out"),
        (COMPLETIONS, {"project_ids": [""]}, "project_ids: expected non-empty strings"),
        (COMPLETIONS, {"batch": "true"}, "batch: expected True or False"),
        (ENDPOINTS["images"], {"sizes": ["640x480"]}, "sizes: '640x480' is not one of 256x256"),
        (ENDPOINTS["web_search_calls"], {"context_levels": "max"}, "context_levels: 'max'"),
        (COMPLETIONS, {"user_ids": {"a": 1}}, "user_ids: expected a string or a list"),
    ],
)
def test_bad_filters_name_themselves(spec, filters, starts: str) -> None:
    with pytest.raises(ValueError) as info:
        validate(spec, start_time=0, filters=filters)
    assert str(info.value).startswith(starts)


def test_none_filters_are_not_sent() -> None:
    q = validate(COMPLETIONS, start_time=0, filters={"models": None, "batch": None})
    assert q.filters == ()


LITERALS = {
    "completions": endpoints.CompletionsGroupBy,
    "decisions": endpoints.CompletionsGroupBy,
    "embeddings": endpoints.ModelGroupBy,
    "moderations": endpoints.ModelGroupBy,
    "audio_speeches": endpoints.ModelGroupBy,
    "audio_transcriptions": endpoints.ModelGroupBy,
    "images": endpoints.ImagesGroupBy,
    "vector_stores": endpoints.ProjectGroupBy,
    "code_interpreter_sessions": endpoints.ProjectGroupBy,
    "costs": endpoints.CostsGroupBy,
    "file_search_calls": endpoints.FileSearchGroupBy,
    "web_search_calls": endpoints.WebSearchGroupBy,
}


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_group_by_types_match_the_specs(name: str) -> None:
    assert set(typing.get_args(LITERALS[name])) == set(ENDPOINTS[name].group_by)


def test_float_times_floor_the_start_and_ceil_the_end() -> None:
    """``time.time() - 86400`` works: the range covers at least the instants given."""
    q = validate(COSTS, start_time=1_730_419_200.9, end_time=1_730_505_600.1)
    assert (q.start_time, q.end_time) == (1_730_419_200, 1_730_505_601)
    whole = validate(COSTS, start_time=100.0, end_time=200.0)
    assert (whole.start_time, whole.end_time) == (100, 200)
    t0 = dt.datetime(2025, 1, 2, 3, 4, 5, 1, tzinfo=UTC)
    q = validate(COSTS, start_time=t0, end_time=t0 + dt.timedelta(seconds=1))
    assert (q.start_time, q.end_time) == (1735787045, 1735787047)
    assert to_unix("end_time", 7.2, round_up=True) == 8
    assert to_unix("start_time", 7.9) == 7


@pytest.mark.parametrize(
    ("value", "unit", "seconds"),
    [
        (1_730_419_200_123, "milliseconds", 1_730_419_200),
        (1_730_419_200_123_456, "microseconds", 1_730_419_200),
        (1_730_419_200_123_456_789, "nanoseconds", 1_730_419_200),
        (99_999_999_999, None, 99_999_999_999),  # the year 5138, still read as seconds
    ],
)
def test_finer_units_are_refused_by_their_digits(
    value: int, unit: str | None, seconds: int
) -> None:
    if unit is None:
        assert to_unix("start_time", value) == seconds
        return
    with pytest.raises(ValueError) as info:
        to_unix("end_time", value)
    assert str(info.value) == (
        f"end_time: {value} looks like {unit}, not Unix seconds; "
        f"pass end_time={seconds} (or a datetime)"
    )


def test_extra_query_is_appended_on_every_rendering() -> None:
    q = validate(
        COSTS,
        start_time=0,
        end_time=10 * 86400,
        group_by="line_item",
        extra_query={"new_filter": ["a", "b"], "tags[]": "x", "n": 3, "flag": False},
    )
    extra = [
        ("new_filter[]", "a"),
        ("new_filter[]", "b"),
        ("tags[]", "x"),
        ("n", "3"),
        ("flag", "false"),
    ]
    assert q.pairs() == [
        ("start_time", "0"),
        ("end_time", "864000"),
        ("bucket_width", "1d"),
        ("group_by[]", "line_item"),
        *extra,
    ]
    # Windows and cursors render through pairs(): the extras stay, before the cursor.
    assert q.pairs(start_time=86400, end_time=2 * 86400, limit=1, page="c")[-6:] == [
        *extra,
        ("page", "c"),
    ]


@pytest.mark.parametrize(
    ("extra", "starts"),
    [
        ({"limit": 5}, "extra_query: 'limit' is set by the client on every window and page"),
        ({"page": "x"}, "extra_query: 'page' is set by the client"),
        ({"start_time[]": [1]}, "extra_query: 'start_time[]' is set by the client"),
        ({"": "x"}, "extra_query: keys must be non-empty strings"),
        ({"x": {"a": 1}}, "extra_query: 'x': expected a string, a number, a bool or a list"),
        ({"x": [None]}, "extra_query: 'x': expected a string, a number or a bool"),
        (["x"], "extra_query: expected a mapping"),
    ],
)
def test_extra_query_refusals_name_it(extra: object, starts: str) -> None:
    with pytest.raises(ValueError) as info:
        validate(COSTS, start_time=0, extra_query=extra)
    assert str(info.value).startswith(starts)


def test_extra_headers_never_touch_authorization() -> None:
    assert check_extra_headers({"OpenAI-Beta": "usage=v2", "x-trace": "1"}) == (
        ("OpenAI-Beta", "usage=v2"),
        ("x-trace", "1"),
    )
    assert check_extra_headers(None) == ()
    for name in ("Authorization", "authorization", "Proxy-Authorization"):
        with pytest.raises(ValueError) as info:
            check_extra_headers({name: "Bearer sk-admin-other-SECRET"})
        assert str(info.value).startswith(f"extra_headers: {name!r} is set by the client")
        assert "SECRET" not in str(info.value)
    with pytest.raises(ValueError, match="the value of 'x' must be a one-line string"):
        check_extra_headers({"x": "a\r\nAuthorization: Bearer sk-admin-SECRET"})
    with pytest.raises(ValueError, match="is not a header name"):
        check_extra_headers({"bad name": "x"})
