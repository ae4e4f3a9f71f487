"""Cursor state for one chain of pages: the next request to send, or done.

A chain covers one window ``[start, end)`` (or, with no end, runs until the service
says ``has_more: false``). It sends the query with only ``page`` changed, keeps the
buckets it has not seen yet, in order, and stops as soon as the window's last bucket
has arrived, whatever ``has_more`` says (the costs quirk: ``has_more: true`` with a
cursor the service then refuses). While buckets are still missing, a cursor seen twice
or ``has_more: true`` without a cursor is an ``APIResponseValidationError``: never a
silent truncation, never an endless loop.
"""

from __future__ import annotations

import operator
from typing import Any

from ..errors import APIResponseValidationError
from ..models import UsageBucket, UsagePage
from .query import Query
from .windows import Window

__all__ = ["Chain"]

# Pages in a row that bring no new bucket while claiming more: a loop, not progress.
_MAX_IDLE_PAGES = 3


class Chain:
    """Follows ``next_page`` through one window (or an open-ended range)."""

    def __init__(self, query: Query, window: Window | None = None) -> None:
        self.query = query
        self.window = window
        self.done = False
        self.pages = 0
        self._cursor: str | None = None
        self._seen: set[str] = set()
        self._next_start = window.start if window is not None else query.start_time
        self._idle = 0

    def next_request(self) -> list[tuple[str, str]]:
        """The query pairs of the next page to fetch (only ``page`` changes)."""
        if self.done:
            raise RuntimeError("the chain is complete")
        if self.window is None:
            return self.query.pairs(limit=self.query.page_size, page=self._cursor)
        return self.query.pairs(
            start_time=self.window.start,
            end_time=self.window.end,
            limit=self.query.page_size,
            page=self._cursor,
        )

    def feed(self, page: UsagePage[Any]) -> list[UsageBucket[Any]]:
        """Take one page; return its buckets that are new, in order."""
        self.pages += 1
        end = self.window.end if self.window is not None else None
        data = page.data
        starts = [b.start_time for b in data]
        ends = [b.end_time for b in data]
        if not all(map(operator.lt, starts, ends)):
            raise APIResponseValidationError(f"{self._where()}: a bucket ends before it starts")
        if (
            data
            and starts[0] >= self._next_start
            and starts[1:] == ends[:-1]
            and (end is None or ends[-1] <= end)
        ):
            new = data  # the usual page: new, contiguous buckets inside the window
            self._next_start = ends[-1]
        else:
            new = []
            for bucket in data:
                if bucket.start_time < self._next_start:
                    continue  # already delivered (or before the range): never twice
                if end is not None and bucket.end_time > end:
                    continue  # outside this window: another window delivers it
                new.append(bucket)
                self._next_start = bucket.end_time
        if end is not None and self._next_start >= end:
            self.done = True  # every bucket arrived: complete, whatever has_more says
        elif not page.has_more:
            self.done = True
        else:
            cursor = page.next_page
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
        return new

    def _where(self) -> str:
        span = f"[{self.window.start}, {self.window.end})" if self.window else "open range"
        return f"{self.query.spec.name} {span}, page {self.pages}"
