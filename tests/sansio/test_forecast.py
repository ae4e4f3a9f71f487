"""The month-end forecast on pinned clocks, by hand and by property (pure: no loop, no socket)."""

from __future__ import annotations

import calendar
import datetime as dt
import math
from fractions import Fraction

import pytest
from hypothesis import given
from hypothesis import strategies as st

from openai_usage_async.forecast import (
    MonthForecast,
    Threshold,
    forecast_daily,
    forecast_month,
)
from openai_usage_async.models import (
    CompletionsResult,
    CostAmount,
    CostsResult,
    UnknownResult,
    UsageBucket,
)

DAY = 86_400
D = dt.date


def ts(day: dt.date, hour: int = 0) -> int:
    return calendar.timegm(day.timetuple()) + hour * 3600


def cost(
    usd: float | None,
    project: str | None = None,
    key: str | None = None,
    currency: str | None = "usd",
) -> CostsResult:
    return CostsResult(
        amount=CostAmount(value=usd, currency=currency), project_id=project, api_key_id=key
    )


def whole(day: dt.date, *results: CostsResult | float) -> UsageBucket[CostsResult]:
    """The 1d bucket of ``day``, as the service answers a day it has closed."""
    return UsageBucket(start_time=ts(day), end_time=ts(day) + DAY, results=_results(results))


def clipped(day: dt.date, end: int, *results: CostsResult | float) -> UsageBucket[CostsResult]:
    """A bucket cut at ``end``: the day in progress, or a range that ends mid-day."""
    return UsageBucket(start_time=ts(day), end_time=end, results=_results(results))


def _results(results: tuple[CostsResult | float, ...]) -> list[CostsResult]:
    return [r if isinstance(r, CostsResult) else cost(r) for r in results]


def days(first: dt.date, last: dt.date) -> list[dt.date]:
    return [first + dt.timedelta(days=i) for i in range((last - first).days + 1)]


# -- mid-month: 2026-12-15 12:00 UTC, December has 31 days ------------------------------

MID = D(2026, 12, 15)
MID_NOW = ts(MID, 12)


def mid_month_costs() -> list[UsageBucket[CostsResult]]:
    # Dec 1-7 at $10, Dec 8-14 at $20 (the 7-day lookback), today $5 so far.
    out = [whole(d, 10.0) for d in days(D(2026, 12, 1), D(2026, 12, 7))]
    out += [whole(d, 20.0) for d in days(D(2026, 12, 8), D(2026, 12, 14))]
    out.append(clipped(MID, MID_NOW, 5.0))
    return out


def test_mid_month() -> None:
    f = forecast_month(mid_month_costs(), now=MID_NOW)
    assert (f.month, f.month_start, f.days_in_month, f.today) == (
        "2026-12",
        D(2026, 12, 1),
        31,
        MID,
    )
    assert f.now == dt.datetime(2026, 12, 15, 12, tzinfo=dt.UTC)
    assert f.lookback_days == 7
    assert f.month_to_date == 7 * 10 + 7 * 20 + 5 == 215
    assert f.today_cost == 5
    assert f.daily_rate == 20
    assert f.rate_days == tuple(days(D(2026, 12, 8), D(2026, 12, 14)))
    # complete days 210 + max(5, 20) + 20 x 16 later days (Dec 16-31)
    assert f.forecast == 210 + 20 + 20 * 16 == 550
    assert list(f.daily) == days(D(2026, 12, 1), MID)
    assert f.daily[D(2026, 12, 7)] == 10 and f.daily[D(2026, 12, 8)] == 20 and f.daily[MID] == 5
    assert list(f.projects) == [""]  # ungrouped: every cost is without a project
    assert f.projects[""].forecast == 550 and f.projects[""].projects == {}
    assert f.api_keys == {}


