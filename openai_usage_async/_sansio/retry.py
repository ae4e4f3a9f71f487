"""When to retry, and after how long: a pure function of the outcome.

Retried: 408, 409, 429, 5xx, connection failures and timeouts, and bodies that are not
JSON at all; unless the server says ``x-should-retry: false`` (and anything it marks
``x-should-retry: true`` is retried; the header is compared case-insensitively). Not
retried: the other 4xx, and well-formed bodies of the wrong shape.

Never retried, whatever the headers say: a 429 that is not a rate limit (its ``code`` is
a hard spend limit reached, or a quota or billing state: see
:data:`.responses.NOT_RATE_LIMIT_CODES`). The service answers it until someone raises
the limit, pays, or the month ends, so a retry would only repeat it; and it says nothing
about load, so the limiter does not shrink for it either (``_transport.py`` asks
:func:`.responses.is_rate_limit` too).

The delay honours ``retry-after-ms``, then ``retry-after`` (seconds, or an HTTP date,
read as UTC when it has no zone, as the official SDK reads it), taking the first of them
that is reasonable: above 0 and at most ``max_retry_after_s``. An unreasonable
``retry-after-ms`` (NaN, negative, huge) does not hide a valid ``retry-after``. Without a
usable hint (and for ``retry-after: 0``) it is capped exponential backoff with jitter,
as the official SDKs do.

Self-inflicted 429s. A 429 to a request admitted while others of the client's requests
were in flight may be the client's own doing: together they pushed the service over its
limit. The client's limiter halves its bound on such a 429, and the retry does not spend
``max_retries`` (up to ``max_throttle_retries`` such retries per request), so a run
converges on what the service accepts instead of giving up while the bound is still
shrinking. A 429 to a request that was alone in flight (as every request is once the
bound is one) counts like any other failure, so a service that refuses everything still
ends in ``RateLimitError``.
"""

from __future__ import annotations

import datetime as dt
import email.utils
import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import NamedTuple

from ..errors import APIConnectionError, APIError, APIResponseValidationError, RateLimitError
from .responses import is_rate_limit

__all__ = ["Retry", "RetryPolicy"]

_RETRY_STATUSES = frozenset({408, 409, 429})


class Retry(NamedTuple):
    """Retry after ``delay_s``; ``counted`` says whether it spends one of ``max_retries``."""

    delay_s: float
    counted: bool = True


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt, so at most ``1 + max_retries`` tries.

    Self-inflicted 429s (see the module docstring) add at most ``max_throttle_retries``
    uncounted retries.
    """

    max_retries: int = 2
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0
    max_throttle_retries: int = 16

    def should_retry(
        self, status: int | None, headers: Mapping[str, str], error: APIError | None
    ) -> bool:
        """Whether this outcome is worth another attempt (ignoring the budget)."""
        if isinstance(error, RateLimitError) and not is_rate_limit(error):
            return False  # a spend limit, quota or billing: before any header's say
        hint = headers.get("x-should-retry", "").strip().lower()
        if hint == "true":
            return True
        if hint == "false":
            return False
        if status is not None and (status in _RETRY_STATUSES or status >= 500):
            return True
        if isinstance(error, APIConnectionError):
            return True
        return isinstance(error, APIResponseValidationError) and error.invalid_json

    def decide(
        self,
        retries_done: int,
        status: int | None,
        headers: Mapping[str, str],
        error: APIError | None,
        *,
        random: Callable[[], float],
        now_s: float | None = None,
        in_flight: int = 1,
        throttle_retries_done: int = 0,
    ) -> Retry | None:
        """What to do after a failed attempt: a :class:`Retry`, or None to give up.

        ``retries_done`` counts the retries that spent the budget, ``throttle_retries_done``
        the ones that did not. ``in_flight`` is how many of the client's requests were in
        flight when the attempt was admitted, itself included. ``headers`` keys are
        lower-case; ``random`` returns floats in [0, 1) and ``now_s`` is the current Unix
        time (for an HTTP-date ``retry-after``): both are injected so that tests can
        assert exact delays.
        """
        if not self.should_retry(status, headers, error):
            return None
        self_inflicted = (
            status == 429 and in_flight > 1 and throttle_retries_done < self.max_throttle_retries
        )
        if not self_inflicted and retries_done >= self.max_retries:
            return None
        hinted = self.retry_after_s(headers, now_s)
        if hinted is None:
            attempt = throttle_retries_done if self_inflicted else retries_done
            backoff = min(self.initial_delay_s * 2.0**attempt, self.max_delay_s)
            hinted = backoff * (1.0 - 0.25 * random())
        return Retry(hinted, counted=not self_inflicted)

    def retry_after_s(self, headers: Mapping[str, str], now_s: float | None) -> float | None:
        """The server's wait hint in seconds: the first reasonable one, else None."""
        raw_ms = headers.get("retry-after-ms")
        if raw_ms is not None:
            value = _number(raw_ms)
            if value is not None and self._reasonable(value / 1000):
                return value / 1000
        raw = headers.get("retry-after")
        if raw is not None:
            value = _number(raw)
            if value is None:
                value = _http_date_delay(raw, now_s)
            if value is not None and self._reasonable(value):
                return value
        return None

    def _reasonable(self, delay_s: float) -> bool:
        return 0 < delay_s <= self.max_retry_after_s


def _number(raw: str) -> float | None:
    try:
        value = float(raw)
    except ValueError:
        return None
    return value if math.isfinite(value) else None


def _http_date_delay(raw: str, now_s: float | None) -> float | None:
    if now_s is None:
        return None
    try:
        when = email.utils.parsedate_to_datetime(raw)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:  # "-0000" (no zone given): HTTP dates are always UTC
        when = when.replace(tzinfo=dt.UTC)
    return when.timestamp() - now_s
