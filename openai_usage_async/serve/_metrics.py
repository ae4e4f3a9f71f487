"""``/metrics``: a prometheus_client ``Collector`` over one snapshot, rendered once per sync.

Theory of operation
-------------------
This is node_exporter's textfile collector turned inside out: the numbers are computed
elsewhere (after each sync, :func:`._snapshot.compute`), and this module only says them
in Prometheus's words. :class:`SnapshotCollector` is a custom ``Collector`` (its
``collect()`` yields ``GaugeMetricFamily`` and ``CounterMetricFamily`` objects, as
prometheus_client's docs on custom collectors show) over one :class:`~._snapshot.Data`
and one :class:`~._snapshot.Status`; :func:`expositions` renders it in the two formats
once, and the app hands out those bytes to every scrape. Nothing is read, fetched or
computed at scrape time.

Following the Prometheus guide "Writing exporters": no timestamps on samples (the
server stamps a sample with the scrape's time), counters end in ``_total``, an
``openai_usage_up`` gauge says whether the source answered, and names carry their unit
(``_usd``, ``_seconds``).

The counters (``openai_usage_cost_usd_total``, the token counters) are sums over the
whole store. They rise when data *arrives*: the Usage API reports usage late and revises
recent buckets for a while, and a backfill adds old days at once. So ``increase()`` over
them attributes late, revised or backfilled data to the time it arrived here, not to the
time it was spent; the month gauges (``openai_usage_month_cost_usd``) are what to read
for "how much this month". The HELP texts say so, for whoever reads them in Grafana.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator

try:
    from prometheus_client.exposition import generate_latest
    from prometheus_client.metrics_core import (
        CounterMetricFamily,
        GaugeMetricFamily,
        Metric,
    )
    from prometheus_client.openmetrics import exposition as openmetrics
    from prometheus_client.registry import Collector
except ImportError:  # pragma: no cover - the extra is installed wherever serve is tested
    raise ImportError(
        "openai_usage_async.serve needs prometheus_client: pip install 'openai_usage_async[serve]'"
    ) from None

from ._snapshot import Data, Status

__all__ = [
    "CONTENT_TYPE_OPENMETRICS",
    "CONTENT_TYPE_TEXT",
    "FAMILIES",
    "SnapshotCollector",
    "expositions",
    "wants_openmetrics",
]

# prometheus_client's OpenMetrics writer has no annotations: typed here, once.
_openmetrics_latest: Callable[[Collector], bytes] = openmetrics.generate_latest

#: The classic text format (what ``promtool check metrics`` reads).
CONTENT_TYPE_TEXT = "text/plain; version=0.0.4; charset=utf-8"
#: OpenMetrics 1.0, for a scraper whose ``Accept`` asks for it (Prometheus does).
CONTENT_TYPE_OPENMETRICS = openmetrics.CONTENT_TYPE_LATEST

_LATE = (
    " Usage data arrives late and recent buckets are revised upward for a while, so this "
    "counter rises when data arrives (late, revised or backfilled): increase() attributes "
    "it to the time it arrived, not to when it was spent."
)
_PERIODS = " For a period's spend read openai_usage_month_cost_usd."
_TOKENS = " For this month's tokens, subtract the value at the start of the month."

_PROJECT = ["project_id", "project_name"]
_TOKEN_LABELS = ["endpoint", "model", "project_id", "project_name"]

#: Every family this module exposes: name (as scraped) -> (type, labels, help).
FAMILIES: dict[str, tuple[str, tuple[str, ...], str]] = {
    "openai_usage_cost_usd_total": (
        "counter",
        ("project_id", "project_name", "line_item"),
        "Every cost in the local store, in USD, by project and line item (project_id "
        "empty: costs without a project)." + _LATE + _PERIODS,
    ),
    "openai_usage_month_cost_usd": (
        "gauge",
        tuple(_PROJECT),
        "Cost of this UTC month so far, in USD, by project (project_id empty: costs "
        "without a project), as the store holds it now: recent days grow as the API "
        "reports and revises them.",
    ),
    "openai_usage_month_forecast_usd": (
        "gauge",
        tuple(_PROJECT),
        "Forecast of this UTC month's cost at its end, in USD, by project: the complete "
        "days, today's cost or the daily rate if more, and the daily rate (mean of the "
        "last 7 whole days) for each later day.",
    ),
    "openai_usage_org_month_cost_usd": (
        "gauge",
        (),
        "Cost of this UTC month so far for the whole organization, in USD.",
    ),
    "openai_usage_org_month_forecast_usd": (
        "gauge",
        (),
        "Forecast of this UTC month's cost at its end for the whole organization, in USD "
        "(not the sum of the projects' forecasts: each scope takes its own maximum of "
        "today's cost and its daily rate).",
    ),
    "openai_usage_spend_limit_usd": (
        "gauge",
        ("scope", "project_id", "project_name", "api_key_id", "api_key_name"),
        "Hard monthly spend limit, in USD, of the organization, a project or an API key "
        "(scope), as the last directory refresh read it (at most hourly). Labels that do "
        "not apply are empty.",
    ),
    "openai_usage_spend_alert_threshold_usd": (
        "gauge",
        ("scope", "project_id", "project_name", "alert_id"),
        "Threshold of an email spend alert, in USD per month, of the organization or a "
        "project, as the last directory refresh read it (at most hourly).",
    ),
    "openai_usage_input_tokens_total": (
        "counter",
        tuple(_TOKEN_LABELS),
        "Input tokens in the local store, by endpoint, model and project." + _LATE + _TOKENS,
    ),
    "openai_usage_output_tokens_total": (
        "counter",
        tuple(_TOKEN_LABELS),
        "Output tokens in the local store, by endpoint, model and project." + _LATE + _TOKENS,
    ),
    "openai_usage_cached_input_tokens_total": (
        "counter",
        tuple(_TOKEN_LABELS),
        "Cached input tokens (part of the input tokens) in the local store, by endpoint, "
        "model and project." + _LATE + _TOKENS,
    ),
    "openai_usage_model_requests_total": (
        "counter",
        tuple(_TOKEN_LABELS),
        "Requests to models in the local store, by endpoint, model and project." + _LATE,
    ),
    "openai_usage_up": (
        "gauge",
        (),
        "1 when the last sync with the Usage API succeeded, else 0 (also 0 before the "
        "first sync ends). The other values stay those of the last good sync.",
    ),
    "openai_usage_last_sync_success_timestamp_seconds": (
        "gauge",
        (),
        "When the last successful sync ended, in Unix seconds (0: none yet).",
    ),
    "openai_usage_sync_duration_seconds": (
        "gauge",
        (),
        "How long the last sync took, well or not, in seconds (waiting for another "
        "process's sync of the same store not included).",
    ),
    "openai_usage_sync_period_seconds": (
        "gauge",
        (),
        "Seconds between syncs now: the configured period, doubled after 3 failures in a "
        "row up to 8 times it.",
    ),
    "openai_usage_data_until_timestamp_seconds": (
        "gauge",
        ("table",),
        "End of a store table's data, in Unix seconds: the Usage API reports usage late, "
        "so the last hours may still grow.",
    ),
    "openai_usage_syncs_total": (
        "counter",
        (),
        "Syncs with the Usage API that ended, well or not, since this process started.",
    ),
    "openai_usage_sync_failures_total": (
        "counter",
        (),
        "Syncs with the Usage API that failed since this process started (each is retried "
        "at the next tick; the last good data keeps being served).",
    ),
}


def _family(name: str) -> GaugeMetricFamily | CounterMetricFamily:
    kind, labels, text = FAMILIES[name]
    if kind == "counter":
        return CounterMetricFamily(name, text, labels=list(labels))
    return GaugeMetricFamily(name, text, labels=list(labels))


class SnapshotCollector(Collector):
    """The families of one snapshot: ``data`` (None before any data) and ``status``."""

    def __init__(self, data: Data | None, status: Status) -> None:
        self.data = data
        self.status = status

    def collect(self) -> Iterator[Metric]:
        yield from self._data_families()
        yield from self._status_families()

    def _data_families(self) -> Iterator[Metric]:
        d = self.data
        if d is None:
            return
        names = d.names

        cost = _family("openai_usage_cost_usd_total")
        for c in d.cost_counters:
            cost.add_metric([c.project_id, c.project_name, c.line_item], c.usd)
        yield cost

        month = _family("openai_usage_month_cost_usd")
        forecast = _family("openai_usage_month_forecast_usd")
        for project_id, f in sorted(d.forecast.projects.items()):
            labels = [project_id, names.get(project_id, "")]
            month.add_metric(labels, f.month_to_date)
            forecast.add_metric(labels, f.forecast)
        yield month
        yield forecast
        org_month = _family("openai_usage_org_month_cost_usd")
        org_month.add_metric([], d.month_to_date_usd)
        yield org_month
        org_forecast = _family("openai_usage_org_month_forecast_usd")
        org_forecast.add_metric([], d.forecast_usd)
        yield org_forecast

        limits = _family("openai_usage_spend_limit_usd")
        for row in d.limits:
            limits.add_metric(
                [
                    row.scope,
                    row.project_id or "",
                    row.project_name,
                    row.api_key_id or "",
                    row.api_key_name,
                ],
                row.threshold_usd,
            )
        yield limits
        alerts = _family("openai_usage_spend_alert_threshold_usd")
        for a in d.alerts:
            alerts.add_metric([a.scope, a.project_id or "", a.project_name, a.id], a.threshold_usd)
        yield alerts

        families = {
            field: _family(name)
            for field, name in (
                ("input_tokens", "openai_usage_input_tokens_total"),
                ("output_tokens", "openai_usage_output_tokens_total"),
                ("cached_input_tokens", "openai_usage_cached_input_tokens_total"),
                ("model_requests", "openai_usage_model_requests_total"),
            )
        }
        for t in d.token_counters:
            labels = [t.endpoint, t.model, t.project_id, t.project_name]
            for field, family in families.items():
                family.add_metric(labels, getattr(t, field))
        yield from families.values()

        until = _family("openai_usage_data_until_timestamp_seconds")
        for table, end in sorted(d.data_until.items()):
            until.add_metric([table], end)
        yield until

    def _status_families(self) -> Iterator[Metric]:
        s = self.status
        for name, value in (
            ("openai_usage_up", 1.0 if s.up else 0.0),
            ("openai_usage_last_sync_success_timestamp_seconds", s.last_success_at or 0),
            ("openai_usage_sync_duration_seconds", s.last_duration_s),
            ("openai_usage_sync_period_seconds", s.period_s),
            ("openai_usage_syncs_total", s.syncs),
            ("openai_usage_sync_failures_total", s.failures_total),
        ):
            family = _family(name)
            if value is not None:
                family.add_metric([], float(value))
            yield family


def expositions(data: Data | None, status: Status) -> tuple[bytes, bytes]:
    """The snapshot in the classic text format and in OpenMetrics, rendered once."""
    collector = SnapshotCollector(data, status)
    return generate_latest(collector), _openmetrics_latest(collector)


def wants_openmetrics(accept: str) -> bool:
    """Whether an ``Accept`` header asks for OpenMetrics (with a q above 0)."""
    for part in accept.split(","):
        media, *params = (p.strip() for p in part.split(";"))
        if media.lower() != "application/openmetrics-text":
            continue
        q = next((p[2:] for p in params if p.lower().startswith("q=")), "1")
        try:
            if float(q) > 0:
                return True
        except ValueError:
            continue
    return False
