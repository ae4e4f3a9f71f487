"""Fault injection: what the emulator does wrong, and when.

A :class:`Fault` describes one misbehaviour and which requests it hits: the first
``first`` requests it sees, or a seeded ``rate`` of them, or (with neither) every one,
optionally only on some ``endpoints``. The emulator checks its faults in order and
applies the first that fires, so a list can stage a scenario ("two 429s, then one
dropped connection, then 5% of 500s"). Most kinds break the exchange; ``early_end`` and
``unclipped`` answer a well-formed page that is wrong in the way the service can be.

Whole-response quirks that are not per-request (``result`` for ``results``, an unknown
result tag, the costs cursor quirk, latency) are plain options of ``Emulator``.
"""

from __future__ import annotations

import random
from dataclasses import dataclass, field
from typing import Any, Final, Literal

__all__ = ["CODE_ERRORS", "Fault", "FaultKind", "error_body"]

FaultKind = Literal[
    "status",  # answer `status` with an OpenAI-style error body (and retry headers)
    "drop",  # close the connection before sending any header
    "drop_mid_body",  # send headers and half the body, then close the connection
    "truncate",  # 200 with the body cut in half (Content-Length matches the cut body)
    "malformed",  # 200 with a body that is not JSON
    "slow",  # wait `delay_ms` more, then answer normally (to trip client timeouts)
    "early_end",  # the normal page cut to its first `keep` buckets (or objects), has_more false
    "unclipped",  # whole buckets at unaligned range edges instead of clipped ones
]


@dataclass
class Fault:
    """One injected fault.

    ``kind`` is what the client sees: ``"status"`` (an error answer), ``"drop"`` (the
    connection closes before the response), ``"drop_mid_body"``, ``"truncate"`` and
    ``"malformed"`` (a 200 whose body is not a valid page), ``"slow"`` (the normal answer,
    ``delay_ms`` late), ``"early_end"`` (a chain that ends before the range does) and
    ``"unclipped"`` (whole buckets at an unaligned range edge).
    ``status`` with ``retry_after_s`` / ``retry_after_ms`` / ``should_retry`` set the
    ``retry-after``, ``retry-after-ms`` and ``x-should-retry`` headers of a ``"status"``
    fault, and ``code`` its error object's ``code`` (with the service's message and type
    for the codes it knows: ``Fault(status=429, code="project_spend_limit_exceeded")``,
    ``"insufficient_quota"``, ...; see :data:`CODE_ERRORS`). ``first`` and ``rate`` are
    exclusive; ``endpoints`` names endpoints (as on ``client.usage``, or the directory's
    ``projects``, ``users``, ``project_api_keys``, ``project_service_accounts``, and the
    spend routes' ``spend_limit``, ``project_spend_limit``, ``spend_alerts``,
    ``project_spend_alerts``) the fault is limited to. ``keep`` is how many buckets an
    ``"early_end"`` page keeps. ``seen`` and ``fired`` count the requests it was checked
    against and applied to.
    """

    kind: FaultKind = "status"
    status: int = 500
    retry_after_s: float | None = None
    retry_after_ms: int | None = None
    should_retry: bool | None = None
    code: str | None = None
    first: int | None = None
    rate: float | None = None
    endpoints: frozenset[str] | None = None
    delay_ms: float = 0.0
    keep: int = 0
    seen: int = field(default=0, init=False)
    fired: int = field(default=0, init=False)

    def __post_init__(self) -> None:
        if self.first is not None and self.rate is not None:
            raise ValueError("first and rate: give one or the other, not both")
        if self.rate is not None and not 0.0 <= self.rate <= 1.0:
            raise ValueError(f"rate: {self.rate!r} is not between 0 and 1")
        if self.kind == "status" and not 400 <= self.status <= 599:
            raise ValueError(f"status: {self.status!r} is not an HTTP error status")
        if self.keep < 0:
            raise ValueError(f"keep: {self.keep!r} is negative")
        if self.endpoints is not None:
            self.endpoints = frozenset(self.endpoints)

    def check(self, endpoint: str, rng: random.Random) -> bool:
        """Whether this fault hits the next request to ``endpoint`` (and count it)."""
        if self.endpoints is not None and endpoint not in self.endpoints:
            return False
        self.seen += 1
        if self.first is not None:
            hit = self.seen <= self.first
        elif self.rate is not None:
            hit = rng.random() < self.rate
        else:
            hit = True
        if hit:
            self.fired += 1
        return hit

    def headers(self) -> dict[str, str]:
        """The retry hint headers this fault's error response carries."""
        out = {}
        if self.retry_after_s is not None:
            out["retry-after"] = f"{self.retry_after_s:g}"
        if self.retry_after_ms is not None:
            out["retry-after-ms"] = str(self.retry_after_ms)
        if self.should_retry is not None:
            out["x-should-retry"] = "true" if self.should_retry else "false"
        return out