def test_mid_month_thresholds() -> None:
    f = forecast_month(mid_month_costs(), now=MID_NOW)
    # The projection: Dec 15 230, 16 250, 17 270, 18 290, 19 310 ... 31 550.
    assert f.threshold(300) == Threshold(300.0, False, D(2026, 12, 19))
    assert f.threshold(290) == Threshold(290.0, False, D(2026, 12, 18))  # reaches is >=
    assert f.threshold(550) == Threshold(550.0, False, D(2026, 12, 31))
    assert f.threshold(550.01) == Threshold(550.01, False, None)
    # Not crossed yet (215 < 220), but today's term (the rate, 20) takes it there today.
    assert f.threshold(220) == Threshold(220.0, False, MID)
    # Crossed: the cumulative spend is 70 on Dec 7, 90 on Dec 8, 110 on Dec 9.
    assert f.threshold(100) == Threshold(100.0, True, D(2026, 12, 9))
    assert f.threshold(90) == Threshold(90.0, True, D(2026, 12, 8))
    assert f.threshold(0) == Threshold(0.0, True, D(2026, 12, 1))


def test_a_threshold_crossed_today() -> None:
    f = forecast_month(mid_month_costs(), now=MID_NOW)
    # $210 by the end of yesterday, $215 now.
    assert f.threshold(212.5) == Threshold(212.5, True, MID)
    assert f.threshold(215) == Threshold(215.0, True, MID)
    assert f.threshold(210) == Threshold(210.0, True, D(2026, 12, 14))


def test_the_lookback_is_a_number_of_calendar_days() -> None:
    ten = forecast_month(mid_month_costs(), now=MID_NOW, lookback_days=10)
    assert ten.daily_rate == (3 * 10 + 7 * 20) / 10 == 17  # Dec 5-14
    assert ten.forecast == 210 + 17 + 17 * 16
    one = forecast_month(mid_month_costs(), now=MID_NOW, lookback_days=1)
    assert one.daily_rate == 20 and one.rate_days == (D(2026, 12, 14),)


def test_now_as_an_aware_datetime_in_any_zone() -> None:
    plus13 = dt.timezone(dt.timedelta(hours=13))
    f = forecast_month(mid_month_costs(), now=dt.datetime(2026, 12, 16, 1, tzinfo=plus13))
    assert f == forecast_month(mid_month_costs(), now=MID_NOW)
    assert f.now == dt.datetime(2026, 12, 15, 12, tzinfo=dt.UTC)
    assert f.now.tzinfo is dt.UTC  # shown in UTC, as the month and days are


def test_months_are_utc_months() -> None:
    # 05:00 on Jan 1 in Tokyo is 20:00 on Dec 31 in UTC: still December.
    tokyo = dt.timezone(dt.timedelta(hours=9))
    f = forecast_month([whole(D(2026, 12, 30), 4.0)], now=dt.datetime(2027, 1, 1, 5, tzinfo=tokyo))
    assert (f.month, f.today, f.month_to_date) == ("2026-12", D(2026, 12, 31), 4)
    assert f.daily_rate == 4 and f.forecast == 4 + 4  # Dec 30 + today's term, no later day


def test_costs_at_or_after_now_are_left_out() -> None:
    midnight = ts(D(2026, 12, 15))
    later = UsageBucket(start_time=midnight, end_time=midnight + DAY, results=[cost(100.0)])
    at_midnight = forecast_month([whole(D(2026, 12, 14), 1.0), later], now=midnight)
    assert at_midnight.today_cost == 0 and at_midnight.month_to_date == 1
    # A fraction of a second later, the bucket has started: it counts (as the service sent it).
    after = forecast_month([whole(D(2026, 12, 14), 1.0), later], now=midnight + 0.5)
    assert after.today_cost == 100 and after.month_to_date == 101
    assert after.forecast == 1 + 100 + 1 * 16


# -- the 2nd of a month: the lookback reaches into the previous one ---------------------


