"""The only aiohttp client code: one pooled session, headers, timeouts, the retry loop."""

from __future__ import annotations

import contextlib
import logging
import random
import sys
import time
from collections.abc import Awaitable, Callable, Iterator, Mapping
from typing import Any

import aiohttp
import anyio

from ._limiter import AdaptiveLimiter
from ._sansio.responses import decipher
from ._sansio.retry import RetryPolicy
from ._version import __version__
from .errors import APIConnectionError, APIError, APIStatusError, APITimeoutError, RateLimitError
from .models import UsagePage

__all__ = ["Secret", "Transport"]

logger = logging.getLogger("openai_usage_async")

USER_AGENT = (
    f"openai_usage_async/{__version__} aiohttp/{aiohttp.__version__} "
    f"Python/{sys.version_info.major}.{sys.version_info.minor}"
)


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


@contextlib.contextmanager
def _mapped_errors(what: str, timeout_s: float | None) -> Iterator[None]:
    # aiohttp's ServerTimeoutError is both a ClientError and a TimeoutError: check first.
    try:
        yield
    except (TimeoutError, aiohttp.ServerTimeoutError) as exc:
        limit = f" after {timeout_s:g}s" if timeout_s else ""
        raise APITimeoutError(f"{what} timed out{limit}") from exc
    except aiohttp.ClientError as exc:
        raise APIConnectionError(f"{what} failed: {type(exc).__name__}: {exc}") from exc
    except OSError as exc:
        raise APIConnectionError(f"{what} failed: {exc}") from exc


class Transport:
    """Sends GETs with retries under the client's limiter; returns decoded pages."""

    def __init__(
        self,
        *,
        base_url: str,
        api_key: Secret,
        organization: str | None,
        project: str | None,
        timeout: aiohttp.ClientTimeout,
        retry: RetryPolicy,
        limiter: AdaptiveLimiter,
        session: aiohttp.ClientSession | None,
        max_connections: int,
        rng: random.Random | None = None,
        sleep: Callable[[float], Awaitable[None]] = anyio.sleep,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._key = api_key
        self._headers = {"Accept": "application/json", "User-Agent": USER_AGENT}
        if organization:
            self._headers["OpenAI-Organization"] = organization
        if project:
            self._headers["OpenAI-Project"] = project
        self.timeout = timeout
        self.retry = retry
        self.limiter = limiter
        self._session = session
        self._owns_session = session is None
        self._max_connections = max_connections
        self._rng = rng or random.Random()
        self._sleep = sleep  # tests inject a recorder instead of waiting
        self.closed = False
        self.requests_sent = 0
        self.retries = 0

    def _get_session(self) -> aiohttp.ClientSession:
        if self.closed:
            raise RuntimeError("the client is closed")
        if self._session is None:
            connector = aiohttp.TCPConnector(
                limit=self._max_connections, limit_per_host=self._max_connections
            )
            self._session = aiohttp.ClientSession(connector=connector, timeout=self.timeout)
        return self._session

    async def aclose(self) -> None:
        self.closed = True
        session, self._session = self._session, None
        if session is not None and self._owns_session:
            await session.close()

    async def get_page(self, path: str, query: list[tuple[str, str]]) -> UsagePage[Any]:
        """GET one page, retrying as the policy says; raise the last error when it gives up."""
        url = self.base_url + path
        what = f"GET {path}"
        retries = 0
        while True:
            status: int | None = None
            headers: Mapping[str, str] = {}
            error: APIError | None = None
            async with self.limiter as generation:  # held for the exchange only
                try:
                    status, headers, body = await self._send(url, query, what)
                except APIError as exc:
                    error = exc
            if error is None:
                try:
                    page = decipher(status or 0, headers, body)
                except APIError as exc:
                    error = exc
                    if isinstance(exc, RateLimitError):
                        self.limiter.on_rate_limited(generation)
                else:
                    self.limiter.on_success()
                    return page
            delay_s = self.retry.decide(
                retries, status, headers, error, random=self._rng.random, now_s=time.time()
            )
            if delay_s is None:
                raise error
            retries += 1
            self.retries += 1
            logger.info(
                "%s: %s; retry %d of %d in %.2fs",
                what,
                _describe(error),
                retries,
                self.retry.max_retries,
                delay_s,
            )
            await self._sleep(delay_s)

    async def _send(
        self, url: str, query: list[tuple[str, str]], what: str
    ) -> tuple[int, Mapping[str, str], bytes]:
        session = self._get_session()
        headers = {**self._headers, "Authorization": f"Bearer {self._key.reveal()}"}
        self.requests_sent += 1
        started = time.perf_counter()
        with _mapped_errors(what, self.timeout.total):
            async with session.get(
                url, params=query, headers=headers, timeout=self.timeout, allow_redirects=False
            ) as response:
                body = await response.read()
                status = response.status
                lowered = {k.lower(): v for k, v in response.headers.items()}
        logger.debug(
            "%s -> %d (%d bytes, %.0f ms, request id %s)",
            what,
            status,
            len(body),
            (time.perf_counter() - started) * 1000,
            lowered.get("x-request-id"),
        )
        return status, lowered, body


def _describe(error: APIError) -> str:
    if isinstance(error, APIStatusError):
        return f"HTTP {error.status_code}"
    return type(error).__name__
