"""Cursor state for one chain of pages: the next request to send, or done.

A chain covers one window ``[start, end)`` of the range, or, for a range with no end,
its open tail from ``start`` up to the bucket that holds the time of the request. It
sends the query with only ``page`` changed and hands on the buckets it has not seen yet,
in order, each exactly once.

Theory of operation
-------------------
``_next_start`` is where the next bucket must start. A page's buckets are taken in order
while they continue from it; a bucket that ends at or before it was delivered already and
is skipped (never twice); a bucket past the window's end belongs to another window. Two
irregular shapes are accepted only at the range's own edges, where no other window can
deliver them: a whole bucket that starts before an unaligned range start (the service
did not clip the first bucket), and one that ends after an unaligned range end. Anything
else that does not continue from ``_next_start`` (a gap, an overlap) stops the page.

The chain ends when every bucket has arrived, whatever ``has_more`` says (the costs
quirk: ``has_more: true`` with a cursor the service then refuses). For the open tail,
"every bucket" means up to the bucket holding the time of the last request, answered
whole (it ends on the boundary after that time) or clipped at the service's clock (it
ends between boundaries, near that time): the service answers it either way.
While buckets are missing, ``has_more: true`` is followed, with guards: a cursor seen
twice, ``has_more: true`` without a cursor, or pages that bring nothing are an
``APIResponseValidationError``, never a loop.

A chain that ends (``has_more: false``) or stops at a gap while a bucket that starts in
the past is still missing was cut short by the service. The service answers a bucket for
every interval up to the time of the request, so that is a fault, not the end of the
data: the chain re-asks with a fresh query from the first missing bucket, and if that
brings nothing new it raises ``APIResponseValidationError``. Buckets that start at or
after the time of the request (less ``CLOCK_SKEW_S``, for clocks that disagree) are not
missing: a range may end in the future.
"""

from __future__ import annotations

import itertools
import operator
from collections.abc import Iterator
from typing import Any, Final

from ..errors import APIResponseValidationError
from ..models import UsageBucket, UsagePage
from .query import Query
from .windows import Window, plan_windows

__all__ = ["CLOCK_SKEW_S", "Chain", "plan_chains"]

# Pages in a row that bring no new bucket while claiming more: a loop, not progress.
_MAX_IDLE_PAGES: Final = 3
#: How far the service's clock may lag ours before a recent bucket counts as missing.
CLOCK_SKEW_S: Final = 300