def test_the_second_of_the_month_looks_back_into_the_previous_month() -> None:
    now = ts(D(2026, 3, 2), 6)
    costs = [whole(D(2026, 2, 20), 100.0), whole(D(2026, 2, 22), 100.0)]  # before the lookback
    febs = [5.0, 5.0, 12.0, 5.0, 5.0, 5.0]  # Feb 23-28 (February 2026 has 28 days)
    costs += [whole(d, c) for d, c in zip(days(D(2026, 2, 23), D(2026, 2, 28)), febs, strict=True)]
    costs += [whole(D(2026, 3, 1), 12.0), clipped(D(2026, 3, 2), now, 1.0)]
    f = forecast_month(costs, now=now)
    assert f.month == "2026-03" and f.days_in_month == 31
    assert f.rate_days == tuple(days(D(2026, 2, 23), D(2026, 3, 1)))
    assert f.daily_rate == (37 + 12) / 7 == 7
    assert f.month_to_date == 13  # February is not this month
    assert f.daily == {D(2026, 3, 1): 12.0, D(2026, 3, 2): 1.0}
    assert f.forecast == 12 + 7 + 7 * 29
    assert f.threshold(12) == Threshold(12.0, True, D(2026, 3, 1))
    assert f.threshold(13.5) == Threshold(13.5, False, D(2026, 3, 2))  # 12 + max(1, 7) = 19


def test_the_first_of_the_month_has_no_complete_day() -> None:
    now = ts(D(2026, 4, 1), 1)
    costs = [whole(d, 3.0) for d in days(D(2026, 3, 25), D(2026, 3, 31))]
    f = forecast_month([*costs, clipped(D(2026, 4, 1), now, 0.5)], now=now)
    assert (f.month, f.days_in_month, f.month_to_date, f.daily_rate) == ("2026-04", 30, 0.5, 3)
    assert f.forecast == 3 * 30
    assert f.threshold(0.5) == Threshold(0.5, True, D(2026, 4, 1))


# -- sparse data ------------------------------------------------------------------------


def test_data_holding_only_three_days() -> None:
    costs = [whole(D(2026, 12, 12), 3.0), whole(D(2026, 12, 13), 6.0), whole(D(2026, 12, 14), 9.0)]
    f = forecast_month([*costs, clipped(MID, MID_NOW, 2.0)], now=MID_NOW)
    assert f.rate_days == (D(2026, 12, 12), D(2026, 12, 13), D(2026, 12, 14))
    assert f.daily_rate == 6  # the mean of the 3 covered days, not 18 / 7
    assert f.month_to_date == 20
    assert f.forecast == 18 + 6 + 6 * 16
    assert f.daily[D(2026, 12, 1)] == 0 and len(f.daily) == 15


def test_no_data_at_all() -> None:
    f = forecast_month([], now=MID_NOW)
    assert (f.month_to_date, f.daily_rate, f.forecast, f.rate_days) == (0, 0, 0, ())
    assert f.projects == {} and f.api_keys == {}
    assert f.threshold(0) == Threshold(0.0, True, D(2026, 12, 1))
    assert f.threshold(0.01) == Threshold(0.01, False, None)


def test_clipped_buckets_are_left_out_of_the_rate() -> None:
    costs = [whole(d, 10.0) for d in days(D(2026, 12, 8), D(2026, 12, 14))]
    costs[3] = clipped(D(2026, 12, 11), ts(D(2026, 12, 11), 18), 1.0)  # synced mid-day, open
    del costs[4]  # Dec 12: never synced
    f = forecast_month([*costs, clipped(MID, MID_NOW, 4.0)], now=MID_NOW)
    covered = (D(2026, 12, 8), D(2026, 12, 9), D(2026, 12, 10), D(2026, 12, 13), D(2026, 12, 14))
    assert f.rate_days == covered
    assert f.daily_rate == 10  # not (50 + 1) / 6, nor (50 + 1) / 7
    assert f.month_to_date == 50 + 1 + 4  # the clipped day's cost is spend all the same
    assert f.daily[D(2026, 12, 11)] == 1 and f.daily[D(2026, 12, 12)] == 0
    assert f.forecast == 51 + 10 + 10 * 16


