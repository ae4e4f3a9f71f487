"""The exceptions the client raises, named as in the official ``openai`` SDK.

::

    APIError                          anything that went wrong talking to the API
    ├── APIConnectionError            no usable HTTP response: refused, reset, DNS, dropped
    │   └── APITimeoutError           an attempt took longer than ``timeout``
    ├── APIResponseValidationError    a response that is not a valid page
    └── APIStatusError                the API answered 4xx/5xx (.status_code, .request_id, .body)
        ├── BadRequestError           400
        ├── AuthenticationError       401
        ├── PermissionDeniedError     403
        ├── NotFoundError             404
        ├── ConflictError             409
        ├── UnprocessableEntityError  422
        ├── RateLimitError            429
        │   └── SpendLimitExceededError   429: a hard spend limit reached (not a rate limit)
        └── InternalServerError       >= 500

Every error has ``.type``, ``.code`` and ``.param``: the fields of the service's error
object (``{"error": {"message", "type", "code", "param"}}``), or None when it sent none,
as in the official SDK. An error raised once the retries ran out says so in its message
(``"... (after 2 retries)"``) and in ``.retries``.

Not every 429 is a rate limit. A hard spend limit reached (``code``
``organization_spend_limit_exceeded`` or ``project_spend_limit_exceeded``) raises
:class:`SpendLimitExceededError`; the other codes that no wait fixes
(``insufficient_quota``, ``billing_not_active``, ``credit_balance_exhausted``,
``usage_limit_exceeded``, ``organization_usage_limit_exceeded``) raise a plain
:class:`RateLimitError` whose message says it is not a rate limit. Both are raised at
once: never retried, and they do not lower the client's concurrency bound.

Invalid arguments are not API errors: they raise ``ValueError`` naming the argument,
before any request is sent. Messages never contain the API key.
"""

from __future__ import annotations

from typing import Literal

__all__ = [
    "APIConnectionError",
    "APIError",
    "APIResponseValidationError",
    "APIStatusError",
    "APITimeoutError",
    "AuthenticationError",
    "BadRequestError",
    "ConflictError",
    "InternalServerError",
    "NotFoundError",
    "PermissionDeniedError",
    "RateLimitError",
    "SpendLimitExceededError",
    "UnprocessableEntityError",
]


class APIError(Exception):
    """Base class of every error the client raises about the API.

    ``message`` is the human-readable text; ``body`` is what the server sent, when it
    sent anything useful.
    """

    message: str
    body: object | None
    #: How many times the request was retried before this error was raised.
    retries: int = 0

    def __init__(self, message: str, *, body: object | None = None) -> None:
        super().__init__(message)
        self.message = message
        self.body = body

    @property
    def type(self) -> str | None:
        """The ``type`` of the server's error object (``"invalid_request_error"``,
        ``"server_error"``, ...), or None when there is none."""
        return _field(self.body, "type")

    @property
    def code(self) -> str | None:
        """The ``code`` of the server's error object (``"rate_limit_exceeded"``, ...), or
        None when there is none."""
        return _field(self.body, "code")

    @property
    def param(self) -> str | None:
        """The ``param`` of the server's error object: which parameter it refused."""
        return _field(self.body, "param")

    def _append(self, text: str) -> None:
        self.message = f"{self.message} {text}"
        self.args = (self.message,)

    def _note_retries(self, retries: int) -> None:
        self.retries = retries
        self._append(f"(after {retries} {'retry' if retries == 1 else 'retries'})")


class APIConnectionError(APIError):
    """The request got no usable HTTP response (connection refused, reset or dropped)."""

    def __init__(self, message: str = "Connection error.") -> None:
        super().__init__(message)


class APITimeoutError(APIConnectionError):
    """One attempt took longer than the client's ``timeout``."""

    def __init__(self, message: str = "Request timed out.") -> None:
        super().__init__(message)


class APIResponseValidationError(APIError):
    """The server answered 2xx with a body that is not a valid page.

    ``invalid_json`` is true when the body was not JSON at all (truncated, garbled):
    that is retried like a connection error; a well-formed body of the wrong shape is not.
    """

    def __init__(
        self,
        message: str,
        *,
        status_code: int | None = None,
        request_id: str | None = None,
        body: object | None = None,
        invalid_json: bool = False,
    ) -> None:
        super().__init__(message, body=body)
        self.status_code = status_code
        self.request_id = request_id
        self.invalid_json = invalid_json


class APIStatusError(APIError):
    """The API answered with a 4xx or 5xx status.

    ``body`` is the decoded ``error`` object when the response has one
    (``{"message", "type", "param", "code"}``), else the decoded body, else its text.
    """

    status_code: int

    def __init__(
        self,
        message: str,
        *,
        status_code: int,
        request_id: str | None = None,
        body: object | None = None,
    ) -> None:
        super().__init__(message, body=body)
        self.status_code = status_code
        self.request_id = request_id

    def __str__(self) -> str:
        rid = f" (request id {self.request_id})" if self.request_id else ""
        return f"Error code: {self.status_code} - {self.message}{rid}"


def _field(body: object, name: str) -> str | None:
    # As the official SDK reads them: a numeric code becomes its string.
    if isinstance(body, dict):
        value = body.get(name)
        if isinstance(value, int) and not isinstance(value, bool):
            return str(value)
        return value if isinstance(value, str) else None
    return None


class BadRequestError(APIStatusError):
    """400: the API refused the query (a parameter is named in ``.param``)."""


class AuthenticationError(APIStatusError):
    """401: no key, or a key the API does not accept."""


class PermissionDeniedError(APIStatusError):
    """403: the key may not read usage (it is not an organization Admin key)."""


class NotFoundError(APIStatusError):
    """404: no such endpoint at this base URL."""


class ConflictError(APIStatusError):
    """409: the request conflicted with another; retried."""


class UnprocessableEntityError(APIStatusError):
    """422: the API understood the request but cannot process it."""


class RateLimitError(APIStatusError):
    """429: too many requests; retried after the server's ``retry-after`` hint.

    Except when the ``code`` says it is no rate limit: a hard spend limit reached
    (:class:`SpendLimitExceededError`), or ``insufficient_quota``, ``billing_not_active``,
    ``credit_balance_exhausted``, ``usage_limit_exceeded``,
    ``organization_usage_limit_exceeded``. Those are raised at once (no retry fixes them)
    and leave the client's concurrency bound as it is.
    """


class SpendLimitExceededError(RateLimitError):
    """429 with ``code`` ``organization_spend_limit_exceeded`` or
    ``project_spend_limit_exceeded``: a hard spend limit was reached.

    Not a rate limit: the service refuses requests until an owner raises the limit or the
    month (a UTC calendar month) ends, so it is raised after one request, never retried,
    and never lowers the client's concurrency bound. A ``RateLimitError``, so handlers of
    that still catch it. :attr:`scope` says whose limit it was::

        try:
            await client.usage.costs.list(start_time=t0)
        except errors.SpendLimitExceededError as exc:
            print(f"the {exc.scope}'s hard spend limit is reached")
    """

    @property
    def scope(self) -> Literal["organization", "project"]:
        """Whose limit was reached: ``"organization"`` or ``"project"`` (from ``code``)."""
        return "project" if self.code == "project_spend_limit_exceeded" else "organization"


class InternalServerError(APIStatusError):
    """5xx: the service failed; retried."""
