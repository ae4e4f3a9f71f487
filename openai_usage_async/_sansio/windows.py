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
"""

from __future__ import annotations

from dataclasses import dataclass

__all__ = ["Window", "bucket_count", "plan_windows"]


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


def plan_windows(start: int, end: int, width_s: int, size: int) -> list[Window]:
    """Windows of at most ``size`` buckets covering ``[start, end)`` exactly once, in order."""
    if end <= start:
        raise ValueError(f"end: {end} is not after start ({start})")
    if size < 1:
        raise ValueError(f"size: {size} is below 1")
    total = bucket_count(start, end, width_s)
    first_edge = (start // width_s + 1) * width_s
    windows = []
    for index, first in enumerate(range(0, total, size)):
        last = min(first + size, total)  # bucket indexes [first, last)
        lo = start if first == 0 else first_edge + (first - 1) * width_s
        hi = min(end, first_edge + (last - 1) * width_s)
        windows.append(Window(index, lo, hi, last - first))
    return windows