def test_a_covered_day_without_cost_counts_zero() -> None:
    costs = [whole(d, 14.0) for d in days(D(2026, 12, 8), D(2026, 12, 14))]
    costs[2] = whole(D(2026, 12, 10))  # a bucket without results
    costs[4] = whole(D(2026, 12, 12), cost(None), CostsResult(amount=None))  # no amount
    f = forecast_month(costs, now=MID_NOW)
    assert len(f.rate_days) == 7
    assert f.daily_rate == 5 * 14 / 7 == 10
    assert f.month_to_date == 70 and f.today_cost == 0
    assert f.forecast == 70 + 10 + 10 * 16


def test_grouped_by_line_item_adds_a_days_results_up() -> None:
    bucket = whole(D(2026, 12, 14), cost(1.25), cost(2.5), cost(0.25))
    f = forecast_month([bucket], now=MID_NOW, lookback_days=1)
    assert f.daily_rate == 4 and f.month_to_date == 4
    assert f.projects == {"": f.projects[""]} and f.projects[""].daily_rate == 4


# -- 28 and 31 days ---------------------------------------------------------------------


def test_a_month_of_28_days() -> None:
    now = ts(D(2026, 2, 10))  # midnight: today has no cost yet
    f = forecast_month([whole(d, 3.0) for d in days(D(2026, 1, 31), D(2026, 2, 9))], now=now)
    assert (f.month, f.days_in_month, f.today) == ("2026-02", 28, D(2026, 2, 10))
    assert f.month_to_date == 27 and f.today_cost == 0 and f.daily_rate == 3
    assert f.forecast == 27 + max(0, 3) + 3 * 18 == 3 * 28
    assert f.threshold(84) == Threshold(84.0, False, D(2026, 2, 28))
    assert f.threshold(85) == Threshold(85.0, False, None)


def test_a_leap_february_has_29_days() -> None:
    now = ts(D(2028, 2, 10))
    f = forecast_month([whole(d, 3.0) for d in days(D(2028, 1, 31), D(2028, 2, 9))], now=now)
    assert (f.days_in_month, f.forecast) == (29, 3 * 29)


def test_a_month_of_31_days_on_its_last_day() -> None:
    now = ts(D(2027, 1, 31), 23)
    costs = [whole(d, 2.0) for d in days(D(2027, 1, 1), D(2027, 1, 23))]
    costs += [whole(d, 10.0) for d in days(D(2027, 1, 24), D(2027, 1, 30))]
    f = forecast_month([*costs, clipped(D(2027, 1, 31), now, 15.0)], now=now)
    assert (f.month, f.days_in_month) == ("2027-01", 31)
    assert f.month_to_date == 46 + 70 + 15 == 131
    assert f.daily_rate == 10
    assert f.forecast == 116 + max(15, 10) == 131  # no later day; today above the rate
    assert f.threshold(131) == Threshold(131.0, True, D(2027, 1, 31))
    assert f.threshold(131.5) == Threshold(131.5, False, None)


# -- per project and per API key --------------------------------------------------------


def grouped_costs() -> list[UsageBucket[CostsResult]]:
    out = []
    for d in days(D(2026, 12, 8), D(2026, 12, 14)):
        out.append(
            whole(
                d,
                cost(6.0, "proj_a", "key_a1"),
                cost(4.0, "proj_a", "key_a2"),
                cost(20.0, "proj_b", "key_b"),
                cost(1.0),  # neither a project nor a key
            )
        )
    # A spike on proj_a today; nothing yet on the others.
    out.append(clipped(MID, MID_NOW, cost(30.0, "proj_a", "key_a1"), cost(0.0, "proj_b", "key_b")))
    return out


