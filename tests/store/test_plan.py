"""The store's plan: what a sync fetches given its checkpoints. Pure: no database.

The property tests run a model of the service and of the store's writes (delete every row
starting in the window, insert the answer, trim the checkpoints) through random
sequences of syncs, clock moves and kills, the bucket in progress answered whole or
clipped, and check the store's promise after each step.
"""

from __future__ import annotations

import itertools
import random
from dataclasses import dataclass, field

from hypothesis import given, settings
from hypothesis import strategies as st

from openai_usage_async.store._plan import (
    Checkpoint,
    count_fetch,
    coverage,
    merge,
    plan_fetch,
    plan_ranges,
    settled_end,
    subtract,
    trim,
)

DAY = 86400
OVERLAP = 2 * DAY


def plan(start, end, checkpoints, *, now=None, pending=(), width=DAY, overlap=OVERLAP):
    return plan_ranges(
        start=start,
        end=end,
        now=end if now is None else now,
        checkpoints=checkpoints,
        pending=pending,
        width_s=width,
        overlap_s=overlap,
    )


def test_a_first_sync_fetches_everything() -> None:
    ranges = plan(0, 10 * DAY, [])
    assert ranges == [(0, 10 * DAY)]
    windows = list(plan_fetch(ranges, width_s=DAY, size=3))
    assert [(w.start, w.end) for w in windows] == [
        (0, 3 * DAY),
        (3 * DAY, 6 * DAY),
        (6 * DAY, 9 * DAY),
        (9 * DAY, 10 * DAY),
    ]
    assert count_fetch(ranges, width_s=DAY, size=3) == 4


def test_only_whole_buckets_closed_for_the_overlap_when_fetched_are_settled() -> None:
    fetched = Checkpoint(0, 10 * DAY + 3600, fetched_at=10 * DAY + 3600)  # now, mid-day 10
    assert settled_end(fetched, DAY, OVERLAP) == 8 * DAY
    old = Checkpoint(0, 10 * DAY, fetched_at=20 * DAY)  # fetched long after: all settled
    assert settled_end(old, DAY, OVERLAP) == 10 * DAY
    fresh = Checkpoint(5 * DAY, 6 * DAY, fetched_at=6 * DAY)
    assert settled_end(fresh, DAY, OVERLAP) == 5 * DAY  # nothing settled
    clipped = Checkpoint(0, 4 * DAY + 43200, fetched_at=30 * DAY)  # ended mid-day 4
    assert settled_end(clipped, DAY, OVERLAP) == 4 * DAY  # the clipped day never is


def test_a_later_sync_refetches_the_overlap_and_what_is_new() -> None:
    before = [Checkpoint(0, 10 * DAY + 3600, fetched_at=10 * DAY + 3600)]
    assert plan(None, 12 * DAY, before) == [(8 * DAY, 12 * DAY)]
    assert plan(0, 12 * DAY, before) == [(8 * DAY, 12 * DAY)]


def test_a_clipped_bucket_is_fetched_again_whole_from_its_start() -> None:
    # `sync --end 2026-11-25T12:00`, then `sync --end 2026-11-28` a week later.
    before = [Checkpoint(0, 4 * DAY + 43200, fetched_at=12 * DAY)]
    assert plan(None, 7 * DAY, before, now=12 * DAY) == [(4 * DAY, 7 * DAY)]
    # Even far from where the table ends, and with an explicit range elsewhere.
    later = [*before, Checkpoint(8 * DAY, 10 * DAY, fetched_at=40 * DAY)]
    assert plan(20 * DAY, 21 * DAY, later, now=40 * DAY) == [
        (4 * DAY, 5 * DAY),
        (20 * DAY, 21 * DAY),
    ]


def test_an_end_inside_a_bucket_the_store_holds_beyond_is_widened() -> None:
    whole = [Checkpoint(0, 10 * DAY, fetched_at=40 * DAY)]
    # A re-sync of [3, 5.5) must not put a clipped day 5 in place of the whole one.
    assert plan(3 * DAY, 5 * DAY + 43200, whole, now=40 * DAY) == []  # all settled
    recent = [Checkpoint(0, 10 * DAY, fetched_at=6 * DAY)]  # days 4 and 5 not settled
    assert plan(3 * DAY, 5 * DAY + 43200, recent, now=10 * DAY) == [(4 * DAY, 6 * DAY)]


