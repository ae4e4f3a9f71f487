"""The emulator's HTTP face: an ``aiohttp.web`` application answering like the service.

Each request goes through the same steps, in the order the service is seen to take
them: record it, refuse it when more than ``max_concurrent`` are in flight (429), wait
the injected latency, apply the first fault that fires, check the Bearer key, validate
the query (400 with an OpenAI-style error naming the parameter), then cut the page out
of the organization's data and encode it with msgspec.

The organization directory's four list routes (projects, users, a project's API keys
and service accounts; see :mod:`.directory`) take the same steps, under the endpoint
names of :data:`~.directory.DIRECTORY_ENDPOINTS`; so do the four spend routes (the
organization's and a project's hard spend limit and spend alerts; see :mod:`.spend`),
under :data:`~.spend.SPEND_ENDPOINTS`.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import collections
import contextvars
import hashlib
import random
import re
import ssl
import struct
import time
import uuid
from collections.abc import Awaitable, Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec
from aiohttp import web

from .._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS, EndpointSpec, endpoint_by_path
from .data import Organization
from .directory import DIRECTORY_ENDPOINTS, DirectoryError
from .faults import Fault, error_body
from .spend import DEFAULT_SPEND_LIMIT_USD, SPEND_ENDPOINTS, Spend, build_spend
from .stats import KEPT_HEADERS, EmulatorStatistics, ReceivedRequest, Recorder

__all__ = [
    "DIRECTORY_PATHS",
    "SPEND_PATHS",
    "Emulator",
    "ListQuery",
    "QueryError",
    "parse_list_query",
]

API_PREFIX: Final = "/v1"
_ENCODER: Final = msgspec.json.Encoder()
_ADMIN_KEY_HELP: Final = (
    "The Usage and Costs API needs an organization Admin key (sk-admin-...); project and "
    "service-account keys are refused. Create one at "
    "https://platform.openai.com/settings/organization/admin-keys"
)

UNKNOWN_RESULT_OBJECT: Final = "organization.usage.hologram_renders.result"

_SPEND_FORBIDDEN: Final = (
    "You have insufficient permissions for this operation: this key may not read the "
    "organization's spend limits and alerts."
)

#: The directory's routes (under ``/v1``), by endpoint name.
DIRECTORY_PATHS: Final[Mapping[str, str]] = {
    "projects": "/organization/projects",
    "users": "/organization/users",
    "project_api_keys": "/organization/projects/{project_id}/api_keys",
    "project_service_accounts": "/organization/projects/{project_id}/service_accounts",
}
assert tuple(DIRECTORY_PATHS) == DIRECTORY_ENDPOINTS

#: The spend routes (under ``/v1``), by endpoint name.
SPEND_PATHS: Final[Mapping[str, str]] = {
    "spend_limit": "/organization/spend_limit",
    "project_spend_limit": "/organization/projects/{project_id}/spend_limit",
    "spend_alerts": "/organization/spend_alerts",
    "project_spend_alerts": "/organization/projects/{project_id}/spend_alerts",
}
assert tuple(SPEND_PATHS) == SPEND_ENDPOINTS
_ENDPOINT_NAMES: Final = frozenset({*ENDPOINTS, *DIRECTORY_PATHS, *SPEND_PATHS})

# Each list route's own query parameters (beyond limit and after), and their kinds: the
# values allowed, () for any strings (repeated), None for any one string.
_ALERT_OPTIONS: Final = {"order": ("asc", "desc"), "before": None}
_LIST_OPTIONS: Final[Mapping[str, Mapping[str, tuple[str, ...] | None]]] = {
    "projects": {"include_archived": ("true", "false")},
    "users": {"emails": ()},
    "project_api_keys": {"owner_project_access": ("active", "inactive", "any")},
    "project_service_accounts": {},
    "spend_alerts": _ALERT_OPTIONS,
    "project_spend_alerts": _ALERT_OPTIONS,
}
_LIST_LIMIT: Final = (1, 100, 20)  # min, max, default
# The spend alerts take 0..100 (SDK 3.63, OpenAPI 2026-08-21).
_LIST_LIMITS: Final[Mapping[str, tuple[int, int, int]]] = {
    "spend_alerts": (0, 100, 20),
    "project_spend_alerts": (0, 100, 20),
}


@dataclass(slots=True)
class _Exchange:
    """Per-request state shared by the middleware and the handler (same task)."""

    request_id: str
    dropped: bool = False


_EXCHANGE: Final[contextvars.ContextVar[_Exchange]] = contextvars.ContextVar("exchange")


class QueryError(Exception):
    """An invalid query: becomes a 400 with ``param`` set."""

    def __init__(self, param: str | None, message: str) -> None:
        super().__init__(message)
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class Query:
    """A validated query, normalized so that equivalent spellings compare equal."""

    start: int
    end: int | None
    width: str
    limit: int
    group_by: tuple[str, ...]
    filters: Mapping[str, Any]
    page: str | None

    def fingerprint(self, spec: EndpointSpec) -> int:
        """A 64-bit digest of everything but ``page``: cursors are bound to it."""
        canon = repr(
            (
                spec.path,
                self.start,
                self.end,
                self.width,
                self.limit,
                self.group_by,
                sorted(
                    (k, sorted(v) if isinstance(v, list) else v) for k, v in self.filters.items()
                ),
            )
        )
        return int.from_bytes(hashlib.blake2b(canon.encode(), digest_size=8).digest(), "big")


def _one(params: Mapping[str, list[str]], name: str) -> str | None:
    values = params.get(name)
    if not values:
        return None
    if len(values) > 1:
        raise QueryError(name, f"'{name}' was given {len(values)} times; give it once.")
    return values[0]


def _integer(name: str, raw: str) -> int:
    try:
        value = int(raw)
    except ValueError:
        raise QueryError(
            name, f"Invalid value for '{name}': expected an integer, got {raw!r}."
        ) from None
    if value < 0:
        raise QueryError(name, f"Invalid value for '{name}': must be non-negative.")
    return value


def parse_query(spec: EndpointSpec, items: Iterable[tuple[str, str]]) -> Query:
    """Validate raw query pairs against ``spec``; raise :class:`QueryError` on the first fault.

    Array parameters are accepted both as ``key[]=v`` (the official SDK's form) and as
    plain repeats ``key=v``, as the service does.
    """
    params: dict[str, list[str]] = collections.defaultdict(list)
    for key, value in items:
        params[key.removesuffix("[]")].append(value)
    allowed = {"start_time", "end_time", "bucket_width", "limit", "page", "group_by", *spec.filters}
    for key in params:
        if key not in allowed:
            raise QueryError(key, f"Unrecognized query parameter: '{key}'.")
    raw_start = _one(params, "start_time")
    if raw_start is None:
        raise QueryError("start_time", "Missing required parameter: 'start_time'.")
    start = _integer("start_time", raw_start)
    raw_end = _one(params, "end_time")
    end = None if raw_end is None else _integer("end_time", raw_end)
    if end is not None and end <= start:
        raise QueryError("end_time", "'end_time' must be greater than 'start_time'.")
    width = _one(params, "bucket_width") or spec.default_width
    if width not in spec.limits:
        raise QueryError(
            "bucket_width",
            f"Invalid value for 'bucket_width': {width!r}; supported: {', '.join(spec.widths)}.",
        )
    raw_limit = _one(params, "limit")
    limit = spec.default_limit(width) if raw_limit is None else _integer("limit", raw_limit)
    if not 1 <= limit <= spec.max_limit(width):
        raise QueryError(
            "limit",
            f"Invalid value for 'limit': {limit} is outside 1..{spec.max_limit(width)} "
            f"for bucket_width={width}.",
        )
    group_by: list[str] = []
    for value in params.get("group_by", ()):
        if value not in spec.group_by:
            raise QueryError(
                "group_by",
                f"Invalid value for 'group_by': {value!r}; supported: {', '.join(spec.group_by)}.",
            )
        if value not in group_by:
            group_by.append(value)
    filters: dict[str, Any] = {}
    for name, fspec in spec.filters.items():
        values = params.get(name)
        if not values:
            continue
        if fspec.kind == "bool":
            raw = _one(params, name)
            if raw not in ("true", "false"):
                raise QueryError(name, f"Invalid value for '{name}': expected true or false.")
            filters[name] = raw == "true"
            continue
        if fspec.choices is not None:
            for value in values:
                if value not in fspec.choices:
                    raise QueryError(
                        name,
                        f"Invalid value for '{name}': {value!r}; "
                        f"supported: {', '.join(fspec.choices)}.",
                    )
        filters[name] = sorted(set(values))
    return Query(start, end, width, limit, tuple(sorted(group_by)), filters, _one(params, "page"))


@dataclass(frozen=True, slots=True)
class ListQuery:
    """A validated directory list query: ``options`` holds the route's own parameters."""

    limit: int
    after: str | None
    options: Mapping[str, Any]


def parse_list_query(endpoint: str, items: Iterable[tuple[str, str]]) -> ListQuery:
    """Validate a list route's query; raise :class:`QueryError` on the first fault."""
    params: dict[str, list[str]] = collections.defaultdict(list)
    for key, value in items:
        params[key.removesuffix("[]")].append(value)
    own = _LIST_OPTIONS[endpoint]
    for key in params:
        if key not in ("limit", "after", *own):
            raise QueryError(key, f"Unrecognized query parameter: '{key}'.")
    low, high, limit = _LIST_LIMITS.get(endpoint, _LIST_LIMIT)
    raw_limit = _one(params, "limit")
    if raw_limit is not None:
        if re.fullmatch(r"-?[0-9]+", raw_limit) is None:
            raise QueryError(
                "limit", f"Invalid value for 'limit': expected an integer, got {raw_limit!r}."
            )
        limit = int(raw_limit)
        if not low <= limit <= high:
            raise QueryError(
                "limit", f"Invalid value for 'limit': {limit} is outside {low}..{high}."
            )
    options: dict[str, Any] = {}
    for name, choices in own.items():
        if choices is None:
            if (one := _one(params, name)) is not None:
                options[name] = one
            continue
        if not choices:
            options[name] = tuple(params.get(name, ()))
            continue
        raw = _one(params, name)
        if raw is None:
            continue
        if raw not in choices:
            raise QueryError(
                name, f"Invalid value for '{name}': {raw!r}; supported: {', '.join(choices)}."
            )
        options[name] = raw == "true" if choices == ("true", "false") else raw
    return ListQuery(limit, _one(params, "after"), options)


def bucket_bounds(
    start: int, end: int, width_s: int, limit: int, *, clip: bool = True
) -> list[tuple[int, int]]:
    """Up to ``limit`` buckets from ``start``: UTC-aligned, the first and last clipped.

    With ``clip=False`` the same buckets are given whole: an edge bucket that the range
    cuts spans its full aligned interval instead (the ``"unclipped"`` fault).
    """
    out: list[tuple[int, int]] = []
    lo = start
    while lo < end and len(out) < limit:
        aligned = lo // width_s * width_s
        hi = min(aligned + width_s, end)
        out.append((lo, hi) if clip else (aligned, aligned + width_s))
        lo = hi
    return out


class Emulator:
    """A local stand-in for the Usage and Costs API.

    Every option is also an attribute that tests may change while it runs (``faults`` is a
    plain list). ``api_key`` set: only that Bearer key is accepted; unset: any non-empty
    key except project (``sk-proj-``) and service-account (``sk-svcacct-``) keys, which
    get the service's 403. ``now`` pins the clock (Unix seconds) for reproducible data;
    nothing happens after it. ``max_concurrent`` answers 429 beyond that many requests
    in flight. ``costs_quirk`` makes a costs page that completes its range say
    ``has_more: true`` with a cursor that is then rejected. ``in_progress`` is how the
    bucket that holds ``now`` comes back, both ways the service answers it: ``"whole"``
    (its full interval, holding what happened until ``now``; buckets after it are empty)
    or ``"clipped"`` (cut at ``now``, ``end_time`` between boundaries, and nothing
    answered after it), for ranges with no ``end_time`` and ranges that end after
    ``now``. ``result_key="result"``
    spells the bucket list as the OpenAPI document does. ``unknown_tag`` adds a result
    with a tag no client knows to every bucket. ``revision`` (see :meth:`revise`) grows
    the buckets of the last ``revision_window_s`` seconds. ``directory_size=(projects,
    api_keys)`` grows the organization directory (:attr:`org` ``.directory``) to that many
    listed projects and API keys with synthetic projects that have no usage.
    ``archived_project_error`` (default True) answers the archived project's
    ``service_accounts`` with the 400 "project is archived" that the OpenAPI document
    (2026-08-21) gives; False lists them, as older emulators did. ``listing_faults`` maps a
    directory list's path (``"/organization/projects/<id>/api_keys"``, without ``/v1``)
    to a :class:`Fault` that hits that one list alone (a ``"status"`` 404 or 500, a
    ``"drop"``, ...), after the key is checked; the spend routes' paths too.

    Spend limits and alerts (:attr:`spend`, see :mod:`.spend`): ``spend_limit_usd`` is the
    organization's hard limit in dollars (None: it has none, a 404); ``spend_limits=False``
    is no hard limit anywhere (every spend limit route answers 404; alerts stay);
    ``spend_limit_reached=True`` is the organization's limit reached: it says
    ``"enforcing"`` and every usage and costs request is answered 429
    ``organization_spend_limit_exceeded``; ``spend_forbidden=True`` answers the four
    spend routes 403, as to a key without the scope.

    Use it with :func:`run_emulator`, :func:`serve_in_thread`, ``async with`` (which sets
    :attr:`base_url`), or mount :attr:`app` yourself.
    """

    def __init__(
        self,
        *,
        api_key: str | None = None,
        seed: int = 0,
        latency_ms: float = 0.0,
        jitter_ms: float = 0.0,
        now: float | None = None,
        faults: Sequence[Fault] = (),
        result_key: Literal["results", "result"] = "results",
        unknown_tag: bool = False,
        costs_quirk: bool = False,
        in_progress: Literal["whole", "clipped"] = "whole",
        max_concurrent: int | None = None,
        rate_limit_retry_after_ms: int = 20,
        revision_window_s: int = 3 * 3600,
        history_size: int = 10_000,
        cache_bytes: int = 32 << 20,
        directory_size: tuple[int, int] | None = None,
        archived_project_error: bool = True,
        listing_faults: Mapping[str, Fault] | None = None,
        spend_limit_usd: float | None = DEFAULT_SPEND_LIMIT_USD,
        spend_limits: bool = True,
        spend_limit_reached: bool = False,
        spend_forbidden: bool = False,
    ) -> None:
        if api_key is not None and not api_key:
            raise ValueError("api_key: must be a non-empty string or None")
        if spend_limit_usd is not None and not 0 <= spend_limit_usd < 1e13:
            raise ValueError(f"spend_limit_usd: {spend_limit_usd!r} is not an amount of dollars")
        if spend_limit_reached and (spend_limit_usd is None or not spend_limits):
            raise ValueError(
                "spend_limit_reached: the organization has no spend limit to reach "
                "(spend_limit_usd is None, or spend_limits is False)"
            )
        self._api_key = api_key
        self.seed = seed
        self.latency_ms = latency_ms
        self.jitter_ms = jitter_ms
        self.now = now
        self.faults: list[Fault] = list(faults)
        self.result_key = result_key
        self.unknown_tag = unknown_tag
        self.costs_quirk = costs_quirk
        if in_progress not in ("whole", "clipped"):
            raise ValueError(f"in_progress: {in_progress!r} is not 'whole' or 'clipped'")
        self.in_progress = in_progress
        self.max_concurrent = max_concurrent
        self.rate_limit_retry_after_ms = rate_limit_retry_after_ms
        self.archived_project_error = archived_project_error
        self.listing_faults: dict[str, Fault] = dict(listing_faults or {})
        self.spend_limit_usd = spend_limit_usd
        self.spend_limits = spend_limits
        self.spend_limit_reached = spend_limit_reached
        self.spend_forbidden = spend_forbidden
        self.org = Organization(
            seed,
            clock=self.clock,
            revision_window_s=revision_window_s,
            directory_size=directory_size,
        )
        #: The seeded spend limits and alerts (the organization's limit follows the options).
        self.spend: Spend = build_spend(seed, self.org.directory, self.org.projects)
        self._rng = random.Random(seed)
        self._recorder = Recorder(history_size)
        self._mac_key = hashlib.blake2b(f"cursor-{seed}".encode(), digest_size=16).digest()
        self._cache: collections.OrderedDict[tuple[Any, ...], bytes] = collections.OrderedDict()
        self._cache_bytes = 0
        self.cache_limit_bytes = cache_bytes
        self.base_url: str | None = None
        self._runner: web.AppRunner | None = None
        self.app = self._make_app()

    def __repr__(self) -> str:
        key = "set" if self._api_key else "any"
        return f"<Emulator base_url={self.base_url!r} seed={self.seed} api_key={key}>"

    # -- public knobs and instrumentation ---------------------------------------------

    def clock(self) -> float:
        """The emulator's current Unix time (``now`` when pinned)."""
        return time.time() if self.now is None else self.now

    @property
    def revision(self) -> int:
        """How many times recent buckets have been revised upward."""
        return self.org.revision

    def revise(self, steps: int = 1) -> None:
        """Grow the most recent buckets, as the service does while they settle."""
        self.org.revision += steps
        self._cache.clear()
        self._cache_bytes = 0

    def spend_limit(self, project_id: str | None = None) -> dict[str, Any] | None:
        """The spend limit the emulator answers now, as JSON: the organization's (None),
        or a project's; None when it answers 404 for "no limit"."""
        if not self.spend_limits:
            return None
        return self.spend.limit_json(
            project_id, organization_usd=self.spend_limit_usd, reached=self.spend_limit_reached
        )

    def spend_alerts(self, project_id: str | None = None) -> list[dict[str, Any]]:
        """Every spend alert of the organization (None) or of a project, as JSON, in the
        listing's default order (oldest first)."""
        return [a.to_json() for a in self.spend.alerts(project_id)]

    def statistics(self) -> EmulatorStatistics:
        """Requests served (per endpoint, per status), drops, in flight, peak, connections."""
        server = self._runner.server if self._runner is not None else None
        return self._recorder.snapshot(len(server.connections) if server is not None else 0)

    @property
    def requests(self) -> Sequence[ReceivedRequest]:
        """The most recent requests received, oldest first (``history_size`` kept)."""
        return tuple(self._recorder.requests)

    def reset_statistics(self) -> None:
        """Zero the counters and forget the requests received."""
        self._recorder.reset()

    # -- lifecycle ----------------------------------------------------------------------

    async def start(
        self, host: str = "127.0.0.1", port: int = 0, *, ssl_context: ssl.SSLContext | None = None
    ) -> str:
        """Listen on ``host:port`` (0: a free port, bound first) and return the base URL.

        With an ``ssl_context`` it serves HTTPS (to test certificate handling).
        """
        import socket

        if self._runner is not None:
            raise RuntimeError("this emulator is already running")
        family = socket.AF_INET6 if ":" in host else socket.AF_INET
        sock = socket.socket(family, socket.SOCK_STREAM)
        try:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            sock.bind((host, port))
        except OSError:
            sock.close()
            raise
        # handler_cancellation: a request whose client hangs up stops being "in flight".
        runner = web.AppRunner(
            self.app,
            access_log=None,
            handle_signals=False,
            shutdown_timeout=0.5,
            handler_cancellation=True,
        )
        try:
            await runner.setup()
            await web.SockSite(runner, sock, ssl_context=ssl_context).start()
        except BaseException:
            sock.close()
            await runner.cleanup()
            raise
        self._runner = runner
        bound = sock.getsockname()[1]
        shown = f"[{host}]" if family == socket.AF_INET6 else host
        scheme = "https" if ssl_context is not None else "http"
        self.base_url = f"{scheme}://{shown}:{bound}{API_PREFIX}"
        return self.base_url

    async def aclose(self) -> None:
        """Stop listening and close open connections."""
        runner, self._runner = self._runner, None
        if runner is not None:
            await runner.cleanup()

    async def __aenter__(self) -> Emulator:
        await self.start()
        return self

    async def __aexit__(self, *exc_info: object) -> None:
        await self.aclose()

    # -- the application ----------------------------------------------------------------

    def _make_app(self) -> web.Application:
        @web.middleware
        async def middleware(
            request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
        ) -> web.StreamResponse:
            return await self._middleware(request, handler)

        app = web.Application(middlewares=[middleware])
        for spec in ENDPOINTS.values():
            app.router.add_get(API_PREFIX + spec.path, self._make_handler(spec))
        for name, path in DIRECTORY_PATHS.items():
            app.router.add_get(API_PREFIX + path, self._make_directory_handler(name), name=name)
        for name, path in SPEND_PATHS.items():
            app.router.add_get(API_PREFIX + path, self._make_spend_handler(name), name=name)
        return app

    def _make_handler(
        self, spec: EndpointSpec
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._handle(spec, request)

        return handler

    def _make_directory_handler(
        self, endpoint: str
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._handle_directory(endpoint, request)

        return handler

    def _make_spend_handler(
        self, endpoint: str
    ) -> Callable[[web.Request], Awaitable[web.StreamResponse]]:
        async def handler(request: web.Request) -> web.StreamResponse:
            return await self._handle_spend(endpoint, request)

        return handler

    async def _middleware(
        self, request: web.Request, handler: Callable[[web.Request], Awaitable[web.StreamResponse]]
    ) -> web.StreamResponse:
        exchange = _Exchange("req_" + uuid.uuid4().hex)
        token = _EXCHANGE.set(exchange)
        spec = endpoint_by_path(request.path.removeprefix(API_PREFIX))
        endpoint = spec.name if spec else request.match_info.route.name
        self._recorder.enter(
            ReceivedRequest(
                method=request.method,
                path=request.path,
                endpoint=endpoint if endpoint in _ENDPOINT_NAMES else None,
                query=tuple(request.query.items()),
                headers={k: request.headers[k] for k in KEPT_HEADERS if k in request.headers},
            )
        )
        status: int | None = None
        cancelled = False
        try:
            try:
                response = await handler(request)
            except web.HTTPException as exc:  # unknown path, wrong method
                message = f"Invalid URL ({request.method} {request.path})"
                if exc.status == 405:
                    message = f"Method {request.method} not allowed on {request.path}; use GET."
                response = self._error(request, exc.status, message)
            if exchange.dropped:
                return response
            status = response.status
            if not response.prepared:
                response.headers["x-request-id"] = exchange.request_id
            return response
        except asyncio.CancelledError:
            cancelled = True
            raise
        finally:
            self._recorder.exit(status, cancelled=cancelled)
            _EXCHANGE.reset(token)

    def _error(
        self,
        request: web.Request,
        status: int,
        message: str | None = None,
        *,
        param: str | None = None,
        code: str | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> web.Response:
        body = _ENCODER.encode(error_body(status, message, param=param, code=code))
        response = web.Response(status=status, body=body, content_type="application/json")
        response.headers["x-request-id"] = _EXCHANGE.get().request_id
        if headers:
            response.headers.update(headers)
        return response

    async def _admit(
        self, endpoint: str, request: web.Request
    ) -> tuple[web.StreamResponse | None, Fault | None]:
        """Concurrency bound, latency, faults and auth: a response that ends the exchange
        here, or None and the fault still to apply to the body."""
        if self.max_concurrent is not None and self._recorder.in_flight > self.max_concurrent:
            retry = {"retry-after-ms": str(self.rate_limit_retry_after_ms)}
            return self._error(request, 429, code="rate_limit_exceeded", headers=retry), None
        delay_ms = self.latency_ms + (self._rng.uniform(0, self.jitter_ms) if self.jitter_ms else 0)
        if delay_ms > 0:
            await asyncio.sleep(delay_ms / 1000)
        fault = next((f for f in self.faults if f.check(endpoint, self._rng)), None)
        if fault is not None:
            if fault.kind == "status":
                error = self._error(request, fault.status, code=fault.code, headers=fault.headers())
                return error, None
            if fault.kind == "drop":
                return self._drop(request), None
            if fault.kind == "slow":
                await asyncio.sleep(fault.delay_ms / 1000)
                fault = None
        return self._check_auth(request), fault

    async def _respond(
        self,
        request: web.Request,
        body: bytes,
        fault: Fault | None,
        end_early: Callable[[bytes, int], bytes],
    ) -> web.StreamResponse:
        if fault is not None:
            if fault.kind == "early_end":
                body = end_early(body, fault.keep)
            elif fault.kind == "truncate":
                body = body[: len(body) // 2]
            elif fault.kind == "malformed":
                body = b'{"object": "page", "data": [{"object": "bucket", "start_time": ]'
            elif fault.kind == "drop_mid_body":
                return await self._drop_mid_body(request, body)
        response = web.Response(body=body, content_type="application/json")
        response.headers["x-request-id"] = _EXCHANGE.get().request_id
        return response

    async def _handle(self, spec: EndpointSpec, request: web.Request) -> web.StreamResponse:
        refusal, fault = await self._admit(spec.name, request)
        if refusal is not None:
            return refusal
        if self.spend_limit_reached:  # the hard limit blocks every request, valid or not
            return self._error(request, 429, code="organization_spend_limit_exceeded")
        try:
            query = parse_query(spec, request.query.items())
            clip = fault is None or fault.kind != "unclipped"
            body = self._page_body(spec, query, clip=clip)
        except QueryError as exc:
            return self._error(request, 400, exc.message, param=exc.param)
        return await self._respond(request, body, fault, _end_early)

    async def _planted(
        self, endpoint: str, request: web.Request, fault: Fault | None
    ) -> tuple[web.StreamResponse | None, Fault | None]:
        """The ``listing_faults`` fault of this path: a response that ends the exchange, or
        None and the fault still to apply to the body."""
        planted = self.listing_faults.get(request.path.removeprefix(API_PREFIX))
        if planted is not None and planted.check(endpoint, self._rng):
            if planted.kind == "status":
                error = self._error(
                    request, planted.status, code=planted.code, headers=planted.headers()
                )
                return error, None
            if planted.kind == "drop":
                return self._drop(request), None
            if planted.kind == "slow":
                await asyncio.sleep(planted.delay_ms / 1000)
            else:
                fault = planted  # one that spoils the body
        return None, fault

    async def _handle_directory(self, endpoint: str, request: web.Request) -> web.StreamResponse:
        refusal, fault = await self._admit(endpoint, request)
        if refusal is not None:
            return refusal
        refusal, fault = await self._planted(endpoint, request, fault)
        if refusal is not None:
            return refusal
        try:
            query = parse_list_query(endpoint, request.query.items())
            page = self.org.directory.page(
                endpoint,
                limit=query.limit,
                after=query.after,
                project_id=request.match_info.get("project_id"),
                archived_error=self.archived_project_error,
                now=int(self.clock()),
                **query.options,
            )
        except QueryError as exc:
            return self._error(request, 400, exc.message, param=exc.param)
        except DirectoryError as exc:
            return self._error(request, exc.status, exc.message, param=exc.param)
        return await self._respond(request, _ENCODER.encode(page), fault, _end_list_early)

    async def _handle_spend(self, endpoint: str, request: web.Request) -> web.StreamResponse:
        refusal, fault = await self._admit(endpoint, request)
        if refusal is not None:
            return refusal
        refusal, fault = await self._planted(endpoint, request, fault)
        if refusal is not None:
            return refusal
        if self.spend_forbidden:
            return self._error(request, 403, _SPEND_FORBIDDEN, code="insufficient_permissions")
        project_id = request.match_info.get("project_id")
        try:
            if endpoint in ("spend_limit", "project_spend_limit"):
                if request.query:
                    key = next(iter(request.query))
                    raise QueryError(key, f"Unrecognized query parameter: '{key}'.")
                if project_id is not None:
                    self.spend.alerts(project_id)  # an unknown project: its own 404
                found = self.spend_limit(project_id)
                if found is None:
                    whose = "this organization" if project_id is None else f"project '{project_id}'"
                    return self._error(request, 404, f"No hard spend limit is set for {whose}.")
                return await self._respond(request, _ENCODER.encode(found), fault, _as_is)
            query = parse_list_query(endpoint, request.query.items())
            page = self.spend.alerts_page(
                project_id,
                limit=query.limit,
                after=query.after,
                before=query.options.get("before"),
                order=query.options.get("order", "asc"),
            )
        except QueryError as exc:
            return self._error(request, 400, exc.message, param=exc.param)
        except DirectoryError as exc:
            return self._error(request, exc.status, exc.message, param=exc.param)
        return await self._respond(request, _ENCODER.encode(page), fault, _end_list_early)

    def _drop(self, request: web.Request) -> web.Response:
        _EXCHANGE.get().dropped = True
        if request.transport is not None:
            request.transport.abort()
        return web.Response(status=500)

    async def _drop_mid_body(self, request: web.Request, body: bytes) -> web.StreamResponse:
        response = web.StreamResponse()
        response.content_type = "application/json"
        response.content_length = len(body)
        response.headers["x-request-id"] = _EXCHANGE.get().request_id
        await response.prepare(request)
        await response.write(body[: len(body) // 2])
        _EXCHANGE.get().dropped = True
        if request.transport is not None:
            request.transport.abort()
        return response

    def _check_auth(self, request: web.Request) -> web.Response | None:
        header = request.headers.get("Authorization", "")
        scheme, _, key = header.partition(" ")
        key = key.strip()
        if scheme.lower() != "bearer" or not key:
            return self._error(
                request,
                401,
                "You didn't provide an API key. You need to provide your API key in an "
                "Authorization header using Bearer auth (i.e. Authorization: Bearer YOUR_KEY).",
            )
        if self._api_key is not None and key == self._api_key:
            return None
        if key.startswith(("sk-proj-", "sk-svcacct-")):
            return self._error(request, 403, _ADMIN_KEY_HELP, code="insufficient_permissions")
        if self._api_key is not None:
            # Never echo the key, not even masked: it would end up in client logs.
            return self._error(
                request,
                401,
                "Incorrect API key provided. " + _ADMIN_KEY_HELP,
                code="invalid_api_key",
            )
        return None

    # -- pages and cursors -------------------------------------------------------------------

    def _cursor(self, fingerprint: int, next_start: int) -> str:
        payload = struct.pack(">QQ", next_start, fingerprint)
        mac = hashlib.blake2b(payload, key=self._mac_key, digest_size=4).digest()
        return "page_" + base64.b64encode(payload + mac).decode()

    def _cursor_start(self, token: str, fingerprint: int) -> int:
        invalid = QueryError("page", "The page token is invalid")
        if not token.startswith("page_"):
            raise invalid
        try:
            raw = base64.b64decode(token[5:], validate=True)
        except (binascii.Error, ValueError):
            raise invalid from None
        if len(raw) != 20:
            raise invalid
        payload, mac = raw[:16], raw[16:]
        if hashlib.blake2b(payload, key=self._mac_key, digest_size=4).digest() != mac:
            raise invalid
        next_start, bound = struct.unpack(">QQ", payload)
        if bound != fingerprint:
            raise invalid
        return int(next_start)

    def _page_body(self, spec: EndpointSpec, query: Query, *, clip: bool = True) -> bytes:
        """The encoded page for ``query`` (cached); ``clip=False``: whole edge buckets."""
        width_s = WIDTH_SECONDS[query.width]
        now = int(self.clock())
        end = query.end
        if self.in_progress == "clipped":
            # The service's other answer: the bucket in progress is cut at its clock (an
            # end_time between boundaries) and nothing after it is answered.
            end = now if end is None else min(end, now)
        elif end is None:  # up to the bucket holding "now", at least one bucket
            end = max(-(-now // width_s) * width_s, (query.start // width_s + 1) * width_s)
        fingerprint = query.fingerprint(spec)
        start = query.start
        if query.page is not None:
            start = self._cursor_start(query.page, fingerprint)
            if not query.start < start < end:
                # Past the range: what the service answers to the costs quirk's cursor.
                raise QueryError("page", "The page token is invalid")
        bounds = bucket_bounds(start, end, width_s, query.limit)
        # The cursor follows the clipped range even when the edge buckets are sent whole.
        next_start = bounds[-1][1] if bounds else start
        if not clip:
            bounds = bucket_bounds(start, end, width_s, query.limit, clip=False)
        # Settled pages never change; recent ones change with the clock (and with revisions,
        # which clear the cache), so they are cached for this second only. With a pinned
        # clock, every page is cacheable.
        settled = bool(bounds) and bounds[-1][1] <= now - self.org.revision_window_s
        key = (
            spec.name,
            fingerprint,
            start,
            end,
            self.result_key,
            self.unknown_tag,
            self.costs_quirk,
            self.in_progress,
            clip,
            None if settled else now,
        )
        if (cached := self._cache.get(key)) is not None:
            self._cache.move_to_end(key)
            return cached
        data = self.org.buckets(spec, bounds, query.group_by, query.filters)
        if self.unknown_tag:
            for bucket in data:
                bucket["results"].append(_unknown_result(bucket["start_time"]))
        if self.result_key != "results":
            for bucket in data:
                bucket[self.result_key] = bucket.pop("results")
        has_more = next_start < end
        cursor = self._cursor(fingerprint, next_start) if has_more else None
        if not has_more and self.costs_quirk and spec.name == "costs":
            has_more, cursor = True, self._cursor(fingerprint, next_start)
        page = {"object": "page", "data": data, "has_more": has_more, "next_page": cursor}
        body = _ENCODER.encode(page)
        if len(body) <= self.cache_limit_bytes // 4:
            self._cache[key] = body
            self._cache_bytes += len(body)
            while self._cache_bytes > self.cache_limit_bytes:
                _, old = self._cache.popitem(last=False)
                self._cache_bytes -= len(old)
        return body


def _end_early(body: bytes, keep: int) -> bytes:
    """A copy of the encoded page ``body`` cut to its first ``keep`` buckets, chain ended."""
    page = msgspec.json.decode(body)
    page["data"] = page["data"][:keep]
    page["has_more"], page["next_page"] = False, None
    return _ENCODER.encode(page)


def _as_is(body: bytes, keep: int) -> bytes:
    """An object is not a page: ``early_end`` leaves it as it is."""
    return body


def _end_list_early(body: bytes, keep: int) -> bytes:
    """A copy of the encoded list page ``body`` cut to its first ``keep`` objects, ended."""
    page = msgspec.json.decode(body)
    page["data"] = page["data"][:keep]
    page["first_id"] = page["data"][0]["id"] if page["data"] else None
    page["last_id"] = page["data"][-1]["id"] if page["data"] else None
    page["has_more"] = False
    return _ENCODER.encode(page)


def _unknown_result(start: int) -> dict[str, Any]:
    # A tag from the future, with fields of every JSON kind, so clients prove they keep them.
    return {
        "object": UNKNOWN_RESULT_OBJECT,
        "renders": start % 7 + 1,
        "num_model_requests": start % 3 + 1,
        "project_id": None,
        "quality": "hd",
        "ratio": 0.5,
        "details": {"tags": ["alpha", "beta"], "depth": {"level": 2}},
    }
