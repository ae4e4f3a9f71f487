"""``UsageClient``: the synchronous client, for scripts and notebooks.

Theory of operation
-------------------
One anyio blocking portal per client: an event loop in a thread of its own, holding one
``AsyncUsageClient`` (so one connection pool and one concurrency bound). The synchronous
surface is not written twice: :class:`_Blocking` wraps any object of the async surface and
derives, attribute by attribute, what a script calls:

* a coroutine method becomes a method that waits for it in the portal and returns its
  value (same signature: ``functools.wraps``);
* a method returning an async iterator (``iter``, ``pages``) becomes one returning an
  ordinary iterator, whose fetching runs ahead in the portal exactly as the async one does;
* a namespace (``usage``, ``usage.completions``, ``organization``, ...) is wrapped the same
  way, lazily; calling a wrapped endpoint (``client.usage.costs(...)``) calls the async
  one's ``__call__`` (its ``get``) in the portal.

Type checkers see ``usage`` as ``BlockingUsage``, generated with the async surface's
Protocols (``_typed_usage.py``, by ``python -m openai_usage_async._typegen``).

It works from any thread, including one whose own event loop runs (a Jupyter cell): the
calling thread only waits on a future. Ctrl-C while waiting cancels the call in the portal
and re-raises ``KeyboardInterrupt``. Leaving a ``for`` loop early (break, exception, the
iterator being collected) closes the async iterator, which cancels its requests.
``close()`` (or ``with``) closes the client and stops the thread; so does the garbage
collector, from another thread when it collects the client on its own portal thread.

It does not work in a forked child (multiprocessing's fork, gunicorn's preload, Celery's
prefork): a fork copies the client but not its thread, so every call there raises
``RuntimeError`` at once, where waiting would hang forever.
"""

from __future__ import annotations

import asyncio
import atexit
import collections
import concurrent.futures
import contextlib
import functools
import inspect
import os
import sys
import threading
import weakref
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from types import TracebackType
from typing import TYPE_CHECKING, Any, Self, TypeVar, cast

import aiohttp
import anyio.from_thread

from ._client import AsyncUsageClient, ClientStatistics

if TYPE_CHECKING:
    from ._typed_usage import BlockingUsage

__all__ = ["UsageClient"]

T = TypeVar("T")

_CLOSED = "the client is closed; make a new UsageClient (or use `with`)"
_FORKED = (
    "this UsageClient was created in process {parent}, and process {child} is a fork of it: "
    "its event loop thread does not exist here; create the UsageClient after the fork, in "
    "the process that uses it (a worker initializer, gunicorn's post_fork, Celery's "
    "worker_process_init)"
)


class _Portal:
    """The portal thread, and waiting on it in a way Ctrl-C can interrupt."""

    def __init__(self) -> None:
        self._cm = anyio.from_thread.start_blocking_portal(
            "asyncio", name="openai_usage_async portal"
        )
        self.portal = self._cm.__enter__()
        self.closed = False
        self._lock = threading.Lock()
        # A fork copies this object but not the thread: the pid tells the copy it is one.
        self.pid = os.getpid()
        self.thread_id, self.loop = self.portal.call(_thread_and_loop)

    @property
    def forked(self) -> bool:
        """Whether this is a forked child's copy, whose thread does not exist."""
        return os.getpid() != self.pid

    def on_portal_thread(self) -> bool:
        return threading.get_ident() == self.thread_id

    def check(self) -> None:
        """Raise ``RuntimeError`` if calls cannot go through: the client is closed, or this
        process is a fork of the one whose thread runs the portal."""
        if self.forked:
            raise RuntimeError(_FORKED.format(parent=self.pid, child=os.getpid()))
        if self.closed:
            raise RuntimeError(_CLOSED)

    def run(
        self,
        fn: Callable[..., Awaitable[T]],
        *args: Any,
        timeout_s: float | None = None,
        **kwargs: Any,
    ) -> T:
        self.check()
        future = self.portal.start_task_soon(functools.partial(fn, *args, **kwargs))
        try:
            return future.result(timeout_s)
        except KeyboardInterrupt:
            future.cancel()  # cancels the task in the portal: its requests stop
            with contextlib.suppress(concurrent.futures.CancelledError, Exception):
                future.result(timeout=5)
            raise

    def stop(self) -> None:
        if self.forked:
            # Nothing of the thread is here to stop or wait for (and the lock may have been
            # held by another thread at the fork).
            self.closed = True
            return
        with self._lock:
            if self.closed:
                return
            self.closed = True
        self._cm.__exit__(None, None, None)


