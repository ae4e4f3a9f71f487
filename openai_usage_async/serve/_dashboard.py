"""The dashboard (``GET /``): one self-contained HTML page, rendered once per sync.

Theory of operation
-------------------
The page is for people: an on-call glancing at a wall screen, a lead on a phone. It is
drawn on the server from a :class:`~._snapshot.Data` and a :class:`~._snapshot.Status`,
once per sync; the app serves the same bytes to every request until the next sync. So
the page must be complete as served:

* **Nothing fetched.** No script, style sheet, font or image by URL: the CSS is inline,
  the charts are inline ``<svg>`` the server draws, and the favicon is an empty ``data:``
  one (else browsers ask the server for ``/favicon.ico``). The page holds no URL at all.
* **Complete without JavaScript.** Every chart has a ``<table>`` of the same numbers
  beside it (and an SVG ``<title>``), so it reads the same with scripts off and in a
  screen reader. The one inline script only keeps the "... ago" texts current between
  reloads; without it they count from the page's making, which is at most one sync
  period ago.
* **Current.** A ``<meta http-equiv="refresh">`` reloads it at the sync period (15 s at
  the least, and every 15 s until the first sync has ended).
* **Responsive charts with no media queries.** The charts place bars with percentages
  of the SVG's width and heights in pixels, so they stretch to any width while their
  text keeps its size: labels stay readable at 390 px and at 1280 px. Wide tables scroll
  inside their own box; the page itself never scrolls sideways.
* **Escaped.** Every string that comes from the store (project, key and model names,
  the last sync's error) goes through :func:`html.escape` (:func:`_e`). No template
  library: the page is loops over rows and chart geometry, which plain functions
  returning strings say as clearly, and the skeleton is a :class:`string.Template`.

Money is in USD like ``$1,234.56``; days and times are UTC. A day the store does not
cover is marked "no data", never drawn or counted as $0.
"""

from __future__ import annotations

import datetime as dt
import html
import math
import string
import time
from collections.abc import Sequence
from dataclasses import dataclass

from .._version import __version__
from ._snapshot import AlertRow, Data, LimitRow, Ranked, Status

__all__ = ["render_page"]

_MONTHS = (
    "January",
    "February",
    "March",
    "April",
    "May",
    "June",
    "July",
    "August",
    "September",
    "October",
    "November",
    "December",
)
_WEEKDAYS = ("Mon", "Tue", "Wed", "Thu", "Fri", "Sat", "Sun")
#: The stacked bars' colours (Tableau 10), most spending project first; "other" is grey.
_PALETTE = (
    "#4e79a7",
    "#f28e2b",
    "#59a14f",
    "#e15759",
    "#76b7b2",
    "#edc948",
    "#b07aa1",
    "#ff9da7",
    "#9c755f",
)
_OTHER_COLOUR = "#bab0ac"
_OTHER = "(other)"  # the key under which the snapshot sums the projects the chart leaves out
#: The fewest seconds between reloads: a 0.5 s sync period must not reload the page twice
#: a second.
_MIN_REFRESH_S = 15
#: A limit's enforcement is a state the service reports, not a setting.
_STATES = {"enforcing": "reached, blocking requests", "inactive": "not blocking"}
_NB = "\u00a0"  # a no-break space: "5 min" never splits across lines


def render_page(
    data: Data | None, status: Status, *, every_s: float, now: float | None = None
) -> bytes:
    """The dashboard as UTF-8 HTML, to serve as-is (``text/html; charset=utf-8``).

    ``data`` is the last successful sync's snapshot: None before one has ended, and the
    page then says the first sync is in progress (or that syncs fail, and why).
    ``status`` is the sync loop's state; ``every_s`` the sync period, at which the page
    reloads itself (15 s at the least). ``now`` (Unix seconds; the clock by default) is
    when the page is made: its "... ago" texts count from it.
    """
    at = time.time() if now is None else now
    refresh = _MIN_REFRESH_S if data is None else max(_MIN_REFRESH_S, round(every_s))
    if data is None:
        title = "OpenAI usage: " + ("no data yet" if status.syncs else "first sync in progress")
        heading = "OpenAI usage"
        summary = ""
        body = _waiting(status, at)
    else:
        title = f"{_usd(data.month_to_date_usd)} this month · OpenAI usage"
        heading = f"OpenAI usage · {_month_name(data.month)}"
        summary = _summary(data, status, at)
        body = "".join(
            (
                _banners(data, status),
                _this_month(data),
                _daily(data),
                _limits_table(data),
                _projects(data),
                _top(data),
                _tokens(data),
            )
        )
    page = _PAGE.substitute(
        refresh=refresh,
        title=_e(title),
        css=_CSS,
        heading=_e(heading),
        pill=_pill(status),
        summary=summary,
        body=body,
        freshness=_freshness(data, status, every_s, at),
        built=_moment(at),
        every=_period(refresh),
        version=_e(__version__),
        script=_SCRIPT,
    )
    return page.encode("utf-8")


# -- formatting ------------------------------------------------------------------------


def _e(text: str) -> str:
    return html.escape(text, quote=True)


def _usd(value: float) -> str:
    cents = round(value, 2)
    if cents == 0:
        return "$0.00"
    return f"-${-cents:,.2f}" if cents < 0 else f"${cents:,.2f}"


def _maybe_usd(value: float | None) -> str:
    return "not known" if value is None else _usd(value)


def _month_name(month: str) -> str:
    year, number = month.split("-")
    return f"{_MONTHS[int(number) - 1]} {year}"


def _short_day(day: dt.date) -> str:
    return f"{_MONTHS[day.month - 1][:3]} {day.day}"


def _day_words(day: dt.date) -> str:
    return f"{_WEEKDAYS[day.weekday()]} {_short_day(day)}"


