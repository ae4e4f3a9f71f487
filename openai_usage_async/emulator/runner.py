"""Ways to run an :class:`Emulator`: in the caller's event loop, or on a thread of its own."""

from __future__ import annotations

import asyncio
import contextlib
import threading
from collections.abc import AsyncIterator, Iterator
from typing import Any

from .app import Emulator

__all__ = ["run_emulator", "serve_in_thread"]


@contextlib.asynccontextmanager
async def run_emulator(
    emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> AsyncIterator[str]:
    """Serve an emulator in the running event loop; yield its base URL (``.../v1``).

    Pass an :class:`Emulator` to keep a handle on its faults and statistics, or the
    emulator's options as keywords. ``port=0`` picks a free loopback port.

    >>> async with run_emulator(latency_ms=5) as base_url:  # doctest: +SKIP
    ...     client = AsyncOpenAI(admin_api_key="sk-admin-test", base_url=base_url)
    """
    if emulator is not None and options:
        raise TypeError("run_emulator: pass an Emulator or its options, not both")
    emu = emulator if emulator is not None else Emulator(**options)
    base_url = await emu.start(host, port)
    try:
        yield base_url
    finally:
        await emu.aclose()


@contextlib.contextmanager
def serve_in_thread(
    emulator: Emulator | None = None, *, host: str = "127.0.0.1", port: int = 0, **options: Any
) -> Iterator[Emulator]:
    """Serve an emulator from a background thread with its own event loop; yield it.

    For synchronous code and test suites whose event loop is not ours to share: the
    emulator keeps answering while the caller's loop is busy or blocked.
    """
    if emulator is not None and options:
        raise TypeError("serve_in_thread: pass an Emulator or its options, not both")
    emu = emulator if emulator is not None else Emulator(**options)
    loop = asyncio.new_event_loop()
    started = threading.Event()
    failure: list[BaseException] = []

    def run() -> None:
        asyncio.set_event_loop(loop)
        try:
            loop.run_until_complete(emu.start(host, port))
        except BaseException as exc:  # reported to the caller below
            failure.append(exc)
            started.set()
            loop.close()
            return
        started.set()
        loop.run_forever()
        loop.run_until_complete(emu.aclose())
        loop.run_until_complete(loop.shutdown_asyncgens())
        loop.close()

    thread = threading.Thread(target=run, name="usage-emulator", daemon=True)
    thread.start()
    started.wait()
    if failure:
        thread.join()
        raise failure[0]
    try:
        yield emu
    finally:
        loop.call_soon_threadsafe(loop.stop)
        thread.join()
