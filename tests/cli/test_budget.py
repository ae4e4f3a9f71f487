"""`openai-usage budget`, as cron runs it: real subprocesses, from a store and live.

The emulator's seeded organization (pinned at NOW, 2025-11-23 13:20 UTC) has a $60,000
organization limit (not reached), a project limit of $1,000 reached ("enforcing"), a
$25,000 organization alert that month to date has crossed, and more (emulator/spend.py).
"""

from __future__ import annotations

import datetime as dt
import pathlib
import shutil
import sqlite3
from collections.abc import Iterator

import msgspec
import pytest

from openai_usage_async import UsageClient
from openai_usage_async.cli._budget import LocalBudget, _resolve, parse_budgets
from openai_usage_async.emulator import Emulator
from openai_usage_async.forecast import forecast_month
from tests.cli.conftest import run_cli
from tests.helpers import DAY, NOW, TEST_KEY

TODAY = NOW // DAY * DAY
MONTH = int(dt.datetime(2025, 11, 1, tzinfo=dt.UTC).timestamp())


@pytest.fixture
def spend(emu: Emulator) -> Iterator[Emulator]:
    """The emulator, its spend knobs put back after the test."""
    yield emu
    emu.spend_limits = True
    emu.spend_forbidden = False


def budget(emu: Emulator, *args: str) -> tuple[int, str, str]:
    done = run_cli("budget", "--base-url", emu.base_url or "", "--now", str(NOW), *args)
    return done.returncode, done.stdout, done.stderr


