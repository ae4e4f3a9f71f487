"""``client.usage``: one :class:`Endpoint` per API endpoint, and ``gather`` across them."""

from __future__ import annotations

import builtins
import functools
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any, Generic, TypeAlias, TypeVar

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
from ._sansio.endpoints import (
    ENDPOINTS,
    BucketWidth,
    CompletionsGroupBy,
    CostsGroupBy,
    EndpointSpec,
    FileSearchGroupBy,
    ImagesGroupBy,
    ModelGroupBy,
    ProjectGroupBy,
    WebSearchGroupBy,
)
from ._sansio.query import Query, TimeArg, validate
from ._sansio.responses import decipher
from .models import (
    AudioSpeechesResult,
    AudioTranscriptionsResult,
    CodeInterpreterSessionsResult,
    CompletionsResult,
    CostsResult,
    DecisionsResult,
    EmbeddingsResult,
    FileSearchesResult,
    ImagesResult,
    ModerationsResult,
    UnknownResult,
    UsageBucket,
    UsagePage,
    VectorStoresResult,
    WebSearchesResult,
)

if TYPE_CHECKING:
    from ._client import AsyncUsageClient

__all__ = ["Endpoint", "FilterValue", "Usage"]

R = TypeVar("R")
G = TypeVar("G", bound=str)

#: What a filter accepts: one string or several (``project_ids``, ``models``, ...), or a
#: bool (``batch``); ``None`` means "not given".
FilterValue: TypeAlias = "str | Sequence[str] | bool | None"

_ITER_ARGUMENTS = frozenset(
    {"start_time", "end_time", "bucket_width", "limit", "group_by", "ordered"}
)


