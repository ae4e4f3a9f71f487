"""The month-end forecast: this UTC month's spend so far, its daily rate, and where it ends.

::

    from openai_usage_async.forecast import forecast_month

    # t0: a UTC midnight no later than the month's first day and the lookback's
    costs = await client.usage.costs.list(start_time=t0, group_by=["project_id"])
    f = forecast_month(costs, now=time.time())
    print(f.month, f.month_to_date, f.daily_rate, f.forecast)
    print(f.threshold(500.0).crossing_date)     # a datetime.date, or None
    for project_id, p in f.projects.items():    # "" holds the costs without a project
        print(project_id or "(no project)", p.forecast)

Pure: cost buckets (or daily sums) and ``now`` in, a :class:`MonthForecast` out. It does
no I/O and never reads the clock; ``now`` is always given. All amounts are in USD.

The method (the documented default)
-----------------------------------

Months are UTC calendar months (28 to 31 days) and days are UTC days: a cost belongs to
the day its bucket's ``start_time`` falls in (the Costs API answers ``1d`` buckets aligned
on UTC midnight). ``today`` is the UTC day of ``now``.

- ``month_to_date``: every cost whose bucket starts in this month and before ``now``,
  today's partial day included.
- ``daily_rate``: the mean daily cost over the calendar days ``[today - lookback_days,
  today)`` that the data *covers with a whole bucket* (one at least a day long). A covered
  day without any cost counts $0. Days of the previous month count. A day the data does
  not cover, or covers only with a *clipped* bucket (shorter than a day: the service's
  answer for a day in progress, or for a range that ends between midnights), is left
  out of the mean, never counted as $0. No covered day gives a rate of 0.
- ``forecast``: the complete days of this month (the days before today, as they are) +
  ``max(today's partial cost, daily_rate)`` + ``daily_rate`` for each later day of the
  month. With costs that are not negative it is never below ``month_to_date``.
- ``threshold(usd)``: ``crossed`` when ``month_to_date >= usd``, dated the UTC day the
  month's cumulative spend first reached ``usd``; otherwise the first day from today on
  which the projection (complete days + today's term + ``daily_rate`` per later day)
  reaches ``usd``, or None when the forecast stays below it. "Reaches" is ``>=``.

The organization's numbers come from all costs, never from adding up the projects'
forecasts: the ``max`` is taken per scope, so the organization's forecast is less than
the sum of its projects' forecasts when some project spends above its rate today and
another below.

Its limits
----------

- A linear rate misses a spike: a batch job that will run on the 28th, or a launch next
  week, shows up only once it has been paid for. A spike *inside* the lookback raises the
  rate for ``lookback_days`` days, then falls out of it.
- Today's costs are partial, and the service revises recent buckets for a day or two:
  today counts at least the rate, and yesterday may still grow. Re-run it after a sync.
- A day of this month that the data does not cover counts what the data holds for it
  (often $0) in ``month_to_date``; a gap in the data is a gap in the spend. Check the
  store's coverage (or fetch the whole month) before trusting a low figure.
- Costs in another currency than USD are refused, not converted.

Two entry points: :func:`forecast_month` over cost buckets as the Costs API answers them,
and :func:`forecast_daily` over per-day sums, for callers (the store) that add up costs
in SQL and never build buckets. The first is built on the second.
"""

from __future__ import annotations

import calendar
import datetime as dt
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Final, TypeAlias

from ._sansio.query import TimeArg, to_unix
from .models import CostsResult, UnknownResult, UsageBucket

__all__ = ["DailyCosts", "MonthForecast", "Threshold", "forecast_daily", "forecast_month"]

#: One scope's cost per UTC day, in USD: ``{datetime.date(2026, 12, 1): 12.5, ...}``. A
#: day missing from the mapping, or mapped to None (what SQL's ``SUM`` gives over no row
#: or only NULLs), has no cost.
DailyCosts: TypeAlias = Mapping[dt.date, float | None]

_DAY_S: Final = 86_400
_EPOCH: Final = dt.date(1970, 1, 1)


@dataclass(frozen=True, slots=True)
class Threshold:
    """Where one amount stands against this month's spend and its forecast.

    From :meth:`MonthForecast.threshold`: a hard limit's, an alert's or a local budget's
    ``threshold_usd``.
    """

    usd: float
    """The amount compared, in USD."""
    crossed: bool
    """``month_to_date >= usd``: the month's spend has already reached it."""
    crossing_date: dt.date | None
    """When ``crossed``, the UTC day this month's cumulative spend first reached ``usd``;
    otherwise the first day from today on which the projection reaches it (today when
    today's term alone takes it there), or None when the forecast stays below ``usd``."""


