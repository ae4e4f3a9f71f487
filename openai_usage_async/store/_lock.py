"""Who may write: one sync at a time per store file, across processes, threads and tasks.

The lock is an OS file lock (``flock``) on ``<store>.lock`` beside the database, held
for the whole sync. The kernel releases it when its holder exits, however it exits
(SIGKILL included), so a crashed sync never blocks the store, and nothing a crash leaves
behind needs cleaning. ``flock`` locks belong to an open file, not to a process, so two
syncs in one process (two tasks, two ``Store`` objects) exclude each other too.

The holder writes its pid into the file, so a sync that finds the store busy can say
whom it waits for. Waiting polls without blocking the event loop, so a waiting sync can
be cancelled at any moment. POSIX only (the package's classifiers say so).
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import logging
import os
from collections.abc import AsyncIterator

import anyio

from ._errors import StoreBusyError, StoreError, holder_text

__all__ = ["hold", "holder", "lock_path"]

log = logging.getLogger("openai_usage_async.store")

#: How often a waiting sync looks again, in seconds.
POLL_S = 0.05


def lock_path(path: str) -> str:
    """The lock file of the store at ``path``: one per database file, however it is named
    (a relative path, a symlink)."""
    return os.path.realpath(path) + ".lock"


def holder(path: str) -> int | None:
    """The pid written by the sync holding (or last holding) the store's lock, if any."""
    try:
        with open(lock_path(path), "rb") as f:
            text = f.read(32).decode("ascii", "replace").strip()
    except OSError:
        return None
    return int(text) if text.isdigit() else None


def _try(fd: int) -> bool:
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except OSError as exc:
        if exc.errno in (errno.EWOULDBLOCK, errno.EAGAIN, errno.EACCES):
            return False
        raise
    return True


@contextlib.asynccontextmanager
async def hold(path: str, *, wait: bool) -> AsyncIterator[None]:
    """Hold the store's write lock for the ``async with`` block.

    When another sync holds it: with ``wait``, log that it waits (and for whom) and wait;
    without, raise :class:`StoreBusyError`.
    """
    try:
        fd = os.open(lock_path(path), os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
    except OSError as exc:
        raise StoreError(
            f"{path}: cannot write the store there ({exc.strerror}: {lock_path(path)})"
        ) from None
    try:
        if not _try(fd):
            pid = holder(path)
            who = holder_text(pid)
            if not wait:
                raise StoreBusyError(f"{path}: {who} is syncing this store", pid)
            log.info("%s: waiting for %s to finish its sync", path, who)
            # The holder may be another process: there is no event to wait on, only the
            # kernel's lock to try again.
            while not _try(fd):  # noqa: ASYNC110
                await anyio.sleep(POLL_S)
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"{os.getpid()}\n".encode(), 0)
        try:
            yield
        finally:
            with contextlib.suppress(OSError):
                os.ftruncate(fd, 0)
            fcntl.flock(fd, fcntl.LOCK_UN)
    finally:
        os.close(fd)
