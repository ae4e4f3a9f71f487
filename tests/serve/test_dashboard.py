"""The dashboard page, rendered without a browser: from hand-built snapshots (the awkward
cases on purpose) and from a store synced from the emulator. The page is parsed with the
standard library's ``html.parser``, and the facts are read back from it."""

from __future__ import annotations

import dataclasses
import datetime as dt
import re
import time
from html.parser import HTMLParser
from typing import Any

import anyio.to_thread
import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from openai_usage_async.forecast import forecast_daily
from openai_usage_async.serve._dashboard import _axis, _span, _usd, render_page
from openai_usage_async.serve._snapshot import (
    AlertRow,
    Data,
    LimitRow,
    ProjectRow,
    Ranked,
    Status,
    TokenRow,
    compute,
)
from openai_usage_async.store import Store
from openai_usage_async.store._read import Reader
from tests.helpers import DAY, NOW

TODAY = dt.date(2025, 11, 23)  # NOW's UTC day
DAYS = tuple(TODAY - dt.timedelta(days=n) for n in range(29, -1, -1))
GAP = DAYS[10]  # Tue 2025-11-04: a day the store does not cover
#: A project name as hostile as the service could send.
HOSTILE = "<script>alert('name')</script> & <img src=x onerror=alert(1)> \"quoted\""
ERROR = "HTTP 500 from upstream: <b>Internal</b> <script>alert('error')</script> & more"
#: Each project's cost on every covered day; "" holds the costs without a project.
PER_DAY = {"proj_checkout": 100.0, "proj_unnamed": 20.0, "": 5.0, "proj_hostile": 1.25}
NAMES = {"proj_checkout": "Checkout", "proj_unnamed": "", "proj_hostile": HOSTILE}


def hand_data(**changes: Any) -> Data:
    """A snapshot with a named, an unnamed, an archived hostile-named project and costs
    without a project; a day not covered; every kind of limit and alert."""
    covered = [d for d in DAYS[:-1] if d != GAP]
    projects = {k: {d: v for d in DAYS if d != GAP} for k, v in PER_DAY.items()}
    org = {d: sum(PER_DAY.values()) for d in DAYS if d != GAP}
    forecast = forecast_daily(org, covered=covered, now=NOW, projects=projects)
    rows = tuple(
        ProjectRow(
            key or None, NAMES.get(key, ""), f.month_to_date, f.forecast, key == "proj_hostile"
        )
        for key, f in sorted(forecast.projects.items(), key=lambda kv: -kv[1].month_to_date)
    )
    checkout = forecast.projects["proj_checkout"]
    limits = (
        LimitRow(
            "organization", None, "", None, "", 10_000.0, "inactive",
            forecast.month_to_date, forecast.forecast, forecast.threshold(10_000).crossing_date,
        ),
        LimitRow(
            "project", "proj_checkout", "Checkout", None, "", 1_000.0, "enforcing",
            checkout.month_to_date, checkout.forecast, checkout.threshold(1_000).crossing_date,
        ),
        LimitRow(
            "api_key", "proj_checkout", "Checkout", "key_ci", "CI key", 50.0, None,
            None, None, None,
        ),
    )  # fmt: skip
    alerts = (
        AlertRow(
            "organization", None, "", "alert_1", 2_000.0, ("a@example.com",),
            forecast.threshold(2_000).crossing_date,
        ),
        AlertRow(
            "organization", None, "", "alert_2", 3_500.0, ("a@example.com", "b@example.com"),
            forecast.threshold(3_500).crossing_date,
        ),
        AlertRow(
            "project", "proj_hostile", HOSTILE, "alert_3", 100.0, (),
            forecast.projects["proj_hostile"].threshold(100).crossing_date,
        ),
    )  # fmt: skip
    daily = {(k or None): tuple(None if d == GAP else v for d in DAYS) for k, v in PER_DAY.items()}
    data = Data(
        computed_at=NOW,
        month="2025-11",
        forecast=forecast,
        month_to_date_usd=forecast.month_to_date,
        forecast_usd=forecast.forecast,
        daily_rate_usd=forecast.daily_rate,
        projects=rows,
        days=DAYS,
        daily=daily,
        daily_names={k: NAMES.get(k or "", "") for k in daily},
        top_projects=tuple(Ranked(r.project_id, r.project_name, r.month_to_date_usd) for r in rows),
        top_models=(
            Ranked("gpt-4o-2024-08-06", "", 2_000.0),
            Ranked("web search tool calls", "", 777.5),
        ),
        top_keys=(Ranked("key_ci", "CI key", 1_500.0), Ranked("key_nameless", "", 1_277.5)),
        tokens=(TokenRow("gpt-4o-2024-08-06", 1_234_567_890, 4_567, 89_000, 42),),
        limits=limits,
        alerts=alerts,
        limits_read=True,
        data_until={"costs_1d": NOW, "completions_1d": NOW - 3600},
        costs_until=NOW,
        cost_counters=(),
        token_counters=(),
        names=dict(NAMES),
    )
    return dataclasses.replace(data, **changes)


