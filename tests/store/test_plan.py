"""The store's plan: what a sync fetches given its checkpoints. Pure: no database."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from openai_usage_async.store._plan import (
    Checkpoint,
    count_fetch,
    needed_ranges,
    plan_fetch,
    settled_end,
)

DAY = 86400
OVERLAP = 2 * DAY


def test_a_first_sync_fetches_everything() -> None:
    assert needed_ranges(0, 10 * DAY, [], DAY, OVERLAP) == [(0, 10 * DAY)]
    windows = list(plan_fetch(0, 10 * DAY, [], width_s=DAY, overlap_s=OVERLAP, size=3))
    assert [(w.start, w.end) for w in windows] == [
        (0, 3 * DAY),
        (3 * DAY, 6 * DAY),
        (6 * DAY, 9 * DAY),
        (9 * DAY, 10 * DAY),
    ]
    assert count_fetch(0, 10 * DAY, [], width_s=DAY, overlap_s=OVERLAP, size=3) == 4


def test_only_buckets_closed_for_the_overlap_when_fetched_are_settled() -> None:
    fetched = Checkpoint(0, 10 * DAY + 3600, fetched_at=10 * DAY + 3600)  # now, mid-day 10
    assert settled_end(fetched, DAY, OVERLAP) == 8 * DAY
    old = Checkpoint(0, 10 * DAY, fetched_at=20 * DAY)  # fetched long after: all settled
    assert settled_end(old, DAY, OVERLAP) == 10 * DAY
    fresh = Checkpoint(5 * DAY, 6 * DAY, fetched_at=6 * DAY)
    assert settled_end(fresh, DAY, OVERLAP) == 5 * DAY  # nothing settled


def test_a_later_sync_refetches_the_overlap_and_what_is_new() -> None:
    before = [Checkpoint(0, 10 * DAY + 3600, fetched_at=10 * DAY + 3600)]
    assert needed_ranges(0, 12 * DAY, before, DAY, OVERLAP) == [(8 * DAY, 12 * DAY)]


def test_windows_a_killed_sync_committed_are_not_fetched_again() -> None:
    # A backfill of an old range: every committed window was settled when fetched.
    done = [
        Checkpoint(0, 3 * DAY, fetched_at=100 * DAY),
        Checkpoint(6 * DAY, 9 * DAY, fetched_at=100 * DAY),
    ]
    assert needed_ranges(0, 10 * DAY, done, DAY, OVERLAP) == [
        (3 * DAY, 6 * DAY),
        (9 * DAY, 10 * DAY),
    ]


def test_an_unsynced_start_before_the_table_is_fetched() -> None:
    done = [Checkpoint(5 * DAY, 9 * DAY, fetched_at=100 * DAY)]
    assert needed_ranges(0, 9 * DAY, done, DAY, OVERLAP) == [(0, 5 * DAY)]
    assert needed_ranges(6 * DAY, 8 * DAY, done, DAY, OVERLAP) == []


@settings(max_examples=300, deadline=None)
@given(
    st.lists(
        st.tuples(
            st.integers(0, 40), st.integers(1, 10), st.integers(0, 60)
        ),  # start day, length, fetched day
        max_size=6,
    ),
    st.integers(0, 20),
    st.integers(1, 30),
    st.integers(1, 7),
)
def test_the_plan_covers_exactly_what_is_not_settled(
    raw: list[tuple[int, int, int]], start_day: int, days: int, size: int
) -> None:
    checkpoints = [Checkpoint(s * DAY, (s + n) * DAY, f * DAY) for s, n, f in raw]
    start, end = start_day * DAY, (start_day + days) * DAY
    settled = {
        d for c in checkpoints for d in range(c.start // DAY, settled_end(c, DAY, OVERLAP) // DAY)
    }
    windows = list(plan_fetch(start, end, checkpoints, width_s=DAY, overlap_s=OVERLAP, size=size))
    fetched = [d for w in windows for d in range(w.start // DAY, w.end // DAY)]
    assert sorted(fetched) == fetched  # in order
    assert len(set(fetched)) == len(fetched)  # each day at most once
    assert set(fetched) == set(range(start_day, start_day + days)) - settled
    assert all(w.buckets <= size and w.start % DAY == 0 for w in windows)
    assert count_fetch(start, end, checkpoints, width_s=DAY, overlap_s=OVERLAP, size=size) == len(
        windows
    )