async def _thread_and_loop() -> tuple[int, asyncio.AbstractEventLoop]:
    return threading.get_ident(), asyncio.get_running_loop()


class BlockingIterator(Iterator[T]):
    """An ordinary iterator over an async iterator that runs in the portal.

    ``close()`` (or leaving a ``with`` block, or the iterator being collected) stops its
    requests.
    """

    def __init__(self, portal: _Portal, iterator: AsyncIterator[T]) -> None:
        self._portal = portal
        self._iterator = iterator
        self._done = False
        # Items that came with the last one waited for (the rest of its page): read
        # without another wait on the portal, in order, before anything else.
        self._ready: collections.deque[T] = collections.deque()

    def __iter__(self) -> Self:
        return self

    def __next__(self) -> T:
        if self._ready:
            return self._ready.popleft()
        if self._done:
            raise StopIteration
        try:
            first, *rest = self._portal.run(self._take)
        except StopAsyncIteration:
            self._done = True
            raise StopIteration from None
        except BaseException:
            self.close()
            raise
        self._ready.extend(rest)
        return first

    async def _take(self) -> list[T]:
        """The next item, and those already fetched after it (a bucket iterator's page)."""
        first = await self._iterator.__anext__()
        take_ready: Callable[[], list[T]] | None = getattr(self._iterator, "_take_ready", None)
        return [first, *take_ready()] if take_ready is not None else [first]

    def close(self) -> None:
        """Stop fetching; wait until the iterator's requests have ended."""
        self._ready.clear()
        if self._done:
            return
        self._done = True
        aclose = getattr(self._iterator, "aclose", None)
        if aclose is not None and not self._portal.closed:
            with contextlib.suppress(RuntimeError, TimeoutError):  # the portal stopped
                self._portal.run(aclose, timeout_s=10)

    def __enter__(self) -> Self:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def __del__(self) -> None:
        if not sys.is_finalizing():
            with contextlib.suppress(Exception):
                self.close()


def _blocking_method(portal: _Portal, method: Callable[..., Any]) -> Callable[..., Any]:
    if inspect.iscoroutinefunction(method):

        @functools.wraps(method)
        def call(*args: Any, **kwargs: Any) -> Any:
            return portal.run(method, *args, **kwargs)

        return call

    @functools.wraps(method)
    def wrapped(*args: Any, **kwargs: Any) -> Any:
        portal.check()  # in a forked child, fail here rather than at the first item
        result = method(*args, **kwargs)  # checks its arguments here, before any request
        if hasattr(result, "__anext__"):
            return BlockingIterator(portal, result)
        return result

    return wrapped


class _Blocking:
    """A synchronous view of one object of the async surface (see the module docstring)."""

    def __init__(self, portal: _Portal, target: object) -> None:
        self._portal = portal
        self._target = target
        self._cache: dict[str, Any] = {}

    def __getattr__(self, name: str) -> Any:
        if name.startswith("_"):
            raise AttributeError(name)
        cached = self._cache.get(name)
        if cached is not None:
            return cached
        value = getattr(self._target, name)
        if _is_namespace(value):  # before callables: an endpoint is both
            out: Any = _Blocking(self._portal, value)
        elif callable(value) and not isinstance(value, type):
            out = _blocking_method(self._portal, value)
        else:
            return value
        self._cache[name] = out
        return out

    def __call__(self, *args: Any, **kwargs: Any) -> Any:
        # `client.usage.completions(...)`, as the async endpoint is called.
        if not callable(self._target):
            raise TypeError(f"{self._target!r} is not callable")
        return _blocking_method(self._portal, self._target.__call__)(*args, **kwargs)

    def __dir__(self) -> list[str]:
        return [n for n in dir(self._target) if not n.startswith("_")]

    def __repr__(self) -> str:
        return f"<blocking {self._target!r}>"


def _is_namespace(value: object) -> bool:
    module = type(value).__module__
    return module.startswith("openai_usage_async.") and not isinstance(value, str | int)