def _moment(t: float) -> str:
    return dt.datetime.fromtimestamp(t, dt.UTC).strftime("%Y-%m-%d %H:%M UTC")


def _span(seconds: float) -> str:
    """How long, in the largest units that fit (the inline script's rule too); a
    no-break space keeps each number on its unit's line."""
    s = max(0.0, seconds)
    if s < 60:
        return f"{int(s)}{_NB}s"
    if s < 3600:
        return f"{int(s // 60)}{_NB}min"
    if s < 2 * 86_400:
        hours, minutes = int(s // 3600), int(s % 3600 // 60)
        return f"{hours}{_NB}h {minutes}{_NB}min" if minutes else f"{hours}{_NB}h"
    return f"{int(s // 86_400)}{_NB}days"


def _ago(t: float, at: float) -> str:
    # data-since: the inline script rewrites the text from the browser's clock.
    return f'<span data-since="{t:.0f}">{_span(at - t)} ago</span>'


def _period(seconds: float) -> str:
    if seconds >= 3600 and seconds % 3600 == 0:
        return f"{seconds / 3600:g}{_NB}h"
    if seconds >= 60 and seconds % 60 == 0:
        return f"{seconds / 60:g}{_NB}min"
    return f"{seconds:g}{_NB}s"


def _pct(value: float, top: float) -> str:
    return f"{100 * max(value, 0.0) / top:.3f}%"


def _axis(high: float, most: int) -> tuple[float, list[float]]:
    """An axis for values up to ``high``: its end, a little above ``high``, and round
    ticks from 0 up to the end, at most ``most`` of them after 0."""
    top = high * 1.06 if high > 0 else 1.0
    magnitude = 10 ** math.floor(math.log10(top / most))
    step = magnitude * 10
    for factor in (1, 2, 2.5, 5):
        if top // (factor * magnitude) <= most:
            step = factor * magnitude
            break
    return top, [step * i for i in range(int(top // step) + 1)]


def _tick_anchor(i: int, x: float) -> str:
    # The first label starts at its tick, one near the right edge ends there.
    return "start" if i == 0 else "end" if x > 0.9 else "middle"


def _tick_labels(ticks: Sequence[float]) -> list[str]:
    """An axis' labels, alike and short (the daily chart's margin is 56 px)."""
    high = ticks[-1]
    step = ticks[1] - ticks[0] if len(ticks) > 1 else high or 1.0
    if high >= 1_000_000:
        return [f"${v / 1e6:,.{_decimals(step / 1e6)}f}M" if v else "$0" for v in ticks]
    if high >= 100_000:
        return [f"${v / 1e3:,.{_decimals(step / 1e3)}f}k" if v else "$0" for v in ticks]
    decimals = max(_decimals(step), 2) if step < 1 else _decimals(step)
    return [f"${v:,.{decimals}f}" if v else "$0" for v in ticks]


def _decimals(step: float) -> int:
    # Enough digits to tell a step from the next (2.5 needs one).
    for decimals in range(6):
        if abs(round(step, decimals) - step) < step * 1e-6:
            return decimals
    return 6


def _plural(n: int, word: str) -> str:
    return f"{n} {word}" if n == 1 else f"{n} {word}s"


# -- names -----------------------------------------------------------------------------


def _project_text(project_id: str | None, name: str) -> str:
    """A project as plain text (legends, SVG titles): its name, else its ID."""
    if not project_id:
        return "No project"
    if project_id == _OTHER:
        return "Other projects"
    return name or project_id


def _project_cell(project_id: str | None, name: str, archived: bool = False) -> str:
    """A project in a table: its name with its ID below, or its ID alone when the
    directory does not name it; marked when archived."""
    if not project_id:
        return '<span class="none">No project</span>'
    tag = ' <span class="tag">archived</span>' if archived else ""
    if not name:
        return (
            f'<span class="id main">{_e(project_id)}</span> <span class="none">(unnamed)</span>'
            f"{tag}"
        )
    return f'{_e(name)}{tag}<br><span class="id">{_e(project_id)}</span>'


def _key_cell(key_id: str | None, name: str) -> str:
    if not key_id:
        return '<span class="none">No API key</span>'
    if not name:
        return f'<span class="id main">{_e(key_id)}</span> <span class="none">(unnamed)</span>'
    return f'{_e(name)}<br><span class="id">{_e(key_id)}</span>'


def _archived(data: Data) -> set[str]:
    return {p.project_id for p in data.projects if p.archived and p.project_id}


# -- the state of the sync loop --------------------------------------------------------


def _pill(status: Status) -> str:
    if status.last_success_at is None:
        if status.syncs:
            return '<p class="pill bad">● No sync has succeeded yet</p>'
        return '<p class="pill wait">● First sync in progress</p>'
    if status.consecutive_failures:
        return '<p class="pill bad">● Syncs failing: showing the last good data</p>'
    return '<p class="pill ok">● Up to date</p>'


def _summary(data: Data, status: Status, at: float) -> str:
    parts = []
    if data.costs_until is not None:
        parts.append(f"Costs data until {_moment(data.costs_until)}")
    if status.last_success_at is not None:
        parts.append(f"last sync {_ago(status.last_success_at, at)}")
    return f'<p class="summary">{" · ".join(parts)}</p>' if parts else ""


def _waiting(status: Status, at: float) -> str:
    if not status.syncs:
        text = (
            "<strong>First sync in progress.</strong> The numbers appear here when it "
            f"ends; this page reloads every {_period(_MIN_REFRESH_S)}. It started "
            f"{_ago(status.started_at, at)}."
        )
        if status.waiting_for:
            text += (
                f" It waits for {_e(status.waiting_for)}, which holds the store (a sync "
                "of its own)."
            )
        kind = "banner"
    else:
        text = (
            f"<strong>No sync has succeeded yet</strong> "
            f"({_plural(status.failures_total, 'failure')}"
            + (", one sync running now" if status.syncing else "")
            + f"); the next try is within {_e(_period(status.period_s))}."
        )
        kind = "banner bad"
    return (
        '<section aria-labelledby="waiting"><h2 id="waiting">Waiting for data</h2>'
        f'<div class="{kind}" role="status"><p>{text}</p>{_error(status)}</div></section>'
    )


def _error(status: Status) -> str:
    if status.last_error is None or not status.consecutive_failures:
        return ""
    return f'<pre class="error">{_e(status.last_error)}</pre>'


def _banners(data: Data, status: Status) -> str:
    out = []
    if status.consecutive_failures:
        n = status.consecutive_failures
        last = status.last_success_at
        when = f", at {_moment(last)}" if last is not None else ""
        out.append(
            f'<div class="banner bad" role="status"><p><strong>The last {_plural(n, "sync")} '
            f"failed.</strong> The numbers below are from the last successful sync{when}."
            f"</p>{_error(status)}</div>"
        )
    until = data.costs_until
    if until is not None and data.computed_at - until > 86_400:
        out.append(
            '<div class="banner warn" role="status"><p><strong>The costs data ends at '
            f"{_moment(until)}</strong>, {_span(data.computed_at - until)} before the "
            "last sync: the service may be late, or the sync may not reach it.</p></div>"
        )
    return "".join(out)


def _freshness(data: Data | None, status: Status, every_s: float, at: float) -> str:
    rows = []
    if data is not None:
        until = data.costs_until
        rows.append(
            (
                "Costs data until",
                f"{_moment(until)} ({_ago(until, at)})" if until is not None else "no costs data",
            )
        )
    last = status.last_success_at
    took = (
        f"; it took {status.last_duration_s:.1f} s"
        if status.last_duration_s is not None and not status.consecutive_failures
        else ""
    )
    rows.append(
        (
            "Last successful sync",
            f"{_moment(last)} ({_ago(last, at)}){took}" if last is not None else "none yet",
        )
    )
    period = f"every {_e(_period(every_s))}"
    if status.period_s != every_s:
        period += (
            f"; now every {_e(_period(status.period_s))} after "
            f"{_plural(status.consecutive_failures, 'failure')} in a row"
        )
    rows.append(("Sync period", period))
    running = "; one is running now" if status.syncing else ""
    if status.waiting_for:
        running += f", waiting for {_e(status.waiting_for)}, which holds the store"
    rows.append(
        (
            "Syncs",
            f"{status.syncs} since the start at {_moment(status.started_at)}, "
            f"{status.failures_total} failed{running}",
        )
    )
    if status.last_error is not None:
        label = "Last error" if status.consecutive_failures else "Last error (since recovered)"
        rows.append((label, f'<pre class="error">{_e(status.last_error)}</pre>'))
    items = "".join(f"<dt>{k}</dt><dd>{v}</dd>" for k, v in rows)
    tables = ""
    if data is not None and data.data_until:
        body = "".join(
            f'<tr><th scope="row">{_e(table)}</th><td>{_moment(end)}</td></tr>'
            for table, end in sorted(data.data_until.items())
        )
        tables = (
            "<details><summary>Data until, per table</summary>"
            '<div class="scroll" role="region" aria-label="Data until, per table" tabindex="0">'
            "<table><caption>The end of each table's data in the store</caption>"
            '<thead><tr><th scope="col">Table</th><th scope="col">Data until</th></tr></thead>'
            f"<tbody>{body}</tbody></table></div></details>"
        )
    return (
        '<section aria-labelledby="freshness"><h2 id="freshness">Data freshness</h2>'
        f'<dl class="facts">{items}</dl>{tables}</section>'
    )


# -- this month: figures, and each scope against its limits and alerts ------------------


def _kpi(label: str, value: str, note: str) -> str:
    return (
        f'<div class="kpi"><p class="label">{label}</p><p class="value">{value}</p>'
        f'<p class="note">{note}</p></div>'
    )


def _this_month(data: Data) -> str:
    f = data.forecast
    org_limits = [row for row in data.limits if row.scope == "organization"]
    if org_limits:
        limit = org_limits[0]
        limit_value = _usd(limit.threshold_usd)
        state = _e(_STATES.get(limit.enforcement or "", "state unknown"))
        if limit.threshold_usd > 0:
            limit_note = (
                f"{state}; the forecast is {data.forecast_usd / limit.threshold_usd:.0%} of it"
            )
        else:
            limit_note = state
    elif data.limits_read:
        limit_value, limit_note = "none", "no hard limit is set for the organization"
    else:
        limit_value, limit_note = "not read", "no sync could read the limits"
    rate_days = len(f.rate_days)
    kpis = (
        _kpi(
            "Month to date",
            f'<data id="month-to-date" value="{data.month_to_date_usd!r}">'
            f"{_usd(data.month_to_date_usd)}</data>",
            f"{_short_day(f.month_start)} to {_short_day(f.today)}; today so far "
            f"{_usd(f.today_cost)}",
        ),
        _kpi(
            "Forecast, month end",
            f'<data id="forecast" value="{data.forecast_usd!r}">{_usd(data.forecast_usd)}</data>',
            f"{_plural(f.days_in_month - f.today.day, 'day')} to go after today",
        ),
        _kpi(
            "Daily rate",
            _usd(data.daily_rate_usd),
            f"the mean of the {_plural(rate_days, 'day')} with data among the "
            f"{f.lookback_days} before today",
        ),
        _kpi("Organization hard limit", limit_value, limit_note),
    )
    organization = _scopes(data)[0]
    return (
        '<section aria-labelledby="month"><h2 id="month">This month</h2>'
        f'<div class="kpis">{"".join(kpis)}</div>'
        f"{_BULLET_LEGEND}{_bullet(0, organization, f.today)}</section>"
    )


@dataclass(frozen=True, slots=True)
class _Scope:
    """The organization, a project or an API key, with its limits and alerts."""

    heading: str  # HTML
    name: str  # plain text
    month_to_date: float | None
    forecast: float | None
    limits: tuple[LimitRow, ...]
    alerts: tuple[AlertRow, ...]


def _scope_spend(data: Data, project_id: str | None) -> tuple[float | None, float | None]:
    if project_id is None:
        return data.month_to_date_usd, data.forecast_usd
    p = data.forecast.projects.get(project_id)
    return (p.month_to_date, p.forecast) if p is not None else (None, None)


def _scopes(data: Data) -> list[_Scope]:
    """The organization; then each project with a limit or an alert, most spending
    first; then each API key with a limit."""
    scopes = [
        _Scope(
            "Organization",
            "Organization",
            data.month_to_date_usd,
            data.forecast_usd,
            tuple(r for r in data.limits if r.scope == "organization"),
            tuple(a for a in data.alerts if a.scope == "organization"),
        )
    ]
    names: dict[str, str] = {}
    for row in data.limits:
        if row.scope == "project" and row.project_id:
            names.setdefault(row.project_id, row.project_name)
    for alert in data.alerts:
        if alert.scope == "project" and alert.project_id:
            names.setdefault(alert.project_id, alert.project_name)
    archived = _archived(data)
    projects = []
    for project_id, name in names.items():
        mtd, forecast = _scope_spend(data, project_id)
        text = _project_text(project_id, name) + (" (archived)" if project_id in archived else "")
        projects.append(
            _Scope(
                f"Project {_e(text)}",
                f"Project {text}",
                mtd,
                forecast,
                tuple(
                    r for r in data.limits if r.scope == "project" and r.project_id == project_id
                ),
                tuple(
                    a for a in data.alerts if a.scope == "project" and a.project_id == project_id
                ),
            )
        )
    projects.sort(key=lambda s: (-(s.month_to_date or 0.0), s.name))
    scopes += projects
    for row in data.limits:
        if row.scope == "api_key":
            key = row.api_key_name or row.api_key_id or "unknown"
            project = f" (project {_project_text(row.project_id, row.project_name)})"
            name = f"API key {key}" + (project if row.project_id else "")
            scopes.append(
                _Scope(_e(name), name, row.month_to_date_usd, row.forecast_usd, (row,), ())
            )
    return scopes


_BULLET_LEGEND = (
    '<ul class="legend" aria-label="Legend of the charts below">'
    '<li><span class="sw" style="background:#1f4e79"></span>Month to date</li>'
    '<li><span class="sw" style="background:#9ecae1"></span>Forecast, month end</li>'
    '<li><span class="sw rule"></span>Hard limit</li>'
    '<li><span class="sw rule dashed"></span>Alert</li>'
    "</ul>"
)


def _reach(threshold: float, mtd: float | None, crossing: dt.date | None, today: dt.date) -> str:
    """When a threshold is (or will be) reached this month, in words."""
    if mtd is not None and mtd >= threshold:
        return f"reached on {_day_words(crossing)}" if crossing is not None else "reached"
    if crossing is not None:
        if crossing == today:
            return "the forecast reaches it today"
        return f"the forecast reaches it on {_day_words(crossing)}"
    if mtd is None:
        return "no cost data for this scope"
    return "the forecast stays below it"


def _bullet(index: int, scope: _Scope, today: dt.date) -> str:
    """One scope's month: a bar to date inside a lighter one to the forecast, a solid
    line at each hard limit and a dashed one at each alert; then the same in words."""
    mtd, forecast = scope.month_to_date, scope.forecast
    values = [v for v in (mtd, forecast) if v is not None]
    values += [r.threshold_usd for r in scope.limits] + [a.threshold_usd for a in scope.alerts]
    top, ticks = _axis(max([*values, 0.0]), 4)
    parts = ['<rect class="track" x="0" y="20" width="100%" height="24"/>']
    if forecast is not None:
        parts.append(f'<rect class="fc" x="0" y="20" width="{_pct(forecast, top)}" height="24"/>')
    if mtd is not None:
        parts.append(f'<rect class="mtd" x="0" y="25" width="{_pct(mtd, top)}" height="14"/>')
    for alert in scope.alerts:
        x = _pct(alert.threshold_usd, top)
        parts.append(f'<line class="alert" x1="{x}" x2="{x}" y1="14" y2="50"/>')
    for row in scope.limits:
        x = _pct(row.threshold_usd, top)
        right = row.threshold_usd / top > 0.8
        parts.append(
            f'<line class="limit" x1="{x}" x2="{x}" y1="4" y2="50"/>'
            f'<text class="lbl" x="{x}" dx="{-5 if right else 5}" y="13" '
            f'text-anchor="{"end" if right else "start"}">limit</text>'
        )
    for i, (tick, label) in enumerate(zip(ticks, _tick_labels(ticks), strict=True)):
        anchor = _tick_anchor(i, tick / top)
        parts.append(
            f'<text class="tick" x="{_pct(tick, top)}" y="64" text-anchor="{anchor}">{label}</text>'
        )
    words = [f"month to date {_maybe_usd(mtd)}", f"forecast {_maybe_usd(forecast)}"]
    items = []
    for row in scope.limits:
        state = _STATES.get(row.enforcement or "", "state unknown")
        reach = _reach(row.threshold_usd, mtd, row.crossing_date, today)
        words.append(f"hard limit {_usd(row.threshold_usd)}: {reach}, {state}")
        css = "state bad" if row.enforcement == "enforcing" else "state"
        items.append(
            f"<li><strong>Hard limit {_usd(row.threshold_usd)}</strong>: {_e(reach)}; "
            f'<span class="{css}">{_e(state)}</span></li>'
        )
    for alert in sorted(scope.alerts, key=lambda a: a.threshold_usd):
        reach = _reach(alert.threshold_usd, mtd, alert.crossing_date, today)
        words.append(f"alert at {_usd(alert.threshold_usd)}: {reach}")
        items.append(f"<li><strong>Alert at {_usd(alert.threshold_usd)}</strong>: {_e(reach)}</li>")
    if not scope.limits and not scope.alerts:
        items.append("<li>No hard limit and no alert is set.</li>")
    label = f"{scope.name}: " + "; ".join(words) + "."
    figures = (
        f"<strong>{_usd(mtd)}</strong> so far, <strong>{_maybe_usd(forecast)}</strong> forecast"
        if mtd is not None
        else "No cost data for this scope"
    )
    return (
        f'<div class="scope"><h3>{scope.heading}</h3><p class="figures">{figures}</p>'
        f'<svg class="bullet" width="100%" height="70" role="img" '
        f'aria-labelledby="bullet-{index}"><title id="bullet-{index}">{_e(label)}</title>'
        f"{''.join(parts)}</svg>"
        f'<ul class="reach">{"".join(items)}</ul></div>'
    )


def _limits_table(data: Data) -> str:
    head = '<section aria-labelledby="limits"><h2 id="limits">Limits and alerts</h2>'
    if not data.limits_read:
        return (
            f"{head}<p>No sync could read the spend limits and alerts (the admin key may "
            "lack the permission), so none are shown.</p></section>"
        )
    if not data.limits and not data.alerts:
        return f"{head}<p>No hard spend limit and no spend alert is set.</p></section>"
    today = data.forecast.today
    others = _scopes(data)[1:]
    charts = (
        f'{_BULLET_LEGEND}<div class="scopes">'
        + "".join(_bullet(i, scope, today) for i, scope in enumerate(others, 1))
        + "</div>"
        if others
        else ""
    )
    archived = _archived(data)
    rows = []
    for row in data.limits:
        state = _STATES.get(row.enforcement or "", "state unknown")
        css = "state bad" if row.enforcement == "enforcing" else "state"
        reach = _reach(row.threshold_usd, row.month_to_date_usd, row.crossing_date, today)
        rows.append(
            _limit_row(
                "Hard limit",
                row.threshold_usd,
                _scope_cell(row.scope, row.project_id, row.project_name, archived, row),
                f'{_e(reach)}; <span class="{css}">{_e(state)}</span>',
            )
        )
    for alert in sorted(
        data.alerts, key=lambda a: (a.scope != "organization", a.project_name, a.threshold_usd)
    ):
        mtd, _ = _scope_spend(data, alert.project_id if alert.scope == "project" else None)
        reach = _reach(alert.threshold_usd, mtd, alert.crossing_date, today)
        rows.append(
            _limit_row(
                "Email alert",
                alert.threshold_usd,
                _scope_cell(alert.scope, alert.project_id, alert.project_name, archived, None),
                f"{_e(reach)}; emails {_plural(len(alert.recipients), 'recipient')}",
            )
        )
    return (
        f'{head}{charts}{_scroll("Limits and alerts")}<table class="limits">'
        "<caption>Hard spend limits and email spend alerts: when this month's spend "
        "reached each, or when the forecast does, and the limit's state</caption>"
        '<thead><tr><th scope="col">Limit or alert</th><th scope="col">Scope</th>'
        '<th scope="col">Status</th></tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def _scope_cell(
    scope: str,
    project_id: str | None,
    project_name: str,
    archived: set[str],
    row: LimitRow | None,
) -> str:
    if scope == "organization":
        return "Organization"
    if scope == "project":
        return "Project " + _project_cell(project_id, project_name, project_id in archived)
    if scope == "api_key" and row is not None:
        project = (
            f'<br><span class="sub">in project {_e(_project_text(project_id, project_name))}</span>'
            if project_id
            else ""
        )
        return "API key " + _key_cell(row.api_key_id, row.api_key_name) + project
    return _e(scope)


def _limit_row(kind: str, threshold: float, scope: str, status: str) -> str:
    return (
        f'<tr><th scope="row">{kind}<br><strong>{_usd(threshold)}</strong></th>'
        f"<td>{scope}</td><td>{status}</td></tr>"
    )


def _scroll(label: str) -> str:
    # A box that scrolls a wide table on a narrow screen, reachable by keyboard.
    return f'<div class="scroll" role="region" aria-label="{_e(label)}" tabindex="0">'


# -- the last 30 days ------------------------------------------------------------------


def _daily(data: Data) -> str:
    head = '<section aria-labelledby="daily"><h2 id="daily">Daily cost, last 30 days</h2>'
    keys = list(data.daily)
    if not keys or not data.days:
        return f"{head}<p>No cost in the store for the last {len(data.days)} days.</p></section>"
    archived = _archived(data)
    today = data.forecast.today
    names = {
        k: _project_text(k, data.daily_names.get(k, ""))
        + (" (archived)" if k is not None and k in archived else "")
        for k in keys
    }
    colours: dict[str | None, str] = {}
    for k in keys:
        colours[k] = _OTHER_COLOUR if k == _OTHER else _PALETTE[len(colours) % len(_PALETTE)]
    columns = [[data.daily[k][i] for k in keys] for i in range(len(data.days))]
    missing = [all(v is None for v in col) for col in columns]
    totals = [math.fsum(v for v in col if v is not None) for col in columns]
    not_covered = [d for d, m in zip(data.days, missing, strict=True) if m]
    legend = "".join(
        f'<li><span class="sw" style="background:{colours[k]}"></span>{_e(names[k])}</li>'
        for k in keys
    )
    if not_covered:
        legend += '<li><span class="sw hatch"></span>No data (not synced)</li>'
    legend += '<li><span class="sw today"></span>Today, so far</li>'
    first, last = _short_day(data.days[0]), _short_day(data.days[-1])
    desc = f"Stacked bars of the cost of each day by project, {first} to {last}"
    if not_covered:
        desc += "; no data for " + ", ".join(_short_day(d) for d in not_covered)
    desc += ". The table below holds the same numbers."
    return (
        f'{head}<ul class="legend" aria-label="Projects in the chart">{legend}</ul>'
        f"{_daily_chart(data, keys, names, colours, columns, missing, totals, today, desc)}"
        "<details><summary>The same numbers as a table</summary>"
        f"{_daily_table(data, keys, names, columns, missing, totals, today)}</details></section>"
    )


def _daily_chart(
    data: Data,
    keys: list[str | None],
    names: dict[str | None, str],
    colours: dict[str | None, str],
    columns: list[list[float | None]],
    missing: list[bool],
    totals: list[float],
    today: dt.date,
    desc: str,
) -> str:
    top_y, bottom_y = 10, 212  # the plot's top and its baseline, in pixels
    top, ticks = _axis(max(totals, default=0.0), 4)
    height = bottom_y - top_y
    n = len(data.days)
    slot = 100 / n
    parts = [
        '<defs><pattern id="hatch" width="6" height="6" patternUnits="userSpaceOnUse" '
        'patternTransform="rotate(45)"><rect width="6" height="6" fill="#f3f4f6"/>'
        '<line x1="0" y1="0" x2="0" y2="6" stroke="#8c959f" stroke-width="2"/></pattern></defs>'
    ]
    for tick in ticks:
        y = bottom_y - tick / top * height
        parts.append(f'<line class="grid" x1="0" x2="100%" y1="{y:.1f}" y2="{y:.1f}"/>')
    for i, (day, col) in enumerate(zip(data.days, columns, strict=True)):
        x, w = f"{slot * i + slot * 0.14:.3f}%", f"{slot * 0.72:.3f}%"
        words = _day_words(day)
        if missing[i]:
            parts.append(
                f'<rect class="nodata" x="{x}" y="{top_y}" width="{w}" height="{height}">'
                f"<title>{words}: no data (the store does not cover this day)</title></rect>"
            )
            continue
        bars = []
        base = 0.0
        for k, v in zip(keys, col, strict=True):
            if v is None or v <= 0:
                continue
            y = bottom_y - (base + v) / top * height
            bars.append(
                f'<rect x="{x}" y="{y:.2f}" width="{w}" height="{v / top * height:.2f}" '
                f'fill="{colours[k]}"><title>{_e(names[k])}, {words}: {_usd(v)}</title></rect>'
            )
            base += v
        css = ' class="today"' if day == today else ""
        parts.append(f"<g{css}>{''.join(bars)}</g>")
    # The labels in the svg's left padding (CSS): left of x=0, so no bar covers them.
    for tick, label in zip(ticks, _tick_labels(ticks), strict=True):
        y = bottom_y - tick / top * height
        parts.append(f'<text class="tick" x="-6" y="{y + 4:.1f}" text-anchor="end">{label}</text>')
    for i, day in enumerate(data.days):
        if (n - 1 - i) % 7:
            continue
        if i == n - 1:
            x, anchor = "100%", "end"
        else:
            x, anchor = f"{slot * (i + 0.5):.3f}%", "middle"
        parts.append(
            f'<text class="tick" x="{x}" y="230" text-anchor="{anchor}">{_short_day(day)}</text>'
        )
    return (
        '<svg class="daily" width="100%" height="236" role="img" '
        'aria-labelledby="daily-title daily-desc">'
        '<title id="daily-title">Daily cost by project, last 30 days</title>'
        f'<desc id="daily-desc">{_e(desc)}</desc>{"".join(parts)}</svg>'
    )


def _daily_table(
    data: Data,
    keys: list[str | None],
    names: dict[str | None, str],
    columns: list[list[float | None]],
    missing: list[bool],
    totals: list[float],
    today: dt.date,
) -> str:
    head = "".join(f'<th scope="col" class="n">{_e(names[k])}</th>' for k in keys)
    rows = []
    for day, col, gap, total in zip(data.days, columns, missing, totals, strict=True):
        cells = "".join(
            f'<td class="n">{_usd(v)}</td>'
            if v is not None
            else '<td class="n nodata">no data</td>'
            for v in col
        )
        if gap:
            total_cell = '<td class="n nodata">no data</td>'
        elif any(v is None for v in col):
            total_cell = f'<td class="n">{_usd(total)} <span class="none">(partial)</span></td>'
        else:
            total_cell = f'<td class="n">{_usd(total)}</td>'
        label = f"{day.isoformat()} {_WEEKDAYS[day.weekday()]}"
        if day == today:
            label += " (today, so far)"
        rows.append(f'<tr><th scope="row">{label}</th>{cells}{total_cell}</tr>')
    return (
        f'{_scroll("Daily cost table")}<table class="daily-table">'
        "<caption>Cost per day by project, last 30 days (USD); no data: a day the store "
        "does not cover</caption>"
        f'<thead><tr><th scope="col">Day (UTC)</th>{head}<th scope="col" class="n">Total</th>'
        f"</tr></thead><tbody>{''.join(rows)}</tbody></table></div>"
    )


# -- the month's tables ----------------------------------------------------------------


def _projects(data: Data) -> str:
    head = '<section aria-labelledby="projects"><h2 id="projects">Projects this month</h2>'
    if not data.projects:
        return f"{head}<p>No cost this month yet.</p></section>"
    total = data.month_to_date_usd
    rows = "".join(
        f"<tr><td>{_project_cell(p.project_id, p.project_name, p.archived)}</td>"
        f'<td class="n">{_usd(p.month_to_date_usd)}</td>'
        f'<td class="n">{_usd(p.forecast_usd)}</td>'
        f'<td class="n opt">{f"{p.month_to_date_usd / total:.1%}" if total > 0 else ""}</td></tr>'
        for p in data.projects
    )
    return (
        f"{head}{_scroll('Projects this month')}<table>"
        "<caption>Cost by project this month, most first, with each project's month-end "
        "forecast</caption><thead><tr>"
        '<th scope="col">Project</th><th scope="col" class="n">Month to date</th>'
        '<th scope="col" class="n">Forecast</th><th scope="col" class="n opt">Share</th>'
        f"</tr></thead><tbody>{rows}</tbody><tfoot><tr>"
        f'<th scope="row">Organization</th><td class="n">{_usd(data.month_to_date_usd)}</td>'
        f'<td class="n">{_usd(data.forecast_usd)}</td><td class="n opt"></td></tr></tfoot>'
        "</table></div></section>"
    )


def _ranked_table(
    section: str, title: str, caption: str, column: str, rows: Sequence[Ranked], cell: str
) -> str:
    head = f'<section aria-labelledby="{section}"><h2 id="{section}">{title}</h2>'
    if not rows:
        return f"{head}<p>None this month.</p></section>"
    body = "".join(
        f"<tr><td>{_key_cell(r.key, r.name) if cell == 'key' else _e(r.key or '')}</td>"
        f'<td class="n">{_usd(r.usd)}</td></tr>'
        for r in rows
    )
    return (
        f"{head}{_scroll(title)}<table><caption>{caption}</caption><thead><tr>"
        f'<th scope="col">{column}</th><th scope="col" class="n">Cost this month</th>'
        f"</tr></thead><tbody>{body}</tbody></table></div></section>"
    )


def _top(data: Data) -> str:
    models = _ranked_table(
        "models",
        "Top models",
        "Cost this month by model, from the cost line items (tools by their line item)",
        "Model",
        data.top_models,
        "model",
    )
    keys = _ranked_table(
        "keys",
        "Top API keys",
        "Cost this month by API key",
        "API key",
        data.top_keys,
        "key",
    )
    return f'<div class="cols">{models}{keys}</div>'


def _tokens_cell(n: int) -> str:
    # The exact count; on a phone, 3 significant digits (CSS shows one of the two).
    short = str(n)
    for size, unit in ((1e3, "k"), (1e6, "M"), (1e9, "B"), (1e12, "T")):
        if n >= size * 0.9995:
            value = n / size
            short = f"{value:.{max(0, 2 - int(math.log10(value)))}f} {unit}"
    return f'<td class="n"><span class="full">{n:,}</span><span class="short">{short}</span></td>'


def _tokens(data: Data) -> str:
    head = '<section aria-labelledby="tokens"><h2 id="tokens">Tokens by model this month</h2>'
    if not data.tokens:
        return f"{head}<p>No usage this month in the store.</p></section>"
    body = "".join(
        f"<tr><td>{_e(t.model)}</td>{_tokens_cell(t.input_tokens)}"
        f"{_tokens_cell(t.cached_input_tokens)}{_tokens_cell(t.output_tokens)}"
        f"{_tokens_cell(t.model_requests)}</tr>"
        for t in data.tokens
    )
    return (
        f'{head}{_scroll("Tokens by model")}<table class="tokens"><caption>Tokens and model '
        "requests this month by model, every usage endpoint, most input tokens first</caption>"
        "<thead><tr>"
        '<th scope="col">Model</th><th scope="col" class="n">Input</th>'
        '<th scope="col" class="n">Cached input</th><th scope="col" class="n">Output</th>'
        '<th scope="col" class="n">Requests</th>'
        f"</tr></thead><tbody>{body}</tbody></table></div></section>"
    )


# -- the skeleton ----------------------------------------------------------------------

_PAGE = string.Template(
    """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta name="viewport" content="width=device-width, initial-scale=1">
<meta http-equiv="refresh" content="$refresh">
<meta name="color-scheme" content="light">
<meta name="robots" content="noindex">
<link rel="icon" href="data:,">
<title>$title</title>
<style>$css</style>
</head>
<body>
<header>
<h1>$heading</h1>
$pill$summary
</header>
<main>
$body
$freshness
</main>
<footer>
<p>All amounts in USD; all days and times UTC. Page made at $built by openai-usage serve
$version from its local store; it reloads every $every and fetches nothing else.</p>
</footer>
<script>$script</script>
</body>
</html>
"""
)

# Updates the "... ago" texts from the browser's clock; the page is complete without it.
_SCRIPT = (
    "(function(){var b='\\u00a0';function f(s){s=Math.max(0,s);"
    "if(s<60)return Math.floor(s)+b+'s';if(s<3600)return Math.floor(s/60)+b+'min';"
    "if(s<172800){var h=Math.floor(s/3600),m=Math.floor(s%3600/60);"
    "return h+b+'h'+(m?' '+m+b+'min':'')}return Math.floor(s/86400)+b+'days'}"
    "function u(){var n=Date.now()/1000;"
    "document.querySelectorAll('[data-since]').forEach(function(e){"
    "e.textContent=f(n-Number(e.getAttribute('data-since')))+' ago'})}"
    "u();setInterval(u,10000)})();"
)

_CSS = """
*{box-sizing:border-box}
html{-webkit-text-size-adjust:100%}
body{margin:0;color:#1f2328;background:#fff;font:15px/1.5 system-ui,-apple-system,
"Segoe UI",Roboto,"Helvetica Neue",Arial,sans-serif}
header,main,footer{max-width:1200px;margin:0 auto;padding:0 16px}
header{padding-top:16px;display:flex;flex-wrap:wrap;align-items:baseline;gap:4px 16px}
h1{font-size:1.5rem;margin:0}
h2{font-size:1.2rem;margin:32px 0 8px;padding-top:8px;border-top:1px solid #d0d7de}
h3{font-size:1rem;margin:0}
p{margin:4px 0}
.summary{flex-basis:100%;color:#57606a;margin:0}
.pill{margin:0;font-weight:600}
.pill.ok{color:#1a7f37}.pill.wait{color:#57606a}.pill.bad{color:#b3261e}
.banner{border:1px solid #d0d7de;border-left:6px solid #57606a;border-radius:6px;
padding:8px 12px;margin:16px 0;background:#f6f8fa}
.banner.bad{border-left-color:#b3261e;background:#fff5f5}
.banner.warn{border-left-color:#9a6700;background:#fff8e5}
.kpis{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,160px),1fr));
gap:12px;margin:8px 0}
.kpi{border:1px solid #d0d7de;border-radius:8px;padding:10px 12px}
.kpi .label{color:#57606a;font-size:.85rem;margin:0}
.kpi .value{font-size:1.6rem;font-weight:650;margin:0;font-variant-numeric:tabular-nums}
.kpi .note{color:#57606a;font-size:.85rem;margin:0}
.scopes{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,360px),1fr));
gap:8px 32px}
.scope{padding:8px 0;min-width:0}
.figures{color:#57606a;font-size:.9rem;margin:0}
.figures strong{color:#1f2328}
ul.reach{margin:0;padding-left:18px;font-size:.9rem}
.state.bad{color:#b3261e;font-weight:650}
.legend{list-style:none;padding:0;margin:4px 0 8px;display:flex;flex-wrap:wrap;
gap:2px 16px;font-size:.9rem}
.sw{display:inline-block;width:12px;height:12px;margin-right:6px;vertical-align:-1px;
border-radius:2px;forced-color-adjust:none}
.sw.rule{width:0;height:14px;border-left:3px solid #c62828;border-radius:0;margin:0 8px 0 4px}
.sw.rule.dashed{border-left:2px dashed #a35a00}
.sw.hatch{background:repeating-linear-gradient(45deg,#8c959f 0 2px,#f3f4f6 2px 5px)}
.sw.today{background:#4e79a7;opacity:.5}
svg{display:block;overflow:visible}
svg text{font:12px system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;fill:#1f2328}
svg .tick{fill:#57606a}
svg .grid{stroke:#d8dee4;stroke-width:1}
svg .track{fill:#eef1f4}
svg .fc{fill:#9ecae1}
svg .mtd{fill:#1f4e79}
svg .limit{stroke:#c62828;stroke-width:3}
svg .alert{stroke:#a35a00;stroke-width:2;stroke-dasharray:4 3}
svg .lbl{fill:#b3261e;font-weight:600}
svg .nodata{fill:url(#hatch)}
svg .today rect{opacity:.5}
svg.daily{margin:8px 0 4px;padding-left:56px}
details{margin:8px 0}
summary{cursor:pointer;color:#0b5cad}
.cols{display:grid;grid-template-columns:repeat(auto-fit,minmax(min(100%,440px),1fr));
gap:0 32px}
.scroll{overflow-x:auto;max-width:100%}
.scroll:focus{outline:2px solid #0b5cad}
table{border-collapse:collapse;width:100%;font-variant-numeric:tabular-nums;font-size:.92rem}
caption{text-align:left;color:#57606a;padding:0 0 6px;caption-side:top}
th,td{padding:5px 8px;border-bottom:1px solid #d8dee4;text-align:left;vertical-align:top}
thead th{border-bottom:2px solid #d0d7de;font-weight:600}
tbody th{font-weight:normal;white-space:nowrap}
tfoot th,tfoot td{font-weight:650;border-bottom:0}
.n{text-align:right;white-space:nowrap}
.id{color:#57606a;font:.8rem ui-monospace,SFMono-Regular,Menlo,Consolas,monospace;
white-space:nowrap}
.sub{color:#57606a;font-size:.85rem}
.short{display:none}
.none{color:#57606a;font-style:italic}
.nodata{color:#57606a;font-style:italic}
.tag{font-size:.75rem;border:1px solid #8c959f;border-radius:4px;padding:0 4px;
color:#57606a;white-space:nowrap}
.daily-table th,.daily-table td{padding:3px 8px}
.daily-table thead th{white-space:normal;min-width:5em;overflow-wrap:break-word}
.scroll caption{position:sticky;left:0;max-width:calc(100vw - 32px)}
dl.facts{display:grid;grid-template-columns:max-content 1fr;gap:4px 16px;margin:8px 0}
dl.facts dt{color:#57606a}
dl.facts dd{margin:0;min-width:0}
.banner pre.error{margin:6px 0 2px;background:#fff}
pre.error{margin:0;padding:8px;background:#fff5f5;border:1px solid #f1c0bd;border-radius:6px;
white-space:pre-wrap;word-break:break-word;font-size:.85rem}
footer{color:#57606a;font-size:.85rem;margin-top:32px;padding-bottom:24px}
@media (max-width:600px){
body{font-size:14px}
header,main,footer{padding:0 12px}
header{padding-top:12px}
th,td{padding:4px 5px}
.id{white-space:normal;overflow-wrap:anywhere;font-size:.75rem}
td:first-child{min-width:9em;overflow-wrap:anywhere}
.limits .id:not(.main){display:none}
.opt{display:none}
thead th.n{white-space:normal}
.tokens{font-size:.85rem}
.tokens td:first-child{min-width:6em}
.tokens th,.tokens td{padding:4px 3px}
.full{display:none}
.short{display:inline}
dl.facts{grid-template-columns:1fr}
dl.facts dd{margin-bottom:6px}
.kpi .value{font-size:1.35rem}
}
"""
