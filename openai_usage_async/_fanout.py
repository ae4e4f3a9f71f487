"""The iterator behind ``iter()`` and ``pages()``: windows fetched concurrently, in order.

Theory of operation
-------------------
``iter()`` must yield every bucket exactly once, in time order, while fetching many
windows at once, without buffering the whole range, and without leaving tasks behind
when the consumer stops early. The naive shape, an async generator that opens a task
group and yields from inside it, breaks anyio's cancel scopes: after a ``break``
asyncio finalizes such a generator later, from another task (anyio's docs, "Avoiding
cancel scope stack corruption"). So the work is split in three pieces:

* A **feed** pairs a producer (``produce``: pull chains, one worker per window, each
  following its window's cursor chain through ``follow``) with the consumer's side
  (``next``). :class:`OrderedFeed` gives each window its own stream of one page and the
  consumer reads the windows' streams in window order; a window's slot frees only when
  the consumer has read its last page, and at most ``lookahead`` windows hold slots, so
  one slow window holds back at most ``lookahead`` windows of pages, never the range.
  :class:`AsReadyFeed` shares one stream and frees a slot as each window finishes.
  Chains are pulled lazily, as slots free: planning costs nothing up front.
* The :class:`Supervisor` owns the one task that runs the producer (started on the first
  read, so an iterator never read sends nothing) and keeps its outcome.
* The public iterator (:class:`PageIterator`) owns both; neither refers back to it.
  ``aclose()`` (or ``async with``) cancels the supervisor and waits for it under a
  shielded scope; an iterator dropped mid-way is only cancelled by its finalizer, and the
  supervisor closes the streams itself once its workers have stopped.

Errors. Every window's stream ends with a marker: the end, or the window's failure.
In order, a failed window stops new windows from starting and cancels the later ones,
while earlier windows finish, so the consumer gets every bucket before the failure, then
the error. As ready, the first failure cancels everything and is raised next. A stream
that ends with no marker means the producer stopped (closed, cancelled): the consumer
then asks the supervisor why, and never moves on as if nothing were missing.
"""

from __future__ import annotations

import asyncio
import contextlib
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from typing import Any, Final, Generic, Protocol, Self, TypeVar

import anyio
from anyio.streams.memory import MemoryObjectReceiveStream, MemoryObjectSendStream

from ._sansio.cursor import Chain
from .models import UsageBucket, UsagePage

__all__ = [
    "AsReadyFeed",
    "BucketIterator",
    "FeedIterator",
    "OrderedFeed",
    "PageIterator",
    "Progress",
    "Supervisor",
    "first_error",
    "make_follow",
]

R = TypeVar("R")
T = TypeVar("T")
T_co = TypeVar("T_co", covariant=True)
Page = UsagePage[Any]
#: Hands one item (a page, or whatever a feed carries) to the consumer.
Emit = Callable[[T], Awaitable[None]]
#: Fetches one chain's pages, awaiting ``emit`` with what the consumer should get.
Follow = Callable[[Chain, Emit[T]], Awaitable[None]]
#: Sends one request (query pairs) and returns the decoded page.
Fetch = Callable[[list[tuple[str, str]]], Awaitable[Page]]


class _End:
    """Marks the normal end of a window's (or the whole run's) stream of pages."""


_END: Final = _End()


@dataclass(frozen=True, slots=True)
class _Failed:
    """Marks a window that failed, with its error."""

    error: Exception


_Item = Any  # an item of the feed, or _END, or _Failed


class Stopped(Exception):
    """The producer stopped before the consumer's stream was complete: ask the supervisor."""


@dataclass
class Progress:
    """Counters an iterator adds to as it goes; the client sums them for ``statistics()``."""

    windows_planned: int = 0
    windows_done: int = 0
    pages: int = 0
    buckets: int = 0


def first_error(exc: BaseException) -> BaseException:
    """The error to show the consumer: the first real leaf of a task group's exception."""
    while isinstance(exc, BaseExceptionGroup):
        leaves = [e for e in exc.exceptions if not isinstance(e, asyncio.CancelledError)]
        exc = (leaves or list(exc.exceptions))[0]
    return exc


