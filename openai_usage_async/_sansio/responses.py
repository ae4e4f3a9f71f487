"""``(status, headers, body)`` to a value, or to the right ``APIStatusError``.

Not every 429 is a rate limit: its ``code`` tells a throttle (``rate_limit_exceeded``,
or none) from a state that no wait fixes. A hard spend limit reached is
:class:`~..errors.SpendLimitExceededError`; the billing and quota codes stay
``RateLimitError`` with a message that says so. :func:`is_rate_limit` is the one test the
retry policy and the limiter ask.
"""

from __future__ import annotations

import urllib.parse
from collections.abc import Callable, Mapping
from typing import Any, Final, TypeVar

import msgspec

from ..errors import (
    APIError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    ConflictError,
    InternalServerError,
    NotFoundError,
    PermissionDeniedError,
    RateLimitError,
    SpendLimitExceededError,
    UnprocessableEntityError,
)

__all__ = [
    "ADMIN_KEY_HELP",
    "NOT_RATE_LIMIT_CODES",
    "SPEND_LIMIT_CODES",
    "decipher",
    "is_rate_limit",
    "not_found_hint",
    "status_error",
]

ADMIN_KEY_HELP: Final = (
    "The Usage and Costs API needs an organization Admin key (sk-admin-...); project and "
    "service-account keys are refused. An organization owner can create one at "
    "https://platform.openai.com/settings/organization/admin-keys"
)

_BY_STATUS: Final[Mapping[int, type[APIStatusError]]] = {
    400: BadRequestError,
    401: AuthenticationError,
    403: PermissionDeniedError,
    404: NotFoundError,
    409: ConflictError,
    422: UnprocessableEntityError,
    429: RateLimitError,
}
_ANY: Final = msgspec.json.Decoder()

#: The 429 codes of a hard spend limit reached, and whose limit it is (API.md, "Upstream
#: facts": the service answers them until the limit is raised or the month ends).
SPEND_LIMIT_CODES: Final[Mapping[str, str]] = {
    "organization_spend_limit_exceeded": "organization",
    "project_spend_limit_exceeded": "project",
}
#: Every 429 code that is not a rate limit: a state of billing or quota that no retry
#: fixes (the spend limits' among them).
NOT_RATE_LIMIT_CODES: Final = frozenset(
    {
        *SPEND_LIMIT_CODES,
        "insufficient_quota",
        "billing_not_active",
        "credit_balance_exhausted",
        "usage_limit_exceeded",
        "organization_usage_limit_exceeded",
    }
)

T = TypeVar("T")


def decipher(
    status: int, headers: Mapping[str, str], body: bytes, decode: Callable[[bytes], T]
) -> T:
    """``decode(body)`` of a 2xx response; raise the error class of anything else.

    ``headers`` keys are lower-case; ``decode`` raises ``APIResponseValidationError``.
    """
    request_id = headers.get("x-request-id")
    if 200 <= status < 300:
        try:
            return decode(body)
        except APIResponseValidationError as exc:
            exc.status_code = status
            exc.request_id = request_id
            raise
    raise status_error(status, request_id, body)


def status_error(status: int, request_id: str | None, body: bytes) -> APIStatusError:
    """The ``APIStatusError`` subclass for ``status``, with the server's message."""
    decoded: Any
    try:
        decoded = _ANY.decode(body)
    except msgspec.DecodeError:
        decoded = body.decode("utf-8", "replace")
    message = None
    if isinstance(decoded, dict) and isinstance(decoded.get("error"), dict):
        decoded = decoded["error"]
        if isinstance(decoded.get("message"), str):
            message = decoded["message"]
    if message is None:
        message = (decoded if isinstance(decoded, str) else "") or f"HTTP {status}"
        message = message[:500]
    if status in (401, 403) and "admin key" not in message.lower():
        message = f"{message} {ADMIN_KEY_HELP}"
    cls = _BY_STATUS.get(status, InternalServerError if status >= 500 else APIStatusError)
    code = decoded.get("code") if isinstance(decoded, dict) else None
    if status == 429 and isinstance(code, str) and code in NOT_RATE_LIMIT_CODES:
        scope = SPEND_LIMIT_CODES.get(code)
        if scope is not None:
            cls = SpendLimitExceededError
            message = (
                f"A hard spend limit was reached: the {scope}'s monthly limit ({code}). "
                "This is not a rate limit: the service refuses requests until the limit is "
                f"raised or the month ends, so retrying will not help. It said: {message}"
            )
        else:
            message = (
                f"{message} ({code}: not a rate limit but a billing or quota state; retrying "
                "will not help until it is resolved)"
            )
    return cls(message, status_code=status, request_id=request_id, body=decoded)


def is_rate_limit(error: APIError | None) -> bool:
    """Whether ``error`` is a 429 that asks the client to slow down: retried, and a sign
    of load for the limiter. False for every other error, and for the 429s whose ``code``
    is in :data:`NOT_RATE_LIMIT_CODES` (a spend limit reached, quota, billing)."""
    return isinstance(error, RateLimitError) and error.code not in NOT_RATE_LIMIT_CODES


def not_found_hint(base_url: str) -> str | None:
    """What to add to a 404's message when ``base_url`` lacks the API's ``/v1`` prefix.

    A base URL like ``http://127.0.0.1:8000`` (instead of ``.../v1``) makes every path
    miss; the hint shows the URL to try, without any user:password part.
    """
    parts = urllib.parse.urlsplit(base_url)
    path = parts.path.rstrip("/")
    if path.endswith("/v1"):
        return None
    host = parts.hostname or ""
    if ":" in host:
        host = f"[{host}]"
    netloc = host if parts.port is None else f"{host}:{parts.port}"
    suggested = urllib.parse.urlunsplit((parts.scheme, netloc, f"{path}/v1", "", ""))
    return (
        f"(the base URL {urllib.parse.urlunsplit((parts.scheme, netloc, path, '', ''))} "
        f"does not end in /v1; it probably needs it: {suggested})"
    )