def test_projects_and_api_keys() -> None:
    f = forecast_month(grouped_costs(), now=MID_NOW)
    assert list(f.projects) == ["", "proj_a", "proj_b"]
    assert list(f.api_keys) == ["", "key_a1", "key_a2", "key_b"]
    # The organization: $31 a day, $30 today: 217 + max(30, 31) + 31 x 16.
    assert (f.month_to_date, f.daily_rate, f.forecast) == (247, 31, 217 + 31 + 31 * 16)
    a, b, none = f.projects["proj_a"], f.projects["proj_b"], f.projects[""]
    assert (a.month_to_date, a.daily_rate, a.forecast) == (100, 10, 70 + 30 + 10 * 16)
    assert (b.month_to_date, b.daily_rate, b.forecast) == (140, 20, 140 + 20 + 20 * 16)
    assert (none.month_to_date, none.daily_rate, none.forecast) == (7, 1, 7 + 1 + 16)
    k1, k2 = f.api_keys["key_a1"], f.api_keys["key_a2"]
    assert (k1.month_to_date, k1.daily_rate, k1.forecast) == (72, 6, 42 + 30 + 6 * 16)
    assert (k2.month_to_date, k2.daily_rate, k2.forecast) == (28, 4, 28 + 4 + 4 * 16)
    assert f.api_keys["key_b"].forecast == b.forecast
    assert f.api_keys[""].forecast == none.forecast
    for nested in [*f.projects.values(), *f.api_keys.values()]:
        assert nested.projects == {} and nested.api_keys == {}
        assert (nested.month, nested.today, nested.rate_days) == (f.month, f.today, f.rate_days)
    # Each scope takes its own max: the org's today term is its rate (31), not 30 + 20 + 1.
    assert f.forecast == 744
    assert sum(p.forecast for p in f.projects.values()) == 260 + 480 + 24 == 764
    assert sum(k.forecast for k in f.api_keys.values()) == 168 + 96 + 480 + 24
    # Spend, though, adds up.
    assert sum(p.month_to_date for p in f.projects.values()) == f.month_to_date
    assert a.threshold(100) == Threshold(100.0, True, MID)


def test_a_project_without_cost_this_month_still_gets_a_forecast() -> None:
    costs = [whole(d, cost(7.0, "proj_old")) for d in days(D(2026, 11, 28), D(2026, 11, 30))]
    f = forecast_month(
        [*costs, whole(D(2026, 12, 1), cost(2.0, "proj_new"))], now=ts(D(2026, 12, 2))
    )
    old, new = f.projects["proj_old"], f.projects["proj_new"]
    # Nov 28-30 and Dec 1 are covered: (21 + 0) / 4 a day; Dec 1 is complete at $0.
    assert (old.month_to_date, old.daily_rate, old.forecast) == (0, 21 / 4, 21 / 4 * 30)
    assert (new.month_to_date, new.daily_rate, new.forecast) == (2, 0.5, 2 + 0.5 * 30)
    assert f.forecast == 2 + (21 + 2) / 4 * 30


def test_when_the_org_forecast_is_the_sum_of_the_projects() -> None:
    # Every scope at or below its rate today: the max picks the rate in each, and the rates add.
    costs = [
        whole(d, cost(3.0, "p"), cost(5.0, "q")) for d in days(D(2026, 12, 8), D(2026, 12, 14))
    ]
    f = forecast_month([*costs, clipped(MID, MID_NOW, cost(1.0, "p"))], now=MID_NOW)
    assert f.forecast == sum(p.forecast for p in f.projects.values()) == 56 + 8 * 17
    assert f.api_keys == {}


# -- the lower-level entry point --------------------------------------------------------


def test_forecast_daily_is_what_forecast_month_is_built_on() -> None:
    grouped = forecast_month(grouped_costs(), now=MID_NOW)
    week = days(D(2026, 12, 8), D(2026, 12, 14))
    f = forecast_daily(
        {**dict.fromkeys(week, 31.0), MID: 30},
        covered=week,
        now=MID_NOW,
        projects={
            "": {**dict.fromkeys(week, 1.0)},
            "proj_a": {**dict.fromkeys(week, 10.0), MID: 30.0},
            "proj_b": {**dict.fromkeys(week, 20.0), MID: 0.0},
        },
    )
    assert f.forecast == grouped.forecast == 744
    assert f.projects == grouped.projects
    assert f.api_keys == {}


