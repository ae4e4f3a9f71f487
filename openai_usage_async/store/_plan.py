"""What a sync must fetch, and what the store covers: pure functions, no database.

Theory of operation
-------------------
A table holds whole buckets. Its rows are grouped by ``start_time``, and every
``start_time`` is a bucket boundary (a multiple of the width in UTC), so a window that
starts on a boundary can delete "every row starting in ``[start, end)``" and put the
service's answer in their place without touching a neighbour.

Each committed window leaves a *checkpoint* ``[start, end)`` and the time it was fetched,
committed with its rows. ``end`` is where the delivered buckets ended: a boundary, or a
time between boundaries when the service answered the last bucket *clipped* (at an
``end_time`` between boundaries, or at the service's "now"). A clipped bucket is stored as
answered and stays *open*: it is never final, and the next sync that reaches it re-fetches
it whole, from its ``start_time``, replacing all its rows.

The service also revises buckets for a while after they close, so a stored bucket is
*settled* (final) only if it is whole and had been closed for ``overlap`` when fetched::

    settled_end = max(start, min(floor(end), floor(fetched_at - overlap)))

A sync fetches, split into windows of at most ``size`` buckets:

* the range it was given (``[start, end)``, ``start`` on a boundary), or, without a start,
  from the bucket where the table ends up to ``end`` (a plain resume: never the gaps
  between earlier ranges);
* the *pending* ranges: what a sync that did not finish (killed, or failed) meant to
  fetch, and the buckets a migration took out to be fetched again;
* every unsettled part of every checkpoint (the overlap, open buckets anywhere);

less everything already settled. Each range starts on a boundary and ends on one, except
at the sync's own ``end``; a range that would end inside an open bucket is widened to
that bucket's end, so an open bucket is always re-fetched whole. When the sync's ``end``
falls inside a bucket the store already holds beyond ``end``, the end is widened to that
bucket's end too (up to ``now``): a clipped answer must never replace a whole one.

:func:`coverage` reads the same checkpoints back for people: where a table starts and
ends, what is settled, how many buckets are open, and the gaps no sync has covered.
"""

from __future__ import annotations

from collections.abc import Iterable, Iterator, Sequence
from dataclasses import dataclass

from .._sansio.windows import Window, plan_windows

__all__ = [
    "Checkpoint",
    "TableCoverage",
    "count_fetch",
    "coverage",
    "merge",
    "plan_fetch",
    "plan_ranges",
    "settled_end",
    "subtract",
    "trim",
]

Range = tuple[int, int]


@dataclass(frozen=True, slots=True)
class Checkpoint:
    """A committed window ``[start, end)``, fetched at Unix time ``fetched_at``."""

    start: int
    end: int
    fetched_at: int


def _floor(t: int, width_s: int) -> int:
    return t - t % width_s


