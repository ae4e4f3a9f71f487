"""What a sync leaves for readers: every number ``serve`` shows, computed once per sync.

Theory of operation
-------------------
A scrape, a page view or a web app's request must cost the same on a 10-day store and on
a 3-year one, and send nothing upstream. So nothing is read per request: after each sync
commits, :func:`compute` reads the store once, through its read side (one read-only
session, one commit's state), into a :class:`Data`; the app then renders it once per
format and swaps the result in. Requests only hand out those bytes.

``Data`` holds plain values (dollars as floats, times as Unix seconds, days as
``datetime.date``), the names already joined from the directory; rendering is the
renderers' job. It is frozen: one is never changed, only replaced by the next.
"""

from __future__ import annotations

import collections
import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field

from ..forecast import MonthForecast, forecast_daily
from ..store._read import Reader

__all__ = [
    "AlertRow",
    "CostCounter",
    "Data",
    "LimitRow",
    "ProjectRow",
    "Ranked",
    "Status",
    "TokenCounter",
    "TokenRow",
    "compute",
]

DAY = 86_400
_EPOCH = dt.date(1970, 1, 1)
#: How many days the daily chart and table show.
DAYS_SHOWN = 30
#: How many rows the top lists keep.
TOP = 10


@dataclass(frozen=True, slots=True)
class ProjectRow:
    """One project's month: ``project_id`` None for costs without a project."""

    project_id: str | None
    project_name: str  # "" when the directory does not name it
    month_to_date_usd: float
    forecast_usd: float
    archived: bool = False


@dataclass(frozen=True, slots=True)
class Ranked:
    """One row of a top list: an ID (or a model), its name, and the amount."""

    key: str | None
    name: str
    usd: float


@dataclass(frozen=True, slots=True)
class TokenRow:
    """Tokens and model requests of one model this month (every usage endpoint)."""

    model: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    model_requests: int


@dataclass(frozen=True, slots=True)
class LimitRow:
    """A hard spend limit, names joined: ``scope`` organization | project | api_key."""

    scope: str
    project_id: str | None
    project_name: str
    api_key_id: str | None
    api_key_name: str
    threshold_usd: float
    enforcement: str | None  # "enforcing" while reached (a state, not a setting)
    month_to_date_usd: float | None  # the scope's spend this month (None: not known)
    forecast_usd: float | None
    crossing_date: dt.date | None  # when the forecast reaches it (or it was reached)


@dataclass(frozen=True, slots=True)
class AlertRow:
    """An email spend alert, names joined."""

    scope: str
    project_id: str | None
    project_name: str
    id: str
    threshold_usd: float
    recipients: tuple[str, ...]
    crossing_date: dt.date | None


@dataclass(frozen=True, slots=True)
class CostCounter:
    """Every cost in the store for one project and line item (a counter's sample)."""

    project_id: str  # "" for costs without a project
    project_name: str
    line_item: str  # "" when the table is not grouped by line item
    usd: float


@dataclass(frozen=True, slots=True)
class TokenCounter:
    """Every token of one endpoint, model and project in the store (counters' samples)."""

    endpoint: str
    model: str
    project_id: str
    project_name: str
    input_tokens: int
    output_tokens: int
    cached_input_tokens: int
    model_requests: int


@dataclass(frozen=True, slots=True)
class Data:
    """Everything every reader needs, from one read of the store (see the module doc)."""

    computed_at: int  # when it was read (Unix seconds)
    month: str  # "2026-12": the UTC month of ``computed_at``
    forecast: MonthForecast  # the organization's (``.projects``: each project's)
    month_to_date_usd: float
    forecast_usd: float
    daily_rate_usd: float
    projects: tuple[ProjectRow, ...]  # with cost this month, most first
    days: tuple[dt.date, ...]  # the last DAYS_SHOWN days, oldest first, today last
    #: Cost per day of ``days`` by project (None key: no project), None where the store
    #: does not cover the day; the projects of the chart, most first, then the rest
    #: summed under ``"(other)"`` when there are many.
    daily: Mapping[str | None, tuple[float | None, ...]]
    daily_names: Mapping[str | None, str]
    top_projects: tuple[Ranked, ...]
    top_models: tuple[Ranked, ...]  # cost this month by model (from the line items)
    top_keys: tuple[Ranked, ...]  # cost this month by API key
    tokens: tuple[TokenRow, ...]  # this month, by model, most input tokens first
    limits: tuple[LimitRow, ...]
    alerts: tuple[AlertRow, ...]
    limits_read: bool  # False: no sync could read the limits (a key without the scope)
    data_until: Mapping[str, int]  # table -> the end of its data
    costs_until: int | None  # the end of the costs table's data
    cost_counters: tuple[CostCounter, ...]
    token_counters: tuple[TokenCounter, ...]
    names: Mapping[str, str] = field(default_factory=dict)  # project id -> name


