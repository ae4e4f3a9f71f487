"""`sync`'s progress line: per endpoint, the ones with most left first, only on a terminal."""

from __future__ import annotations

import io
from typing import Any

from openai_usage_async.cli._progress import SyncProgress


class FakeStore:
    def __init__(self, progress: dict[str, tuple[int, int]]) -> None:
        self._progress = progress

    def progress(self) -> dict[str, tuple[int, int]]:
        return dict(self._progress)


class Terminal(io.StringIO):
    def isatty(self) -> bool:
        return True


def line(progress: dict[str, tuple[int, int]]) -> str:
    store: Any = FakeStore(progress)
    return SyncProgress(store, stream=Terminal()).render()


def test_it_counts_windows_and_lists_unfinished_endpoints_most_left_first() -> None:
    text = line({"costs": (1, 1), "completions": (3, 53), "embeddings": (10, 12)})
    assert text.startswith("14/66 windows  ")
    assert text.endswith("completions 3/53, embeddings 10/12")
    assert "costs" not in text  # finished


def test_it_stays_silent_off_a_terminal() -> None:
    store: Any = FakeStore({"costs": (0, 1)})
    assert SyncProgress(store, stream=io.StringIO()).enabled is False
    assert SyncProgress(store, stream=Terminal()).enabled is True
