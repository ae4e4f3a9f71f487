"""A one-line progress display on stderr, only when stderr is a terminal."""

from __future__ import annotations

import shutil
import sys
import time
from typing import TYPE_CHECKING, TextIO

import anyio

from .._client import AsyncUsageClient

if TYPE_CHECKING:
    from ..store import Store

__all__ = ["ProgressLine", "SyncProgress"]


class ProgressLine:
    """Redraws ``pages done/planned, buckets, retries`` until the work is done.

    It stays silent for the first ``delay_s`` (quick commands show nothing) and when
    ``stream`` is not a terminal, so pipes and logs get data only.
    """

    def __init__(
        self,
        client: AsyncUsageClient,
        *,
        stream: TextIO | None = None,
        enabled: bool = True,
        delay_s: float = 0.3,
    ) -> None:
        self.client = client
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.delay_s = delay_s
        self._drawn = False
        self._started = time.monotonic()

    def render(self) -> str:
        s = self.client.statistics()
        planned = max(s.windows_planned, 1)
        done = min(s.windows_done, planned)
        width = 24
        filled = round(width * done / planned)
        retries = f", {s.retries:,} retries" if s.retries else ""
        elapsed = time.monotonic() - self._started
        return (
            f"[{'#' * filled}{'.' * (width - filled)}] {done}/{s.windows_planned} windows, "
            f"{s.pages:,} pages, {s.buckets:,} buckets{retries}  {elapsed:.1f}s"
        )

    async def run(self) -> None:
        if not self.enabled:
            return
        await anyio.sleep(self.delay_s)
        while True:
            self.stream.write("\r\x1b[2K" + self.render())
            self.stream.flush()
            self._drawn = True
            await anyio.sleep(0.1)

    def clear(self) -> None:
        if self._drawn:
            self.stream.write("\r\x1b[2K")
            self.stream.flush()
            self._drawn = False


class SyncProgress(ProgressLine):
    """Windows committed per endpoint, for ``sync``: the slowest endpoints first."""

    def __init__(self, store: Store, *, stream: TextIO | None = None, enabled: bool = True) -> None:
        self.store = store
        self.stream = stream if stream is not None else sys.stderr
        self.enabled = enabled and self.stream.isatty()
        self.delay_s = 0.3
        self._drawn = False
        self._started = time.monotonic()

    def render(self) -> str:
        progress = self.store.progress()
        done = sum(d for d, _ in progress.values())
        planned = max(1, sum(p for _, p in progress.values()))
        pending = sorted(
            ((p - d, name, d, p) for name, (d, p) in progress.items() if d < p), reverse=True
        )
        parts = ", ".join(f"{name} {d}/{p}" for _, name, d, p in pending)
        elapsed = time.monotonic() - self._started
        line = f"{done}/{planned} windows  {elapsed:.1f}s  {parts}"
        return line[: max(20, shutil.get_terminal_size().columns - 1)]