def make_follow(fetch: Fetch, clock: Callable[[], float], progress: Progress) -> Follow[Page]:
    """A ``follow`` that fetches through ``fetch``, stamping each request with ``clock()``.

    Pages are handed on with ``has_more=False`` and no ``next_page``: their cursors
    belonged to internal window queries the user never sent.
    """

    async def follow(chain: Chain, emit: Emit[Page]) -> None:
        while not chain.done:
            page = await fetch(chain.next_request(clock()))
            buckets = chain.feed(page)
            progress.pages += 1
            if buckets:
                progress.buckets += len(buckets)
                await emit(UsagePage(data=buckets, has_more=False, next_page=None))
        progress.windows_done += 1

    return follow


def _drain_close(stream: MemoryObjectReceiveStream[Any] | None) -> None:
    """Close ``stream`` and every stream still queued in it."""
    if stream is None:
        return
    with contextlib.suppress(anyio.WouldBlock, anyio.EndOfStream, anyio.ClosedResourceError):
        while True:
            item = stream.receive_nowait()
            if isinstance(item, MemoryObjectReceiveStream):
                item.close()
    stream.close()


class Feed(Protocol[T_co]):
    """The producer and consumer sides of one iterator's items (pages, for ``iter()``)."""

    def open(self) -> None: ...
    async def produce(self) -> None: ...
    async def next(self) -> T_co | None: ...
    def close(self) -> None: ...


class OrderedFeed(Generic[T]):
    """Windows fetched concurrently, read in window order."""

    def __init__(self, chains: Iterator[Chain], follow: Follow[T], lookahead: int) -> None:
        self._chains = chains
        self._follow = follow
        self._lookahead = max(1, lookahead)
        self._slots: anyio.Semaphore | None = None
        self._send: MemoryObjectSendStream[MemoryObjectReceiveStream[_Item]] | None = None
        self._windows: MemoryObjectReceiveStream[MemoryObjectReceiveStream[_Item]] | None = None
        self._current: MemoryObjectReceiveStream[_Item] | None = None
        self._scopes: dict[int, anyio.CancelScope] = {}
        self._failed_at: int | None = None

    def open(self) -> None:
        self._slots = anyio.Semaphore(self._lookahead)
        self._send, self._windows = anyio.create_memory_object_stream[
            MemoryObjectReceiveStream[_Item]
        ](self._lookahead)

    async def produce(self) -> None:
        assert self._send is not None and self._slots is not None
        unstarted: set[MemoryObjectSendStream[_Item]] = set()
        try:
            async with self._send, anyio.create_task_group() as tg:
                for index, chain in enumerate(self._chains):
                    await self._slots.acquire()  # freed by the consumer when it has read it
                    if self._failed_at is not None:
                        break  # an earlier window failed: the consumer stops there
                    send, receive = anyio.create_memory_object_stream[_Item](1)
                    try:
                        await self._send.send(receive)
                    except BaseException:
                        send.close()
                        receive.close()
                        raise
                    unstarted.add(send)
                    tg.start_soon(self._work, index, chain, send, unstarted)
        finally:
            for send in unstarted:  # workers cancelled before they ever ran
                send.close()

    async def _work(
        self,
        index: int,
        chain: Chain,
        send: MemoryObjectSendStream[_Item],
        unstarted: set[MemoryObjectSendStream[_Item]],
    ) -> None:
        unstarted.discard(send)
        async with send:
            item: _Item | None = None
            if self._failed_at is not None and index > self._failed_at:
                return  # scheduled before an earlier window failed: the consumer stops there
            with anyio.CancelScope() as scope:
                self._scopes[index] = scope
                try:
                    await self._follow(chain, send.send)
                    item = _END
                except Exception as exc:
                    item = _Failed(exc)
                    self._fail(index)
                finally:
                    del self._scopes[index]
            if item is not None:  # None: cancelled because an earlier window failed
                await send.send(item)

    def _fail(self, index: int) -> None:
        if self._failed_at is None or index < self._failed_at:
            self._failed_at = index
        for later, scope in self._scopes.items():
            if later > index:
                scope.cancel()

    async def next(self) -> T | None:
        assert self._windows is not None and self._slots is not None
        while True:
            if self._current is None:
                try:
                    self._current = await self._windows.receive()
                except (anyio.EndOfStream, anyio.ClosedResourceError):
                    raise Stopped from None  # the end, or a stop: the supervisor knows
            try:
                item = await self._current.receive()
            except (anyio.EndOfStream, anyio.ClosedResourceError):
                raise Stopped from None
            if isinstance(item, _End):
                self._current.close()
                self._current = None
                self._slots.release()
                continue
            if isinstance(item, _Failed):
                raise item.error
            result: T = item
            return result

    def close(self) -> None:
        if self._current is not None:
            self._current.close()
        _drain_close(self._windows)


