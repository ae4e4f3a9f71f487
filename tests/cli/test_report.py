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
