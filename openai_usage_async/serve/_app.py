"""The aiohttp application: routes, the token check, and the lifespan that owns the loop.

Theory of operation
-------------------
:func:`create_app` builds an ``aiohttp.web.Application`` around a :class:`_Served`
holder. Its lifespan (``cleanup_ctx``, and ``on_shutdown`` so that a parent app stops the
loop before it closes the client) starts :class:`~._scheduler.Scheduler` as one task
and cancels it at shutdown. After each sync the scheduler calls :func:`render` on a
worker thread: the two expositions, the page and the summary are made once, into one
frozen :class:`Rendered`, and swapped in with one assignment. A request hands out the
bytes of the ``Rendered`` it finds: no store read, no request upstream, the same cost
whatever the store holds. ``/healthz`` alone looks at the clock (is the last good sync
recent?), against the scheduler's status.

With a token, every route but ``/healthz`` and ``/livez`` (and any unknown path) needs
``Authorization: Bearer <token>`` or HTTP Basic with the token as the password (any user
name: a browser's login box); the comparison is constant-time.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import datetime as dt
import hmac
import logging
import math
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING

import anyio
import msgspec
from aiohttp import web

from . import _metrics
from ._scheduler import Scheduler, plan_calls
from ._snapshot import Data, Status

if TYPE_CHECKING:
    from .._client import AsyncUsageClient
    from ..store import Store

__all__ = ["STATE", "Rendered", "create_app", "health", "render", "summary"]

log = logging.getLogger("openai_usage_async.serve")

#: What a browser's login box says; a 401 carries it.
REALM = "openai-usage"
#: How many periods a good sync stays fresh for ``/healthz``.
STALE_AFTER_PERIODS = 3

_PAGE_HEADERS = {
    "Content-Type": "text/html; charset=utf-8",
    # Self-contained: inline styles and SVG, nothing from another origin.
    "Content-Security-Policy": (
        "default-src 'self'; style-src 'self' 'unsafe-inline'; img-src 'self' data:; "
        "script-src 'self' 'unsafe-inline'; base-uri 'none'; form-action 'self'; "
        "frame-ancestors 'none'"
    ),
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "no-referrer",
    "Cache-Control": "no-cache",
}
_JSON = "application/json"


@dataclass(frozen=True, slots=True)
class Rendered:
    """Everything the app serves between two syncs, rendered once."""

    data: Data | None
    status: Status
    metrics_text: bytes
    metrics_openmetrics: bytes
    page: bytes | None  # None: the page could not be rendered (logged)
    summary_status: int
    summary: bytes
    #: When the last good sync ended, to the fraction of a second (for ``/healthz``).
    last_success_s: float | None = None


# -- /healthz and /api/summary ---------------------------------------------------------


def health(status: Status, now: float, last_success_s: float | None = None) -> tuple[int, str]:
    """``/healthz``: 200 when the last sync succeeded and ended within 3 periods (the
    backed-off period) of ``now``, else 503 and why. ``last_success_s`` is when it ended,
    to the fraction of a second (default: the status's whole seconds)."""
    waiting = f" (waiting for {status.waiting_for}, which is syncing the store)"
    waits = waiting if status.waiting_for else ""
    if status.last_success_at is None and not status.consecutive_failures:
        return 503, "first sync in progress" + waits
    if status.consecutive_failures:
        return 503, f"last sync failed: {status.last_error or 'unknown error'}"
    ended = status.last_success_at if last_success_s is None else last_success_s
    assert ended is not None
    age = now - ended
    if age > STALE_AFTER_PERIODS * status.period_s:
        return 503, f"data stale: the last good sync ended {age:.0f}s ago" + waits
    return 200, f"ok: the last good sync ended {max(0.0, age):.0f}s ago"


def _usd(value: float) -> float:
    return round(value, 6)


def summary(data: Data | None, status: Status) -> tuple[int, bytes]:
    """``/api/summary``: the month's numbers as JSON, or 503 with ``{"error"}`` before
    there are any."""
    if data is None:
        _, reason = health(status, time.time())
        return 503, msgspec.json.encode({"error": reason})
    body = {
        "month": data.month,
        "month_to_date_usd": _usd(data.month_to_date_usd),
        "forecast_usd": _usd(data.forecast_usd),
        "limits": [
            {
                "scope": row.scope,
                "project_id": row.project_id,
                "api_key_id": row.api_key_id,
                "threshold_usd": row.threshold_usd,
                "enforcement": row.enforcement,
            }
            for row in data.limits
        ],
        "alerts": [
            {
                "scope": a.scope,
                "project_id": a.project_id,
                "id": a.id,
                "threshold_usd": a.threshold_usd,
            }
            for a in data.alerts
        ],
        "projects": [
            {
                "project_id": p.project_id,
                "project_name": p.project_name,
                "month_to_date_usd": _usd(p.month_to_date_usd),
                "forecast_usd": _usd(p.forecast_usd),
            }
            for p in data.projects
        ],
        "data_until": data.costs_until,
        "last_sync": status.last_success_at,
    }
    return 200, msgspec.json.encode(body)


# -- rendering ---------------------------------------------------------------------------


def render_page(data: Data | None, status: Status, *, every_s: float) -> bytes:
    """The dashboard (``_dashboard.render_page``, the page's own module)."""
    from ._dashboard import render_page as page

    return page(data, status, every_s=every_s)


class _PageErrors:
    """Logs a page that cannot be rendered once per kind of error, not at every sync."""

    def __init__(self) -> None:
        self.last: str | None = None

    def render(self, data: Data | None, status: Status, every_s: float) -> bytes | None:
        try:
            page = render_page(data, status, every_s=every_s)
        except Exception as exc:
            said = f"{type(exc).__name__}: {exc}"
            if said != self.last:
                log.error("the page cannot be rendered: %s", said, exc_info=True)
            self.last = said
            return None
        self.last = None
        return page


def render(
    data: Data | None,
    status: Status,
    *,
    every_s: float,
    page: Callable[[Data | None, Status, float], bytes | None] | None = None,
    last_success_s: float | None = None,
) -> Rendered:
    """Every output of one snapshot, rendered once (on a worker thread)."""
    text, openmetrics = _metrics.expositions(data, status)
    page_bytes = (page or _PageErrors().render)(data, status, every_s)
    code, body = summary(data, status)
    return Rendered(data, status, text, openmetrics, page_bytes, code, body, last_success_s)


# -- the application ---------------------------------------------------------------------


class _Served:
    """The app's state: the scheduler, its task, and what is served now."""

    def __init__(self, scheduler: Scheduler, token: str | None) -> None:
        self.scheduler = scheduler
        self.token = token
        self.task: asyncio.Task[None] | None = None
        self.scope: anyio.CancelScope | None = None
        self.stopped = False
        self.current: Rendered | None = None

    def start(self) -> None:
        if self.task is not None:
            raise RuntimeError("create_app: this app is already running; make one per server")
        scope = self.scope = anyio.CancelScope()
        self.task = asyncio.get_running_loop().create_task(
            self._run(scope), name="openai-usage serve: the sync loop"
        )

    async def _run(self, scope: anyio.CancelScope) -> None:
        # Cancelled through an anyio scope, never with Task.cancel(): the store's worker
        # threads run under shielded scopes, which only anyio's cancellation respects (a
        # native cancel would let the sync close its database under a running thread).
        with scope:
            await self.scheduler.run()

    async def stop(self) -> None:
        """Cancel the loop and wait for it (idempotent)."""
        task, self.stopped = self.task, True
        if task is None or task.done():
            self._report(task)
            return
        assert self.scope is not None
        self.scope.cancel()
        try:
            await asyncio.wait([task])
        except asyncio.CancelledError:
            # Cancelled while waiting: the loop must still end before the client and the
            # store it uses are closed (by our caller, next); then go on being cancelled.
            await asyncio.wait([task])
            raise
        self._report(task)

    @staticmethod
    def _report(task: asyncio.Task[None] | None) -> None:
        if task is not None and task.done() and not task.cancelled():
            exc = task.exception()
            if exc is not None:
                log.error("the sync loop had stopped on an error", exc_info=exc)

    def loop_error(self) -> str | None:
        """Why the loop stopped, if it stopped on its own (a bug); None while it runs."""
        task = self.task
        if task is None or not task.done() or task.cancelled() or self.stopped:
            return None
        exc = task.exception()
        return f"{type(exc).__name__}: {exc}" if exc is not None else "it returned"


#: The app's state, for code that mounts the app (and for the tests).
STATE = web.AppKey("openai_usage_serve", _Served)

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


def _authorized(header: str, token: str) -> bool:
    scheme, _, credentials = header.strip().partition(" ")
    credentials = credentials.strip()
    given: str | None = None
    if scheme.lower() == "bearer":
        given = credentials
    elif scheme.lower() == "basic":
        try:
            decoded = base64.b64decode(credentials, validate=True).decode("utf-8")
        except (binascii.Error, UnicodeDecodeError):
            return False
        _, sep, password = decoded.partition(":")
        given = password if sep else None
    if given is None:
        return False
    return hmac.compare_digest(given.encode("utf-8"), token.encode("utf-8"))


def _unauthorized() -> web.Response:
    return web.Response(
        status=401,
        text="401: this server needs its token: Authorization: Bearer <token>, or HTTP "
        "Basic with the token as the password\n",
        headers={"WWW-Authenticate": f'Basic realm="{REALM}"', "Cache-Control": "no-store"},
    )


def _check_every(every: float | dt.timedelta) -> float:
    if isinstance(every, dt.timedelta):
        seconds = every.total_seconds()
    elif isinstance(every, int | float) and not isinstance(every, bool):
        seconds = float(every)
    else:
        raise ValueError(f"every: expected seconds or a timedelta, got {every!r}")
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"every: {every!r} is not a positive period")
    return seconds