@dataclass(frozen=True, slots=True)
class Status:
    """How the sync loop is doing, as readers show it (``/healthz``, ``openai_usage_up``,
    the dashboard's freshness line). Times are Unix seconds."""

    started_at: int  # when the app started
    every_s: float  # the configured period
    period_s: float  # the period now (doubled after 3 failures in a row, up to 8x)
    syncing: bool  # a sync is running now
    syncs: int  # syncs that ended, well or not
    failures_total: int
    consecutive_failures: int
    last_success_at: int | None  # when the last successful sync ended
    last_duration_s: float | None  # the last sync's wall time, well or not
    last_error: str | None  # the last sync's error, if it failed (never holds the key)
    #: Who holds the store while this process waits to sync it ("process 1234"), else None.
    waiting_for: str | None = None

    @property
    def up(self) -> bool:
        """The last sync succeeded (False before the first one ends)."""
        return self.last_success_at is not None and self.consecutive_failures == 0


def _day(t: int) -> dt.date:
    return _EPOCH + dt.timedelta(days=t // DAY)


def _seconds(day: dt.date) -> int:
    return (day - _EPOCH).days * DAY


def _model_of(line_item: str | None) -> str:
    """A line item's model: ``"gpt-4o-2024-08-06, input"`` -> ``gpt-4o-2024-08-06``; the
    line item itself for what no model prices (``"web search tool calls"``)."""
    if not line_item:
        return "(no line item)"
    return line_item.split(", ", 1)[0]


def _ranked(amounts: Mapping[str | None, float], names: Mapping[str, str]) -> tuple[Ranked, ...]:
    top = sorted(amounts.items(), key=lambda kv: (-kv[1], kv[0] or ""))[:TOP]
    return tuple(Ranked(k, names.get(k or "", ""), round(v, 6)) for k, v in top if v)


def compute(
    reader: Reader, *, now: int, usage_tables: Sequence[str], lookback_days: int = 7
) -> Data:
    """Read every figure from one read session of the store, at ``now`` (Unix seconds).

    ``usage_tables`` are the tables whose tokens count (one width per endpoint, so no
    usage is counted twice: the widths ``serve`` syncs). Raises ``LookupError`` when the
    store has no ``costs_1d``.
    """
    today = _day(now)
    month_start = today.replace(day=1)
    first = min(month_start, today - dt.timedelta(days=max(lookback_days, DAYS_SHOWN - 1)))
    start_s, end_s, month_s = _seconds(first), now + 1, _seconds(month_start)
    days = reader.cost_days(start_s, end_s)
    forecast = forecast_daily(
        days.organization,
        covered=days.covered,
        now=now,
        lookback_days=lookback_days,
        projects=days.projects,
        api_keys=days.api_keys if days.by_key else None,
    )
    directory = reader.directory()
    project_names = {p.id: p.name or "" for p in directory.projects} if directory else {}
    archived = {p.id for p in directory.projects if p.status == "archived"} if directory else set()
    key_names = {k.id: k.name or "" for k in directory.api_keys} if directory else {}

    projects = tuple(
        sorted(
            (
                ProjectRow(
                    project_id or None,
                    project_names.get(project_id, ""),
                    p.month_to_date,
                    p.forecast,
                    project_id in archived,
                )
                for project_id, p in forecast.projects.items()
                if p.month_to_date
            ),
            key=lambda r: (-r.month_to_date_usd, r.project_id or ""),
        )
    )

    shown = tuple(today - dt.timedelta(days=n) for n in range(DAYS_SHOWN - 1, -1, -1))
    totals = collections.Counter(
        {k: sum(v.get(d, 0.0) for d in shown) for k, v in days.projects.items()}
    )
    chart_keys = [k for k, v in totals.most_common() if v][:8]
    rest = [k for k in days.projects if k not in chart_keys]
    daily: dict[str | None, tuple[float | None, ...]] = {}
    for key in chart_keys:
        daily[key or None] = _series(shown, days.projects[key], days.covered, today)
    if rest and any(totals[k] for k in rest):
        summed: dict[dt.date, float] = collections.defaultdict(float)
        for key in rest:
            for d, v in days.projects[key].items():
                summed[d] += v
        daily["(other)"] = _series(shown, summed, days.covered, today)
    daily_names = {k: project_names.get(k or "", "") for k in daily}
    daily_names["(other)"] = "other projects" if "(other)" in daily else ""

    this_month = reader.cost_totals(month_s, end_s)
    by_project: dict[str | None, float] = collections.defaultdict(float)
    by_model: dict[str | None, float] = collections.defaultdict(float)
    by_key: dict[str | None, float] = collections.defaultdict(float)
    for c in this_month:
        by_project[c.project_id] += c.usd
        by_model[_model_of(c.line_item)] += c.usd
        if c.api_key_id is not None:
            by_key[c.api_key_id] += c.usd

    tokens: dict[str, list[int]] = collections.defaultdict(lambda: [0, 0, 0, 0])
    token_counters: list[TokenCounter] = []
    for table in usage_tables:
        if reader.table(table) is None:
            continue
        for u in reader.usage_totals(table, month_s, end_s):
            row = tokens[u.model or "(all models)"]
            for i, v in enumerate(
                (u.input_tokens, u.output_tokens, u.cached_input_tokens, u.model_requests)
            ):
                row[i] += v
        for u in reader.usage_totals(table):
            if not (u.input_tokens or u.output_tokens or u.model_requests):
                continue
            token_counters.append(
                TokenCounter(
                    u.endpoint,
                    u.model or "",
                    u.project_id or "",
                    project_names.get(u.project_id or "", ""),
                    u.input_tokens,
                    u.output_tokens,
                    u.cached_input_tokens,
                    u.model_requests,
                )
            )

    limits, alerts = _limits(reader, forecast, project_names, key_names)
    coverage = reader.coverage()
    data_until = {c.table: c.end for c in coverage if c.end is not None}
    return Data(
        computed_at=now,
        month=forecast.month,
        forecast=forecast,
        month_to_date_usd=forecast.month_to_date,
        forecast_usd=forecast.forecast,
        daily_rate_usd=forecast.daily_rate,
        projects=projects,
        days=shown,
        daily=daily,
        daily_names=daily_names,
        top_projects=_ranked(by_project, project_names),
        top_models=_ranked(by_model, {}),
        top_keys=_ranked(by_key, key_names),
        tokens=tuple(
            TokenRow(model, *values)
            for model, values in sorted(tokens.items(), key=lambda kv: (-kv[1][0], kv[0]))
            if any(values)
        ),
        limits=limits,
        alerts=alerts,
        limits_read=reader.spend_limits() is not None,
        data_until=data_until,
        costs_until=data_until.get("costs_1d"),
        cost_counters=_cost_counters(reader, project_names),
        token_counters=tuple(token_counters),
        names=project_names,
    )


def _cost_counters(reader: Reader, project_names: Mapping[str, str]) -> tuple[CostCounter, ...]:
    # Summed over the API keys: the counter is by project and line item.
    summed: dict[tuple[str, str], float] = collections.defaultdict(float)
    for c in reader.cost_totals():
        summed[c.project_id or "", c.line_item or ""] += c.usd
    return tuple(
        CostCounter(project, project_names.get(project, ""), item, usd)
        for (project, item), usd in sorted(summed.items())
    )


def _series(
    shown: Iterable[dt.date], values: Mapping[dt.date, float], covered: set[dt.date], today: dt.date
) -> tuple[float | None, ...]:
    # Today is partial and never "covered": shown as what the store holds so far.
    return tuple(
        values.get(d, 0.0) if d in covered or d == today or d in values else None for d in shown
    )


def _limits(
    reader: Reader,
    forecast: MonthForecast,
    project_names: Mapping[str, str],
    key_names: Mapping[str, str],
) -> tuple[tuple[LimitRow, ...], tuple[AlertRow, ...]]:
    def scope_of(
        scope: str, project_id: str | None, api_key_id: str | None
    ) -> MonthForecast | None:
        if scope == "organization":
            return forecast
        if scope == "project":
            return forecast.projects.get(project_id or "")
        return forecast.api_keys.get(api_key_id or "")

    limits = []
    for row in reader.spend_limits() or []:
        f = scope_of(row.scope, row.project_id, row.api_key_id)
        limits.append(
            LimitRow(
                row.scope,
                row.project_id,
                project_names.get(row.project_id or "", ""),
                row.api_key_id,
                key_names.get(row.api_key_id or "", ""),
                row.threshold_usd,
                row.enforcement,
                f.month_to_date if f is not None else None,
                f.forecast if f is not None else None,
                f.threshold(row.threshold_usd).crossing_date if f is not None else None,
            )
        )
    alerts = []
    for a in reader.spend_alerts() or []:
        f = scope_of(a.scope, a.project_id, None)
        alerts.append(
            AlertRow(
                a.scope,
                a.project_id,
                project_names.get(a.project_id or "", ""),
                a.id,
                a.threshold_usd,
                a.recipients,
                f.threshold(a.threshold_usd).crossing_date if f is not None else None,
            )
        )
    return tuple(limits), tuple(alerts)
