"""``create_app`` in-process against the emulator: every number equals the ground truth,
the loop's states (first sync, failures, backoff, recovery, revisions, a busy store), and
what a sync cycle and a scrape cost upstream.

Every test here runs with the bucket in progress answered whole and clipped (the
``emulator`` fixture); the emulator runs in the test's event loop, so a check of its
counters between two syncs cannot interleave with a sync.
"""

from __future__ import annotations

import contextlib
import dataclasses
import os
import pathlib
from collections.abc import AsyncIterator, Mapping
from typing import TypeVar

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer
from prometheus_client.openmetrics.parser import (
    text_string_to_metric_families as openmetrics_families,
)
from prometheus_client.parser import text_string_to_metric_families
from prometheus_client.samples import Sample

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator, Fault
from openai_usage_async.serve import _scheduler, create_app
from openai_usage_async.serve._app import STATE, health
from openai_usage_async.serve._metrics import FAMILIES, wants_openmetrics
from openai_usage_async.serve._scheduler import period_for
from openai_usage_async.serve._snapshot import Status
from openai_usage_async.store import Store, _lock, open_store
from openai_usage_async.store._schema import schema_for
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import DAY, NOW, TEST_KEY
from tests.serve.conftest import (
    EVERY,
    T0,
    TODAY,
    all_costs,
    approx_equal,
    by_labels,
    completion_tokens,
    first_sync,
    good_syncs,
    healthy,
    month_costs,
    parse_metrics,
    project_names,
    rendered,
    scrape,
    served_after,
    serving,
    spend_alerts,
    spend_limits,
    status,
    until,
)
from tests.store.conftest import table_rows
from tests.store.test_exact import service_rows

USAGE_ENDPOINTS = {
    "completions",
    "embeddings",
    "moderations",
    "images",
    "audio_speeches",
    "audio_transcriptions",
    "vector_stores",
    "code_interpreter_sessions",
    "costs",
    "file_search_calls",
    "web_search_calls",
    "decisions",
}


K = TypeVar("K")


def nonzero(values: Mapping[K, float]) -> dict[K, float]:
    return {k: v for k, v in values.items() if v}


# -- every family, equal to the ground truth -------------------------------------------