_STATUS_ERRORS: Final[dict[int, tuple[str, str, str | None]]] = {
    408: ("Request timed out.", "timeout", None),
    409: ("The request conflicted with another request.", "conflict", None),
    429: (
        "Rate limit reached for requests per min (RPM). Please try again shortly.",
        "requests",
        "rate_limit_exceeded",
    ),
    500: (
        "The server had an error while processing your request. Sorry about that!",
        "server_error",
        None,
    ),
    502: ("Bad gateway.", "server_error", None),
    503: ("The server is overloaded or not ready yet.", "server_error", None),
    504: ("Gateway timeout.", "server_error", None),
}


_QUOTA_HELP: Final = (
    " For more information on this error, read the docs: "
    "https://platform.openai.com/docs/guides/error-codes/api-errors."
)

#: The message and ``type`` of the error codes that are no rate limit (each a 429 on the
#: service): a hard spend limit reached, and states of quota and billing.
CODE_ERRORS: Final[dict[str, tuple[str, str]]] = {
    "organization_spend_limit_exceeded": (
        "Your organization has reached its monthly hard spend limit. Requests are refused "
        "until an organization owner raises the limit or the month ends." + _QUOTA_HELP,
        "insufficient_quota",
    ),
    "project_spend_limit_exceeded": (
        "This project has reached its monthly hard spend limit. Requests are refused until "
        "an owner raises the project's limit or the month ends." + _QUOTA_HELP,
        "insufficient_quota",
    ),
    "insufficient_quota": (
        "You exceeded your current quota, please check your plan and billing details."
        + _QUOTA_HELP,
        "insufficient_quota",
    ),
    "billing_not_active": (
        "Your account is not active, please check your billing details on our website.",
        "billing_not_active",
    ),
    "credit_balance_exhausted": (
        "Your credit balance is exhausted; add credits to continue." + _QUOTA_HELP,
        "insufficient_quota",
    ),
    "usage_limit_exceeded": (
        "You have reached your usage limit." + _QUOTA_HELP,
        "insufficient_quota",
    ),
    "organization_usage_limit_exceeded": (
        "Your organization has reached its usage limit." + _QUOTA_HELP,
        "insufficient_quota",
    ),
}


def error_body(
    status: int, message: str | None = None, *, param: str | None = None, code: str | None = None
) -> dict[str, Any]:
    """An OpenAI-style error object: ``{"error": {"message", "type", "param", "code"}}``."""
    default_message, kind, default_code = _STATUS_ERRORS.get(
        status, ("Injected error.", "invalid_request_error", None)
    )
    if status < 500 and status not in _STATUS_ERRORS:
        kind = "invalid_request_error"
    if code in CODE_ERRORS:
        default_message, kind = CODE_ERRORS[code]
    return {
        "error": {
            "message": message or default_message,
            "type": kind,
            "param": param,
            "code": code if code is not None else default_code,
        }
    }