def _ceil(t: int, width_s: int) -> int:
    return -(-t // width_s) * width_s


def settled_end(checkpoint: Checkpoint, width_s: int, overlap_s: int) -> int:
    """Where the checkpoint's settled buckets end (``start`` if none are settled)."""
    limit = _floor(checkpoint.fetched_at - overlap_s, width_s)
    return max(checkpoint.start, min(_floor(checkpoint.end, width_s), limit))


def merge(ranges: Iterable[Range]) -> list[Range]:
    """The union of ``ranges``, sorted, adjacent ones joined, empty ones dropped."""
    out: list[Range] = []
    for lo, hi in sorted(r for r in ranges if r[1] > r[0]):
        if out and lo <= out[-1][1]:
            if hi > out[-1][1]:
                out[-1] = (out[-1][0], hi)
        else:
            out.append((lo, hi))
    return out


def subtract(ranges: Iterable[Range], holes: Iterable[Range]) -> list[Range]:
    """``ranges`` less ``holes``, sorted and merged."""
    out: list[Range] = []
    cut = merge(holes)
    for lo, hi in merge(ranges):
        for h_lo, h_hi in cut:
            if h_hi <= lo or h_lo >= hi:
                continue
            if h_lo > lo:
                out.append((lo, h_lo))
            lo = max(lo, h_hi)
            if lo >= hi:
                break
        if lo < hi:
            out.append((lo, hi))
    return out


def _end_for(end: int, now: int, checkpoints: Sequence[Checkpoint], width_s: int) -> int:
    """The sync's end, widened to its bucket's end when the store holds more of it."""
    if end % width_s == 0:
        return end
    bucket_end = _ceil(end, width_s)
    if any(c.start < bucket_end and c.end > end for c in checkpoints):
        return max(end, min(bucket_end, now))
    return end


def plan_ranges(
    *,
    start: int | None,
    end: int,
    now: int,
    checkpoints: Sequence[Checkpoint],
    pending: Iterable[Range] = (),
    width_s: int,
    overlap_s: int,
) -> list[Range]:
    """The ranges a sync fetches, in order (see the module's theory of operation).

    ``start`` is on a boundary, or None for a plain resume; ``now`` is the sync's clock.
    """
    end = _end_for(end, now, checkpoints, width_s)
    wanted: list[Range] = list(pending)
    if start is not None:
        wanted.append((start, end))
    elif checkpoints:
        wanted.append((max(c.end for c in checkpoints), end))
    settled: list[Range] = []
    for c in checkpoints:
        done = settled_end(c, width_s, overlap_s)
        settled.append((c.start, done))
        wanted.append((done, c.end))
    snapped = []
    for lo, hi in wanted:
        lo, hi = _floor(lo, width_s), min(hi, end)
        if hi < end:
            hi = min(_ceil(hi, width_s), end)  # an open bucket is fetched whole
        snapped.append((lo, hi))
    return subtract(snapped, settled)


def plan_fetch(ranges: Iterable[Range], *, width_s: int, size: int) -> Iterator[Window]:
    """The windows of ``ranges``, lazily, in order."""
    for lo, hi in ranges:
        yield from plan_windows(lo, hi, width_s, size)


def count_fetch(ranges: Iterable[Range], *, width_s: int, size: int) -> int:
    """How many windows :func:`plan_fetch` yields, without making them."""
    return sum(len(plan_windows(lo, hi, width_s, size)) for lo, hi in ranges)


def trim(checkpoints: Iterable[Checkpoint], hole: Range, width_s: int) -> list[Checkpoint]:
    """``checkpoints`` with ``hole`` cut out of them (the parts outside it kept).

    What a checkpoint keeps after the hole starts at the next boundary: a hole that ends
    between boundaries (a clipped window) leaves the rest of that bucket uncovered, as
    its rows were replaced by the clipped answer.
    """
    lo, hi = hole
    out = []
    for c in checkpoints:
        if c.start >= hi or c.end <= lo:
            out.append(c)
            continue
        if c.start < lo:
            out.append(Checkpoint(c.start, lo, c.fetched_at))
        after = _ceil(hi, width_s)
        if c.end > after:
            out.append(Checkpoint(after, c.end, c.fetched_at))
    return out


@dataclass(frozen=True, slots=True)
class TableCoverage:
    """What one table of a store covers (:meth:`Store.coverage`).

    Times are Unix seconds. ``start`` and ``end`` are None for a table no window has
    been committed to yet.
    """

    table: str
    """The table's name, ``<endpoint>_<width>`` (``"costs_1d"``)."""
    endpoint: str
    """The endpoint's name on ``client.usage`` (``"costs"``)."""
    bucket_width: str
    """``"1m"``, ``"1h"`` or ``"1d"``."""
    group_by: tuple[str, ...]
    """The grouping the table was first synced with (empty: ungrouped)."""
    start: int | None
    """The start of its first bucket."""
    end: int | None
    """The end of its last bucket, as stored (between boundaries when that bucket was
    answered clipped)."""
    settled_until: int | None
    """Buckets that end before this were whole and closed for at least the overlap when
    they were fetched: final. Later ones may still be revised by the service."""
    open_buckets: int
    """Buckets stored while in progress or clipped: the next sync that reaches them
    fetches them again, whole."""
    gaps: tuple[tuple[int, int], ...]
    """Ranges inside ``[start, end)`` no sync has stored, as ``(start, end)`` pairs."""
    last_sync: int | None
    """When the last sync that included this table finished (Unix seconds)."""


def _open_buckets(c: Checkpoint, width_s: int) -> int:
    # Buckets whose end (whole) was after the time they were fetched, and a clipped last.
    first_open = max(c.start, _floor(c.fetched_at, width_s))
    count = -(-(c.end - first_open) // width_s) if c.end > first_open else 0
    if c.end % width_s and _floor(c.end, width_s) < first_open:
        count += 1
    return count


def coverage(
    *,
    table: str,
    endpoint: str,
    bucket_width: str,
    group_by: tuple[str, ...],
    checkpoints: Sequence[Checkpoint],
    width_s: int,
    overlap_s: int,
    last_sync: int | None,
) -> TableCoverage:
    """A table's :class:`TableCoverage`, from its checkpoints."""
    if not checkpoints:
        return TableCoverage(
            table, endpoint, bucket_width, group_by, None, None, None, 0, (), last_sync
        )
    ordered = sorted(checkpoints, key=lambda c: c.start)
    start, end = ordered[0].start, max(c.end for c in ordered)
    settled_until = end
    for c in ordered:
        done = settled_end(c, width_s, overlap_s)
        if done < c.end:
            settled_until = done
            break
    gaps = subtract([(start, end)], [(c.start, c.end) for c in ordered])
    return TableCoverage(
        table,
        endpoint,
        bucket_width,
        group_by,
        start,
        end,
        settled_until,
        sum(_open_buckets(c, width_s) for c in ordered),
        tuple(gaps),
        last_sync,
    )
