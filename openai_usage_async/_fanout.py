"""The iterator behind ``iter()`` and ``pages()``: windows fetched concurrently, in order.

Theory of operation
-------------------
``iter()`` must yield every bucket exactly once, in time order, while fetching many
windows at once, without buffering the whole range, and without leaving tasks behind
when the consumer stops early. The naive shape, an async generator that opens a task
group and yields from inside it, breaks anyio's cancel scopes: after a ``break``
asyncio finalizes such a generator later, from another task (anyio's docs, "Avoiding
cancel scope stack corruption"). So the work is split in two objects:

* ``_Core`` owns one **supervisor** task (started on the first ``__anext__``, so an
  iterator that is never iterated sends nothing). The supervisor runs a task group with
  one **worker** per window; each worker follows that window's cursor chain
  (``_sansio/cursor.py``) through the client's transport, whose limiter bounds requests
  in flight across the whole client.
* The public iterator (``PageIterator``/``BucketIterator``) holds the core; the core
  never refers back to it. ``aclose()`` (or ``async with``) cancels the supervisor and
  waits for it under a shielded scope; a consumer that just breaks out of its loop drops
  the iterator, whose finalizer cancels the supervisor.

Ordering and memory. Workers send pages into bounded memory streams. In order
(``ordered=True``), each window has its own stream of one page, and the consumer reads
the windows' streams in window order; a window slot is freed only when the consumer has
read its last page, and at most ``lookahead`` windows (twice the client's bound, so the
next requests are in flight while the consumer reads) hold slots. So one slow window
holds back at most ``lookahead`` windows of pages, never the range. As ready
(``ordered=False``), workers share one stream and slots free as windows finish.

Errors. A worker's error cancels the task group; the supervisor keeps it and closes the
streams. Each window's stream ends with an explicit end marker, so a stream that ends
without one means "failed": the consumer then waits for the supervisor and raises its
error, and never moves on to later windows as if nothing were missing.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, Final, Generic, TypeVar

import anyio
import msgspec
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._sansio.cursor import Chain
from .errors import APIConnectionError
from .models import UsageBucket, UsagePage

__all__ = ["BucketIterator", "PageIterator"]

logger = logging.getLogger("openai_usage_async")

R = TypeVar("R")
FetchPage = Callable[[list[tuple[str, str]]], Awaitable[UsagePage[Any]]]


class _EndOfWindow:
    """Marks the normal end of a window's (or the whole run's) stream of pages."""


_END: Final = _EndOfWindow()
_Item = UsagePage[Any] | _EndOfWindow


class _Closed(Exception):
    pass


@dataclass
class Progress:
    """Counters an iterator adds to as it goes; the client sums them for ``statistics()``."""

    windows_planned: int = 0
    windows_done: int = 0
    pages: int = 0
    buckets: int = 0


def _first_error(exc: BaseException) -> BaseException:
    """The error to show the consumer: the first real leaf of a task group's exception."""
    while isinstance(exc, BaseExceptionGroup):
        leaves = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (leaves or list(exc.exceptions))[0]
    return exc