class Endpoint(Generic[R, G]):
    """One endpoint of the Usage API, such as ``client.usage.completions``.

    Times are Unix seconds or timezone-aware datetimes; ``end_time`` is exclusive.
    Filters are keyword arguments named as in the API (``project_ids=[...]``,
    ``models=...``, ``batch=True``). Every argument is checked before any request: a
    bad one raises ``ValueError`` naming it.
    """

    def __init__(self, client: AsyncUsageClient, spec: EndpointSpec) -> None:
        self._client = client
        self.spec = spec
        self._decipher = functools.partial(decipher, decode=DECODERS[spec.name].decode)

    async def _fetch(self, pairs: builtins.list[tuple[str, str]]) -> UsagePage[Any]:
        return await self._client._requester.get(self.spec.path, pairs, self._decipher)

    def __repr__(self) -> str:
        return f"<Endpoint {self.spec.name} {self.spec.path}>"

    def _query(
        self,
        start_time: object,
        end_time: object,
        bucket_width: object,
        limit: object,
        group_by: object,
        filters: Mapping[str, Any],
    ) -> Query:
        return validate(
            self.spec,
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            limit=limit,
            group_by=group_by,
            filters=filters,
        )

    async def get(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        page: str | None = None,
        group_by: G | Sequence[G] | None = None,
        **filters: FilterValue,
    ) -> UsagePage[R | UnknownResult]:
        """One request, one page, exactly as the API returns it.

        ``page`` is a ``next_page`` cursor from a previous page of the same query.
        """
        query = self._query(start_time, end_time, bucket_width, limit, group_by, filters)
        if page is not None and (not isinstance(page, str) or not page):
            raise ValueError(f"page: expected a next_page cursor string, got {page!r}")
        return await self._fetch(query.pairs(page=page))

    def pages(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        group_by: G | Sequence[G] | None = None,
        ordered: bool = True,
        **filters: FilterValue,
    ) -> PageIterator[R | UnknownResult]:
        """The pages behind :meth:`iter`: in time order when ``ordered`` (the default).

        Each page holds the new buckets one response brought; its ``has_more`` is False and
        its ``next_page`` None, since the cursors belonged to internal window queries.
        """
        query = self._query(start_time, end_time, bucket_width, limit, group_by, filters)
        if not isinstance(ordered, bool):
            raise ValueError(f"ordered: expected True or False, got {ordered!r}")
        client = self._client
        clock = client._requester.clock
        chains, windows = plan_chains(query, clock())
        feed_type = OrderedFeed if ordered else AsReadyFeed
        follow = make_follow(self._fetch, clock, client._progress)
        feed = feed_type(chains, follow, lookahead=2 * client.max_concurrency)
        return PageIterator(
            feed, windows=windows, progress=client._progress, register=client._register
        )

    def iter(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        group_by: G | Sequence[G] | None = None,
        ordered: bool = True,
        **filters: FilterValue,
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
        return BucketIterator(
            self.pages(
                start_time=start_time,
                end_time=end_time,
                bucket_width=bucket_width,
                limit=limit,
                group_by=group_by,
                ordered=ordered,
                **filters,
            )
        )

    async def list(
        self,
        *,
        start_time: TimeArg,
        end_time: TimeArg | None = None,
        bucket_width: BucketWidth | None = None,
        limit: int | None = None,
        group_by: G | Sequence[G] | None = None,
        ordered: bool = True,
        **filters: FilterValue,
    ) -> builtins.list[UsageBucket[R | UnknownResult]]:
        """:meth:`iter` collected into a list."""
        iterator = self.iter(
            start_time=start_time,
            end_time=end_time,
            bucket_width=bucket_width,
            limit=limit,
            group_by=group_by,
            ordered=ordered,
            **filters,
        )
        async with iterator:
            return [bucket async for bucket in iterator]


class Usage:
    """The ``client.usage`` namespace: the twelve endpoints, and :meth:`gather`."""

    completions: Endpoint[CompletionsResult, CompletionsGroupBy]
    embeddings: Endpoint[EmbeddingsResult, ModelGroupBy]
    moderations: Endpoint[ModerationsResult, ModelGroupBy]
    images: Endpoint[ImagesResult, ImagesGroupBy]
    audio_speeches: Endpoint[AudioSpeechesResult, ModelGroupBy]
    audio_transcriptions: Endpoint[AudioTranscriptionsResult, ModelGroupBy]
    vector_stores: Endpoint[VectorStoresResult, ProjectGroupBy]
    code_interpreter_sessions: Endpoint[CodeInterpreterSessionsResult, ProjectGroupBy]
    costs: Endpoint[CostsResult, CostsGroupBy]
    file_search_calls: Endpoint[FileSearchesResult, FileSearchGroupBy]
    web_search_calls: Endpoint[WebSearchesResult, WebSearchGroupBy]
    decisions: Endpoint[DecisionsResult, CompletionsGroupBy]

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
        **common: Any,
    ) -> dict[str, builtins.list[UsageBucket[Any]]]:
        """Fetch several endpoints concurrently, under the client's one concurrency bound.

        ``endpoints`` is a list of names (``["completions", "costs"]``) or a mapping from
        name to that endpoint's own arguments, which are merged over ``common``::

            data = await client.usage.gather(
                {"completions": {"group_by": ["model"]}, "costs": None},
                start_time=t0, end_time=t1,
            )

        Every endpoint's arguments are checked before any request; a problem raises
        ``ValueError`` naming the endpoint and the argument.
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
            arguments = {**common, **(own or {})}
            if "start_time" not in arguments:
                raise ValueError(f"{name}: start_time: required")
            filters = {k: v for k, v in arguments.items() if k not in _ITER_ARGUMENTS}
            try:
                endpoint._query(
                    arguments["start_time"],
                    arguments.get("end_time"),
                    arguments.get("bucket_width"),
                    arguments.get("limit"),
                    arguments.get("group_by"),
                    filters,
                )
            except ValueError as exc:
                raise ValueError(f"{name}: {exc}") from None
            plans[name] = (endpoint, arguments)

        results: dict[str, builtins.list[UsageBucket[Any]]] = {}

        async def fetch(name: str, endpoint: Endpoint[Any, Any], arguments: dict[str, Any]) -> None:
            results[name] = await endpoint.list(**arguments)

        try:
            async with anyio.create_task_group() as tg:
                for name, (endpoint, arguments) in plans.items():
                    tg.start_soon(fetch, name, endpoint, arguments)
        except BaseExceptionGroup as group:
            raise first_error(group) from group  # the APIError, not a group of one
        return {name: results[name] for name in plans}
