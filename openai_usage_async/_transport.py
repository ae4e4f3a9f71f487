"""Sending requests: a :class:`Sender` seam, the aiohttp sender, and the :class:`Requester`.

Two layers, as httpx's transports and gidgethub's ``_request`` hook split them:

* A **sender** sends one GET and returns ``(status, headers, body)``, or raises
  ``APIConnectionError``/``APITimeoutError``. It knows nothing of retries, limits or
  pages. :class:`AiohttpSender` is the only aiohttp client code in the package; tests
  plug in a fake sender instead of patching aiohttp.
* The **requester** owns everything around it: the headers and the key, the client's
  concurrency bound (held for the exchange only, fed back 429s and successes), decoding
  through the caller's ``decipher`` function, and the retry loop, whose every decision
  is :meth:`RetryPolicy.decide <._sansio.retry.RetryPolicy.decide>`.
"""

from __future__ import annotations

import logging
import random
import socket
import sys
import time
import urllib.parse
from collections.abc import Awaitable, Callable, Mapping, Sequence
from typing import Any, NamedTuple, Protocol, TypeVar

import aiohttp
import anyio

from ._limiter import AdaptiveLimiter
from ._sansio.responses import is_rate_limit, not_found_hint
from ._sansio.retry import RetryPolicy
from ._version import __version__
from .errors import (
    APIConnectionError,
    APIError,
    APIStatusError,
    APITimeoutError,
    NotFoundError,
)

__all__ = ["AiohttpSender", "RawResponse", "RequestCounter", "Requester", "Secret", "Sender"]

logger = logging.getLogger("openai_usage_async")

T = TypeVar("T")

USER_AGENT = (
    f"openai_usage_async/{__version__} aiohttp/{aiohttp.__version__} "
    f"Python/{sys.version_info.major}.{sys.version_info.minor}"
)

CLOSED_MESSAGE = "the client is closed; make a new AsyncUsageClient (or use `async with`)"


class Secret:
    """Holds the API key; its repr and str never show it."""

    __slots__ = ("_value",)

    def __init__(self, value: str) -> None:
        self._value = value

    def reveal(self) -> str:
        return self._value

    def __repr__(self) -> str:
        return "Secret('<redacted>')"

    __str__ = __repr__

    def __reduce__(self) -> Any:
        raise TypeError("the API key holder cannot be pickled")


class RawResponse(NamedTuple):
    """What came back: the status, lower-cased headers, and the body's bytes."""

    status: int
    headers: Mapping[str, str]
    body: bytes


