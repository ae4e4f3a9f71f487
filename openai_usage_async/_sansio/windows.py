"""Window planning: split ``[start, end)`` into runs of whole buckets, fetched independently.

Theory of operation
-------------------
The service cuts a range into buckets on UTC multiples of the width (midnight for
``1d``, the hour for ``1h``, the minute for ``1m``). A ``start`` between boundaries gives
a first, partial bucket ``[start, next boundary)``; an ``end`` between boundaries clips
the last one the same way. So the edges of the buckets of ``[start, end)`` are::

    start, b1, b1 + w, b1 + 2w, ..., end        where b1 = (start // w + 1) * w

(``b1`` is past ``end`` for a range inside one bucket). A window is a run of at most
``size`` consecutive buckets, from one edge to another edge. Because every window starts
and ends on an edge, asking the service for ``[window.start, window.end)`` yields exactly
that window's buckets, with the same boundaries the whole range would have had: no
bucket is split between two windows, none is fetched twice, and concatenating the
windows' buckets in order gives the buckets of the whole range. ``tests/sansio`` checks
that property with hypothesis.

A window asks for ``limit = size``, so with a well-behaved service each window is one
request; the cursor logic (``cursor.py``) follows ``next_page`` inside a window when the
service pages anyway.

Planning is lazy: :class:`WindowPlan` computes window ``i`` from ``i`` alone, so a year of
minute buckets one per window (525,600 windows) costs nothing until the fetcher pulls
each window as a slot frees, and memory does not grow with the range.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from typing import overload

__all__ = ["Window", "WindowPlan", "bucket_count", "plan_windows"]


@dataclass(frozen=True, slots=True)
class Window:
    """``[start, end)`` holding ``buckets`` whole buckets of the range."""

    index: int
    start: int
    end: int
    buckets: int


def bucket_count(start: int, end: int, width_s: int) -> int:
    """How many buckets ``[start, end)`` has at this width (partial ones included)."""
    first_edge = (start // width_s + 1) * width_s
    if end <= first_edge:
        return 1
    return 1 + -(-(end - first_edge) // width_s)


class WindowPlan(Sequence[Window]):
    """The windows of ``[start, end)``, in order, each computed when asked for."""

    __slots__ = ("_first_edge", "_total", "end", "size", "start", "width_s")

    def __init__(self, start: int, end: int, width_s: int, size: int) -> None:
        if end <= start:
            raise ValueError(f"end: {end} is not after start ({start})")
        if size < 1:
            raise ValueError(f"size: {size} is below 1")
        self.start, self.end, self.width_s, self.size = start, end, width_s, size
        self._total = bucket_count(start, end, width_s)
        self._first_edge = (start // width_s + 1) * width_s

    def __len__(self) -> int:
        return -(-self._total // self.size)

    @overload
    def __getitem__(self, index: int) -> Window: ...
    @overload
    def __getitem__(self, index: slice) -> Sequence[Window]: ...
    def __getitem__(self, index: int | slice) -> Window | Sequence[Window]:
        if isinstance(index, slice):
            return [self[i] for i in range(*index.indices(len(self)))]
        n = len(self)
        if index < 0:
            index += n
        if not 0 <= index < n:
            raise IndexError(f"window {index} of {n}")
        first = index * self.size
        last = min(first + self.size, self._total)  # bucket indexes [first, last)
        lo = self.start if first == 0 else self._first_edge + (first - 1) * self.width_s
        hi = min(self.end, self._first_edge + (last - 1) * self.width_s)
        return Window(index, lo, hi, last - first)

    def __iter__(self) -> Iterator[Window]:
        return (self[i] for i in range(len(self)))

    def __repr__(self) -> str:
        return f"WindowPlan([{self.start}, {self.end}), width {self.width_s}s, {len(self)} windows)"


def plan_windows(start: int, end: int, width_s: int, size: int) -> WindowPlan:
    """Windows of at most ``size`` buckets covering ``[start, end)`` exactly once, in order."""
    return WindowPlan(start, end, width_s, size)