def _check_overlap(overlap: dt.timedelta | float) -> dt.timedelta | float:
    if isinstance(overlap, bool) or not isinstance(overlap, dt.timedelta | int | float):
        raise ValueError(f"overlap: expected a timedelta or seconds, got {overlap!r}")
    seconds = overlap.total_seconds() if isinstance(overlap, dt.timedelta) else overlap
    if seconds < 0:
        raise ValueError(f"overlap: {overlap!r} is negative")
    return overlap


def _check_token(token: str | None) -> str | None:
    if token is None:
        return None
    if not isinstance(token, str) or not token.strip():
        raise ValueError("token: expected a non-empty string, or None for no token")
    if any(c.isspace() for c in token):
        raise ValueError("token: contains whitespace; check how it was pasted")
    return token


def create_app(
    client: AsyncUsageClient,
    store: Store,
    *,
    every: float | dt.timedelta = 300,
    endpoints: str | Sequence[str] = "all",
    bucket_width: str = "1d",
    start_time: int | dt.datetime | None = None,
    overlap: dt.timedelta | float = dt.timedelta(days=2),
    token: str | None = None,
) -> web.Application:
    """An ``aiohttp.web.Application`` that keeps ``store`` current and serves it.

    Routes: ``GET /metrics`` (Prometheus text, or OpenMetrics when the ``Accept``
    header asks for it), ``GET /`` (the dashboard), ``GET /api/summary`` (JSON),
    ``GET /healthz`` (readiness: 200 when the last sync succeeded and is recent, else
    503 and why) and ``GET /livez`` (200 while it serves). Every response comes from a
    snapshot made after the last sync: a request reads nothing and sends nothing
    upstream.

    Its lifespan syncs ``store`` with ``client`` at startup and then every ``every``
    seconds (or a ``timedelta``), one sync at a time; ``costs`` is always synced at
    ``1d``, the other ``endpoints`` at ``bucket_width`` (``"1d"`` or ``"1h"``).
    ``start_time`` is needed only while the store lacks a table; ``overlap`` is how far
    back each sync re-fetches (see :meth:`Store.sync`). With ``token``, every route but
    ``/healthz`` and ``/livez`` needs ``Authorization: Bearer <token>`` or HTTP Basic
    with the token as the password.

    ``client`` and ``store`` must be open when the app starts (not necessarily when it
    is made), and stay open until it has stopped; the app never closes them. Mount it
    in your own app with ``app.add_subapp("/usage/", create_app(...))``.
    """
    every_s = _check_every(every)
    calls = plan_calls(endpoints, bucket_width)
    overlap = _check_overlap(overlap)
    token = _check_token(token)
    if start_time is not None and (
        isinstance(start_time, bool) or not isinstance(start_time, int | dt.datetime)
    ):
        raise ValueError(f"start_time: expected Unix seconds or a datetime, got {start_time!r}")

    app = web.Application(middlewares=[_auth_middleware] if token else [])
    pages = _PageErrors()
    secrets = [token or ""]
    key = getattr(getattr(client, "_requester", None), "_key", None)
    if key is not None:
        secrets.append(key.reveal())

    def publish(data: Data | None, status: Status) -> None:
        served.current = render(
            data,
            status,
            every_s=every_s,
            page=pages.render,
            last_success_s=scheduler.last_success_s,
        )

    scheduler = Scheduler(
        client,
        store,
        every_s=every_s,
        calls=calls,
        start_time=start_time,
        overlap=overlap,
        publish=publish,
        secrets=secrets,
    )
    served = _Served(scheduler, token)
    app[STATE] = served
    app.cleanup_ctx.append(_lifespan)
    app.on_shutdown.append(_shutdown)

    async def metrics(request: web.Request) -> web.Response:
        current = _current(request)
        if _metrics.wants_openmetrics(request.headers.get("Accept", "")):
            body, content_type = current.metrics_openmetrics, _metrics.CONTENT_TYPE_OPENMETRICS
        else:
            body, content_type = current.metrics_text, _metrics.CONTENT_TYPE_TEXT
        return web.Response(body=body, headers={"Content-Type": content_type})

    async def page(request: web.Request) -> web.Response:
        current = _current(request)
        if current.page is None:
            return web.Response(
                status=500,
                text="500: the page cannot be rendered (the server's log says why); "
                "/metrics and /api/summary still answer\n",
            )
        return web.Response(body=current.page, headers=_PAGE_HEADERS)

    async def api_summary(request: web.Request) -> web.Response:
        current = _current(request)
        headers = {"Content-Type": _JSON, "Cache-Control": "no-cache"}
        if current.summary_status != 200:
            headers["Retry-After"] = str(max(1, math.ceil(every_s)))
        return web.Response(status=current.summary_status, body=current.summary, headers=headers)

    async def healthz(request: web.Request) -> web.Response:
        # What is served now, not the loop's latest state: ready means the numbers served
        # are good (a sync that just ended is ready once its numbers are rendered).
        current = served.current
        if current is None:
            code, reason = 503, "first sync in progress"
        else:
            code, reason = health(current.status, time.time(), current.last_success_s)
        return web.Response(status=code, text=reason + "\n", headers={"Cache-Control": "no-store"})

    async def livez(request: web.Request) -> web.Response:
        stopped = request.app[STATE].loop_error()
        if stopped is not None:
            return web.Response(status=503, text=f"the sync loop stopped: {stopped}\n")
        return web.Response(text="ok\n", headers={"Cache-Control": "no-store"})

    app.router.add_get("/", page, name="page")
    app.router.add_get("/metrics", metrics, name="metrics")
    app.router.add_get("/api/summary", api_summary, name="summary")
    app.router.add_get("/healthz", healthz, name="healthz")
    app.router.add_get("/livez", livez, name="livez")
    return app


