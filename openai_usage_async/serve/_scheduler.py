"""The sync loop: one task, owned by the app's lifespan, one sync at a time.

Theory of operation
-------------------
:meth:`Scheduler.run` is the whole life of the loop, as one task that the app's
lifespan starts and cancels (``_app``): no thread, no scheduler library, ``anyio.sleep``
between ticks. It first reads the store as it is (a restart serves the stored numbers at
once, ``openai_usage_up`` 0 until its own sync ends), then syncs at once and every
``every_s`` after the start of the previous sync. A sync that overruns the period delays
the next tick (which then starts as soon as it ends); two never overlap. Syncs of other
processes on the same store take turns with ours through the store's lock: ours first
asks without waiting, so that it can say it waits (the status's ``waiting_for``, which
``/healthz`` and the page show), then waits.

Each sync is one or two ``Store.sync`` calls: ``costs`` always at ``1d`` (the money
figures come from it), the other endpoints at the app's ``bucket_width`` (one call when
that is ``1d`` too). The directory and the spend limits are refreshed by the first call
at most once an hour (:data:`DIRECTORY_EVERY_S`): they change rarely, and each refresh
costs a request per project.

A failed sync (any ``Exception``) keeps the last good data, counts a failure, and is
retried at the next tick; after 3 failures in a row the period doubles at each failure,
up to 8 times ``every_s`` (:func:`period_for`), and a success brings it back.

After every sync, good or failed, ``publish`` runs on a worker thread: after a good one
it reads the store once (``_snapshot.compute``) into new :class:`~._snapshot.Data`;
either way it renders every output once, and the app swaps them in.

Cancelling the task (SIGTERM, the app's shutdown) is safe at any point: a sync that is
cancelled loses nothing, as the store commits each window with its checkpoint and the
next sync resumes; a worker thread that is reading or rendering is waited for.
"""

from __future__ import annotations

import datetime as dt
import logging
import os
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread

from .._sansio.endpoints import ENDPOINTS
from ..store._errors import StoreBusyError, holder_text
from ..store._read import Reader
from ..store._sync import _endpoint_names
from ._snapshot import Data, Status, compute

if TYPE_CHECKING:
    from .._client import AsyncUsageClient
    from ..store import Store

__all__ = ["DIRECTORY_EVERY_S", "Scheduler", "SyncCall", "period_for", "plan_calls"]

log = logging.getLogger("openai_usage_async.serve")

#: The directory and the spend limits are refreshed at most this often (seconds).
DIRECTORY_EVERY_S = 3600.0
#: Failures in a row before the period starts to double.
BACKOFF_AFTER = 3
#: The longest period, as a multiple of the configured one.
MAX_BACKOFF = 8
#: The longest error text kept for the status (and so for the page and /healthz).
MAX_ERROR = 300


def period_for(every_s: float, consecutive_failures: int) -> float:
    """The period after ``consecutive_failures`` failures in a row: ``every_s`` until the
    third, then doubled at each failure (2x, 4x), up to 8x."""
    if consecutive_failures < BACKOFF_AFTER:
        return every_s
    return every_s * min(MAX_BACKOFF, 1 << (consecutive_failures - BACKOFF_AFTER + 1))


@dataclass(frozen=True, slots=True)
class SyncCall:
    """One ``Store.sync`` call of a sync: which endpoints, at which width."""

    endpoints: tuple[str, ...]
    bucket_width: str

    @property
    def tables(self) -> tuple[str, ...]:
        return tuple(f"{e}_{self.bucket_width}" for e in self.endpoints)


def plan_calls(endpoints: str | Sequence[str], bucket_width: str) -> tuple[SyncCall, ...]:
    """The calls of one sync (``costs`` first, at ``1d``); ``ValueError`` names the
    argument that is wrong."""
    if bucket_width not in ("1d", "1h"):
        raise ValueError(f"bucket_width: {bucket_width!r} is not 1d or 1h")
    if endpoints == "all":
        names = ["costs", *_endpoint_names("all", bucket_width)]
    else:
        names = _endpoint_names(endpoints, "1d")  # names checked; widths below
        for name in names:
            if name != "costs" and bucket_width not in ENDPOINTS[name].limits:
                raise ValueError(f"endpoints: {name} has no {bucket_width} buckets")
    names = list(dict.fromkeys(names))
    usage = tuple(n for n in names if n != "costs")
    if bucket_width == "1d":
        return (SyncCall(("costs", *usage), "1d"),)
    return (SyncCall(("costs",), "1d"), *((SyncCall(usage, bucket_width),) if usage else ()))


def _one_line(text: str) -> str:
    text = " ".join(text.split())
    return text if len(text) <= MAX_ERROR else text[: MAX_ERROR - 3] + "..."


