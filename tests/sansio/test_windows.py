"""Window planning covers a range exactly once, on bucket boundaries (hypothesis)."""

from __future__ import annotations

import itertools

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_usage_async._sansio.windows import bucket_count, plan_windows
from openai_usage_async.emulator.app import bucket_bounds

WIDTHS = st.sampled_from([60, 3600, 86400])


def buckets(start: int, end: int, width: int) -> list[tuple[int, int]]:
    return bucket_bounds(start, end, width, 10**9)


@given(
    start=st.integers(0, 2_000_000_000),
    length=st.integers(1, 400 * 86400),
    width=WIDTHS,
    size=st.integers(1, 200),
)
def test_windows_cover_the_range_exactly_once(
    start: int, length: int, width: int, size: int
) -> None:
    end = start + length
    if bucket_count(start, end, width) > 20_000:
        end = start + 20_000 * width - width // 2
    windows = plan_windows(start, end, width, size)
    assert windows[0].start == start and windows[-1].end == end
    for a, b in itertools.pairwise(windows):
        assert a.end == b.start  # contiguous, no overlap, no gap
        assert b.start % width == 0  # every inner edge is a bucket boundary
    assert [w.index for w in windows] == list(range(len(windows)))
    whole = buckets(start, end, width)
    assert bucket_count(start, end, width) == len(whole)
    pieces = [b for w in windows for b in buckets(w.start, w.end, width)]
    assert pieces == whole  # the same buckets, none split, none twice
    for w in windows:
        assert w.buckets >= 1 and w.buckets <= size
        assert len(buckets(w.start, w.end, width)) == w.buckets
    assert all(w.buckets == size for w in windows[:-1])


def test_a_year_of_hours_is_53_windows() -> None:
    start = 1_735_689_600  # 2025-01-01
    windows = plan_windows(start, start + 365 * 86400, 3600, 168)
    assert len(windows) == 53
    assert windows[-1].buckets == 8760 - 52 * 168


def test_partial_first_and_last_buckets() -> None:
    windows = plan_windows(90, 7300, 3600, 2)
    assert [(w.start, w.end, w.buckets) for w in windows] == [(90, 7200, 2), (7200, 7300, 1)]
    assert plan_windows(10, 20, 3600, 5)[0].buckets == 1


def test_bad_plans() -> None:
    with pytest.raises(ValueError, match=r"^end"):
        plan_windows(10, 10, 60, 1)
    with pytest.raises(ValueError, match=r"^size"):
        plan_windows(0, 10, 60, 0)