class UsageClient:
    """The synchronous client: the same constructor, methods and errors as
    :class:`AsyncUsageClient`, returning values instead of awaitables.

    ::

        with UsageClient() as client:                     # key from OPENAI_ADMIN_KEY
            costs = client.usage.costs.list(start_time=t0, end_time=t1)
            for bucket in client.usage.completions.iter(start_time=t0, end_time=t1):
                ...

    ``iter`` and ``pages`` return ordinary iterators that fetch ahead concurrently;
    leaving the loop early stops their requests. It works where an event loop already
    runs in the calling thread (Jupyter) and from several threads at once. ``close()``
    (or ``with``) releases everything; using a closed client raises ``RuntimeError``.

    ``session=`` is refused with ``TypeError``: an ``aiohttp.ClientSession`` belongs to the
    event loop it was made in, and this client runs its own. Create the client after a
    fork, in the process that uses it: one made before raises ``RuntimeError`` in the child.
    """

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 2,
        timeout: float | aiohttp.ClientTimeout = 60.0,
        session: None = None,
        admin_api_key: str | None = None,
    ) -> None:
        if session is not None:
            # Once accepted, it failed at the first request with asyncio's "attached to a
            # different loop": the portal's loop is not the one the session was made in.
            raise TypeError(
                "session: UsageClient runs its own event loop in a thread of its own, and an "
                "aiohttp.ClientSession belongs to the loop it was made in; leave session out "
                "(the client opens and closes its own), or use AsyncUsageClient(session=...) "
                "in your event loop"
            )
        # Built here, so a bad argument raises before any thread starts.
        self._async = AsyncUsageClient(
            api_key,
            base_url=base_url,
            organization=organization,
            project=project,
            max_concurrency=max_concurrency,
            max_retries=max_retries,
            timeout=timeout,
            admin_api_key=admin_api_key,
        )
        self._portal = _Portal()
        _OPEN.add(self)
        # Typed by the generated Protocol: _Blocking derives the methods it declares.
        self.usage = cast("BlockingUsage", _Blocking(self._portal, self._async.usage))
        self.organization: Any = _Blocking(self._portal, self._async.organization)

    def __repr__(self) -> str:
        return repr(self._async).replace("AsyncUsageClient", "UsageClient", 1)

    @property
    def closed(self) -> bool:
        """Whether :meth:`close` has been called."""
        return self._portal.closed

    def statistics(self) -> ClientStatistics:
        """As :meth:`AsyncUsageClient.statistics`."""
        return self._async.statistics()

    def close(self) -> None:
        """Close the client (its iterators and connections) and stop its thread.

        In a forked child it only marks this copy closed: the thread and the connections
        are the parent's.
        """
        if self._portal.closed:
            return
        _OPEN.discard(self)
        if self._portal.forked:
            self._portal.stop()
            return
        _shut_down(self._portal, self._async)

    def __enter__(self) -> Self:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def __del__(self) -> None:
        portal = getattr(self, "_portal", None)
        if portal is None or portal.closed or sys.is_finalizing():
            return
        if portal.on_portal_thread() and not portal.forked:
            # The garbage collector runs finalizers on whichever thread it happens to run,
            # this client's own among them, and a thread cannot wait for itself to stop. So
            # the loop, once this finalizer has returned, hands the closing to a new thread
            # (not started from here: a finalizer may interrupt code holding threading's locks).
            with contextlib.suppress(RuntimeError):  # the loop is closed: the portal is ending
                portal.loop.call_soon(_shut_down_elsewhere, portal, self._async)
            return
        with contextlib.suppress(Exception):
            self.close()


def _shut_down(portal: _Portal, client: AsyncUsageClient) -> None:
    try:
        portal.run(client.aclose, timeout_s=10)
    finally:
        portal.stop()


def _shut_down_elsewhere(portal: _Portal, client: AsyncUsageClient) -> None:
    def shut_down_quietly() -> None:
        with contextlib.suppress(Exception):  # as a finalizer would: nobody to tell
            _shut_down(portal, client)

    threading.Thread(target=shut_down_quietly, name="openai_usage_async close", daemon=True).start()


#: Clients not closed yet: closed at exit, while their portal threads still run (after
#: that, a finalizer waiting on one would wait forever).
_OPEN: weakref.WeakSet[UsageClient] = weakref.WeakSet()


@atexit.register
def _close_open_clients() -> None:
    for client in list(_OPEN):
        with contextlib.suppress(BaseException):
            client.close()
