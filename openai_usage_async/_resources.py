"""``client.usage``: one :class:`Endpoint` per API endpoint, and ``gather`` across them.

At run time every endpoint is an :class:`Endpoint`, told what it accepts by its row of
the endpoint table (``_sansio/endpoints.py``). Type checkers see each one through a
Protocol of its own in ``_typed_usage.py``, with its filters as keyword arguments, its
``group_by`` values and its result type. That module is generated from the endpoint table
and from the signatures of :class:`Endpoint` and :meth:`Usage.gather` below, which are
its template (``R`` and ``G`` become each endpoint's result and ``group_by`` types), by
``python -m openai_usage_async._typegen``; a test fails when it is stale. (One class
cannot type its ``**filters`` per endpoint: mypy cannot ``Unpack`` a type variable.)
"""

from __future__ import annotations

import builtins
import functools
import inspect
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Final, Generic, TypeVar, Unpack

import anyio

from ._fanout import (
    AsReadyFeed,
    BucketIterator,
    OrderedFeed,
    PageIterator,
    first_error,
    make_follow,
)
from ._sansio.cursor import plan_chains
from ._sansio.decode import DECODERS
from ._sansio.endpoints import ENDPOINTS, BucketWidth, EndpointSpec
from ._sansio.query import ExtraQuery, Query, TimeArg, check_extra_headers, validate
from ._sansio.responses import decipher
from ._typed_usage import GatherArguments, UsageEndpoints
from .models import UnknownResult, UsageBucket, UsagePage

if TYPE_CHECKING:
    from ._client import AsyncUsageClient

__all__ = ["Endpoint", "GatherArguments", "Usage"]

R = TypeVar("R")
G = TypeVar("G", bound=str)


