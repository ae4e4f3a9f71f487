"""``AsyncUsageClient``: configuration, lifecycle, and the ``usage`` namespace."""

from __future__ import annotations

import os
import weakref
from dataclasses import dataclass
from typing import Any, Final

import aiohttp

from ._fanout import FeedIterator, Progress
from ._limiter import AdaptiveLimiter, LimiterStatistics
from ._organization import Organization
from ._resources import Usage
from ._sansio.proxy import proxy_for
from ._sansio.responses import ADMIN_KEY_HELP
from ._sansio.retry import RetryPolicy
from ._transport import CLOSED_MESSAGE, AiohttpSender, Requester, Secret

__all__ = ["AsyncUsageClient", "ClientStatistics"]

DEFAULT_BASE_URL: Final = "https://api.openai.com/v1"


@dataclass(frozen=True, slots=True)
class ClientStatistics:
    """What the client has done so far, for progress displays and monitoring.

    ``requests_sent`` counts every attempt (``retries`` of them were retries);
    ``windows_planned``/``windows_done``, ``pages`` and ``buckets`` add up what the
    client's iterators have planned and received; ``limiter`` is the shared bound.
    Every count is cumulative over the client's life: subtract two snapshots for what
    happened in between.
    """

    requests_sent: int
    """HTTP requests sent, every attempt counted (retries included)."""
    retries: int
    """How many of ``requests_sent`` were retries (429s, 5xx, dropped connections)."""
    windows_planned: int
    """Windows the client's iterators have planned so far (ranges are planned lazily)."""
    windows_done: int
    """Windows whose buckets have all arrived."""
    pages: int
    """Pages received by the client's iterators."""
    buckets: int
    """Buckets received by the client's iterators."""
    limiter: LimiterStatistics
    """The client-wide concurrency bound, now."""


class AsyncUsageClient:
    """An asyncio client for the OpenAI organization Usage and Costs API.

    ``api_key`` defaults to ``OPENAI_ADMIN_KEY`` and must be an organization Admin key;
    ``base_url`` to ``OPENAI_BASE_URL``, then the public API. ``organization`` and
    ``project`` are sent as ``OpenAI-Organization`` / ``OpenAI-Project``.
    ``max_concurrency`` bounds the requests in flight across the whole client (every
    endpoint and iterator together); ``max_retries`` counts retries after the first
    attempt; ``timeout`` is seconds per attempt, or an ``aiohttp.ClientTimeout``.
    ``session`` is an ``aiohttp.ClientSession`` of yours, which the client uses and never
    closes. ``admin_api_key`` is accepted as another name for ``api_key`` (the official
    SDK's ``OpenAI(admin_api_key=...)``); giving both is a ``ValueError``. Use
    ``async with`` or ``await client.aclose()``::

        async with AsyncUsageClient() as client:
            page = await client.usage.completions.get(start_time=t0, end_time=t1)
    """

    usage: Usage
    organization: Organization

    def __init__(
        self,
        api_key: str | None = None,
        *,
        base_url: str | None = None,
        organization: str | None = None,
        project: str | None = None,
        max_concurrency: int = 8,
        max_retries: int = 2,
        timeout: float | aiohttp.ClientTimeout = 60.0,
        session: aiohttp.ClientSession | None = None,
        admin_api_key: str | None = None,
    ) -> None:
        if admin_api_key is not None:
            if api_key is not None:
                raise ValueError(
                    "admin_api_key: give the key once, as api_key= (admin_api_key= is the "
                    "official SDK's name for it, accepted as an alias)"
                )
            api_key = admin_api_key
        key = api_key if api_key is not None else os.environ.get("OPENAI_ADMIN_KEY")
        if not key or not isinstance(key, str):
            raise ValueError(
                "api_key: no key given and OPENAI_ADMIN_KEY is not set. " + ADMIN_KEY_HELP
            )
        if any(c.isspace() for c in key):
            raise ValueError("api_key: contains whitespace; check how it was pasted")
        url = base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL
        if not isinstance(url, str) or not url.startswith(("http://", "https://")):
            raise ValueError(f"base_url: expected an http:// or https:// URL, got {url!r}")
        if isinstance(max_concurrency, bool) or not isinstance(max_concurrency, int):
            raise ValueError(f"max_concurrency: expected an int, got {max_concurrency!r}")
        if max_concurrency < 1:
            raise ValueError(f"max_concurrency: {max_concurrency} is below 1")
        if isinstance(max_retries, bool) or not isinstance(max_retries, int) or max_retries < 0:
            raise ValueError(f"max_retries: expected an int >= 0, got {max_retries!r}")
        if isinstance(timeout, aiohttp.ClientTimeout):
            client_timeout = timeout
        elif isinstance(timeout, int | float) and not isinstance(timeout, bool) and timeout > 0:
            client_timeout = aiohttp.ClientTimeout(total=float(timeout))
        else:
            raise ValueError(
                f"timeout: expected seconds > 0 or aiohttp.ClientTimeout, got {timeout!r}"
            )
        if session is not None and not isinstance(session, aiohttp.ClientSession):
            raise ValueError(f"session: expected an aiohttp.ClientSession, got {session!r}")
        self.base_url = url.rstrip("/")
        self.organization_id = organization  # the OpenAI-Organization header
        self.project = project
        self.max_concurrency = max_concurrency
        self.max_retries = max_retries
        self.timeout = client_timeout
        self._limiter = AdaptiveLimiter(max_concurrency)
        self._sender = AiohttpSender(
            timeout=client_timeout,
            session=session,
            max_connections=max_concurrency,
            proxy=proxy_for(self.base_url, os.environ),
        )
        self._requester = Requester(
            self._sender,
            base_url=self.base_url,
            api_key=Secret(key),
            organization=organization,
            project=project,
            retry=RetryPolicy(max_retries=max_retries),
            limiter=self._limiter,
        )
        self._iterators: weakref.WeakSet[FeedIterator[Any]] = weakref.WeakSet()
        self._progress = Progress()
        self.usage = Usage(self)
        self.organization = Organization(self)

    def __repr__(self) -> str:
        return (
            f"AsyncUsageClient(base_url={self.base_url!r}, api_key='<redacted>', "
            f"max_concurrency={self.max_concurrency})"
        )

    def _register(self, iterator: FeedIterator[Any]) -> None:
        if self.closed:
            raise RuntimeError(CLOSED_MESSAGE)
        self._iterators.add(iterator)

    @property
    def closed(self) -> bool:
        """Whether :meth:`aclose` has been called."""
        return self._requester.closed

    def statistics(self) -> ClientStatistics:
        """Requests sent and the concurrency bound's state (tokens, peak, adjustments)."""
        p = self._progress
        return ClientStatistics(
            requests_sent=self._requester.requests_sent,
            retries=self._requester.retries,
            windows_planned=p.windows_planned,
            windows_done=p.windows_done,
            pages=p.pages,
            buckets=p.buckets,
            limiter=self._limiter.statistics(),
        )

    async def aclose(self) -> None:
        """Stop every running iterator, then close the session the client opened.

        Iterators made before and read after raise ``RuntimeError`` ("the client is
        closed") rather than ending early as if the range were complete; so does any
        later call. A caller-owned ``session`` stays open. Idempotent.
        """
        self._requester.closed = True
        for iterator in list(self._iterators):
            await iterator._close_for(RuntimeError(CLOSED_MESSAGE))
        await self._requester.aclose()

    async def __aenter__(self) -> AsyncUsageClient:
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()