class Chain:
    """Follows ``next_page`` through one window, or through the open tail of a range."""

    def __init__(self, query: Query, window: Window | None = None, *, start: int | None = None):
        self.query = query
        self.window = window
        self.done = False
        self.pages = 0
        self.restarts = 0
        self._cursor: str | None = None
        self._seen: set[str] = set()
        if window is not None:
            self._next_start = window.start
        else:
            self._next_start = query.start_time if start is None else start
        self._first_start = self._next_start
        self._asked_at: float | None = None
        self._restarted_at: int | None = None
        self._idle = 0

    @property
    def next_start(self) -> int:
        """Where the next bucket this chain has not delivered starts."""
        return self._next_start

    def next_request(self, now_s: float | None = None) -> list[tuple[str, str]]:
        """The query pairs of the next page to fetch, sent at ``now_s`` (Unix time).

        Follow-ups resend the query with only ``page`` changed; a re-ask after the service
        cut the chain short starts afresh from the first missing bucket.
        """
        if self.done:
            raise RuntimeError("the chain is complete")
        self._asked_at = now_s
        start = self._first_start if self._restarted_at is None else self._restarted_at
        end = self.window.end if self.window is not None else None
        return self.query.pairs(
            start_time=start, end_time=end, limit=self.query.page_size, page=self._cursor
        )

    def feed(self, page: UsagePage[Any]) -> list[UsageBucket[Any]]:
        """Take one page; return its buckets that are new, in order."""
        self.pages += 1
        new, cut = self._take(page.data)
        if self._complete():
            self.done = True  # every bucket arrived: complete, whatever has_more says
        elif cut or not page.has_more:
            self._cut_short(new, cut)
        else:
            self._follow(page.next_page, new)
        return new

    # -- taking buckets -------------------------------------------------------------------

    def _take(self, data: list[UsageBucket[Any]]) -> tuple[list[UsageBucket[Any]], bool]:
        """The new buckets, and whether a gap or an overlap stopped the page."""
        starts = [b.start_time for b in data]
        ends = [b.end_time for b in data]
        if not all(map(operator.lt, starts, ends)):
            raise APIResponseValidationError(f"{self._where()}: a bucket ends before it starts")
        end = self.window.end if self.window is not None else None
        if (
            starts
            and starts[0] == self._next_start
            and starts[1:] == ends[:-1]
            and (end is None or ends[-1] <= end)
        ):
            self._next_start = data[-1].end_time  # the usual page: new, contiguous, inside
            return data, False
        new: list[UsageBucket[Any]] = []
        for bucket in data:
            s, e = bucket.start_time, bucket.end_time
            if end is not None and s >= end:
                continue  # another window's (or past the range): it delivers it
            if e <= self._next_start:
                continue  # delivered already: never twice
            if s != self._next_start and not (s < self._next_start and self._at_range_start()):
                return new, True  # a gap or an overlap: the rest is not trusted
            if end is not None and e > end and not self._at_range_end():
                return new, True  # straddles an inner window edge: malformed
            new.append(bucket)
            self._next_start = e
        return new, False

    def _at_range_start(self) -> bool:
        # A whole bucket before an unaligned range start: the service did not clip it.
        return self._next_start == self.query.start_time != self._aligned(self._next_start)

    def _at_range_end(self) -> bool:
        end = self.query.end_time
        return end is not None and self.window is not None and self.window.end == end

    def _aligned(self, t: int) -> int:
        return t - t % self.query.width_s

    def _complete(self) -> bool:
        if self.window is not None:
            return self._next_start >= self.window.end
        if self._asked_at is None:
            return False
        # The open tail ends with the bucket that reaches the time of the request: whole
        # (up to the boundary after it), or clipped at the service's clock. A tail bucket
        # ends between boundaries only there, so such an end near the request's time is
        # the last one, whatever has_more says (the costs quirk's cursor would be refused).
        width, asked = self.query.width_s, int(self._asked_at)
        if self._next_start >= -(-asked // width) * width:
            return True
        return (
            self._next_start != self._first_start
            and self._next_start % width != 0
            and self._next_start >= asked - CLOCK_SKEW_S
        )

    # -- what next --------------------------------------------------------------------------

    def _missing(self) -> bool:
        """Whether the next bucket lies in the past: the service owes it."""
        if self._asked_at is None:  # no clock given: a window's buckets are all owed
            return self.window is not None
        return self._next_start < self._asked_at - CLOCK_SKEW_S

    def _cut_short(self, new: list[UsageBucket[Any]], cut: bool) -> None:
        if not self._missing():
            self.done = True  # what is left starts now or later: not there yet
            return
        if self._restarted_at == self._next_start and not new:
            what = "skipped" if cut else "ended before"
            raise APIResponseValidationError(
                f"{self._where()}: the service {what} the bucket starting at "
                f"{self._next_start} twice, though it lies in the past",
                body=None,
            )
        # Re-ask for the remainder with a fresh query from the first missing bucket.
        self.restarts += 1
        self._restarted_at = self._next_start
        self._cursor = None
        self._idle = 0

    def _follow(self, cursor: str | None, new: list[UsageBucket[Any]]) -> None:
        if not cursor:
            raise APIResponseValidationError(
                f"{self._where()}: has_more is true but next_page is missing", body=None
            )
        if cursor in self._seen:
            raise APIResponseValidationError(
                f"{self._where()}: next_page {cursor!r} was already followed (a cursor loop)"
            )
        self._idle = 0 if new else self._idle + 1
        if self._idle >= _MAX_IDLE_PAGES:
            raise APIResponseValidationError(
                f"{self._where()}: {self._idle} pages in a row brought no new bucket"
            )
        self._seen.add(cursor)
        self._cursor = cursor

    def _where(self) -> str:
        if self.window is not None:
            span = f"[{self.window.start}, {self.window.end})"
        else:
            span = f"[{self._first_start}, now)"
        return f"{self.query.spec.name} {span}, page {self.pages}"


def plan_chains(query: Query, now_s: float) -> tuple[Iterator[Chain], int]:
    """The chains of ``query``, made lazily, and how many there are.

    With an end, the range's windows. Without one, the windows up to the bucket boundary
    before ``now_s`` (the client's clock), then an open chain for the tail from there: so
    an open range is fetched concurrently too, and the tail is complete once the bucket
    that holds the time of its request has arrived (the costs quirk never bites).
    """
    start, width, size = query.start_time, query.width_s, query.page_size
    if query.end_time is not None:
        plan = plan_windows(start, query.end_time, width, size)
        return (Chain(query, w) for w in plan), len(plan)
    boundary = int(now_s) - int(now_s) % width
    if boundary <= start:
        return iter((Chain(query),)), 1
    plan = plan_windows(start, boundary, width, size)
    tail = Chain(query, start=boundary)
    return itertools.chain((Chain(query, w) for w in plan), (tail,)), len(plan) + 1