class AsReadyFeed(Generic[T]):
    """Windows fetched concurrently, items read as they arrive."""

    def __init__(self, chains: Iterator[Chain], follow: Follow[T], lookahead: int) -> None:
        self._chains = chains
        self._follow = follow
        self._lookahead = max(1, lookahead)
        self._slots: anyio.Semaphore | None = None
        self._send: MemoryObjectSendStream[_Item] | None = None
        self._shared: MemoryObjectReceiveStream[_Item] | None = None

    def open(self) -> None:
        self._slots = anyio.Semaphore(self._lookahead)
        self._send, self._shared = anyio.create_memory_object_stream[_Item](self._lookahead)

    async def produce(self) -> None:
        assert self._send is not None and self._slots is not None
        async with self._send:
            async with anyio.create_task_group() as tg:
                for chain in self._chains:
                    await self._slots.acquire()  # freed by the worker when its window is done
                    tg.start_soon(self._work, chain, self._send.clone())
            await self._send.send(_END)

    async def _work(self, chain: Chain, send: MemoryObjectSendStream[_Item]) -> None:
        assert self._slots is not None
        async with send:
            await self._follow(chain, send.send)
        self._slots.release()

    async def next(self) -> T | None:
        assert self._shared is not None
        try:
            item = await self._shared.receive()
        except (anyio.EndOfStream, anyio.ClosedResourceError):
            raise Stopped from None
        if isinstance(item, _End):
            return None
        assert not isinstance(item, _Failed)  # failures stop the producer instead
        result: T = item
        return result

    def close(self) -> None:
        _drain_close(self._shared)


class Supervisor:
    """Owns the one task that runs a feed's producer, and remembers how it ended."""

    def __init__(self) -> None:
        self._task: asyncio.Task[None] | None = None
        self._finished: anyio.Event | None = None
        self.error: BaseException | None = None
        self.cancelled = False

    @property
    def started(self) -> bool:
        return self._task is not None

    @property
    def done(self) -> bool:
        return self._task is not None and self._task.done()

    def start(self, run: Callable[[], Awaitable[None]], cleanup: Callable[[], None]) -> None:
        """Run ``run()`` in a new task; ``cleanup()`` runs after it if it was cancelled."""
        self._finished = anyio.Event()
        self._task = asyncio.get_running_loop().create_task(self._supervise(run, cleanup))

    async def _supervise(
        self, run: Callable[[], Awaitable[None]], cleanup: Callable[[], None]
    ) -> None:
        assert self._finished is not None
        try:
            await run()
        except Exception as exc:
            self.error = first_error(exc)
        except BaseException as exc:  # cancelled (aclose, the finalizer) or interrupted
            leaf = first_error(exc)
            if isinstance(leaf, asyncio.CancelledError):
                self.cancelled = True
                cleanup()  # the consumer may be gone: release its side too
            else:
                self.error = leaf
            raise
        finally:
            self._finished.set()

    async def wait(self) -> None:
        """Wait until the producer has stopped."""
        assert self._finished is not None
        await self._finished.wait()

    def cancel_soon(self) -> bool:
        """Ask the task to stop, from anywhere (a finalizer, a closed loop): True if asked."""
        task = self._task
        if task is None or task.done():
            return False
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            task.get_loop().call_soon_threadsafe(task.cancel)
            return True
        return False

    def when_done(self, fn: Callable[[], None]) -> None:
        """Call ``fn()`` in the task's loop once the task has ended, however it ends (from
        anywhere: a finalizer); nothing if the loop is closed."""
        task = self._task
        if task is None:
            return
        with contextlib.suppress(RuntimeError):  # the loop is already closed
            task.get_loop().call_soon_threadsafe(task.add_done_callback, lambda _: fn())

    async def aclose(self) -> None:
        """Cancel the task and wait, shielded, until it and its workers have stopped."""
        task = self._task
        if task is None or task.done():
            return
        task.cancel()
        with anyio.CancelScope(shield=True):
            await asyncio.wait([task])