@pytest.mark.parametrize("kind", ["sqlite", "duckdb"])
async def test_every_family_equals_the_ground_truth(
    kind: str, emulator: Emulator, client: AsyncUsageClient, tmp_path: pathlib.Path
) -> None:
    if kind == "duckdb":
        pytest.importorskip("duckdb", reason="the duckdb extra is not installed")
    path = tmp_path / ("usage.duckdb" if kind == "duckdb" else "usage.db")
    async with open_store(path) as store:
        async with serving(client, store) as (http, app):
            await first_sync(app)
            m = await scrape(http)
        # Read once the app has stopped: DuckDB lets no one read during a sync.
        coverage = await store.coverage()
        forecast = await store.forecast(now=NOW)
    assert set(FAMILIES) <= set(m), set(FAMILIES) - set(m)
    names = project_names(emulator)

    # The month, per project, with its name: the emulator's costs of this month.
    month = by_labels(m["openai_usage_month_cost_usd"], "project_id", "project_name")
    truth = await month_costs(client)
    assert nonzero({(p,): v for (p, _), v in month.items()}) == pytest.approx(
        nonzero({(p,): v for p, v in truth.items()})
    )
    assert all(name == names.get(p, "") for p, name in month)
    assert any(name for _, name in month)
    (org,) = m["openai_usage_org_month_cost_usd"]
    assert org.value == pytest.approx(sum(truth.values()))

    # The forecast: per project and for the organization (not the projects' sum).
    forecasts = by_labels(m["openai_usage_month_forecast_usd"], "project_id")
    assert forecasts == pytest.approx({(p,): f.forecast for p, f in forecast.projects.items()})
    (org_forecast,) = m["openai_usage_org_month_forecast_usd"]
    assert org_forecast.value == pytest.approx(forecast.forecast)
    assert org_forecast.value >= org.value

    # The cost counter is every cost in the store: SUM over the service's answer.
    costs = by_labels(m["openai_usage_cost_usd_total"], "project_id", "line_item")
    approx_equal(nonzero(costs), nonzero(await all_costs(client)))
    assert sum(costs.values()) == pytest.approx(sum((await all_costs(client)).values()))
    for s in m["openai_usage_cost_usd_total"]:
        assert s.labels["project_name"] == names.get(s.labels["project_id"], "")

    # Tokens and model requests of completions, by model and project.
    tokens = {
        field: by_labels(
            [s for s in m[f"openai_usage_{field}_total"] if s.labels["endpoint"] == "completions"],
            "model",
            "project_id",
        )
        for field in ("input_tokens", "output_tokens", "cached_input_tokens", "model_requests")
    }
    service = await completion_tokens(client)
    service = {k: v for k, v in service.items() if v[0] or v[1] or v[3]}
    for i, field in enumerate(
        ("input_tokens", "output_tokens", "cached_input_tokens", "model_requests")
    ):
        assert tokens[field] == {k: v[i] for k, v in service.items()}, field
    endpoints = {s.labels["endpoint"] for s in m["openai_usage_input_tokens_total"]}
    assert {"completions", "embeddings"} <= endpoints
    for s in m["openai_usage_input_tokens_total"]:
        assert s.labels["project_name"] == names.get(s.labels["project_id"], "")

    # Limits and alerts, with the names of their projects and keys.
    limits = by_labels(
        m["openai_usage_spend_limit_usd"],
        "scope",
        "project_id",
        "project_name",
        "api_key_id",
        "api_key_name",
    )
    assert limits == spend_limits(emulator)
    assert {k[0] for k in limits} == {"organization", "project", "api_key"}
    alerts = by_labels(
        m["openai_usage_spend_alert_threshold_usd"],
        "scope",
        "project_id",
        "project_name",
        "alert_id",
    )
    assert alerts == spend_alerts(emulator)

    # The loop's own gauges and counters.
    until_ = by_labels(m["openai_usage_data_until_timestamp_seconds"], "table")
    assert until_ == {(c.table,): c.end for c in coverage}
    assert len(until_) == len(USAGE_ENDPOINTS)
    assert m["openai_usage_up"][0].value == 1
    assert m["openai_usage_last_sync_success_timestamp_seconds"][0].value > 0
    assert m["openai_usage_sync_duration_seconds"][0].value > 0
    assert m["openai_usage_sync_period_seconds"][0].value == EVERY
    assert m["openai_usage_syncs_total"][0].value >= 1
    assert m["openai_usage_sync_failures_total"][0].value == 0


async def test_the_exposition_follows_the_exporter_guide(
    client: AsyncUsageClient, store: Store
) -> None:
    async with serving(client, store) as (http, app):
        await first_sync(app)
        text = await (await http.get("/metrics")).text()
        om = await http.get(
            "/metrics",
            headers={"Accept": "application/openmetrics-text;version=1.0.0,text/plain;q=0.5"},
        )
        om_text = await om.text()
        plain = await http.get("/metrics", headers={"Accept": "text/plain;version=0.0.4"})
    families = list(text_string_to_metric_families(text))
    assert families
    for family in families:
        kind, _, help_text = FAMILIES[family.name + ("_total" if family.type == "counter" else "")]
        assert family.type == kind and family.documentation == help_text
        for sample in family.samples:
            assert sample.timestamp is None  # the server stamps samples at scrape time
    for name, (kind, _, help_text) in FAMILIES.items():
        if kind == "counter":
            assert name.endswith("_total")
        if kind == "counter" and "sync" not in name:  # the data's counters
            assert "arrives late" in help_text and "increase()" in help_text, name
    # OpenMetrics on request, with the same numbers.
    assert om.headers["Content-Type"].startswith("application/openmetrics-text; version=1.0.0")
    assert om_text.endswith("# EOF\n")
    values = {(s.name, frozenset(s.labels.items())): s.value for f in families for s in f.samples}
    om_values = {
        (s.name, frozenset(s.labels.items())): s.value
        for f in openmetrics_families(om_text)  # type: ignore[no-untyped-call]
        for s in f.samples
    }
    assert om_values == pytest.approx(values)
    assert plain.headers["Content-Type"] == "text/plain; version=0.0.4; charset=utf-8"


