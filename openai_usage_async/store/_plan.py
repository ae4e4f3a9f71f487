"""What a sync must fetch, given what the store holds: a pure function, no database.

Theory of operation
-------------------
The service revises a bucket for a while after it closes, so a stored bucket is final only
if it had been closed for ``overlap`` when it was fetched. The store keeps one checkpoint
per committed window, ``[start, end)`` and the time it was fetched, committed in the same
transaction as the window's rows. A checkpoint's *settled* part is its buckets that ended
at least ``overlap`` before that time::

    settled_end = min(end, floor_to_bucket(fetched_at - overlap))

A sync of ``[start, end)`` fetches what no checkpoint has settled, split into windows of at
most ``size`` whole buckets. That one rule covers every case:

* a first sync fetches everything;
* a later sync re-fetches the last ``overlap`` of what it fetched before (the buckets that
  may have been revised, and the partial bucket at the end), and what is new since;
* a sync killed after some windows committed fetches those windows again only if they
  were recent enough to be revised anyway; settled ones are never fetched twice.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass

from .._sansio.windows import Window, plan_windows

__all__ = ["Checkpoint", "count_fetch", "needed_ranges", "plan_fetch", "settled_end"]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A committed window ``[start, end)``, fetched at Unix time ``fetched_at``."""

    start: int
    end: int
    fetched_at: int


def settled_end(checkpoint: Checkpoint, width_s: int, overlap_s: int) -> int:
    """Where the checkpoint's settled buckets end (``start`` if none are settled)."""
    limit = checkpoint.fetched_at - overlap_s
    return max(checkpoint.start, min(checkpoint.end, limit - limit % width_s))


def needed_ranges(
    start: int, end: int, checkpoints: Iterable[Checkpoint], width_s: int, overlap_s: int
) -> list[tuple[int, int]]:
    """The parts of ``[start, end)`` no checkpoint has settled, in order."""
    settled = sorted(
        (c.start, e) for c in checkpoints if (e := settled_end(c, width_s, overlap_s)) > c.start
    )
    out: list[tuple[int, int]] = []
    cursor = start
    for lo, hi in settled:
        if hi <= cursor:
            continue
        if lo >= end:
            break
        if lo > cursor:
            out.append((cursor, lo))
        cursor = max(cursor, hi)
        if cursor >= end:
            break
    if cursor < end:
        out.append((cursor, end))
    return out


def plan_fetch(
    start: int,
    end: int,
    checkpoints: Iterable[Checkpoint],
    *,
    width_s: int,
    overlap_s: int,
    size: int,
) -> Iterator[Window]:
    """The windows a sync of ``[start, end)`` fetches, lazily, in order."""
    for lo, hi in needed_ranges(start, end, checkpoints, width_s, overlap_s):
        yield from plan_windows(lo, hi, width_s, size)


def count_fetch(
    start: int,
    end: int,
    checkpoints: Iterable[Checkpoint],
    *,
    width_s: int,
    overlap_s: int,
    size: int,
) -> int:
    """How many windows :func:`plan_fetch` yields, without making them."""
    ranges = needed_ranges(start, end, checkpoints, width_s, overlap_s)
    return sum(len(plan_windows(lo, hi, width_s, size)) for lo, hi in ranges)
