"""``serve`` against the emulator: the app mounted under aiohttp's test server, a client
sharing the emulator's clock, and the ground truth the numbers must equal."""

from __future__ import annotations

import collections
import contextlib
import datetime as dt
import pathlib
from collections.abc import AsyncIterator, Callable, Mapping
from typing import Any, Literal

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from openai_usage_async.serve import create_app
from openai_usage_async.serve._app import STATE, Rendered
from openai_usage_async.serve._snapshot import Status
from openai_usage_async.store import Store, open_store
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import DAY, NOW, TEST_KEY

TODAY = NOW // DAY * DAY
#: Where the stores of these tests start: 40 days back, so last month is in them too.
T0 = TODAY - 40 * DAY
MONTH_START = int(dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp())
#: A sync period short enough for many cycles per test, long enough to do work between.
EVERY = 0.2


@pytest.fixture(params=["whole", "clipped"])
async def emulator(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    """The emulator, the bucket in progress answered whole and then clipped (the project's
    rule for tests that touch a store), in the test's own event loop: the app's syncs and
    the test's checks of the counters then never interleave mid-step."""
    async with Emulator(now=NOW, in_progress=request.param) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=4) as c:
        yield same_clock(fast_retries(c, max_retries=2), emulator)


@pytest.fixture
def store_path(tmp_path: pathlib.Path) -> pathlib.Path:
    return tmp_path / "usage.db"


@pytest.fixture
async def store(store_path: pathlib.Path) -> AsyncIterator[Store]:
    async with open_store(store_path) as s:
        yield s


@contextlib.asynccontextmanager
async def serving(
    client: AsyncUsageClient, store: Store, **options: Any
) -> AsyncIterator[tuple[TestClient[web.Request, web.Application], web.Application]]:
    """``create_app(client, store, **options)`` under aiohttp's test server."""
    options.setdefault("every", EVERY)
    options.setdefault("start_time", T0)
    app = create_app(client, store, **options)
    async with TestClient(TestServer(app)) as http:
        yield http, app


def status(app: web.Application) -> Status:
    """The sync loop's status now."""
    return app[STATE].scheduler.status


def rendered(app: web.Application) -> Rendered | None:
    """What the app serves now."""
    return app[STATE].current


async def until(predicate: Callable[[], bool], timeout_s: float = 30.0) -> None:
    """Poll a state (the loop's status has no event), within a generous bound."""
    with anyio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110
            await anyio.sleep(0.005)


async def served_after(app: web.Application, syncs: int) -> Rendered:
    """Wait until what is served was rendered after the ``syncs``-th sync ended."""

    def ready() -> bool:
        current = rendered(app)
        return current is not None and current.status.syncs >= syncs

    await until(ready)
    current = rendered(app)
    assert current is not None
    return current


async def first_sync(app: web.Application) -> Rendered:
    """Wait for the first sync to end, well, and for what it rendered."""
    current = await served_after(app, 1)
    assert current.status.up, current.status.last_error
    return current


async def good_syncs(app: web.Application, more: int = 1) -> Rendered:
    """Wait for ``more`` syncs after this moment (counting the one running now as none),
    the last one good, and for what it rendered."""
    target = status(app).syncs + more + (1 if status(app).syncing else 0)
    current = await served_after(app, target)
    assert current.status.up, current.status.last_error
    return current


# -- reading /metrics --------------------------------------------------------------------

Families = dict[str, list[Sample]]


def parse_metrics(text: str) -> Families:
    """Samples by family name as scraped (``_total`` kept on counters)."""
    out: Families = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            out.setdefault(sample.name, []).append(sample)
    return out


async def scrape(http: TestClient[web.Request, web.Application], **headers: str) -> Families:
    response = await http.get("/metrics", headers=headers)
    assert response.status == 200, await response.text()
    return parse_metrics(await response.text())


def by_labels(samples: list[Sample], *names: str) -> dict[tuple[str, ...], float]:
    """``{(label values...): value}`` for a family's samples."""
    out: dict[tuple[str, ...], float] = {}
    for s in samples:
        key = tuple(s.labels[n] for n in names)
        assert key not in out, f"two samples for {key}"
        out[key] = s.value
    return out