async def test_api_summary_has_the_contracts_shape_and_the_ground_truth(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    async with serving(client, store) as (http, app):
        current = await first_sync(app)
        response = await http.get("/api/summary")
        assert response.status == 200
        assert response.headers["Content-Type"] == "application/json"
        body = await response.json()
        coverage = {c.table: c for c in await store.coverage()}
        forecast = await store.forecast(now=NOW)
    assert list(body) == [
        "month",
        "month_to_date_usd",
        "forecast_usd",
        "limits",
        "alerts",
        "projects",
        "data_until",
        "last_sync",
    ]
    truth = await month_costs(client)
    assert body["month"] == "2025-11"
    assert body["month_to_date_usd"] == pytest.approx(sum(truth.values()))
    assert body["forecast_usd"] == pytest.approx(forecast.forecast)
    names = project_names(emulator)
    projects = {p["project_id"]: p for p in body["projects"]}
    assert {k: p["month_to_date_usd"] for k, p in projects.items()} == pytest.approx(
        {(k or None): v for k, v in truth.items() if v}
    )
    for key, p in projects.items():
        assert list(p) == ["project_id", "project_name", "month_to_date_usd", "forecast_usd"]
        assert p["project_name"] == names.get(key or "", "")
        assert p["forecast_usd"] == pytest.approx(forecast.projects[key or ""].forecast)
    usd = [p["month_to_date_usd"] for p in body["projects"]]
    assert usd == sorted(usd, reverse=True)
    limits = {(x["scope"], x["project_id"] or "", x["api_key_id"] or ""): x for x in body["limits"]}
    assert {k: x["threshold_usd"] for k, x in limits.items()} == {
        (scope, p, key): usd for (scope, p, _, key, _), usd in spend_limits(emulator).items()
    }
    for x in body["limits"]:
        assert list(x) == ["scope", "project_id", "api_key_id", "threshold_usd", "enforcement"]
        assert x["enforcement"] in ("enforcing", "inactive")
    enforcing = emulator.spend.enforcing_project_id
    assert limits["project", enforcing, ""]["enforcement"] == "enforcing"
    assert limits["organization", "", ""]["project_id"] is None
    assert {
        (a["scope"], a["project_id"] or "", a["id"]): a["threshold_usd"] for a in body["alerts"]
    } == {(scope, p, i): usd for (scope, p, _, i), usd in spend_alerts(emulator).items()}
    for a in body["alerts"]:
        assert list(a) == ["scope", "project_id", "id", "threshold_usd"]
    assert body["data_until"] == coverage["costs_1d"].end
    assert body["last_sync"] == current.status.last_success_at


# -- the loop's states -------------------------------------------------------------------


async def test_healthz_says_first_sync_in_progress_while_the_store_is_held_then_200(
    client: AsyncUsageClient, store: Store
) -> None:
    async with contextlib.AsyncExitStack() as stack:
        # Another holder of the store (as a second `serve` or a cron `sync` would be).
        held = contextlib.AsyncExitStack()
        await held.enter_async_context(_lock.hold(store.path, wait=False))
        stack.push_async_callback(held.aclose)
        http, app = await stack.enter_async_context(serving(client, store))
        await until(lambda: rendered_waiting(app))
        response = await http.get("/healthz")
        reason = await response.text()
        assert response.status == 503
        assert reason.startswith("first sync in progress (waiting for another sync in this ")
        assert str(os.getpid()) in reason
        m = await scrape(http)
        assert m["openai_usage_up"][0].value == 0
        assert m["openai_usage_syncs_total"][0].value == 0
        summary = await http.get("/api/summary")
        assert summary.status == 503
        assert (await summary.json())["error"].startswith("first sync in progress")
        assert (await http.get("/livez")).status == 200
        assert status(app).syncs == 0

        await held.aclose()  # the other holder is done: ours syncs now
        await first_sync(app)
        await until(lambda: rendered_up(app))
        await healthy(http)
        assert (await http.get("/api/summary")).status == 200
        assert (await scrape(http))["openai_usage_up"][0].value == 1


def rendered_waiting(app: web.Application) -> bool:
    current = rendered(app)
    return current is not None and current.status.waiting_for is not None


def rendered_up(app: web.Application) -> bool:
    current = app[STATE].current
    return current is not None and current.status.up


async def test_a_slow_first_sync_is_in_progress_and_up_is_0(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    emulator.latency_ms = 1000  # the first requests take a second: the checks take less
    async with serving(client, store) as (http, app):
        await served_after(app, 0)
        assert status(app).syncing and status(app).syncs == 0
        response = await http.get("/healthz")
        assert (response.status, await response.text()) == (503, "first sync in progress\n")
        assert (await scrape(http))["openai_usage_up"][0].value == 0
        emulator.latency_ms = 0
        await first_sync(app)
        await until(lambda: rendered_up(app))
        await healthy(http)


async def test_failures_keep_the_last_good_data_back_off_and_recover(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    every = 0.1
    families = (
        "openai_usage_cost_usd_total",
        "openai_usage_month_cost_usd",
        "openai_usage_input_tokens_total",
        "openai_usage_spend_limit_usd",
    )

    def values(m: dict[str, list[Sample]]) -> dict[str, dict[frozenset[tuple[str, str]], float]]:
        return {f: {frozenset(s.labels.items()): s.value for s in m[f]} for f in families}

    async with serving(client, store, every=every) as (http, app):
        await first_sync(app)
        before = await scrape(http)
        emulator.faults.append(Fault(status=500))  # the API answers 500, every request
        await until(lambda: status(app).consecutive_failures >= 1)
        current = await served_after(app, status(app).syncs)
        assert not current.status.up
        # /healthz says so once the failure is rendered (well within 3 periods).
        response = await http.get("/healthz")
        reason = await response.text()
        assert response.status == 503
        assert reason.startswith("last sync failed: InternalServerError: Error code: 500")
        during = await scrape(http)
        assert during["openai_usage_up"][0].value == 0
        assert during["openai_usage_sync_failures_total"][0].value >= 1
        assert values(during) == values(before)  # the last good values, still served
        summary = await http.get("/api/summary")
        assert summary.status == 200  # the last good numbers, for web apps too

        # After 3 failures in a row the period doubles at each failure, up to 8x.
        seen: dict[int, float] = {}

        def record() -> bool:
            s = status(app)
            seen[s.consecutive_failures] = s.period_s
            return s.consecutive_failures >= 5

        await until(record)
        assert [seen[n] for n in range(1, 6)] == [every, every, 2 * every, 4 * every, 8 * every]
        await served_after(app, status(app).syncs)
        assert (await scrape(http))["openai_usage_sync_period_seconds"][0].value == 8 * every

        emulator.faults.clear()  # recovery
        await until(lambda: status(app).up)
        assert status(app).period_s == every
        await until(lambda: rendered_up(app))
        after = await scrape(http)
        assert after["openai_usage_up"][0].value == 1
        assert values(after) == values(before)
        await healthy(http)


def test_the_backoff_doubles_after_3_failures_up_to_8x() -> None:
    assert [period_for(5.0, n) for n in range(8)] == [5, 5, 5, 10, 20, 40, 40, 40]


async def test_revisions_upstream_reach_gauges_and_counters_after_the_next_sync(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    async with serving(client, store) as (http, app):
        await first_sync(app)
        before = await scrape(http)
        emulator.revise(3)  # the recent buckets grow, as the service's do while they settle
        await good_syncs(app)
        after = await scrape(http)
    month = by_labels(after["openai_usage_month_cost_usd"], "project_id")
    assert nonzero(month) == pytest.approx(
        nonzero({(p,): v for p, v in (await month_costs(client)).items()})
    )
    assert month != by_labels(before["openai_usage_month_cost_usd"], "project_id")
    costs = by_labels(after["openai_usage_cost_usd_total"], "project_id", "line_item")
    approx_equal(nonzero(costs), nonzero(await all_costs(client)))
    assert sum(costs.values()) > sum(
        by_labels(before["openai_usage_cost_usd_total"], "project_id", "line_item").values()
    )
    tokens = by_labels(
        [
            s
            for s in after["openai_usage_input_tokens_total"]
            if s.labels["endpoint"] == "completions"
        ],
        "model",
        "project_id",
    )
    service = await completion_tokens(client)
    assert tokens == {k: v[0] for k, v in service.items() if v[0] or v[1] or v[3]}


# -- what a sync and a scrape cost upstream ------------------------------------------------


async def test_a_sync_with_nothing_new_sends_at_most_2_requests_per_table(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    async with serving(client, store) as (_, app):
        await first_sync(app)
        # Between two syncs (the emulator shares this event loop: nothing runs between
        # the check and the reset), then exactly one more sync.
        await until(lambda: not status(app).syncing)
        syncs = status(app).syncs
        emulator.reset_statistics()
        await until(lambda: status(app).syncs == syncs + 1 and not status(app).syncing)
        stats = emulator.statistics()
        assert status(app).up
    assert set(stats.requests_by_endpoint) == USAGE_ENDPOINTS  # no directory, no limits
    assert max(stats.requests_by_endpoint.values()) <= 2, stats.requests_by_endpoint


async def test_the_directory_is_refreshed_by_the_first_sync_only_within_the_hour(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    async with serving(client, store) as (_, app):
        await first_sync(app)
        first = dict(emulator.statistics().requests_by_endpoint)
        assert first.get("projects") and first.get("spend_limit")
        await good_syncs(app, 3)
        later = emulator.statistics().requests_by_endpoint
    assert later["projects"] == first["projects"]
    assert later["spend_limit"] == first["spend_limit"]
    assert later["costs"] >= first["costs"] + 3


async def test_with_a_shorter_refresh_each_sync_refreshes_the_directory(
    emulator: Emulator, client: AsyncUsageClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(_scheduler, "DIRECTORY_EVERY_S", 0.0)
    async with serving(client, store) as (_, app):
        await first_sync(app)
        first = emulator.statistics().requests_by_endpoint["spend_limit"]
        await good_syncs(app, 2)
        assert emulator.statistics().requests_by_endpoint["spend_limit"] >= first + 2


async def test_scrapes_and_page_views_send_nothing_upstream_and_read_no_store(
    emulator: Emulator, client: AsyncUsageClient, store: Store, tmp_path: pathlib.Path
) -> None:
    async with serving(client, store, every=3600) as (http, app):
        await first_sync(app)
        before = emulator.statistics().requests_total
        first = await (await http.get("/metrics")).read()
        for _ in range(50):
            for path in ("/metrics", "/", "/api/summary", "/healthz", "/livez"):
                response = await http.get(path)
                assert response.status == 200, (path, await response.text())
                await response.read()
        assert emulator.statistics().requests_total == before
        # The store moved away: the same bytes still (nothing reads it per request).
        away = tmp_path / "elsewhere.db"
        os.rename(store.path, away)
        try:
            assert await (await http.get("/metrics")).read() == first
            assert (await http.get("/api/summary")).status == 200
            assert (await http.get("/")).status == 200
        finally:
            os.rename(away, store.path)
        assert status(app).syncs == 1


async def test_the_page_is_served_with_its_headers(client: AsyncUsageClient, store: Store) -> None:
    async with serving(client, store) as (http, app):
        await first_sync(app)
        response = await http.get("/")
        page = await response.text()
    assert response.status == 200
    assert response.headers["Content-Type"] == "text/html; charset=utf-8"
    assert "default-src 'self'" in response.headers["Content-Security-Policy"]
    assert page.lstrip().lower().startswith("<!doctype html")


async def test_hourly_usage_tables_beside_daily_costs(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    start = TODAY - 3 * DAY
    async with serving(client, store, bucket_width="1h", start_time=start) as (http, app):
        await first_sync(app)
        m = await scrape(http)
        tables = {c.table for c in await store.coverage()}
    assert tables == {"costs_1d"} | {f"{e}_1h" for e in USAGE_ENDPOINTS - {"costs"}}
    tokens = by_labels(
        [s for s in m["openai_usage_input_tokens_total"] if s.labels["endpoint"] == "completions"],
        "model",
        "project_id",
    )
    service = await completion_tokens(client, "1h", start)
    assert tokens == {k: v[0] for k, v in service.items() if v[0] or v[1] or v[3]}
    costs = by_labels(m["openai_usage_cost_usd_total"], "project_id", "line_item")
    approx_equal(nonzero(costs), nonzero(await all_costs(client, start)))


async def test_a_cancelled_loop_loses_nothing(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    emulator.latency_ms = 20
    async with serving(client, store) as (_, app):
        await until(lambda: bool(store.progress()) and any(d for d, _ in store.progress().values()))
    # The app stopped mid-sync. A plain sync resumes; the store is the service's.
    task = app[STATE].task
    assert task is not None and task.done() and task.exception() is None
    emulator.latency_ms = 0
    await store.sync(client, start_time=T0)
    for name in ("costs", "completions"):
        schema = schema_for(name, "1d")
        assert await table_rows(store, schema) == await service_rows(client, name, T0, NOW)


async def test_a_parent_app_mounts_it_and_closes_the_client_after_the_loop_stops(
    emulator: Emulator, tmp_path: pathlib.Path
) -> None:
    client = same_clock(
        fast_retries(AsyncUsageClient(TEST_KEY, base_url=emulator.base_url)), emulator
    )
    store = open_store(tmp_path / "usage.db")

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        async with client, store:
            yield

    parent = web.Application()
    parent.cleanup_ctx.append(lifespan)
    sub = create_app(client, store, every=EVERY, start_time=T0)
    parent.add_subapp("/usage/", sub)
    async with TestClient(TestServer(parent)) as http:
        await first_sync(sub)
        assert (await http.get("/usage/livez")).status == 200
        metrics = await http.get("/usage/metrics")
        assert "openai_usage_up 1.0" in await metrics.text()
        assert (await http.get("/usage/api/summary")).status == 200
    task = sub[STATE].task
    assert task is not None and task.done() and task.exception() is None
    assert client.closed


async def test_the_app_refuses_to_start_on_a_store_that_is_not_open(
    client: AsyncUsageClient, tmp_path: pathlib.Path
) -> None:
    app = create_app(client, open_store(tmp_path / "usage.db"), start_time=T0)
    runner = web.AppRunner(app)
    with pytest.raises(RuntimeError, match="is not open"):
        await runner.setup()  # the app's startup: nothing starts, nothing is left open
    assert app[STATE].task is None


async def test_a_loop_that_dies_says_so_on_livez(
    client: AsyncUsageClient, store: Store, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_usage_async.serve import _metrics

    def broken(*_: object) -> tuple[bytes, bytes]:
        raise RuntimeError("a bug in rendering")

    async with serving(client, store) as (http, app):
        await first_sync(app)
        monkeypatch.setattr(_metrics, "expositions", broken)
        task = app[STATE].task
        assert task is not None
        await until(task.done)
        response = await http.get("/livez")
        assert response.status == 503
        assert "RuntimeError: a bug in rendering" in await response.text()
        assert (await http.get("/metrics")).status == 200  # the last rendering, still


def test_create_app_checks_its_arguments(tmp_path: pathlib.Path) -> None:
    client = AsyncUsageClient(TEST_KEY, base_url="http://127.0.0.1:9")
    store = open_store(tmp_path / "usage.db")
    for kwargs, message in [
        ({"every": 0}, "every: 0 is not a positive period"),
        ({"every": "5m"}, "every: expected seconds or a timedelta"),
        ({"endpoints": ["nope"]}, "endpoints: unknown endpoint 'nope'"),
        ({"endpoints": []}, "endpoints: empty"),
        ({"bucket_width": "1m"}, "bucket_width: '1m' is not 1d or 1h"),
        ({"token": ""}, "token: expected a non-empty string"),
        ({"token": "a b"}, "token: contains whitespace"),
        ({"start_time": "2025-01-01"}, "start_time: expected Unix seconds or a datetime"),
        ({"overlap": -1}, "overlap: -1 is negative"),
    ]:
        with pytest.raises(ValueError, match=message):
            create_app(client, store, **kwargs)  # type: ignore[arg-type]
    # costs is synced whatever the endpoints say, and first
    app = create_app(client, store, endpoints=["completions"], bucket_width="1h")
    calls = app[STATE].scheduler.calls
    assert [(c.endpoints, c.bucket_width) for c in calls] == [
        (("costs",), "1d"),
        (("completions",), "1h"),
    ]
    assert app[STATE].scheduler.usage_tables == ("completions_1h",)


def test_parse_metrics_reads_counters_with_their_total() -> None:
    text = "# HELP x_total X.\n# TYPE x_total counter\nx_total 3.0\n"
    assert parse_metrics(text)["x_total"][0].value == 3.0


def test_health_reasons_and_the_backed_off_period() -> None:
    base = Status(
        started_at=0,
        every_s=10.0,
        period_s=10.0,
        syncing=False,
        syncs=1,
        failures_total=0,
        consecutive_failures=0,
        last_success_at=1000,
        last_duration_s=1.0,
        last_error=None,
    )
    assert health(base, 1029.0)[0] == 200
    assert health(base, 1031.0) == (503, "data stale: the last good sync ended 31s ago")
    assert health(base, 1030.5)[0] == 503
    assert health(base, 1030.5, last_success_s=1000.9)[0] == 200  # to the fraction
    backed_off = dataclasses.replace(base, period_s=80.0)
    assert health(backed_off, 1200.0)[0] == 200  # 3 x the period now, not 3 x --every
    waiting = dataclasses.replace(base, waiting_for="process 42")
    said = health(waiting, 2000.0)[1]
    assert said.endswith("(waiting for process 42, which is syncing the store)")
    first = dataclasses.replace(base, syncs=0, last_success_at=None)
    assert health(first, 1.0) == (503, "first sync in progress")
    failed = dataclasses.replace(base, consecutive_failures=2, last_error="HTTP 500")
    assert health(failed, 1001.0) == (503, "last sync failed: HTTP 500")


def test_openmetrics_is_served_when_the_accept_header_asks_for_it() -> None:
    assert wants_openmetrics("application/openmetrics-text;version=1.0.0,text/plain;q=0.5")
    assert wants_openmetrics("text/plain;q=0.5, Application/OpenMetrics-Text")
    assert not wants_openmetrics("application/openmetrics-text;q=0, text/plain")
    assert not wants_openmetrics("text/plain;version=0.0.4")
    assert not wants_openmetrics("")