def test_forecast_daily_covered_days_and_sql_nulls() -> None:
    week = days(D(2026, 12, 8), D(2026, 12, 14))
    f = forecast_daily(
        # Dec 9 covered, no row (missing); Dec 10 covered, SUM over NULLs (None); Dec 11 has
        # a cost but only from a clipped bucket (not covered); Dec 20 is after today.
        {D(2026, 12, 8): 12.0, D(2026, 12, 10): None, D(2026, 12, 11): 50.0, D(2026, 12, 20): 9.0},
        covered={d for d in week if d != D(2026, 12, 11)},
        now=MID_NOW,
    )
    assert len(f.rate_days) == 6 and D(2026, 12, 11) not in f.rate_days
    assert f.daily_rate == 2
    assert f.month_to_date == 62 and D(2026, 12, 20) not in f.daily
    assert f.forecast == 62 + 2 + 2 * 16


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        (
            {"daily": {dt.datetime(2026, 12, 1, tzinfo=dt.UTC): 1.0}},
            r"^daily: keys must be datetime\.date",
        ),
        ({"daily": {D(2026, 12, 1): math.nan}}, r"^daily: the cost of 2026-12-01"),
        ({"covered": [dt.datetime(2026, 12, 1, tzinfo=dt.UTC)]}, r"^covered: "),
        ({"projects": {"p": {D(2026, 12, 1): "1"}}}, r"^projects\['p'\]: "),
        ({"api_keys": {None: {}}}, r"^api_keys: keys must be IDs"),
        ({"now": dt.datetime(2026, 12, 15)}, r"^now: naive datetime"),
        ({"lookback_days": 0}, r"^lookback_days: "),
    ],
)
def test_forecast_daily_refuses_what_it_cannot_read(
    arguments: dict[str, object], message: str
) -> None:
    kwargs: dict[str, object] = {"daily": {}, "covered": (), "now": MID_NOW, **arguments}
    with pytest.raises(ValueError, match=message):
        forecast_daily(**kwargs)  # type: ignore[arg-type]


# -- refusals ---------------------------------------------------------------------------


@pytest.mark.parametrize(
    "now", [dt.datetime(2026, 12, 15, 12), math.nan, True, "2026-12-15", -1, 1_765_800_000_000]
)
def test_now_must_be_a_moment(now: object) -> None:
    with pytest.raises(ValueError, match=r"^now: "):
        forecast_month([], now=now)  # type: ignore[arg-type]


@pytest.mark.parametrize("lookback_days", [0, -3, 1.5, 7.0, True, "7", None])
def test_lookback_days_is_a_whole_number_of_days(lookback_days: object) -> None:
    with pytest.raises(ValueError, match=r"^lookback_days: "):
        forecast_month([], now=MID_NOW, lookback_days=lookback_days)  # type: ignore[arg-type]


@pytest.mark.parametrize("usd", [-0.01, math.nan, math.inf, -math.inf, True, "5", None])
def test_a_threshold_is_a_finite_amount(usd: object) -> None:
    f = forecast_month(mid_month_costs(), now=MID_NOW)
    with pytest.raises(ValueError, match=r"^usd: "):
        f.threshold(usd)  # type: ignore[arg-type]


def test_costs_must_be_usd_cost_results() -> None:
    with pytest.raises(ValueError, match=r"^costs: .*'eur'"):
        forecast_month([whole(D(2026, 12, 14), cost(1.0, currency="eur"))], now=MID_NOW)
    assert (
        forecast_month(
            [whole(D(2026, 12, 14), cost(1.0, currency="USD"))], now=MID_NOW
        ).month_to_date
        == 1
    )
    assert (
        forecast_month(
            [whole(D(2026, 12, 14), cost(1.0, currency=None))], now=MID_NOW
        ).month_to_date
        == 1
    )
    wrong = UsageBucket(
        start_time=ts(D(2026, 12, 14)),
        end_time=ts(D(2026, 12, 15)),
        results=[CompletionsResult(input_tokens=1, output_tokens=1, num_model_requests=1)],
    )
    with pytest.raises(ValueError, match=r"^costs: .*CompletionsResult"):
        forecast_month([wrong], now=MID_NOW)  # type: ignore[arg-type]
    # A result of a type this version does not know is left out, never a crash.
    future = UnknownResult(object="organization.costs.result_v2", fields={"amount": 9})
    mixed = UsageBucket(
        start_time=ts(D(2026, 12, 14)),
        end_time=ts(D(2026, 12, 15)),
        results=[cost(2.0), future],
    )
    assert forecast_month([mixed], now=MID_NOW).month_to_date == 2