class Endpoint(Generic[R, G]):
    """One endpoint of the Usage API, such as ``client.usage.completions``.

    Times are Unix seconds (``int``, or a ``float`` such as ``time.time() - 86400``) or
    timezone-aware datetimes; ``end_time`` is exclusive. A fraction of a second rounds
    ``start_time`` down and ``end_time`` up, so the range covers at least what was asked;
    a number that looks like milliseconds (13 digits) is refused, not read as seconds.
    Filters are keyword arguments named as in the API (``project_ids=[...]``,
    ``models=...``, ``batch=True``), typed per endpoint, so a misspelt one is a type
    error: type checkers see each ``client.usage`` attribute as a Protocol that declares
    its endpoint's filters. Every argument is checked before any request: a bad one
    raises ``ValueError`` naming it.

    Every method also takes ``extra_query`` and ``extra_headers``, sent as given on every
    request of the call (every window and page), as the official SDK allows, for what the
    service has and this version does not know yet:

    * ``extra_query``: a mapping of parameters added after the client's own; a list value
      repeats its key in the bracket form (``{"group_by": ["new_value"]}`` sends
      ``group_by[]=new_value``, unless the key already ends in ``[]``), booleans go as
      ``true``/``false``. The parameters the client sets on each window and page
      (``start_time``, ``end_time``, ``bucket_width``, ``limit``, ``page``) are refused:
      pass them as arguments.
    * ``extra_headers``: headers that replace the client's own of the same name
      (``OpenAI-Project``, ``User-Agent``, ...). ``Authorization`` is refused: the key
      comes from the client's ``api_key`` alone, so a call can neither replace nor leak it.

    Calling the endpoint is :meth:`get`, as with the official SDK's
    ``client.admin.organization.usage.completions(...)``: one request, one page.
    """

    def __init__(self, client: AsyncUsageClient, spec: EndpointSpec) -> None:
        self._client = client
        self.spec = spec
        self._decipher = functools.partial(decipher, decode=DECODERS[spec.name].decode)

    def __repr__(self) -> str:
        return f"<{type(self).__name__} {self.spec.name} {self.spec.path}>"

    async def get(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        page: str | None = None,
        group_by: G | Sequence[G] | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **filters: object,
    ) -> UsagePage[R | UnknownResult]:
        """One request, one page, exactly as the API returns it.

        ``page`` is a ``next_page`` cursor from a previous page of the same query.
        ``await client.usage.completions(...)`` is the same call.
        """
        return await self._get(locals())

    __call__ = get

    def pages(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        group_by: G | Sequence[G] | None = None,
        ordered: bool = True,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **filters: object,
    ) -> PageIterator[R | UnknownResult]:
        """The pages behind :meth:`iter`: in time order when ``ordered`` (the default).

        Each page holds the new buckets one response brought; its ``has_more`` is False and
        its ``next_page`` None, since the cursors belonged to internal window queries.
        """
        return self._pages(locals())

    def iter(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        group_by: G | Sequence[G] | None = None,
        ordered: bool = True,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **filters: object,
    ) -> BucketIterator[R | UnknownResult]:
        """Every bucket of the range exactly once, following ``next_page`` for you.

        With an ``end_time`` the range is split into windows of ``limit`` buckets (default:
        the endpoint's maximum for the width) fetched concurrently under the client's
        ``max_concurrency``; ``ordered=True`` yields in time order, ``ordered=False`` as
        soon as each page arrives. Without ``end_time`` the range runs to now: windows up to
        the current bucket (by the client's clock), then the bucket holding now. A bucket
        the service owes but does not send raises ``APIResponseValidationError``, never a
        silent gap. Use ``async with`` (or ``aclose()``) to stop early and cancel its
        requests::

            async for bucket in client.usage.completions.iter(start_time=t0, end_time=t1):
                ...
        """
        return BucketIterator(self._pages(locals()))

    async def list(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        group_by: G | Sequence[G] | None = None,
        ordered: bool = True,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
        **filters: object,
    ) -> builtins.list[UsageBucket[R | UnknownResult]]:
        """:meth:`iter` collected into a list."""
        return await self._list(locals())

    # Each public method hands on its arguments as they are (`locals()`, `filters` among
    # them), so every signature needs exactly one line of body and no argument can be
    # passed in the wrong place.

    def _prepare(self, arguments: Mapping[str, Any]) -> tuple[Query, tuple[tuple[str, str], ...]]:
        query = validate(
            self.spec,
            start_time=arguments["start_time"],
            end_time=arguments.get("end_time"),
            bucket_width=arguments.get("bucket_width"),
            limit=arguments.get("limit"),
            group_by=arguments.get("group_by"),
            filters=arguments.get("filters") or {},
            extra_query=arguments.get("extra_query"),
        )
        return query, check_extra_headers(arguments.get("extra_headers"))

    async def _fetch(
        self, pairs: builtins.list[tuple[str, str]], headers: Sequence[tuple[str, str]] = ()
    ) -> UsagePage[Any]:
        return await self._client._requester.get(
            self.spec.path, pairs, self._decipher, extra_headers=headers
        )

    async def _get(self, arguments: Mapping[str, Any]) -> UsagePage[R | UnknownResult]:
        query, headers = self._prepare(arguments)
        page = arguments.get("page")
        if page is not None and (not isinstance(page, str) or not page):
            raise ValueError(f"page: expected a next_page cursor string, got {page!r}")
        return await self._fetch(query.pairs(page=page), headers)

    def _pages(self, arguments: Mapping[str, Any]) -> PageIterator[R | UnknownResult]:
        query, headers = self._prepare(arguments)
        ordered = arguments.get("ordered", True)
        if not isinstance(ordered, bool):
            raise ValueError(f"ordered: expected True or False, got {ordered!r}")
        client = self._client
        clock = client._requester.clock
        chains, windows = plan_chains(query, clock())
        feed_type = OrderedFeed if ordered else AsReadyFeed
        fetch = functools.partial(self._fetch, headers=headers) if headers else self._fetch
        follow = make_follow(fetch, clock, client._progress)
        feed = feed_type(chains, follow, lookahead=2 * client.max_concurrency)
        return PageIterator(
            feed, windows=windows, progress=client._progress, register=client._register
        )

    async def _list(
        self, arguments: Mapping[str, Any]
    ) -> builtins.list[UsageBucket[R | UnknownResult]]:
        iterator = BucketIterator(self._pages(arguments))
        async with iterator:
            return [bucket async for bucket in iterator]