class _Core:
    """Runs the fetches in a supervisor task and hands pages to one consumer."""

    def __init__(
        self,
        fetch: FetchPage,
        chains: list[Chain],
        *,
        ordered: bool,
        lookahead: int,
        progress: Progress | None = None,
    ) -> None:
        self._fetch = fetch
        self._progress = progress if progress is not None else Progress()
        self._chains = chains
        self._ordered = ordered
        self._lookahead = max(1, lookahead)
        self._task: asyncio.Task[None] | None = None
        self._error: BaseException | None = None
        self._finished: anyio.Event | None = None
        self._slots: anyio.Semaphore | None = None
        self._windows: MemoryObjectReceiveStream[MemoryObjectReceiveStream[_Item]] | None = None
        self._current: MemoryObjectReceiveStream[_Item] | None = None
        self._shared: MemoryObjectReceiveStream[_Item] | None = None
        self._exhausted = False
        self._close_reason: str | None = None
        self._pending_error: BaseException | None = None

    # -- the supervisor side ----------------------------------------------------------

    def _start(self) -> None:
        self._progress.windows_planned += len(self._chains)
        self._finished = anyio.Event()
        self._slots = anyio.Semaphore(self._lookahead)
        if self._ordered:
            send, self._windows = anyio.create_memory_object_stream[
                MemoryObjectReceiveStream[_Item]
            ](self._lookahead)
            runner = self._run_ordered(send)
        else:
            shared_send, self._shared = anyio.create_memory_object_stream[_Item](self._lookahead)
            runner = self._run_as_ready(shared_send)
        self._task = asyncio.get_running_loop().create_task(self._supervise(runner))

    async def _supervise(self, runner: Awaitable[None]) -> None:
        assert self._finished is not None
        try:
            await runner
        except Exception as exc:
            self._error = _first_error(exc)
        except BaseException as exc:  # cancelled (aclose, the finalizer) or interrupted
            leaf = _first_error(exc)
            if isinstance(leaf, asyncio.CancelledError):
                self._error = _Closed(self._close_reason or "the iterator was closed")
            else:
                self._error = leaf
            raise
        finally:
            self._finished.set()

    async def _run_ordered(
        self, windows: MemoryObjectSendStream[MemoryObjectReceiveStream[_Item]]
    ) -> None:
        assert self._slots is not None
        unstarted: set[MemoryObjectSendStream[_Item]] = set()
        try:
            async with windows, anyio.create_task_group() as tg:
                for chain in self._chains:
                    await self._slots.acquire()  # freed by the consumer when it has read it
                    send, receive = anyio.create_memory_object_stream[_Item](1)
                    try:
                        await windows.send(receive)
                    except BaseException:
                        send.close()
                        receive.close()
                        raise
                    unstarted.add(send)
                    tg.start_soon(self._work_window, chain, send, unstarted)
        finally:
            for send in unstarted:  # workers cancelled before they ever ran
                send.close()

    async def _run_as_ready(self, shared: MemoryObjectSendStream[_Item]) -> None:
        assert self._slots is not None
        async with shared:
            async with anyio.create_task_group() as tg:
                for chain in self._chains:
                    await self._slots.acquire()  # freed by the worker when its window is done
                    tg.start_soon(self._work_shared, chain, shared)
            await shared.send(_END)

    async def _work_window(
        self,
        chain: Chain,
        send: MemoryObjectSendStream[_Item],
        unstarted: set[MemoryObjectSendStream[_Item]],
    ) -> None:
        unstarted.discard(send)
        async with send:
            await self._follow(chain, send)
            await send.send(_END)

    async def _work_shared(self, chain: Chain, shared: MemoryObjectSendStream[_Item]) -> None:
        assert self._slots is not None
        async with shared.clone() as send:
            await self._follow(chain, send)
        self._slots.release()

    async def _follow(self, chain: Chain, send: MemoryObjectSendStream[_Item]) -> None:
        """Fetch one window's pages, sending each page's new buckets on."""
        progress = self._progress
        while not chain.done:
            page = await self._fetch(chain.next_request())
            buckets = chain.feed(page)
            progress.pages += 1
            progress.buckets += len(buckets)
            await send.send(msgspec.structs.replace(page, data=buckets))
        progress.windows_done += 1

    # -- the consumer side ----------------------------------------------------------------

    async def next_page(self) -> UsagePage[Any]:
        if self._exhausted:
            error, self._pending_error = self._pending_error, None
            if error is not None:
                raise error
            raise StopAsyncIteration
        if self._task is None:
            self._start()
        try:
            return await (self._next_ordered() if self._ordered else self._next_as_ready())
        except BaseException:
            if self._finished is not None and self._finished.is_set():
                self._exhausted = True
                self._close_streams()
            raise

    async def _next_ordered(self) -> UsagePage[Any]:
        assert self._windows is not None and self._slots is not None
        while True:
            if self._current is None:
                try:
                    self._current = await self._windows.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    await self._raise_failure()
                    raise StopAsyncIteration from None
            try:
                item = await self._current.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                await self._raise_failure(always=True)
                raise AssertionError("unreachable") from None
            if isinstance(item, _EndOfWindow):
                self._current.close()
                self._current = None
                self._slots.release()
                continue
            return item

    async def _next_as_ready(self) -> UsagePage[Any]:
        assert self._shared is not None
        try:
            item = await self._shared.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            await self._raise_failure(always=True)
            raise AssertionError("unreachable") from None
        if isinstance(item, _EndOfWindow):
            await self._raise_failure()
            raise StopAsyncIteration
        return item

    async def _raise_failure(self, *, always: bool = False) -> None:
        """Wait for the supervisor; raise its error (or, if ``always``, a closed error)."""
        assert self._finished is not None
        await self._finished.wait()
        self._exhausted = True
        error = self._error
        if isinstance(error, _Closed):
            raise APIConnectionError(f"iteration stopped: {error}")
        if error is not None:
            raise error
        if always:
            raise APIConnectionError("iteration stopped before every bucket arrived")

    # -- closing --------------------------------------------------------------------------

    def cancel(self, reason: str) -> None:
        """Ask the supervisor to stop (safe from a finalizer, even on a closed loop)."""
        task = self._task
        if task is None:
            return
        if task.done():  # everything fetched, maybe not all read: release what is left
            self._close_streams()
            return
        self._close_reason = reason
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            task.get_loop().call_soon_threadsafe(task.cancel)
            task.get_loop().call_soon_threadsafe(self._close_streams)

    async def aclose(self, reason: str | None = None) -> None:
        """Cancel the supervisor and wait until it and its workers have stopped.

        With a ``reason`` (someone else closed it: the client), the consumer's next read
        raises ``APIConnectionError`` instead of ending as if the range were complete.
        """
        task = self._task
        if not self._exhausted and reason is not None and task is not None:
            self._pending_error = APIConnectionError(f"iteration stopped: {reason}")
        self._exhausted = True
        if task is None or task.done():
            self._close_streams()
            return
        self._close_reason = reason or "the iterator was closed"
        task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.wait([task])
        self._close_streams()

    def _close_streams(self) -> None:
        if self._windows is not None:  # windows queued for the consumer, never read
            with contextlib.suppress(
                anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError
            ):
                while True:
                    self._windows.receive_nowait().close()
        for stream in (self._current, self._windows, self._shared):
            if stream is not None:
                stream.close()