def test_a_plain_resume_does_not_fill_gaps_between_earlier_ranges() -> None:
    two = [
        Checkpoint(0, 3 * DAY, fetched_at=100 * DAY),
        Checkpoint(6 * DAY, 9 * DAY, fetched_at=100 * DAY),
    ]
    assert plan(None, 10 * DAY, two, now=100 * DAY) == [(9 * DAY, 10 * DAY)]
    # An explicit range does: it was asked for.
    assert plan(0, 10 * DAY, two, now=100 * DAY) == [(3 * DAY, 6 * DAY), (9 * DAY, 10 * DAY)]


def test_what_an_unfinished_sync_meant_to_fetch_is_fetched_by_the_next() -> None:
    done = [Checkpoint(6 * DAY, 9 * DAY, fetched_at=100 * DAY)]
    pending = [(0, 9 * DAY)]  # a backfill killed after one window committed
    assert plan(None, 9 * DAY, done, now=100 * DAY, pending=pending) == [(0, 6 * DAY)]


def test_an_unsynced_start_before_the_table_is_fetched() -> None:
    done = [Checkpoint(5 * DAY, 9 * DAY, fetched_at=100 * DAY)]
    assert plan(0, 9 * DAY, done, now=100 * DAY) == [(0, 5 * DAY)]
    assert plan(6 * DAY, 8 * DAY, done, now=100 * DAY) == []


def test_merge_and_subtract() -> None:
    assert merge([(5, 7), (0, 2), (2, 3), (6, 9), (4, 4)]) == [(0, 3), (5, 9)]
    assert subtract([(0, 10)], [(2, 3), (5, 12)]) == [(0, 2), (3, 5)]
    assert subtract([(0, 10), (20, 30)], [(5, 25)]) == [(0, 5), (25, 30)]
    assert subtract([(0, 10)], []) == [(0, 10)]


def test_trim_leaves_the_rest_of_a_clipped_bucket_uncovered() -> None:
    old = [Checkpoint(0, 10 * DAY, 50 * DAY)]
    assert trim(old, (3 * DAY, 5 * DAY), DAY) == [
        Checkpoint(0, 3 * DAY, 50 * DAY),
        Checkpoint(5 * DAY, 10 * DAY, 50 * DAY),
    ]
    assert trim(old, (3 * DAY, 5 * DAY + 60), DAY) == [
        Checkpoint(0, 3 * DAY, 50 * DAY),
        Checkpoint(6 * DAY, 10 * DAY, 50 * DAY),
    ]


def test_coverage_from_checkpoints() -> None:
    checkpoints = [
        Checkpoint(0, 3 * DAY, fetched_at=100 * DAY),
        Checkpoint(5 * DAY, 9 * DAY + 3600, fetched_at=9 * DAY + 3600),  # up to now, clipped
    ]
    c = coverage(
        table="costs_1d",
        endpoint="costs",
        bucket_width="1d",
        group_by=("project_id",),
        checkpoints=checkpoints,
        width_s=DAY,
        overlap_s=OVERLAP,
        last_sync=9 * DAY + 3600,
    )
    assert (c.start, c.end) == (0, 9 * DAY + 3600)
    assert c.gaps == ((3 * DAY, 5 * DAY),)
    assert c.settled_until == 7 * DAY
    assert c.open_buckets == 1
    whole_in_progress = Checkpoint(0, 3 * DAY, fetched_at=DAY + 60)
    assert (
        coverage(
            table="t",
            endpoint="costs",
            bucket_width="1d",
            group_by=(),
            checkpoints=[whole_in_progress],
            width_s=DAY,
            overlap_s=0,
            last_sync=None,
        ).open_buckets
        == 2  # the day in progress, and the day after it, answered (empty) in advance
    )
    empty = coverage(
        table="t",
        endpoint="costs",
        bucket_width="1d",
        group_by=(),
        checkpoints=[],
        width_s=DAY,
        overlap_s=0,
        last_sync=None,
    )
    assert (empty.start, empty.end, empty.gaps, empty.open_buckets) == (None, None, (), 0)


# -- a model of the service and the store, for the property tests ------------------------

W = 10  # bucket width
R = 15  # the service revises a bucket for R after it closes


def answer(lo: int, hi: int, now: int, mode: str) -> list[tuple[int, int, int]]:
    """The service's buckets for ``[lo, hi)`` at ``now``: (start, end, value)."""
    if mode == "clipped":
        hi = min(hi, now)
    out = []
    s = lo
    while s < hi:
        e = min(s - s % W + W, hi)
        seen = max(0, min(e, now) - s)  # usage so far
        # Revisions: a closed bucket grows by one per unit of time for R after it closes.
        revised = max(0, min(now, e + R) - e) if e - s == W and e <= now else 0
        out.append((s, e, seen * 100 + revised))
        s = e
    return out