class FeedIterator(Generic[T]):
    """An async iterator over a feed's items, owning the supervisor that produces them.

    Close it with ``aclose()`` or use it as ``async with`` to stop its requests at once;
    an iterator you simply stop using is closed by the garbage collector. One task at a
    time may read it: a second concurrent reader gets ``RuntimeError``, as with an async
    generator.
    """

    def __init__(
        self,
        feed: Feed[T],
        *,
        windows: int,
        progress: Progress | None = None,
        register: Callable[[FeedIterator[Any]], None] | None = None,
    ) -> None:
        self._feed = feed
        self._windows = windows
        self._progress = progress
        self._supervisor = Supervisor()
        self._exhausted = False
        self._reading = False
        self._pending: BaseException | None = None
        if register is not None:
            register(self)

    def __aiter__(self) -> Self:
        return self

    async def __anext__(self) -> T:
        if self._reading:
            raise RuntimeError("another task is already reading this iterator")
        self._reading = True
        try:
            return await self._next()
        finally:
            self._reading = False

    async def _next(self) -> T:
        if self._exhausted:
            error, self._pending = self._pending, None
            if error is not None:
                raise error
            raise StopAsyncIteration
        supervisor = self._supervisor
        if not supervisor.started:
            if self._progress is not None:
                self._progress.windows_planned += self._windows
            self._feed.open()
            supervisor.start(self._feed.produce, self._feed.close)
        try:
            page = await self._feed.next()
        except Stopped:
            await supervisor.wait()
            self._finish()
            error = self._pending or supervisor.error
            self._pending = None
            if error is not None:
                raise error from None
            raise StopAsyncIteration from None
        except Exception:  # a window failed (in order): stop the rest, then raise
            await self._shutdown()
            raise
        if page is None:
            await supervisor.wait()
            self._finish()
            raise StopAsyncIteration
        return page

    def _finish(self) -> None:
        self._exhausted = True
        self._feed.close()

    async def _shutdown(self) -> None:
        self._exhausted = True
        await self._supervisor.aclose()
        self._feed.close()

    async def aclose(self) -> None:
        """Stop fetching and wait until every request of this iterator has ended."""
        await self._shutdown()

    async def _close_for(self, error: BaseException) -> None:
        """Someone else (the client) closes this iterator: its next read raises ``error``."""
        if not self._exhausted:
            self._pending = error
        await self._shutdown()

    async def __aenter__(self) -> Self:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    def __del__(self) -> None:
        # Dropped without aclose(): only cancel. The supervisor closes the streams once
        # its workers have stopped (closing them here would wake the workers with
        # BrokenResourceError and swallow the cancellation).
        supervisor = self._supervisor
        if supervisor.cancel_soon():
            # The task may end on its own before the cancel reaches it (its last window
            # had arrived): then no cancellation runs its cleanup, so close the feed once
            # it has ended, either way (closing twice is nothing).
            supervisor.when_done(self._feed.close)
            return
        if supervisor.done or not supervisor.started:
            self._feed.close()  # nothing runs: release what is left unread


class PageIterator(FeedIterator[UsagePage[R]]):
    """An async iterator of pages; see ``Endpoint.pages``.

    Close it with ``aclose()`` or use it as ``async with`` to stop its requests at once;
    an iterator you simply stop using is closed by the garbage collector. One task at a
    time may read it: a second concurrent reader gets ``RuntimeError``, as with an async
    generator. Pages carry ``has_more=False`` and no ``next_page``: the iterator follows
    the cursors of its internal window queries itself.
    """


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

    def _take_ready(self) -> list[UsageBucket[R]]:
        """The buckets fetched but not read yet (the rest of the current page), consumed.

        The synchronous client hands them over with the one it waited for, so a script
        waits on the client's thread once a page, not once a bucket.
        """
        ready = self._buffer[self._index :]
        self._buffer = []
        self._index = 0
        return ready

    async def aclose(self) -> None:
        """Stop fetching and wait until every request of this iterator has ended."""
        self._buffer = []
        self._index = 0
        await self._pages.aclose()

    async def __aenter__(self) -> BucketIterator[R]:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
