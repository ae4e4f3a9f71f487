"""One concurrency bound for the whole client, which tightens under 429 storms.

Every request of every endpoint and iterator borrows a token from one anyio
``CapacityLimiter`` for the duration of its HTTP exchange (never while it decodes, nor
while it sleeps before a retry). A 429 halves the number of tokens (not below 1), but
only if the request was admitted under the current number: 429s from requests that were
already in flight when the bound last tightened are old news, and a burst of them counts
once. After ``2 x total_tokens`` successes in a row, one token comes back, up to
``max_concurrency``. That is additive-increase, multiplicative-decrease, as TCP does: the
client converges on what the service accepts instead of every task hammering it.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import TracebackType
from typing import NamedTuple

import anyio

__all__ = ["AdaptiveLimiter", "LimiterStatistics", "Ticket"]


class Ticket(NamedTuple):
    """What a request was admitted under: the bound's ``generation``, and how many of the
    client's requests were ``in_flight`` then, this one included."""

    generation: int
    in_flight: int


@dataclass(frozen=True, slots=True)
class LimiterStatistics:
    """The client-wide concurrency bound: its size now, its use, and how it has moved.

    Under 429s the bound halves (``decreases``), and it grows back by one after a run of
    successes (``increases``), never above ``max_concurrency``.
    """

    max_concurrency: int
    """The client's ``max_concurrency``: the bound before any 429 lowers it."""
    total_tokens: int
    """The bound now: at most this many requests in flight (lower after 429s)."""
    borrowed_tokens: int
    """Requests in flight now."""
    tasks_waiting: int
    """Requests waiting for a slot now."""
    peak_borrowed: int
    """The most requests that have been in flight at once."""
    decreases: int
    """How many times a 429 halved the bound."""
    increases: int
    """How many times a run of successes raised it again by one."""


class AdaptiveLimiter:
    """A ``CapacityLimiter`` made lazily (the client may be built outside a loop).

    ``async with limiter as ticket:`` holds a token; the :class:`Ticket` identifies the
    bound the request was admitted under, for :meth:`on_rate_limited` and the retry policy.
    """

    def __init__(self, max_concurrency: int) -> None:
        self.max_concurrency = max_concurrency
        self._limiter: anyio.CapacityLimiter | None = None
        self._generation = 0  # bumped at every decrease
        self._successes = 0
        self._peak = 0
        self._increases = 0

    @property
    def limiter(self) -> anyio.CapacityLimiter:
        if self._limiter is None:
            self._limiter = anyio.CapacityLimiter(self.max_concurrency)
        return self._limiter

    async def __aenter__(self) -> Ticket:
        limiter = self.limiter
        await limiter.acquire()
        in_flight = limiter.borrowed_tokens
        self._peak = max(self._peak, in_flight)
        return Ticket(self._generation, in_flight)

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.limiter.release()

    def on_success(self) -> None:
        """A request succeeded: after enough in a row, give a token back."""
        limiter = self.limiter
        if limiter.total_tokens >= self.max_concurrency:
            return
        self._successes += 1
        if self._successes >= 2 * limiter.total_tokens:
            self._successes = 0
            limiter.total_tokens = min(self.max_concurrency, int(limiter.total_tokens) + 1)
            self._increases += 1

    def on_rate_limited(self, ticket: Ticket) -> None:
        """A request admitted with ``ticket`` got a 429: halve the tokens, once per bound."""
        self._successes = 0
        limiter = self.limiter
        if ticket.generation != self._generation or limiter.total_tokens <= 1:
            return
        self._generation += 1
        limiter.total_tokens = max(1, int(limiter.total_tokens) // 2)

    def statistics(self) -> LimiterStatistics:
        """Tokens now, borrowed, waiting, the peak borrowed, and the adjustments made."""
        if self._limiter is None:
            return LimiterStatistics(self.max_concurrency, self.max_concurrency, 0, 0, 0, 0, 0)
        stats = self._limiter.statistics()
        return LimiterStatistics(
            max_concurrency=self.max_concurrency,
            total_tokens=int(self._limiter.total_tokens),
            borrowed_tokens=stats.borrowed_tokens,
            tasks_waiting=stats.tasks_waiting,
            peak_borrowed=self._peak,
            decreases=self._generation,
            increases=self._increases,
        )