@dataclass(frozen=True, slots=True)
class MonthForecast:
    """One scope's spend this UTC month, its daily rate, and the month-end forecast.

    The top-level object is the organization (every cost); :attr:`projects` and
    :attr:`api_keys` hold a forecast per project and per API key, made the same way from
    that scope's costs alone. The nested forecasts have empty ``projects`` and
    ``api_keys``. The method is in the module's documentation.
    """

    month: str
    """The UTC month of ``now``, as ``"2026-12"``."""
    month_start: dt.date
    """The month's first day."""
    days_in_month: int
    """28, 29, 30 or 31."""
    now: dt.datetime
    """The moment the forecast is for, as an aware UTC datetime."""
    today: dt.date
    """The UTC day of ``now``: the month's day in progress."""
    lookback_days: int
    """How many days before today the rate looks at."""
    month_to_date: float
    """Every cost of this month so far, today's partial day included (USD)."""
    today_cost: float
    """Today's partial cost, part of ``month_to_date`` (USD)."""
    daily_rate: float
    """The mean cost of the covered days among the ``lookback_days`` before today (USD)."""
    forecast: float
    """Complete days + ``max(today_cost, daily_rate)`` + ``daily_rate`` per later day (USD)."""
    daily: dict[dt.date, float] = field(hash=False)
    """The cost of each day of the month from its first day to today (today partial),
    in day order; a day without cost is 0.0."""
    rate_days: tuple[dt.date, ...]
    """The days the rate is the mean of: those of ``[today - lookback_days, today)`` the
    data covers with a whole bucket. Empty when none is (then ``daily_rate`` is 0)."""
    projects: dict[str, MonthForecast] = field(hash=False)
    """Project ID -> that project's forecast, for every project ID in the costs; the
    costs without a project ID are under ``""``. Ungrouped costs have no project ID, so
    they all land under ``""``. Empty in a nested forecast."""
    api_keys: dict[str, MonthForecast] = field(hash=False)
    """API key ID -> that key's forecast when the costs are grouped by ``api_key_id``
    (costs without a key under ``""``); empty otherwise, and in a nested forecast."""

    def threshold(self, usd: float) -> Threshold:
        """Where ``usd`` stands: crossed already (and on which day), or the day the
        projection reaches it, or None when this month's forecast stays below.

        ``usd`` is a finite amount, zero or more; anything else raises ``ValueError``
        naming ``usd``.
        """
        if isinstance(usd, bool) or not isinstance(usd, int | float) or not math.isfinite(usd):
            raise ValueError(f"usd: expected a finite number of dollars, got {usd!r}")
        if usd < 0:
            raise ValueError(f"usd: {usd!r} is negative; a threshold is zero or more")
        usd = float(usd)
        costs = list(self.daily.values())
        if self.month_to_date >= usd:
            # Prefix sums, each rounded once (fsum): the last one is month_to_date exactly,
            # so some day is found; with costs >= 0 they never decrease.
            reached = (d for i, d in enumerate(self.daily) if math.fsum(costs[: i + 1]) >= usd)
            return Threshold(usd, True, next(reached, self.today))
        for k in range(self.days_in_month - self.today.day + 1):
            if _projection(costs[:-1], self.today_cost, self.daily_rate, k) >= usd:
                return Threshold(usd, False, self.today + dt.timedelta(days=k))
        return Threshold(usd, False, None)


def _projection(complete: list[float], today_cost: float, rate: float, later: int) -> float:
    # complete days + today's term + rate for each of `later` days after today: the forecast when
    # `later` is every later day of the month. One rounding (fsum), so the projection is
    # non-decreasing in `later` for a rate >= 0 and the forecast equals its last value.
    return math.fsum([*complete, max(today_cost, rate), rate * later])