#: The routes that answer without the token (probes: they show no number).
_OPEN_ROUTES = frozenset({"healthz", "livez"})


@web.middleware
async def _auth_middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
    token = request.app[STATE].token
    route = request.match_info.route
    if token is None or (route.name in _OPEN_ROUTES and request.match_info.http_exception is None):
        return await handler(request)
    if not _authorized(request.headers.get("Authorization", ""), token):
        return _unauthorized()
    return await handler(request)


def _current(request: web.Request) -> Rendered:
    current = request.app[STATE].current
    if current is None:  # only before the loop's first render, a moment after startup
        raise web.HTTPServiceUnavailable(
            text="503: starting: first sync in progress\n", headers={"Retry-After": "1"}
        )
    return current


async def _lifespan(app: web.Application) -> AsyncIterator[None]:
    served = app[STATE]
    scheduler = served.scheduler
    if not scheduler.store._open:
        raise RuntimeError(
            f"create_app: {scheduler.store!r} is not open; open it (async with) before the "
            "app starts, and close it after the app has stopped"
        )
    if scheduler.client.closed:
        raise RuntimeError("create_app: the client is closed; it must stay open while serving")
    served.start()
    try:
        yield
    finally:
        await served.stop()


async def _shutdown(app: web.Application) -> None:
    # on_shutdown runs before any on_cleanup, also a parent app's: the loop stops before
    # a parent's cleanup context closes the client and the store.
    await app[STATE].stop()