def hand_status(**changes: Any) -> Status:
    """A loop that is up: 12 syncs, the last a minute before NOW."""
    status = Status(
        started_at=NOW - 3600,
        every_s=300,
        period_s=300,
        syncing=False,
        syncs=12,
        failures_total=1,
        consecutive_failures=0,
        last_success_at=NOW - 60,
        last_duration_s=1.25,
        last_error=None,
    )
    return dataclasses.replace(status, **changes)


def render(data: Data | None, status: Status | None = None, every_s: float = 300) -> str:
    page = render_page(data, status or hand_status(), every_s=every_s, now=NOW)
    assert isinstance(page, bytes)
    return page.decode("utf-8")


class Page(HTMLParser):
    """A parsed page: its text, its tables (caption and cell texts), the facts the tests
    read, and the structural slips it found (unbalanced tags, a table without a caption,
    a header cell without a scope, a chart without a role or a title, a duplicate id)."""

    VOID = frozenset({"meta", "link", "br", "img", "input", "hr", "col", "source", "wbr"})
    #: Elements whose edges separate words (the others run into their neighbours).
    BLOCKS = frozenset(
        "address article aside br caption dd details div dl dt figure footer h1 h2 h3 h4 "
        "header li main ol p pre section summary table td th title tr ul".split()
    )
    SVG_VOID = frozenset({"rect", "line", "path", "circle"})

    def __init__(self, text: str) -> None:
        super().__init__(convert_charrefs=True)
        self.stack: list[str] = []
        self.problems: list[str] = []
        self.text: list[str] = []
        self.ids: set[str] = set()
        self.attributes: list[tuple[str, str, str]] = []
        self.scripts = 0
        self.tables: list[dict[str, Any]] = []
        self.data_values: dict[str, str] = {}
        self.meta_refresh: str | None = None
        self._cell: list[str] | None = None
        self._caption: list[str] | None = None
        self._skip = 0
        self._svg_titles: list[bool] = []
        self.feed(text)
        self.close()
        if self.stack:
            self.problems.append(f"unclosed: {self.stack}")

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        a = {k: v or "" for k, v in attrs}
        for k, v in a.items():
            self.attributes.append((tag, k, v))
        if "id" in a:
            if a["id"] in self.ids:
                self.problems.append(f"duplicate id {a['id']}")
            self.ids.add(a["id"])
        if tag == "script":
            self.scripts += 1
        if tag in ("script", "style"):
            self._skip += 1
        if tag == "meta" and a.get("http-equiv") == "refresh":
            self.meta_refresh = a.get("content")
        if tag == "data":
            self.data_values[a.get("id", "")] = a.get("value", "")
        if tag == "table":
            self.tables.append({"caption": None, "rows": []})
        if tag == "caption":
            self._caption = []
        if tag == "tr":
            self.tables[-1]["rows"].append([])
        if tag in ("td", "th"):
            self._cell = []
            if tag == "th" and a.get("scope") not in ("col", "row"):
                self.problems.append("a th without scope")
        if tag == "svg":
            if a.get("role") != "img":
                self.problems.append("an svg without role=img")
            self._svg_titles.append(False)
        if tag == "title" and self.stack and self.stack[-1] == "svg":
            self._svg_titles[-1] = True
        if tag in self.BLOCKS:
            self.handle_data(" ")
        if tag not in self.VOID:
            self.stack.append(tag)

    def handle_startendtag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.handle_starttag(tag, attrs)
        if tag not in self.VOID:
            self.handle_endtag(tag)

    def handle_endtag(self, tag: str) -> None:
        if tag in self.VOID:
            return
        if not self.stack or self.stack[-1] != tag:
            self.problems.append(f"</{tag}> closes {self.stack[-1:] or 'nothing'}")
            return
        self.stack.pop()
        if tag in self.BLOCKS:
            self.handle_data(" ")
        if tag in ("script", "style"):
            self._skip -= 1
        if tag == "caption" and self._caption is not None:
            self.tables[-1]["caption"] = " ".join("".join(self._caption).split())
            self._caption = None
        if tag in ("td", "th") and self._cell is not None:
            self.tables[-1]["rows"][-1].append(" ".join("".join(self._cell).split()))
            self._cell = None
        if tag == "table" and not self.tables[-1]["caption"]:
            self.problems.append("a table without a caption")
        if tag == "svg" and not self._svg_titles.pop():
            self.problems.append("an svg without a <title> first")

    def handle_data(self, data: str) -> None:
        if self._skip:
            return
        self.text.append(data)
        if self._cell is not None:
            self._cell.append(data)
        if self._caption is not None:
            self._caption.append(data)

    @property
    def plain(self) -> str:
        return " ".join("".join(self.text).split())

    def table(self, caption_start: str) -> list[list[str]]:
        found = [t["rows"] for t in self.tables if t["caption"].startswith(caption_start)]
        assert len(found) == 1, [t["caption"] for t in self.tables]
        rows: list[list[str]] = found[0]
        return rows