class Sender(Protocol):
    """Sends one GET; raises ``APIConnectionError`` (or ``APITimeoutError``) on failure."""

    async def send(
        self, url: str, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> RawResponse: ...

    async def aclose(self) -> None: ...


def _mapped(exc: BaseException, what: str, timeout_s: float | None) -> APIError | None:
    """The ``APIError`` for an exception from aiohttp, with its cause set; None: not ours."""
    # aiohttp's ServerTimeoutError is both a ClientError and a TimeoutError: check first.
    # Exceptions that carry `request_info` (ClientResponseError and its kin) hold the
    # request's headers, the key among them: those are never chained.
    error: APIError
    if isinstance(exc, TimeoutError | aiohttp.ServerTimeoutError):
        limit = f" after {timeout_s:g}s" if timeout_s else ""
        error = APITimeoutError(f"{what} timed out{limit}")
    elif isinstance(exc, aiohttp.ClientConnectorError) and not isinstance(
        exc, aiohttp.ClientSSLError
    ):
        # aiohttp's own text says "ssl:default" even for http:// URLs: say what happened.
        error = APIConnectionError(f"{what} failed: {_cannot_connect(exc)}")
    elif isinstance(exc, aiohttp.ClientError):
        error = APIConnectionError(f"{what} failed: {type(exc).__name__}: {_safe_text(exc)}")
    elif isinstance(exc, OSError):
        error = APIConnectionError(f"{what} failed: {exc}")
    else:
        return None
    error.__cause__ = None if hasattr(exc, "request_info") else exc
    return error


def _cannot_connect(exc: aiohttp.ClientConnectorError) -> str:
    os_error = exc.os_error
    if isinstance(os_error, socket.gaierror):  # aiohttp >= 3.11 names it ClientConnectorDNSError
        return f"cannot resolve host {exc.host} ({os_error.strerror or os_error})"
    if isinstance(os_error, ConnectionRefusedError):
        reason = "connection refused"
    else:
        reason = os_error.strerror or str(os_error) or type(os_error).__name__
    return f"cannot connect to {exc.host}:{exc.port} ({reason})"


def _safe_text(exc: aiohttp.ClientError) -> str:
    if isinstance(exc, aiohttp.ClientResponseError):
        return f"HTTP {exc.status} {exc.message}"
    return str(exc)


class AiohttpSender:
    """Sends over one pooled ``aiohttp.ClientSession`` (made lazily), or the caller's.

    Every request states what the client relies on (no redirects, no ``raise_for_status``,
    decompressed bodies, the proxy), so a caller's session defaults change nothing.
    """

    def __init__(
        self,
        *,
        timeout: aiohttp.ClientTimeout,
        session: aiohttp.ClientSession | None,
        max_connections: int,
        proxy: str | None = None,
    ) -> None:
        self.timeout = timeout
        self.proxy = proxy
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections

    def session(self) -> aiohttp.ClientSession:
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=self._max_connections
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def send(
        self, url: str, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> RawResponse:
        session = self.session()
        try:
            async with session.get(
                url,
                params=list(query),
                headers=dict(headers),
                timeout=self.timeout,
                allow_redirects=False,
                raise_for_status=False,
                auto_decompress=True,
                proxy=self.proxy,
            ) as response:
                body = await response.read()
                lowered = {k.lower(): v for k, v in response.headers.items()}
                return RawResponse(response.status, lowered, body)
        except Exception as exc:
            error = _mapped(exc, f"GET {urllib.parse.urlsplit(url).path}", self.timeout.total)
            if error is None:
                raise
        raise error  # outside the except block: no implicit __context__

    async def aclose(self) -> None:
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()


class RequestCounter(Protocol):
    """Counts what a caller's requests cost (the store's report, per endpoint)."""

    requests: int
    retries: int


class Requester:
    """Sends GETs through a :class:`Sender` with retries under the client's limiter."""

    def __init__(
        self,
        sender: Sender,
        *,
        base_url: str,
        api_key: Secret,
        organization: str | None,
        project: str | None,
        retry: RetryPolicy,
        limiter: AdaptiveLimiter,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
        clock: Callable[[], float] = time.time,
    ) -> None:
        self.sender = sender
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if organization:
            self._headers["OpenAI-Organization"] = organization
        if project:
            self._headers["OpenAI-Project"] = project
        self.retry = retry
        self.limiter = limiter
        self._rng = rng or random.Random()
        self._sleep = sleep  # tests inject a recorder instead of waiting
        self.clock = clock
        self.closed = False
        self.requests_sent = 0
        self.retries = 0

    async def aclose(self) -> None:
        self.closed = True
        await self.sender.aclose()

    async def get(
        self,
        path: str,
        query: Sequence[tuple[str, str]],
        decipher: Callable[[int, Mapping[str, str], bytes], T],
        counter: RequestCounter | None = None,
        extra_headers: Sequence[tuple[str, str]] = (),
    ) -> T:
        """GET ``path``, retrying as the policy says; ``decipher`` turns a response into a value.

        ``decipher`` raises the ``APIError`` of a response that is not a value; the last
        error is raised when the policy gives up. Using a closed client raises
        ``RuntimeError``. A ``counter`` adds up the attempts and retries of this call.
        ``extra_headers`` (checked by the caller) replace the client's own of the
        same name, whatever the case; ``Authorization`` always comes from the key.
        """
        url = self.base_url + path
        what = f"GET {path}"
        fixed = self._headers
        if extra_headers:
            names = {name.lower() for name, _ in extra_headers}
            fixed = {k: v for k, v in fixed.items() if k.lower() not in names}
            fixed |= {k: v for k, v in extra_headers if k.lower() != "authorization"}
        retries = throttled = 0
        while True:
            if self.closed:
                raise RuntimeError(CLOSED_MESSAGE)
            status: int | None = None
            headers: Mapping[str, str] = {}
            async with self.limiter as ticket:  # held for the exchange only
                headers_out = {**fixed, "Authorization": f"Bearer {self._key.reveal()}"}
                self.requests_sent += 1
                if counter is not None:
                    counter.requests += 1
                started = time.perf_counter()
                try:
                    response = await self.sender.send(url, query, headers_out)
                except APIError as exc:
                    error: APIError = exc
                else:
                    status, headers = response.status, response.headers
                    logger.debug(
                        "%s -> %d (%d bytes, %.0f ms, request id %s)",
                        what,
                        status,
                        len(response.body),
                        (time.perf_counter() - started) * 1000,
                        headers.get("x-request-id"),
                    )
            if status is not None:
                try:
                    value = decipher(status, headers, response.body)
                except APIError as exc:
                    error = exc
                    if is_rate_limit(exc):  # not a spend limit's 429: no sign of load
                        self.limiter.on_rate_limited(ticket)
                    elif isinstance(exc, NotFoundError):
                        hint = not_found_hint(self.base_url)
                        if hint:
                            exc._append(hint)
                else:
                    self.limiter.on_success()
                    return value
            decision = self.retry.decide(
                retries,
                status,
                headers,
                error,
                random=self._rng.random,
                now_s=self.clock(),
                in_flight=ticket.in_flight,
                throttle_retries_done=throttled,
            )
            if decision is None:
                if retries or throttled:
                    error._note_retries(retries + throttled)
                raise error
            if decision.counted:
                retries += 1
            else:
                throttled += 1
            self.retries += 1
            if counter is not None:
                counter.retries += 1
            logger.info(
                "%s: %s; retry %d of %d%s in %.2fs",
                what,
                _describe(error),
                retries,
                self.retry.max_retries,
                "" if decision.counted else " (429 under our own load: not counted)",
                decision.delay_s,
            )
            await self._sleep(decision.delay_s)


def _describe(error: APIError) -> str:
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status_code}"
    return type(error).__name__