class PageIterator(Generic[R]):
    """An async iterator of pages; see ``Endpoint.pages``.

    Close it with ``aclose()`` or use it as ``async with`` to stop its requests at once;
    an iterator you simply stop using is closed by the garbage collector.
    """

    def __init__(self, core: _Core, register: Callable[[_Core], None] | None = None) -> None:
        self._core = core
        if register is not None:
            register(core)

    def __aiter__(self) -> PageIterator[R]:
        return self

    async def __anext__(self) -> UsagePage[R]:
        return await self._core.next_page()

    async def aclose(self) -> None:
        """Stop fetching and wait until every request of this iterator has ended."""
        await self._core.aclose()

    async def __aenter__(self) -> PageIterator[R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        self._core.cancel("the iterator was dropped")


class BucketIterator(Generic[R]):
    """An async iterator of buckets, each exactly once; see ``Endpoint.iter``."""

    def __init__(self, pages: PageIterator[R]) -> None:
        self._pages = pages
        self._buffer: list[UsageBucket[R]] = []
        self._index = 0

    def __aiter__(self) -> BucketIterator[R]:
        return self

    async def __anext__(self) -> UsageBucket[R]:
        while self._index >= len(self._buffer):
            page = await self._pages.__anext__()
            self._buffer = page.data
            self._index = 0
        bucket = self._buffer[self._index]
        self._index += 1
        return bucket

    async def aclose(self) -> None:
        """Stop fetching and wait until every request of this iterator has ended."""
        self._buffer = []
        self._index = 0
        await self._pages.aclose()

    async def __aenter__(self) -> BucketIterator[R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