@dataclass
class ModelStore:
    rows: dict[int, tuple[int, int]] = field(default_factory=dict)  # start -> (end, value)
    checkpoints: list[Checkpoint] = field(default_factory=list)
    pending: list[tuple[int, int]] = field(default_factory=list)

    def sync(
        self,
        start: int | None,
        end: int,
        now: int,
        overlap: int,
        mode: str,
        size: int,
        kill_after: int | None,
        rng: random.Random,
    ) -> bool:
        ranges = plan_ranges(
            start=start,
            end=end,
            now=now,
            checkpoints=self.checkpoints,
            pending=self.pending,
            width_s=W,
            overlap_s=overlap,
        )
        self.pending = merge([*self.pending, *ranges])
        windows = list(plan_fetch(ranges, width_s=W, size=size))
        rng.shuffle(windows)  # windows commit as they arrive, in any order
        for i, w in enumerate(windows):
            if kill_after is not None and i == kill_after:
                return False
            got = answer(w.start, w.end, now, mode)
            delivered = got[-1][1] if got else w.start
            if delivered == w.start:
                continue
            for s in [s for s in self.rows if w.start <= s < delivered]:
                del self.rows[s]
            for s, e, v in got:
                self.rows[s] = (e, v)
            self.checkpoints = [
                *trim(self.checkpoints, (w.start, delivered), W),
                Checkpoint(w.start, delivered, now),
            ]
        self.pending = []
        return True


ops = st.lists(
    st.tuples(
        st.integers(0, 40),  # clock advance
        st.one_of(st.none(), st.integers(0, 30)),  # start: None (resume) or buckets back
        st.one_of(st.none(), st.integers(-25, 25)),  # end: None (now) or now + this
        st.one_of(st.none(), st.integers(0, 3)),  # killed after this many windows
    ),
    min_size=1,
    max_size=8,
)


@settings(max_examples=400, deadline=None)
@given(
    ops,
    st.sampled_from(["whole", "clipped"]),
    st.sampled_from([R, R + 5, 3 * W]),
    st.integers(1, 4),
    st.integers(0, 2**16),
)
def test_any_sequence_of_syncs_keeps_the_stores_promise(
    steps: list[tuple[int, int | None, int | None, int | None]],
    mode: str,
    overlap: int,
    size: int,
    seed: int,
) -> None:
    rng = random.Random(seed)
    store = ModelStore()
    now = 200 + rng.randrange(W)  # mid-bucket
    first = now - 10 * W
    store.sync(first - first % W, now, now, overlap, mode, size, None, rng)
    for advance, back, ahead, kill in steps:
        now += advance
        start = None if back is None else (now - back * W) // W * W
        end = now if ahead is None else now + ahead
        if start is not None and end <= start:
            continue
        covered = merge((c.start, c.end) for c in store.checkpoints)
        finished = store.sync(start, end, now, overlap, mode, size, kill, rng)
        starts = sorted(store.rows)
        # Nothing the store covered is lost, killed or not (what it held of the future,
        # answered in advance with nothing in it, may be given back).
        lost = subtract(covered, [(c.start, c.end) for c in store.checkpoints])
        assert all(lo >= now for lo, _ in lost), lost
        # Every stored start_time is a boundary, and no two stored buckets overlap.
        assert all(s % W == 0 for s in starts)
        assert all(store.rows[a][0] <= b for a, b in itertools.pairwise(starts))
        # Only the bucket at a sync's end is stored clipped, and it is recorded open.
        for s in starts:
            e = store.rows[s][0]
            if e - s < W:
                assert any(c.end == e for c in store.checkpoints)
        if not finished:
            continue
        # Every bucket up to the sync's end equals the service's answer at this sync:
        # fetched now, or settled (closed for the overlap when fetched: final); and it is
        # whole, but for the one the service clipped at the sync's end or at its "now".
        for s in starts:
            e, value = store.rows[s]
            if e <= end:
                assert answer(s, e, now, mode) == [(s, e, value)], (s, e, value, now)
                assert e - s == W or e in (end, now), (s, e, end, now)
    # A last plain sync with the clock far ahead ends with exactly what one sync of the
    # whole range stores at that time.
    now += 3 * W + overlap + R
    assert store.sync(first - first % W, now, now, overlap, mode, size, None, rng)
    once = ModelStore()
    once.sync(first - first % W, now, now, overlap, mode, size, None, rng)
    assert {s: v for s, v in store.rows.items() if s >= first - first % W} == once.rows