def parsed(text: str) -> Page:
    page = Page(text)
    assert page.problems == []
    return page


def assert_fetches_nothing(text: str) -> None:
    """No URL anywhere: no scheme, no protocol-relative link, no src/href but the empty
    data: favicon, and CSS url() only to the page's own SVG pattern."""
    assert not re.search(r"https?:", text, re.I)
    assert "//" not in re.sub(r"<script>.*?</script>", "", text, flags=re.S)
    page = Page(text)
    links = [(tag, k, v) for tag, k, v in page.attributes if k in ("src", "href", "srcset")]
    assert links == [("link", "href", "data:,")]
    assert re.findall(r"url\(([^)]*)\)", text) == ["#hatch"]
    assert "@import" not in text


# -- formatting --------------------------------------------------------------------------


def test_dollars_and_spans_read_as_people_write_them() -> None:
    assert _usd(1234.5) == "$1,234.50"
    assert _usd(0.004) == _usd(-0.004) == "$0.00"
    assert _usd(-12.345) == "-$12.35" or _usd(-12.345) == "-$12.34"
    assert _usd(1_234_567.891) == "$1,234,567.89"
    spans = [_span(s) for s in (-5, 59, 60, 3599, 3600, 3660, 2 * DAY - 1, 3 * DAY)]
    assert [s.replace("\N{NO-BREAK SPACE}", " ") for s in spans] == [
        "0 s", "59 s", "1 min", "59 min", "1 h", "1 h 1 min", "47 h 59 min", "3 days",
    ]  # fmt: skip


@pytest.mark.parametrize("high", [0.0, 0.004, 1.0, 7.3, 99.0, 2100.0, 61_800.0, 1e7])
def test_an_axis_ends_above_its_values_with_round_ticks(high: float) -> None:
    top, ticks = _axis(high, 4)
    assert top >= high and ticks[0] == 0 and 2 <= len(ticks) <= 5
    assert ticks[-1] <= top
    step = ticks[1] - ticks[0]
    mantissa = step / 10 ** (len(str(int(step))) - 1) if step >= 1 else None
    assert mantissa is None or mantissa in (1, 2, 2.5, 5)


# -- the page from hand-built snapshots --------------------------------------------------