def test_a_forecast_is_a_frozen_hashable_value() -> None:
    f = forecast_month(mid_month_costs(), now=MID_NOW)
    with pytest.raises(AttributeError):
        f.forecast = 0.0  # type: ignore[misc]
    assert hash(f) == hash(forecast_month(mid_month_costs(), now=MID_NOW))
    assert isinstance(f, MonthForecast) and f == forecast_month(
        list(reversed(mid_month_costs())), now=MID_NOW
    )


# -- properties -------------------------------------------------------------------------

# Dollars in 1/64ths: every sum of a few hundred of them is exact in a float, so the exact
# properties can be stated with ==.
DYADIC = st.integers(0, 10**7).map(lambda k: k / 64)
ANY_USD = st.floats(0, 1e6, allow_nan=False, allow_infinity=False)
PROJECTS = st.sampled_from(["proj_a", "proj_b", None])


@st.composite
def scenarios(
    draw: st.DrawFn, usd: st.SearchStrategy[float] = ANY_USD
) -> tuple[list[UsageBucket[CostsResult]], float, int]:
    """Buckets from the lookback's first day to today, some whole, some clipped, some
    missing, each with a few costs over two projects; a ``now`` anywhere in today."""
    today = draw(st.dates(D(2000, 1, 1), D(2099, 12, 31)))
    now = ts(today) + draw(st.integers(0, DAY - 1))
    lookback = draw(st.integers(1, 40))
    first = min(today.replace(day=1), today - dt.timedelta(days=lookback))
    buckets = []
    for day in days(first, today):
        kind = draw(st.sampled_from(["whole", "whole", "whole", "clipped", "missing"]))
        results = [cost(c, p) for c, p in draw(st.lists(st.tuples(usd, PROJECTS), max_size=3))]
        if day == today:
            buckets.append(clipped(day, now, *results))
        elif kind == "whole":
            buckets.append(whole(day, *results))
        elif kind == "clipped":
            buckets.append(clipped(day, ts(day) + draw(st.integers(1, DAY - 1)), *results))
    return buckets, now, lookback


@given(
    today=st.dates(D(2000, 1, 1), D(2099, 12, 31)),
    second=st.integers(0, DAY - 1),
    usd=DYADIC,
    lookback=st.integers(1, 40),
)
def test_a_constant_daily_cost_forecasts_exactly(
    today: dt.date, second: int, usd: float, lookback: int
) -> None:
    now = ts(today) + second
    first = min(today.replace(day=1), today - dt.timedelta(days=lookback))
    costs = [whole(d, usd) for d in days(first, today - dt.timedelta(days=1))]
    # Today so far has cost what a whole day does: its partial equals the rate (at midnight
    # exactly, today's bucket has not started and the rate stands in for it).
    costs.append(clipped(today, now, usd) if second else whole(today, usd))
    f = forecast_month(costs, now=now, lookback_days=lookback)
    n = calendar.monthrange(today.year, today.month)[1]
    assert f.days_in_month == n
    assert f.daily_rate == usd
    assert len(f.rate_days) == lookback
    assert f.month_to_date == usd * (today.day if second else today.day - 1)
    assert f.forecast == usd * n
    # The whole month's spend is reached on its last day (crossed if that is today and
    # its cost is in), and $0 on its first.
    crossed = usd == 0 or (second > 0 and today.day == n)
    last = D(today.year, today.month, n)
    assert f.threshold(usd * n) == Threshold(usd * n, crossed, last if usd else f.month_start)


