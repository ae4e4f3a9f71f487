"""The summary report, pure: costs whose amount leaves out the optional value or currency."""

from __future__ import annotations

from openai_usage_async.cli._commands import report
from openai_usage_async.models import CostAmount, CostsResult, UsageBucket

DAY = 86400


def cost(value: float | None, currency: str | None, project: str) -> CostsResult:
    return CostsResult(amount=CostAmount(value=value, currency=currency), project_id=project)


def test_a_cost_without_value_or_currency_counts_as_zero() -> None:
    costs = [
        UsageBucket(start_time=0, end_time=DAY, results=[cost(None, "usd", "proj_a")]),
        UsageBucket(start_time=DAY, end_time=2 * DAY, results=[cost(2.5, None, "proj_b")]),
        UsageBucket(start_time=2 * DAY, end_time=3 * DAY, results=[cost(1.25, "usd", "proj_a")]),
    ]
    lines = report({"costs": costs}, 0, 3 * DAY, "project_id")
    assert "Total cost   $3.75" in lines
    [by_project] = [i for i, line in enumerate(lines) if line == "Cost by project"]
    rows = " ".join(lines[by_project : by_project + 5])
    assert "proj_b" in rows and "$2.50" in rows and "$1.25" in rows


def test_movers_say_which_day_an_odd_range_leaves_out() -> None:
    costs = [
        UsageBucket(start_time=i * DAY, end_time=(i + 1) * DAY, results=[cost(i + 1.0, "usd", "p")])
        for i in range(3)
    ]
    lines = report({"costs": costs}, 0, 3 * DAY, "line_item")
    title = lines.index("Top movers by line item: the last day against the day before")
    assert (
        lines[title + 1] == "  (3 days: the first, 1970-01-01, is left out to compare equal spans)"
    )
    # Day 2 (2.0) against day 3 (3.0): the left-out day 1 counts on neither side.
    assert lines[title + 4].split() == ["(no", "line", "item)", "$2.00", "$3.00", "+$1.00"]
    even = report({"costs": costs[1:]}, DAY, 3 * DAY, "line_item")
    assert "(end exclusive; 2 days, UTC)" in even[0] and not any("left out" in x for x in even)