def test_the_page_shows_every_project_the_month_to_date_and_the_limits() -> None:
    data = hand_data()
    page = parsed(render(data))
    text = page.plain
    # Every project with cost this month, by name (the ID for the unnamed one).
    projects = page.table("Cost by project this month")
    names = [row[0] for row in projects[1:-1]]
    assert names[0].startswith("Checkout proj_checkout")
    assert any(n.startswith("proj_unnamed (unnamed)") for n in names)
    assert "No project" in names
    assert any(n.startswith(HOSTILE + " archived proj_hostile") for n in names)
    assert projects[-1][:3] == [
        "Organization",
        _usd(data.month_to_date_usd),
        _usd(data.forecast_usd),
    ]
    for row in data.projects:
        assert _usd(row.month_to_date_usd) in text
    # The month to date, machine-readable and as people read it.
    assert float(page.data_values["month-to-date"]) == data.month_to_date_usd
    assert float(page.data_values["forecast"]) == data.forecast_usd
    assert _usd(data.month_to_date_usd) == "$2,777.50"
    assert "Month to date $2,777.50" in text
    # Limits and alerts: the state as a state, the dates in words.
    limits = page.table("Hard spend limits and email spend alerts")
    assert limits[0] == ["Limit or alert", "Scope", "Status"]
    by_threshold = {row[0]: row[1:] for row in limits[1:]}
    assert by_threshold["Hard limit $1,000.00"] == [
        "Project Checkout proj_checkout",
        "reached on Tue Nov 11; reached, blocking requests",
    ]
    assert by_threshold["Hard limit $10,000.00"] == [
        "Organization",
        "the forecast stays below it; not blocking",
    ]
    assert by_threshold["Hard limit $50.00"] == [
        "API key CI key key_ci in project Checkout",
        "no cost data for this scope; state unknown",
    ]
    assert by_threshold["Email alert $2,000.00"][1] == "reached on Mon Nov 17; emails 1 recipient"
    assert by_threshold["Email alert $3,500.00"][1] == (
        "the forecast reaches it on Sat Nov 29; emails 2 recipients"
    )
    assert "enabled" not in text.lower()
    # The organization's chart says the same in its title.
    assert "Organization: month to date $2,777.50; forecast $3,661.25; hard limit $10,000.00" in (
        render(data)
    )
    # Top models, keys and tokens.
    assert page.table("Cost this month by model")[1] == ["gpt-4o-2024-08-06", "$2,000.00"]
    assert page.table("Cost this month by API key")[2] == ["key_nameless (unnamed)", "$1,277.50"]
    tokens = page.table("Tokens and model requests")
    assert tokens[1][0] == "gpt-4o-2024-08-06" and tokens[1][1].startswith("1,234,567,890")


def test_a_day_the_store_does_not_cover_is_marked_never_zero() -> None:
    page = parsed(render(hand_data()))
    daily = page.table("Cost per day by project")
    header, rows = daily[0], {row[0]: row[1:] for row in daily[1:]}
    archived = HOSTILE + " (archived)"
    assert header == ["Day (UTC)", "Checkout", "proj_unnamed", "No project", archived, "Total"]
    assert rows["2025-11-04 Tue"] == ["no data"] * 5
    assert rows["2025-11-03 Mon"] == ["$100.00", "$20.00", "$5.00", "$1.25", "$126.25"]
    assert rows["2025-11-23 Sun (today, so far)"][-1] == "$126.25"
    assert len(rows) == 30
    # The chart marks it too, in its description and on its bar.
    text = render(hand_data())
    assert "no data for Nov 4" in text
    assert "Tue Nov 4: no data (the store does not cover this day)" in text
    # A day covered for some projects only: what is known, and "partial".
    daily_map = dict(hand_data().daily)
    daily_map["proj_unnamed"] = tuple(None if d == DAYS[12] else 20.0 for d in DAYS)
    page = parsed(render(hand_data(daily=daily_map)))
    row = next(
        r for r in page.table("Cost per day by project")[1:] if r[0].startswith("2025-11-06")
    )
    assert row[1:] == ["$100.00", "no data", "$5.00", "$1.25", "$106.25 (partial)"]