#: The arguments of `list` that are not filters.
_LIST_KEYWORDS: Final = frozenset(
    name
    for name, parameter in inspect.signature(Endpoint.list).parameters.items()
    if parameter.kind is inspect.Parameter.KEYWORD_ONLY
)


class Usage(UsageEndpoints):
    """The ``client.usage`` namespace: the twelve endpoints, and :meth:`gather`."""

    # The endpoints' static types (a Protocol each) are UsageEndpoints' annotations,
    # generated; at run time each is one Endpoint given its spec.
    def __init__(self, client: AsyncUsageClient) -> None:
        self._endpoints: dict[str, Endpoint[Any, Any]] = {}
        for name, spec in ENDPOINTS.items():
            endpoint: Endpoint[Any, Any] = Endpoint(client, spec)
            self._endpoints[name] = endpoint
            setattr(self, name, endpoint)

    def __repr__(self) -> str:
        return f"<Usage endpoints: {', '.join(self._endpoints)}>"

    async def gather(
        self,
        endpoints: Sequence[str] | Mapping[str, Mapping[str, Any] | None],
        **common: Unpack[GatherArguments],
    ) -> dict[str, builtins.list[UsageBucket[Any]]]:
        """Fetch several endpoints concurrently, under the client's one concurrency bound.

        ``endpoints`` is a list of names (``["completions", "costs"]``) or a mapping from
        name to that endpoint's own arguments, which are merged over ``common``::

            data = await client.usage.gather(
                {"completions": {"group_by": ["model"]}, "costs": None},
                start_time=t0, end_time=t1,
            )

        ``common`` takes what ``list`` takes, ``extra_query`` and ``extra_headers``
        included (sent with every endpoint's requests). Every endpoint's arguments are
        checked before any request; a problem raises ``ValueError`` naming the endpoint and
        the argument.
        """
        if isinstance(endpoints, str):
            raise ValueError("endpoints: expected a list or a mapping of endpoint names")
        own_arguments: Mapping[str, Mapping[str, Any] | None] = (
            endpoints if isinstance(endpoints, Mapping) else dict.fromkeys(endpoints)
        )
        plans: dict[str, tuple[Endpoint[Any, Any], dict[str, Any]]] = {}
        for name, own in own_arguments.items():
            endpoint = self._endpoints.get(name)
            if endpoint is None:
                raise ValueError(
                    f"endpoints: unknown endpoint {name!r} (known: {', '.join(self._endpoints)})"
                )
            if own is not None and not isinstance(own, Mapping):
                raise ValueError(f"{name}: expected a mapping of arguments or None, got {own!r}")
            merged: dict[str, Any] = {**common, **(own or {})}
            if "start_time" not in merged:
                raise ValueError(f"{name}: start_time: required")
            # The shape of a method's `locals()`: list's arguments, and the rest as filters.
            arguments = {k: v for k, v in merged.items() if k in _LIST_KEYWORDS}
            arguments["filters"] = {k: v for k, v in merged.items() if k not in _LIST_KEYWORDS}
            ordered = arguments.get("ordered", True)
            try:
                endpoint._prepare(arguments)
                if not isinstance(ordered, bool):
                    raise ValueError(f"ordered: expected True or False, got {ordered!r}")
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            plans[name] = (endpoint, arguments)

        results: dict[str, builtins.list[UsageBucket[Any]]] = {}

        async def fetch(name: str, endpoint: Endpoint[Any, Any], arguments: dict[str, Any]) -> None:
            results[name] = await endpoint._list(arguments)

        try:
            async with anyio.create_task_group() as tg:
                for name, (endpoint, arguments) in plans.items():
                    tg.start_soon(fetch, name, endpoint, arguments)
        except BaseExceptionGroup as group:
            raise first_error(group) from group  # the APIError, not a group of one
        return {name: results[name] for name in plans}