def _check_now(now: TimeArg) -> tuple[dt.datetime, dt.date]:
    seconds = to_unix("now", now)  # refuses a naive datetime, NaN, ms, bools: naming `now`
    if isinstance(now, dt.datetime):
        moment = now.astimezone(dt.UTC)
    else:
        moment = dt.datetime.fromtimestamp(now, dt.UTC)
    return moment, _EPOCH + dt.timedelta(days=seconds // _DAY_S)


def _check_lookback(lookback_days: int) -> None:
    if isinstance(lookback_days, bool) or not isinstance(lookback_days, int):
        raise ValueError(f"lookback_days: expected a whole number of days, got {lookback_days!r}")
    if lookback_days < 1:
        raise ValueError(f"lookback_days: {lookback_days} is less than 1 day")


def _check_daily(name: str, daily: object) -> dict[dt.date, float]:
    if not isinstance(daily, Mapping):
        raise ValueError(f"{name}: expected a mapping of datetime.date to USD, got {daily!r}")
    out: dict[dt.date, float] = {}
    date = dt.date
    for day, cost in daily.items():
        if type(day) is date and type(cost) is float and math.isfinite(cost):
            out[day] = cost  # the usual case, checked at once
            continue
        # A datetime is a date too, but never equal to one: it would silently match nothing.
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise ValueError(f"{name}: keys must be datetime.date (UTC days), got {day!r}")
        if cost is None:
            continue
        if isinstance(cost, bool) or not isinstance(cost, int | float) or not math.isfinite(cost):
            raise ValueError(f"{name}: the cost of {day} is not a finite number: {cost!r}")
        out[day] = float(cost)
    return out


@dataclass(frozen=True, slots=True)
class _Calendar:
    """What every scope of one forecast shares: the month's days so far, the lookback's
    covered days."""

    moment: dt.datetime
    today: dt.date
    lookback_days: int
    month_days: tuple[dt.date, ...]  # the 1st to today
    rate_days: tuple[dt.date, ...]  # the covered days of the lookback
    days_in_month: int

    @classmethod
    def of(
        cls, moment: dt.datetime, today: dt.date, lookback_days: int, covered: frozenset[dt.date]
    ) -> _Calendar:
        month_start = today.replace(day=1)
        # At most back to 0001-01-01: a huge lookback_days means "every day the data covers".
        back = min(lookback_days, today.toordinal() - 1)
        window = [today - dt.timedelta(days=i) for i in range(back, 0, -1)]
        return cls(
            moment,
            today,
            lookback_days,
            tuple(month_start + dt.timedelta(days=i) for i in range(today.day)),
            tuple(d for d in window if d in covered),
            calendar.monthrange(today.year, today.month)[1],
        )


def _one_scope(
    daily: dict[dt.date, float],
    cal: _Calendar,
    projects: dict[str, MonthForecast],
    api_keys: dict[str, MonthForecast],
) -> MonthForecast:
    today = cal.today
    month_start = cal.month_days[0]
    days_in_month = cal.days_in_month
    get = daily.get
    days = {d: get(d, 0.0) for d in cal.month_days}
    costs = list(days.values())
    rate_days = cal.rate_days
    rate = math.fsum(get(d, 0.0) for d in rate_days) / len(rate_days) if rate_days else 0.0
    later = days_in_month - today.day
    moment, lookback_days = cal.moment, cal.lookback_days
    return MonthForecast(
        month=f"{today.year:04d}-{today.month:02d}",
        month_start=month_start,
        days_in_month=days_in_month,
        now=moment,
        today=today,
        lookback_days=lookback_days,
        month_to_date=math.fsum(costs),
        today_cost=costs[-1],
        daily_rate=rate,
        forecast=_projection(costs[:-1], costs[-1], rate, later),
        daily=days,
        rate_days=rate_days,
        projects=projects,
        api_keys=api_keys,
    )


def forecast_daily(
    daily: DailyCosts,
    *,
    covered: Iterable[dt.date],
    now: TimeArg,
    lookback_days: int = 7,
    projects: Mapping[str, DailyCosts] | None = None,
    api_keys: Mapping[str, DailyCosts] | None = None,
) -> MonthForecast:
    """The forecast from per-day sums: what the store calls, having added costs up in SQL.

    ``daily`` is the organization's cost per UTC day (all costs, of every project). It
    should hold this month's days up to today, today's entry being the costs whose bucket
    starts before ``now``, and the ``lookback_days`` days before today; other days are
    ignored. ``covered`` is every day the data covers with a *whole* bucket (at least a
    day long), whether or not it has costs: a covered day missing from a mapping counts
    $0 in the rate, a day not in ``covered`` (never synced, or only a clipped bucket) is
    left out of it. One ``covered`` serves every scope: a bucket covers a day for all.

    ``projects`` and ``api_keys`` map an ID to that scope's cost per day, made the same
    way (use ``""`` for costs without a project or key); each gets its own forecast in
    :attr:`MonthForecast.projects` / :attr:`MonthForecast.api_keys`. Omit ``api_keys``
    when the costs are not grouped by key. The organization's forecast comes from
    ``daily``, never from adding up these.

    In SQL over the store's ``costs_1d`` table, for instance (a day number ``n`` is the
    date ``datetime.date(1970, 1, 1) + datetime.timedelta(days=n)``)::

        daily:    SELECT start_time / 86400, SUM(amount_value) ... GROUP BY 1
        projects: SELECT COALESCE(project_id, ''), start_time / 86400, SUM(amount_value)
                  ... GROUP BY 1, 2
        covered:  the days of whole stored buckets (end_time - start_time >= 86400), or
                  better the table's coverage: a bucket without results has no row.

    ``now`` is Unix seconds or an aware datetime (a naive one raises ``ValueError``
    naming ``now``); ``lookback_days`` an int of at least 1.
    """
    moment, today = _check_now(now)
    _check_lookback(lookback_days)
    days = frozenset(covered)
    for day in days:
        if not isinstance(day, dt.date) or isinstance(day, dt.datetime):
            raise ValueError(f"covered: expected datetime.date (UTC days), got {day!r}")

    cal = _Calendar.of(moment, today, lookback_days, days)

    def nested(name: str, scopes: Mapping[str, DailyCosts] | None) -> dict[str, MonthForecast]:
        if scopes is None:
            return {}
        out = {}
        for key, scope in scopes.items():
            if not isinstance(key, str):
                raise ValueError(f"{name}: keys must be IDs (str; '' for none), got {key!r}")
            out[key] = _one_scope(_check_daily(f"{name}[{key!r}]", scope), cal, {}, {})
        return out

    return _one_scope(
        _check_daily("daily", daily),
        cal,
        nested("projects", projects),
        nested("api_keys", api_keys),
    )


def forecast_month(
    costs: Iterable[UsageBucket[CostsResult]] | Iterable[UsageBucket[CostsResult | UnknownResult]],
    *,
    now: TimeArg,
    lookback_days: int = 7,
) -> MonthForecast:
    """This UTC month's spend, daily rate and forecast, from cost buckets.

    ``costs`` are the Costs API's ``1d`` buckets (``client.usage.costs.list(...)``),
    ungrouped or grouped by ``project_id``, ``api_key_id``, ``line_item`` (or several):
    give this month up to ``now`` and the ``lookback_days`` days before today, from a
    UTC midnight (a clipped first bucket is not a whole day); other buckets are ignored,
    as are those starting at or after ``now``. Every bucket given counts as data: an
    empty whole bucket is a day of $0, so do not pad days nobody fetched (a store's
    ``buckets()`` does, for days never synced; from a store, use :func:`forecast_daily`
    with its coverage). A result without an ``amount`` (or a ``value``) counts $0, and one
    of a type this version does not know (``UnknownResult``) is left out; a result in
    another currency than USD, or of another endpoint, raises ``ValueError`` naming
    ``costs``.

    The per-project forecasts cover every ``project_id`` among those buckets (``""`` for
    costs without one); the per-key ones are filled when the costs are grouped by
    ``api_key_id`` (some result has one), and empty otherwise.

    ``now`` is Unix seconds or an aware datetime (a naive one raises ``ValueError``
    naming ``now``); ``lookback_days`` an int of at least 1. Built on
    :func:`forecast_daily`.
    """
    _, today = _check_now(now)
    _check_lookback(lookback_days)
    # Integer start_times before `now` are exactly those before its ceiling.
    before = to_unix("now", now, round_up=True)
    back = min(lookback_days, today.toordinal() - 1)
    first = min(today.replace(day=1), today - dt.timedelta(days=back))
    first_s = (first - _EPOCH).days * _DAY_S

    org: dict[dt.date, list[float]] = {}
    projects: dict[str, dict[dt.date, list[float]]] = {}
    api_keys: dict[str, dict[dt.date, list[float]]] = {}
    grouped_by_key = False
    covered: set[dt.date] = set()
    for bucket in costs:
        start = bucket.start_time
        if start >= before or start < first_s:
            continue
        day = _EPOCH + dt.timedelta(days=start // _DAY_S)
        if bucket.end_time - start >= _DAY_S:
            covered.add(day)
        for result in bucket.results:
            if isinstance(result, UnknownResult):
                continue  # a result type this version does not know: not a cost it can read
            if not isinstance(result, CostsResult):
                raise ValueError(
                    f"costs: the bucket starting at {start} holds a "
                    f"{type(result).__name__}, not a CostsResult"
                )
            amount = result.amount
            value = 0.0 if amount is None or amount.value is None else amount.value
            currency = None if amount is None else amount.currency
            if currency is not None and currency.lower() != "usd":
                raise ValueError(
                    f"costs: the bucket starting at {start} has a cost in {currency!r}; "
                    "the forecast is in USD"
                )
            org.setdefault(day, []).append(value)
            project = projects.setdefault(result.project_id or "", {})
            project.setdefault(day, []).append(value)
            api_keys.setdefault(result.api_key_id or "", {}).setdefault(day, []).append(value)
            grouped_by_key = grouped_by_key or result.api_key_id is not None

    def sums(scope: dict[dt.date, list[float]]) -> dict[dt.date, float | None]:
        return {day: math.fsum(values) for day, values in scope.items()}

    return forecast_daily(
        sums(org),
        covered=covered,
        now=now,
        lookback_days=lookback_days,
        projects={key: sums(scope) for key, scope in sorted(projects.items())},
        api_keys={key: sums(scope) for key, scope in sorted(api_keys.items())}
        if grouped_by_key
        else None,
    )