def test_every_string_from_the_store_is_escaped() -> None:
    text = render(hand_data(), hand_status(consecutive_failures=1, last_error=ERROR))
    page = parsed(text)
    assert page.scripts == 1  # the page's own, none from a name or an error
    assert "<script>alert" not in text and "<img" not in text and "<b>" not in text
    assert "&lt;script&gt;alert(&#x27;name&#x27;)&lt;/script&gt;" in text
    assert HOSTILE in page.plain and ERROR in page.plain
    assert not [a for a in page.attributes if a[1].startswith("on")]


def test_the_page_fetches_nothing_and_parses() -> None:
    for data, status in [
        (hand_data(), hand_status()),
        (None, hand_status(syncs=0, last_success_at=None, failures_total=0)),
        (hand_data(), hand_status(consecutive_failures=2, last_error=ERROR)),
    ]:
        text = render(data, status)
        parsed(text)
        assert_fetches_nothing(text)
        assert text.startswith("<!DOCTYPE html>")
        assert '<meta charset="utf-8">' in text and '<html lang="en">' in text
        assert '<meta name="viewport" content="width=device-width, initial-scale=1">' in text


def test_it_reloads_itself_at_the_sync_period_and_15_s_at_the_least() -> None:
    assert parsed(render(hand_data(), every_s=300)).meta_refresh == "300"
    assert parsed(render(hand_data(), every_s=0.2)).meta_refresh == "15"
    waiting = hand_status(syncs=0, last_success_at=None)
    assert parsed(render(None, waiting, every_s=3600)).meta_refresh == "15"


def test_before_the_first_sync_ends_it_says_so() -> None:
    status = hand_status(
        syncs=0, failures_total=0, last_success_at=None, syncing=True, last_duration_s=None
    )
    page = parsed(render(None, status))
    assert "First sync in progress" in page.plain
    assert "It started 1 h ago" in page.plain
    assert "Last successful sync none yet" in page.plain
    assert "$" not in page.plain
    assert page.tables == []
    waiting = parsed(render(None, dataclasses.replace(status, waiting_for="process 4242")))
    assert "It waits for process 4242, which holds the store" in waiting.plain
    # Failing before any success: how many, and the error, escaped.
    failing = hand_status(
        syncs=3, failures_total=3, consecutive_failures=3, last_success_at=None,
        period_s=600, last_error=ERROR,
    )  # fmt: skip
    page = parsed(render(None, failing))
    assert (
        f"No sync has succeeded yet (3 failures); the next try is within 10 min. {ERROR}"
        in page.plain
    )
    assert f"Last error {ERROR}" in page.plain
    assert "now every 10 min after 3 failures in a row" in page.plain


def test_failing_syncs_keep_the_last_numbers_and_say_so() -> None:
    status = hand_status(consecutive_failures=2, failures_total=3, last_error=ERROR)
    page = parsed(render(hand_data(), status))
    assert "The last 2 syncs failed." in page.plain
    assert f"from the last successful sync, at 2025-11-23 13:19 UTC. {ERROR}" in page.plain
    assert "Syncs failing: showing the last good data" in page.plain
    assert "$2,777.50" in page.plain
    # A recovered error is still shown, as such.
    page = parsed(render(hand_data(), hand_status(last_error="timeout")))
    assert "Last error (since recovered) timeout" in page.plain
    assert "Up to date" in page.plain


def test_freshness_says_until_when_how_long_ago_and_how_often() -> None:
    status = hand_status(period_s=300)
    page = parsed(render(hand_data(costs_until=NOW - 2 * DAY), status))
    text = page.plain
    assert "Costs data until 2025-11-21 13:20 UTC (2 days ago)" in text
    assert "Last successful sync 2025-11-23 13:19 UTC (1 min ago); it took 1.2 s" in text
    assert "Sync period every 5 min" in text
    assert "12 since the start at 2025-11-23 12:20 UTC, 1 failed" in text
    assert "The costs data ends at 2025-11-21 13:20 UTC, 2 days before the last sync" in text
    assert page.table("The end of each table's data")[1:] == [
        ["completions_1d", "2025-11-23 12:20 UTC"],
        ["costs_1d", "2025-11-23 13:20 UTC"],
    ]