class Scheduler:
    """The sync loop of one app (see the module's doc); :meth:`run` is the task.

    ``publish(data, status)`` renders what the app serves; it runs on a worker thread
    after each sync. ``secrets`` are strings no error text may hold (the admin key, the
    app's token): they are replaced before an error reaches the status or a log.
    """

    def __init__(
        self,
        client: AsyncUsageClient,
        store: Store,
        *,
        every_s: float,
        calls: Sequence[SyncCall],
        start_time: int | dt.datetime | None,
        overlap: dt.timedelta | float,
        publish: Callable[[Data | None, Status], None],
        secrets: Sequence[str] = (),
        wall: Callable[[], float] = time.time,
    ) -> None:
        self.client = client
        self.store = store
        self.every_s = every_s
        self.calls = tuple(calls)
        self.start_time = start_time
        self.overlap = overlap
        self.publish = publish
        self.secrets = tuple(s for s in secrets if s)
        self.wall = wall
        #: The tables whose tokens count: one width per endpoint (the ones synced).
        self.usage_tables = tuple(t for c in self.calls for t in c.tables if t != "costs_1d")
        self.status = Status(
            started_at=int(wall()),
            every_s=every_s,
            period_s=every_s,
            syncing=True,
            syncs=0,
            failures_total=0,
            consecutive_failures=0,
            last_success_at=None,
            last_duration_s=None,
            last_error=None,
        )
        self.data: Data | None = None
        #: When the last good sync ended (Unix seconds, not rounded: for ``/healthz``).
        self.last_success_s: float | None = None
        self._directory_due: float | None = None  # anyio.current_time() of the next refresh
        self._waited_s = 0.0
        self._compute_error: str | None = None

    # -- the loop -----------------------------------------------------------------------

    async def run(self) -> None:
        """Read the store as it is, then sync, publish and sleep, until cancelled."""
        await self._publish(read=True)
        while True:
            started = anyio.current_time()
            ok = await self._sync()
            await self._publish(read=ok)
            # From the start of this sync: an overrun delays the next tick, never skips it.
            await anyio.sleep(max(0.0, started + self.status.period_s - anyio.current_time()))

    async def _sync(self) -> bool:
        """One sync; the status says how it went. False when it failed."""
        self._set(syncing=True)
        now = anyio.current_time()
        directory = self._directory_due is None or now >= self._directory_due
        began = time.perf_counter()
        self._waited_s = 0.0
        try:
            for i, call in enumerate(self.calls):
                await self._store_sync(call, directory=directory and i == 0)
        except Exception as exc:
            failures = self.status.consecutive_failures + 1
            error = self._describe(exc)
            period = period_for(self.every_s, failures)
            self._set(
                syncing=False,
                syncs=self.status.syncs + 1,
                failures_total=self.status.failures_total + 1,
                consecutive_failures=failures,
                period_s=period,
                last_duration_s=time.perf_counter() - began - self._waited_s,
                last_error=error,
                waiting_for=None,
            )
            log.warning(
                "sync failed (%d in a row; the next in %gs; serving the last good data): %s",
                failures,
                period,
                error,
            )
            return False
        if directory:
            self._directory_due = anyio.current_time() + DIRECTORY_EVERY_S
        if self.status.consecutive_failures:
            log.warning(
                "sync succeeded after %d failure%s",
                self.status.consecutive_failures,
                "" if self.status.consecutive_failures == 1 else "s",
            )
        self.last_success_s = self.wall()
        self._set(
            syncing=False,
            syncs=self.status.syncs + 1,
            consecutive_failures=0,
            period_s=self.every_s,
            last_success_at=int(self.last_success_s),
            last_duration_s=time.perf_counter() - began - self._waited_s,
            last_error=None,
            waiting_for=None,
        )
        return True

    async def _store_sync(self, call: SyncCall, *, directory: bool) -> None:
        async def sync(wait: bool) -> None:
            await self.store.sync(
                self.client,
                endpoints=list(call.endpoints),
                start_time=self.start_time,
                bucket_width=call.bucket_width,
                overlap=self.overlap,
                wait=wait,
                directory=directory,
            )

        try:
            await sync(wait=False)
        except StoreBusyError as exc:
            # Another process (or task) syncs this store, or (DuckDB) has it open: take
            # turns, and say so.
            who = holder_text(exc.pid)
            log.warning("%s; waiting for it", exc)
            self._set(waiting_for=who)
            await self._publish(read=False)  # the page and the metrics say it waits
            asked = time.perf_counter()
            try:
                await sync(wait=True)
            finally:
                self._waited_s += time.perf_counter() - asked
                self._set(waiting_for=None)

    # -- what readers get ---------------------------------------------------------------

    async def _publish(self, *, read: bool) -> None:
        """Read the store (when ``read``) and render, on a worker thread."""
        status = self.status

        def work() -> Data | None:
            data = self.data
            if read:
                data = self._compute(data)
            self.publish(data, status)
            return data

        self.data = await anyio.to_thread.run_sync(work)

    def _compute(self, previous: Data | None) -> Data | None:
        """The store's numbers now, or ``previous`` when they cannot be read."""
        path = self.store.path
        try:
            if not os.path.exists(path) or os.path.getsize(path) == 0:
                return previous
            with Reader(path) as reader:
                if reader.table("costs_1d") is None:
                    return previous
                data = compute(
                    reader,
                    now=int(self.client._requester.clock()),
                    usage_tables=self.usage_tables,
                )
        except Exception as exc:  # a reader's failure never stops the loop
            error = self._describe(exc)
            if error != self._compute_error:  # once per kind of failure, not every tick
                log.warning("cannot read the store %s (serving the last data): %s", path, error)
            self._compute_error = error
            return previous
        self._compute_error = None
        return data

    # -- helpers -------------------------------------------------------------------------

    def _set(self, **changes: object) -> None:
        self.status = replace(self.status, **changes)  # type: ignore[arg-type]

    def _describe(self, exc: BaseException) -> str:
        """One line about an error (its class, then its message), with no secret in it."""
        text = str(exc)
        text = f"{type(exc).__name__}: {text}" if text else type(exc).__name__
        for secret in self.secrets:
            text = text.replace(secret, "<redacted>")
        return _one_line(text)
