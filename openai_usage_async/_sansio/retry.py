"""When to retry, and after how long: a pure function of the outcome.

Retried: 408, 409, 429, 5xx, connection failures and timeouts, and bodies that are not
JSON at all; unless the server says ``x-should-retry: false`` (and anything it marks
``x-should-retry: true`` is retried). Not retried: the other 4xx, and well-formed bodies
of the wrong shape. The delay honours ``retry-after-ms``, then ``retry-after`` (seconds
or an HTTP date), when they are reasonable; otherwise it is capped exponential backoff
with jitter, as the official SDKs do.
"""

from __future__ import annotations

import email.utils
from collections.abc import Callable, Mapping
from dataclasses import dataclass

from ..errors import APIConnectionError, APIError, APIResponseValidationError

__all__ = ["RetryPolicy"]

_RETRY_STATUSES = frozenset({408, 409, 429})


@dataclass(frozen=True, slots=True)
class RetryPolicy:
    """``max_retries`` retries after the first attempt, so at most ``1 + max_retries`` tries."""

    max_retries: int = 2
    initial_delay_s: float = 0.5
    max_delay_s: float = 8.0
    max_retry_after_s: float = 60.0

    def should_retry(
        self, status: int | None, headers: Mapping[str, str], error: APIError | None
    ) -> bool:
        """Whether this outcome is worth another attempt (ignoring the budget)."""
        hint = headers.get("x-should-retry")
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
    ) -> float | None:
        """Seconds to wait before retrying, or None to give up.

        ``headers`` keys are lower-case; ``random`` returns floats in [0, 1) and ``now_s``
        is the current Unix time (for an HTTP-date ``retry-after``): both are injected
        so that tests can assert exact delays.
        """
        if retries_done >= self.max_retries or not self.should_retry(status, headers, error):
            return None
        hinted = self.retry_after_s(headers, now_s)
        if hinted is not None:
            return hinted
        backoff = min(self.initial_delay_s * 2.0**retries_done, self.max_delay_s)
        return backoff * (1.0 - 0.25 * random())

    def retry_after_s(self, headers: Mapping[str, str], now_s: float | None) -> float | None:
        """The server's wait hint in seconds, if present and between 0 and the cap."""
        value: float | None = None
        raw_ms = headers.get("retry-after-ms")
        if raw_ms is not None:
            try:
                value = float(raw_ms) / 1000
            except ValueError:
                value = None
        raw = headers.get("retry-after")
        if value is None and raw is not None:
            try:
                value = float(raw)
            except ValueError:
                value = _http_date_delay(raw, now_s)
        if value is not None and 0 <= value <= self.max_retry_after_s:
            return value
        return None


def _http_date_delay(raw: str, now_s: float | None) -> float | None:
    if now_s is None:
        return None
    try:
        return email.utils.parsedate_to_datetime(raw).timestamp() - now_s
    except (TypeError, ValueError):
        return None