# -- the ground truth, from the emulator -----------------------------------------------


async def month_costs(client: AsyncUsageClient, now: int = NOW) -> dict[str, float]:
    """This month's cost per project ("" for none), as the service answers now."""
    buckets = await client.usage.costs.list(
        start_time=MONTH_START, end_time=now, group_by=["project_id"]
    )
    out: dict[str, float] = collections.defaultdict(float)
    for b in buckets:
        for r in b.results:
            out[r.project_id or ""] += (r.amount.value or 0.0) if r.amount else 0.0
    return dict(out)


async def all_costs(
    client: AsyncUsageClient, start: int = T0, now: int = NOW
) -> dict[tuple[str, str], float]:
    """Every cost of ``[start, now)`` per (project, line item), as the service answers."""
    buckets = await client.usage.costs.list(
        start_time=start, end_time=now, group_by=["project_id", "line_item"]
    )
    out: dict[tuple[str, str], float] = collections.defaultdict(float)
    for b in buckets:
        for r in b.results:
            usd = (r.amount.value or 0.0) if r.amount else 0.0
            out[r.project_id or "", r.line_item or ""] += usd
    return dict(out)


async def completion_tokens(
    client: AsyncUsageClient,
    width: Literal["1h", "1d"] = "1d",
    start: int = T0,
    now: int = NOW,
) -> dict[tuple[str, str], tuple[int, int, int, int]]:
    """Completions' tokens and requests of ``[start, now)`` per (model, project)."""
    buckets = await client.usage.completions.list(
        start_time=start, end_time=now, bucket_width=width, group_by=["model", "project_id"]
    )
    out: dict[tuple[str, str], list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    for b in buckets:
        for r in b.results:
            row = out[r.model or "", r.project_id or ""]
            row[0] += r.input_tokens or 0
            row[1] += r.output_tokens or 0
            row[2] += r.input_cached_tokens or 0
            row[3] += r.num_model_requests or 0
    return {k: (v[0], v[1], v[2], v[3]) for k, v in out.items()}


def project_names(emu: Emulator) -> dict[str, str]:
    return {p.id: p.name for p in emu.org.directory.projects}


def spend_limits(emu: Emulator) -> dict[tuple[str, str, str, str, str], float]:
    """Every hard limit the emulator serves: (scope, project, its name, key, its name)."""
    names = project_names(emu)
    out: dict[tuple[str, str, str, str, str], float] = {}
    if emu.spend_limit_usd is not None:
        out["organization", "", "", "", ""] = emu.spend_limit_usd
    for pid, limit in emu.spend.project_limits.items():
        out["project", pid, names[pid], "", ""] = limit.threshold_amount / 100
    for key in emu.org.directory.api_keys:
        if key.spend_limit is not None:
            pid = key.project_id
            out["api_key", pid, names[pid], key.id, key.name] = key.spend_limit[0] / 100
    return out


def spend_alerts(emu: Emulator) -> dict[tuple[str, str, str, str], float]:
    """Every spend alert: (scope, project, its name, alert id) -> USD."""
    names = project_names(emu)
    out = {
        ("organization", "", "", a.id): a.threshold_amount / 100
        for a in emu.spend.organization_alerts
    }
    for pid, alerts in emu.spend.project_alerts.items():
        for a in alerts:
            out["project", pid, names[pid], a.id] = a.threshold_amount / 100
    return out


def approx_equal(a: Mapping[Any, float], b: Mapping[Any, float], rel: float = 1e-9) -> None:
    assert set(a) == set(b), set(a) ^ set(b)
    for k in a:
        assert a[k] == pytest.approx(b[k], rel=rel, abs=1e-6), k


async def healthy(http: TestClient[web.Request, web.Application], timeout_s: float = 30) -> None:
    """Wait for ``/healthz`` to say 200. (Right after a good sync it does; polling keeps
    a slow machine, where a sync may outlast 3 short periods, from failing the test.)"""
    with anyio.fail_after(timeout_s):
        while True:
            response = await http.get("/healthz")
            if response.status == 200:
                return
            await anyio.sleep(0.01)