def test_limits_not_read_none_set_and_no_alerts() -> None:
    page = parsed(render(hand_data(limits=(), alerts=(), limits_read=False)))
    assert "No sync could read the spend limits and alerts" in page.plain
    assert "Organization hard limit not read" in page.plain
    page = parsed(render(hand_data(limits=(), alerts=())))
    assert "No hard spend limit and no spend alert is set." in page.plain
    assert "Organization hard limit none" in page.plain
    assert "No hard limit and no alert is set." in page.plain
    limits = hand_data().limits[:1]
    page = parsed(render(hand_data(limits=limits, alerts=())))
    assert [r[0] for r in page.table("Hard spend limits")[1:]] == ["Hard limit $10,000.00"]


def test_the_projects_the_chart_leaves_out_are_summed_in_grey() -> None:
    daily = {f"proj_{i}": tuple(float(i) for _ in DAYS) for i in range(8)}
    daily["(other)"] = tuple(0.5 for _ in DAYS)
    names = {k: f"Project {k[-1]}" for k in daily} | {"(other)": "other projects"}
    text = render(hand_data(daily=daily, daily_names=names))
    page = parsed(text)
    assert page.table("Cost per day by project")[0][-2:] == ["Other projects", "Total"]
    assert '<span class="sw" style="background:#bab0ac"></span>Other projects' in text
    assert text.count('fill="#bab0ac"') == 30


def test_no_cost_yet_and_an_empty_store() -> None:
    data = hand_data(
        projects=(), daily={}, daily_names={}, top_models=(), top_keys=(), tokens=(),
        costs_until=None, data_until={},
    )  # fmt: skip
    page = parsed(render(data))
    assert "No cost this month yet." in page.plain
    assert "No cost in the store for the last 30 days." in page.plain
    assert "Costs data until no costs data" in page.plain


def test_rendering_takes_milliseconds() -> None:
    data, status = hand_data(), hand_status()
    start = time.perf_counter()
    for _ in range(20):
        render_page(data, status, every_s=300, now=NOW)
    # Tens of ms per sync would be fine; it is far below (no assertion on time: the
    # report of the run says how long).
    print(f"render_page: {(time.perf_counter() - start) / 20 * 1e3:.2f} ms")


# -- the page from a store synced from the emulator ---------------------------------------


async def test_a_store_synced_from_the_emulator_shows_the_forecasts_month_to_date(
    emulator: Emulator, client: AsyncUsageClient, store: Store
) -> None:
    await store.sync(client, start_time=NOW - 40 * DAY)
    forecast = await store.forecast(now=NOW)

    def snapshot() -> Data:
        with Reader(str(store.path)) as reader:
            tables = [c.table for c in reader.coverage() if c.table != "costs_1d"]
            return compute(reader, now=NOW, usage_tables=tables)

    data = await anyio.to_thread.run_sync(snapshot)
    text = render(data)
    page = parsed(text)
    assert_fetches_nothing(text)
    assert float(page.data_values["month-to-date"]) == pytest.approx(
        forecast.month_to_date, rel=1e-9
    )
    assert _usd(forecast.month_to_date) in page.plain
    assert float(page.data_values["forecast"]) == pytest.approx(forecast.forecast, rel=1e-9)
    # Every project with cost this month, by its directory name; the archived one marked.
    names = {p.id: p.name for p in emulator.org.directory.projects}
    spent = [pid for pid, f in forecast.projects.items() if f.month_to_date]
    assert len(spent) > 1
    cells = [row[0] for row in page.table("Cost by project this month")[1:-1]]
    for pid in spent:
        assert any(c.startswith(names[pid]) and pid in c for c in cells), pid
    archived = emulator.org.directory.archived_project_id
    assert any(c.startswith(f"{names[archived]} archived") for c in cells)
    # The emulator's enforcing project limit, as a state.
    enforcing = emulator.spend.enforcing_project_id
    limits = page.table("Hard spend limits and email spend alerts")
    row = next(r for r in limits if names[enforcing] in r[1])
    assert row[2].endswith("reached, blocking requests")
    # 30 days in the daily table, each with a total or "no data".
    daily = page.table("Cost per day by project")
    assert len(daily) == 31 and daily[-1][0] == "2025-11-23 Sun (today, so far)"