@given(scenario=scenarios(), thresholds=st.lists(ANY_USD, min_size=2, max_size=8))
def test_crossing_dates_are_monotone_in_the_threshold(
    scenario: tuple[list[UsageBucket[CostsResult]], float, int], thresholds: list[float]
) -> None:
    costs, now, lookback = scenario
    f = forecast_month(costs, now=now, lookback_days=lookback)
    for scope in [f, *f.projects.values()]:
        # Amounts near the scope's own figures, where the dates change, and the drawn ones.
        near = [scope.month_to_date, scope.forecast, scope.month_to_date / 2, scope.forecast * 0.9]
        results = [scope.threshold(u) for u in sorted([*thresholds, *near])]
        never = D.max
        dates = [never if r.crossing_date is None else r.crossing_date for r in results]
        assert dates == sorted(dates)
        crossed = [r.crossed for r in results]
        assert crossed == sorted(crossed, reverse=True)  # crossed for every smaller amount
        for r in results:
            assert r.crossed == (scope.month_to_date >= r.usd)
            # A date this month, or none exactly when the forecast stays below.
            assert (r.crossing_date is None) == (scope.forecast < r.usd)
            if r.crossing_date is not None:
                assert r.crossing_date.strftime("%Y-%m") == scope.month
                assert (
                    (r.crossing_date <= scope.today)
                    if r.crossed
                    else (r.crossing_date >= scope.today)
                )


@given(scenario=scenarios(DYADIC), data=st.data())
def test_a_threshold_already_passed_is_crossed_on_the_day_spend_reached_it(
    scenario: tuple[list[UsageBucket[CostsResult]], float, int], data: st.DataObject
) -> None:
    costs, now, lookback = scenario
    f = forecast_month(costs, now=now, lookback_days=lookback)
    usd = data.draw(st.floats(0, f.month_to_date), label="usd")
    # The day the month's cumulative spend reached usd, counted here from the buckets,
    # in exact arithmetic.
    by_day: dict[int, Fraction] = {}
    for b in costs:
        for r in b.results:
            if b.start_time < now and r.amount is not None and r.amount.value is not None:
                day_number = b.start_time // DAY
                by_day[day_number] = by_day.get(day_number, Fraction(0)) + Fraction(r.amount.value)
    spent = Fraction(0)
    reached = None
    for day in days(f.month_start, f.today):
        spent += by_day.get(ts(day) // DAY, Fraction(0))
        if reached is None and spent >= Fraction(usd):
            reached = day
    assert spent == Fraction(f.month_to_date)
    assert f.threshold(usd) == Threshold(usd, True, reached)


@given(scenario=scenarios())
def test_the_forecast_is_never_below_month_to_date(
    scenario: tuple[list[UsageBucket[CostsResult]], float, int],
) -> None:
    costs, now, lookback = scenario
    f = forecast_month(costs, now=now, lookback_days=lookback)
    for scope in [f, *f.projects.values()]:
        assert scope.forecast >= scope.month_to_date
        later = scope.days_in_month - scope.today.day
        assert scope.forecast >= (scope.month_to_date + scope.daily_rate * later) * (1 - 1e-12)
        assert scope.daily_rate >= 0
    # The organization's spend is every project's.
    projects = math.fsum(p.month_to_date for p in f.projects.values())
    assert math.isclose(f.month_to_date, projects, rel_tol=1e-9, abs_tol=1e-9)


def test_the_module_exports_and_documents_its_names() -> None:
    import openai_usage_async.forecast as forecast

    assert forecast.__doc__ and "a linear rate misses a spike" in forecast.__doc__.lower()
    assert list(forecast.__all__) == sorted(forecast.__all__, key=lambda n: (not n[0].isupper(), n))
    defined = {
        n
        for n, v in vars(forecast).items()
        if not n.startswith("_") and getattr(v, "__module__", None) == forecast.__name__
    }
    assert defined == {"MonthForecast", "Threshold", "forecast_daily", "forecast_month"}
    assert defined | {"DailyCosts"} == set(forecast.__all__)
    for name in defined:
        assert getattr(forecast, name).__doc__, name
    assert MonthForecast.threshold.__doc__
