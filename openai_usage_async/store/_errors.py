"""The store's errors."""

from __future__ import annotations

__all__ = ["StoreBusyError", "StoreError"]


class StoreError(Exception):
    """The store cannot be used: a path that cannot be written or read, a full disk, a
    file that is not a store, a store from a newer version, or a damaged table."""


class StoreBusyError(StoreError):
    """Another sync holds the store (``Store.sync(..., wait=False)``).

    ``pid`` is the holder's process id, when it could be read.
    """

    def __init__(self, message: str, pid: int | None = None) -> None:
        super().__init__(message)
        self.pid = pid


def holder_text(pid: int | None) -> str:
    """``process 1234`` (this one too, said so), or ``another process``."""
    import os

    if pid is None:
        return "another process"
    if pid == os.getpid():
        return f"another sync in this process (pid {pid})"
    return f"process {pid}"