@pytest.fixture(scope="module")
def store(served: Emulator, tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    path = tmp_path_factory.mktemp("budget") / "usage.db"
    args = ["--start", str(MONTH - 10 * DAY), "--end", str(NOW), "--endpoints", "costs", "-q"]
    done = run_cli("sync", "--store", str(path), "--base-url", served.base_url or "", *args)
    assert done.returncode == 0, done.stderr
    return path


def test_a_hard_limit_reached_exits_11_from_the_store_and_live(
    spend: Emulator, store: pathlib.Path
) -> None:
    code, out, err = budget(spend, "--store", str(store))
    live_code, live_out, _ = budget(spend)
    assert code == live_code == 11, err
    assert out == live_out  # the store and the service agree
    enforcing = spend.spend.enforcing_project_id
    name = spend.org.directory.project(enforcing).name
    assert f"{name} ({enforcing})" in out
    assert "crossed on 2025-11-06, blocking now" in out
    assert out.splitlines()[-1].startswith("Verdict: limit:")
    assert out.splitlines()[-1].endswith("(exit 11)")
    assert all(len(line) <= 80 for line in out.splitlines())


def test_an_alert_crossed_with_no_limit_exits_10(
    spend: Emulator, store: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    # An organization whose only thresholds are alerts: the store's limits taken out.
    alerts_only = tmp_path / "alerts-only.db"
    shutil.copy(store, alerts_only)
    with sqlite3.connect(alerts_only) as db:
        db.execute("DELETE FROM spend_limits")
    db.close()
    code, out, _ = budget(spend, "--store", str(alerts_only))
    assert code == 10
    assert "Verdict: alert:" in out and "hard limit" not in out
    assert "crossed on 2025-11-18" in out  # the $25,000 organization alert


def test_local_budgets_when_the_key_may_not_read_the_limits(spend: Emulator) -> None:
    spend.spend_forbidden = True
    code, out, _ = budget(spend, "--budget", "10000000")
    assert code == 0
    assert "not readable with this key" in out and "Verdict: ok:" in out
    costs = run_cli(
        "fetch",
        "costs",
        "--base-url",
        spend.base_url or "",
        "--start",
        str(MONTH),
        "--end",
        str(NOW),
        "--format",
        "json",
    )
    pages = msgspec.json.decode(costs.stdout)
    month_to_date = sum(
        r["amount"]["value"] for p in pages for b in p["data"] for r in b["results"]
    )
    code, out, _ = budget(spend, "--budget", f"{month_to_date + 1:.2f}")  # forecast reaches it
    assert code == 10
    code, out, _ = budget(spend, "--budget", f"{month_to_date - 1:.2f}")  # already crossed
    assert code == 11


def test_project_budgets_by_id_and_by_name(spend: Emulator, store: pathlib.Path) -> None:
    spend.spend_forbidden = True
    project = spend.org.directory.projects[1]
    for key in (project.id, project.name):
        code, out, _ = budget(spend, "--store", str(store), "--budget", f"{key}=1")
        assert code == 11, out
        assert f"{project.name} ({project.id})" in out
        assert "budget" in out
    code, _, err = budget(spend, "--budget", "Nonexistent app=5")
    assert code == 2
    assert err.startswith("openai-usage: error: --budget: no project has the ID or name")


def test_json_for_machines(spend: Emulator, store: pathlib.Path) -> None:
    code, out, _ = budget(spend, "--store", str(store), "--format", "json")
    body = msgspec.json.decode(out)
    assert code == body["exit_code"] == 11 and body["verdict"] == "limit"
    assert body["month"] == "2025-11" and body["now"] == NOW
    org = body["organization"]
    assert set(org) == {"month_to_date_usd", "daily_rate_usd", "forecast_usd", "thresholds"}
    kinds = {t["kind"] for t in org["thresholds"]}
    assert kinds == {"hard_limit", "alert"}
    assert all(set(t) >= {"kind", "usd", "crossed", "crossing_date"} for t in org["thresholds"])
    projects = {p["project_id"]: p for p in body["projects"]}
    enforcing = projects[spend.spend.enforcing_project_id]
    assert enforcing["project_name"] == spend.org.directory.project(enforcing["project_id"]).name
    [limit] = [t for t in enforcing["thresholds"] if t["kind"] == "hard_limit"]
    assert limit["crossed"] is True and limit["usd"] == 1000.0
    # The figures are the forecast's over the service's own buckets.
    with UsageClient(TEST_KEY, base_url=spend.base_url) as client:
        buckets = client.usage.costs.list(start_time=MONTH - 10 * DAY, end_time=NOW)
    want = forecast_month(buckets, now=NOW)
    assert org["month_to_date_usd"] == pytest.approx(want.month_to_date, rel=1e-9)
    assert org["forecast_usd"] == pytest.approx(want.forecast, rel=1e-9)


def test_a_store_without_costs_exits_7(spend: Emulator, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "usage.db"
    args = ["--start", str(TODAY - 2 * DAY), "--end", str(TODAY), "--endpoints", "embeddings"]
    assert (
        run_cli("sync", "--store", str(path), "--base-url", spend.base_url or "", *args).returncode
        == 0
    )
    code, _, err = budget(spend, "--store", str(path))
    assert code == 7
    assert "the store has no costs" in err and "--endpoints costs" in err


def test_an_old_store_says_so(spend: Emulator, store: pathlib.Path) -> None:
    code, _, err = budget(spend, "--store", str(store), "--now", str(NOW + 3 * DAY))
    assert "more than a day before now" in err
    assert code == 11  # what the store holds still crosses the project's limit


def test_budget_values_are_parsed_and_names_resolved() -> None:
    assert parse_budgets(["$1,500.50", "proj_a=20", "Checkout = 7"]) == [
        LocalBudget(None, 1500.5),
        LocalBudget("proj_a", 20.0),
        LocalBudget("Checkout", 7.0),
    ]
    for bad in ("lots", "=5", "proj=", "proj=-3"):
        with pytest.raises(Exception, match="--budget"):
            parse_budgets([bad])
    known = {"proj_a": "Checkout", "proj_b": "Checkout", "proj_c": "Search"}
    with pytest.raises(Exception, match="names 2 projects: proj_a, proj_b"):
        _resolve([LocalBudget("checkout", 1.0)], known)
    assert _resolve([LocalBudget("search", 1.0)], known) == {"proj_c": 1.0}
