"""What the emulator has seen: counters for tests to assert on, never timings."""

from __future__ import annotations

import collections
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import NamedTuple

__all__ = ["EmulatorStatistics", "ReceivedRequest", "Recorder"]


class ReceivedRequest(NamedTuple):
    """One request as the emulator received it (the Authorization header is never kept)."""

    method: str
    path: str
    endpoint: str | None
    query: tuple[tuple[str, str], ...]
    headers: Mapping[str, str]


@dataclass(frozen=True)
class EmulatorStatistics:
    """A snapshot of the counters; see :meth:`Emulator.statistics`."""

    requests_total: int
    """Requests received, on every route."""
    requests_by_endpoint: Mapping[str, int]
    """Requests per endpoint name (``"costs"``, ``"completions"``, ``"projects"``, ...)."""
    responses_by_status: Mapping[int, int]
    """Responses per HTTP status (``{200: 12, 429: 2}``)."""
    dropped: int
    """Connections a fault closed on purpose."""
    cancelled: int
    """Requests the client hung up on before the answer."""
    in_flight: int
    """Requests being answered now."""
    peak_in_flight: int
    """The most requests answered at once."""
    open_connections: int = 0
    """Client connections open now."""


# Request headers worth keeping for tests (never Authorization).
KEPT_HEADERS = ("user-agent", "openai-organization", "openai-project", "accept")


@dataclass
class Recorder:
    """Mutable counters behind :class:`EmulatorStatistics`."""

    history_size: int = 10_000
    requests_total: int = 0
    by_endpoint: collections.Counter[str] = field(default_factory=collections.Counter)
    by_status: collections.Counter[int] = field(default_factory=collections.Counter)
    dropped: int = 0
    cancelled: int = 0
    in_flight: int = 0
    peak_in_flight: int = 0
    requests: collections.deque[ReceivedRequest] = field(init=False)

    def __post_init__(self) -> None:
        self.requests = collections.deque(maxlen=self.history_size)

    def enter(self, received: ReceivedRequest) -> None:
        self.requests_total += 1
        self.by_endpoint[received.endpoint or received.path] += 1
        self.requests.append(received)
        self.in_flight += 1
        self.peak_in_flight = max(self.peak_in_flight, self.in_flight)

    def exit(self, status: int | None, *, cancelled: bool = False) -> None:
        self.in_flight -= 1
        if cancelled:
            self.cancelled += 1
        elif status is None:
            self.dropped += 1
        else:
            self.by_status[status] += 1

    def reset(self) -> None:
        """Zero every counter and forget the requests (``in_flight`` stays true)."""
        self.requests_total = self.dropped = self.cancelled = 0
        self.peak_in_flight = self.in_flight
        self.by_endpoint.clear()
        self.by_status.clear()
        self.requests.clear()

    def snapshot(self, open_connections: int = 0) -> EmulatorStatistics:
        return EmulatorStatistics(
            requests_total=self.requests_total,
            requests_by_endpoint=dict(self.by_endpoint),
            responses_by_status=dict(self.by_status),
            dropped=self.dropped,
            cancelled=self.cancelled,
            in_flight=self.in_flight,
            peak_in_flight=self.peak_in_flight,
            open_connections=open_connections,
        )
