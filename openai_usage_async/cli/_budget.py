"""``openai-usage budget``: this month's spend, its month-end forecast, and every hard
limit, alert and local budget it reaches, from a store or live; an exit code for cron.

Exit codes (API.md): 0 when no forecast reaches any threshold this month; 10 when a
forecast reaches, or month-to-date has crossed, a spend alert, or a forecast reaches a
local budget; 11 when a forecast reaches, or month-to-date has crossed, a hard limit (any
status), or month-to-date has crossed a local budget. 7: a store without costs; 2: a
``--budget NAME=USD`` that names two projects, or none.
"""

from __future__ import annotations

import argparse
import datetime as dt
import re
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import anyio
import msgspec

from .. import errors
from ..forecast import MonthForecast, forecast_month
from ..models import Directory, SpendAlert, SpendLimit
from ..store._read import StoredAlert, StoredLimit
from ._args import parse_time
from ._output import money

__all__ = ["EXIT_ALERT", "EXIT_LIMIT", "budget", "parse_budgets"]

EXIT_ALERT = 10
EXIT_LIMIT = 11
DAY = 86_400
_AMOUNT = re.compile(r"\$?\s*([0-9][0-9,]*(?:\.[0-9]+)?)")


class BudgetUsageError(Exception):
    """A ``--budget`` that cannot be used: exit 2."""


@dataclass(frozen=True)
class LocalBudget:
    """``--budget USD`` (``project`` None: the organization) or ``--budget PROJECT=USD``."""

    project: str | None
    usd: float


@dataclass
class Line:
    """One threshold of a scope, and what the forecast says of it."""

    kind: str  # hard_limit | alert | budget
    usd: float
    crossed: bool
    crossing_date: dt.date | None
    enforcing: bool = False
    api_key_id: str | None = None
    api_key_name: str = ""
    note: str = ""

    @property
    def reached(self) -> bool:
        return self.crossed or self.crossing_date is not None

    @property
    def code(self) -> int:
        if self.kind == "hard_limit":
            return EXIT_LIMIT if self.reached else 0
        if self.kind == "alert":
            return EXIT_ALERT if self.reached else 0
        if self.crossed:  # a local budget: crossed is a limit, a forecast reaching it an alert
            return EXIT_LIMIT
        return EXIT_ALERT if self.crossing_date is not None else 0


@dataclass
class Scope:
    """The organization, or one project."""

    title: str
    forecast: MonthForecast
    project_id: str | None = None
    project_name: str = ""
    lines: list[Line] = field(default_factory=list)


def parse_budgets(values: Sequence[str]) -> list[LocalBudget]:
    """``--budget`` values: ``USD`` or ``PROJECT=USD`` (an ID or a name)."""
    out = []
    for text in values:
        project, sep, amount = text.rpartition("=")
        match = _AMOUNT.fullmatch(amount.strip())
        if match is None or (sep and not project.strip()):
            raise BudgetUsageError(
                f"--budget: {text!r} is not an amount in USD: give 500, or PROJECT=500 "
                "(a project's ID or name)"
            )
        usd = float(match.group(1).replace(",", ""))
        out.append(LocalBudget(project.strip() if sep else None, usd))
    if sum(b.project is None for b in out) > 1:
        raise BudgetUsageError("--budget: give the organization's budget (no PROJECT=) once")
    return out


def _resolve(budgets: list[LocalBudget], known: dict[str, str]) -> dict[str | None, float]:
    """Project budgets by project ID (``known``: ID -> name); exit 2 when ambiguous."""
    out: dict[str | None, float] = {}
    for b in budgets:
        if b.project is None:
            out[None] = b.usd
            continue
        if b.project in known:
            out[b.project] = b.usd
            continue
        named = sorted(i for i, n in known.items() if n and n.casefold() == b.project.casefold())
        if len(named) > 1:
            raise BudgetUsageError(
                f"--budget: {b.project!r} names {len(named)} projects: {', '.join(named)}; "
                "give the ID instead"
            )
        if not named:
            raise BudgetUsageError(
                f"--budget: no project has the ID or name {b.project!r} "
                "(`openai-usage directory` lists them)"
            )
        out[named[0]] = b.usd
    return out


def _limit_rows(limits: list[SpendLimit], directory: Directory | None) -> list[StoredLimit]:
    rows = [
        StoredLimit(
            x.scope,
            x.project_id,
            None,
            x.threshold_usd,
            x.enforcement.status if x.enforcement else None,
            0,
        )
        for x in limits
    ]
    for k in directory.api_keys if directory is not None else []:
        if k.spend_limit is not None:
            state = k.spend_limit.enforcement.status if k.spend_limit.enforcement else None
            rows.append(
                StoredLimit("api_key", k.project_id, k.id, k.spend_limit.threshold_usd, state, 0)
            )
    return rows


def _alert_rows(alerts: list[SpendAlert]) -> list[StoredAlert]:
    return [
        StoredAlert(
            a.scope,
            a.project_id,
            a.id,
            a.threshold_usd,
            tuple(a.notification_channel.recipients if a.notification_channel else ()),
            0,
        )
        for a in alerts
    ]


async def _live(
    args: argparse.Namespace, now: int, lookback: int
) -> tuple[MonthForecast, Directory | None, list[StoredLimit] | None, list[StoredAlert] | None]:
    from ..store._names import _read_spend
    from ._commands import directory_or_none, make_client

    today = now - now % DAY
    month = dt.datetime.fromtimestamp(today, dt.UTC).replace(day=1)
    first = min(int(month.timestamp()), today - lookback * DAY)
    result: dict[str, Any] = {}
    async with make_client(args) as client:

        async def costs() -> None:
            result["costs"] = await client.usage.costs.list(
                start_time=first, end_time=now + 1, group_by=["project_id", "api_key_id"]
            )

        async with anyio.create_task_group() as tg:
            tg.start_soon(costs)
            directory, notes = await directory_or_none(client)
        for note in notes:  # once the costs arrived: a refused key gets one error, not a note
            print(f"openai-usage: note: {note}", file=sys.stderr)
        try:
            limits, alerts = await _read_spend(client, directory)
        except (errors.PermissionDeniedError, errors.NotFoundError):
            limits, alerts = None, []
    forecast = forecast_month(result["costs"], now=now, lookback_days=lookback)
    if limits is None:
        return forecast, directory, None, None
    return forecast, directory, _limit_rows(limits, directory), _alert_rows(alerts)


async def _from_store(
    path: str, now: int, lookback: int
) -> tuple[MonthForecast, Directory | None, list[StoredLimit] | None, list[StoredAlert] | None]:
    from ..store import StoreError, open_store
    from ..store._read import Reader

    async with open_store(path) as store:
        try:
            forecast = await store.forecast(now=now, lookback_days=lookback)
        except LookupError:
            raise StoreError(
                f"{path}: the store has no costs, which the forecast needs; sync them first: "
                f"openai-usage sync --store {path} --endpoints costs --start ..."
            ) from None

        def read(reader: Reader) -> tuple[Any, ...]:
            return reader.spend_limits(), reader.spend_alerts(), reader.coverage()

        limits, alerts, coverage = await store._read(read)
        directory = await store.directory()
    costs = next((c for c in coverage if c.table == "costs_1d"), None)
    if costs is not None and costs.end is not None and costs.end < now - DAY:
        ended = dt.datetime.fromtimestamp(costs.end, dt.UTC).strftime("%Y-%m-%d %H:%M")
        print(
            f"openai-usage: warning: the store's costs end at {ended} UTC, more than a day "
            f"before now: the forecast is as of then; sync the store first",
            file=sys.stderr,
        )
    return forecast, directory, limits, alerts


def _scopes(
    forecast: MonthForecast,
    directory: Directory | None,
    limits: list[StoredLimit] | None,
    alerts: list[StoredAlert] | None,
    budgets: dict[str | None, float],
) -> list[Scope]:
    names = {p.id: p.name or "" for p in directory.projects} if directory else {}
    archived = {p.id for p in directory.projects if p.status == "archived"} if directory else set()
    key_names = {k.id: k.name or "" for k in directory.api_keys} if directory else {}
    org = Scope("Organization", forecast)
    projects: dict[str, Scope] = {}

    def project(project_id: str) -> Scope:
        if project_id not in projects:
            name = names.get(project_id, "")
            f = forecast.projects.get(project_id) or _empty(forecast)
            mark = ", archived" if project_id in archived else ""
            title = f"{name} ({project_id}{mark})" if name else project_id or "(no project)"
            projects[project_id] = Scope(title, f, project_id or None, name)
        return projects[project_id]

    for project_id, f in forecast.projects.items():
        if f.month_to_date:
            project(project_id)

    def line(scope: Scope, kind: str, usd: float, f: MonthForecast | None, **kw: Any) -> None:
        if f is None:
            scope.lines.append(
                Line(kind, usd, False, None, note="no costs by API key in the data", **kw)
            )
            return
        t = f.threshold(usd)
        scope.lines.append(Line(kind, usd, t.crossed, t.crossing_date, **kw))

    for x in limits or []:
        enforcing = x.enforcement == "enforcing"
        if x.scope == "organization":
            line(org, "hard_limit", x.threshold_usd, forecast, enforcing=enforcing)
        elif x.scope == "project":
            s = project(x.project_id or "")
            line(s, "hard_limit", x.threshold_usd, s.forecast, enforcing=enforcing)
        else:
            key = forecast.api_keys.get(x.api_key_id or "") if forecast.api_keys else None
            line(
                project(x.project_id or ""),
                "hard_limit",
                x.threshold_usd,
                key if forecast.api_keys else None,
                enforcing=enforcing,
                api_key_id=x.api_key_id,
                api_key_name=key_names.get(x.api_key_id or "", ""),
            )
    for a in alerts or []:
        if a.scope == "organization":
            line(org, "alert", a.threshold_usd, forecast)
        else:
            s = project(a.project_id or "")
            line(s, "alert", a.threshold_usd, s.forecast)
    for target, usd in budgets.items():
        if target is None:
            line(org, "budget", usd, forecast)
        else:
            s = project(target)
            line(s, "budget", usd, s.forecast)
    ordered = sorted(projects.values(), key=lambda s: (-s.forecast.month_to_date, s.title))
    return [org, *ordered]


def _empty(forecast: MonthForecast) -> MonthForecast:
    """A project without cost in the data: the organization's forecast of nothing."""
    from ..forecast import forecast_daily

    return forecast_daily({}, covered=(), now=forecast.now, lookback_days=forecast.lookback_days)


#: The text layout: at most 80 columns (label 13, amount 12, state 40, tag 5).
_LABEL, _AMOUNT_W, _STATE = 13, 12, 40


def _state(line: Line, room: int = _STATE) -> str:
    when = line.crossing_date.isoformat() if line.crossing_date else ""
    if line.note:
        text = line.note
    elif line.crossed:
        text = f"crossed on {when}"
    elif line.crossing_date is not None:
        text = f"forecast reaches it on {when}"
    else:
        text = "not reached; the forecast stays below"
    if line.kind == "hard_limit" and line.enforcing:
        # The service's state: the limit is blocking requests now.
        text += ", blocking now" if line.crossed else "; the service says: blocking now"
    if line.api_key_id:
        name = line.api_key_name or line.api_key_id
        width = room - len(text) - 2
        if len(name) > width:
            name = name[: max(width - 1, 1)] + "…"
        text = f"{name}: {text}"
    return text


_KIND = {"hard_limit": "hard limit", "alert": "alert", "budget": "budget"}
_TAG = {0: "ok", EXIT_ALERT: "ALERT", EXIT_LIMIT: "LIMIT"}
_VERDICT = {
    0: "ok: nothing is reached this month, at this rate",
    EXIT_ALERT: "alert: an alert or a budget is reached, or will be this month",
    EXIT_LIMIT: "limit: a hard limit or budget is hit, or will be this month",
}


def _text(scopes: list[Scope], now: int, month: str, limits_read: bool, code: int) -> list[str]:
    moment = dt.datetime.fromtimestamp(now, dt.UTC).strftime("%Y-%m-%d %H:%M")
    out = [f"Spend in {month} (UTC), as of {moment} UTC", ""]
    for scope in scopes:
        f = scope.forecast
        days = list(f.rate_days)
        span = (
            f"{len(days)} day{'s' * (len(days) != 1)}: {days[0]} to {days[-1]}"
            if days
            else "no complete day in the data"
        )
        title = scope.title if len(scope.title) <= 80 else scope.title[:79] + "…"
        out += [
            title,
            f"  {'month to date':<{_LABEL}}  {money(f.month_to_date):>{_AMOUNT_W}}",
            f"  {'daily rate':<{_LABEL}}  {money(f.daily_rate):>{_AMOUNT_W}}  a day ({span})",
            f"  {'forecast':<{_LABEL}}  {money(f.forecast):>{_AMOUNT_W}}  for the month",
        ]
        order = {"hard_limit": 0, "alert": 1, "budget": 2}
        for line in sorted(scope.lines, key=lambda x: (order[x.kind], x.usd)):
            label = "key limit" if line.api_key_id else _KIND[line.kind]
            out.append(
                f"  {label:<{_LABEL}}  {money(line.usd):>{_AMOUNT_W}}  "
                f"{_state(line):<{_STATE}}  {_TAG[line.code]}".rstrip()
            )
        out.append("")
    if not limits_read:
        out += [
            "Hard limits and alerts: not readable with this key, or never synced into the",
            "store; only your own budgets (--budget) are checked.",
            "",
        ]
    out.append(f"Verdict: {_VERDICT[code]} (exit {code})")
    return out


def _json(scopes: list[Scope], now: int, month: str, code: int) -> bytes:
    def scope_json(s: Scope) -> dict[str, Any]:
        return {
            "month_to_date_usd": round(s.forecast.month_to_date, 6),
            "daily_rate_usd": round(s.forecast.daily_rate, 6),
            "forecast_usd": round(s.forecast.forecast, 6),
            "thresholds": [
                {
                    "kind": x.kind,
                    "usd": x.usd,
                    "crossed": x.crossed,
                    "crossing_date": x.crossing_date.isoformat() if x.crossing_date else None,
                    **({"api_key_id": x.api_key_id} if x.api_key_id else {}),
                    **({"enforcing": True} if x.enforcing else {}),
                }
                for x in s.lines
            ],
        }

    body = {
        "month": month,
        "now": now,
        "verdict": {0: "ok", EXIT_ALERT: "alert", EXIT_LIMIT: "limit"}[code],
        "exit_code": code,
        "organization": scope_json(scopes[0]),
        "projects": [
            {**scope_json(s), "project_id": s.project_id, "project_name": s.project_name}
            for s in scopes[1:]
        ],
    }
    return msgspec.json.encode(body) + b"\n"


async def budget(args: argparse.Namespace) -> int:
    """The ``budget`` command."""
    from ._commands import UsageError

    try:
        now = parse_time(args.now) if args.now else int(time.time())
    except ValueError as exc:
        raise UsageError(f"--now: {exc}") from None
    if args.lookback_days < 1:
        raise UsageError(f"--lookback-days: {args.lookback_days} is below 1")
    try:
        local = parse_budgets(args.budget or [])
    except BudgetUsageError as exc:
        raise UsageError(str(exc)) from None
    if args.store:
        forecast, directory, limits, alerts = await _from_store(args.store, now, args.lookback_days)
    else:
        forecast, directory, limits, alerts = await _live(args, now, args.lookback_days)
    known = {p.id: p.name or "" for p in directory.projects} if directory else {}
    known.update({p: known.get(p, "") for p in forecast.projects if p})
    try:
        budgets = _resolve(local, known)
    except BudgetUsageError as exc:
        raise UsageError(str(exc)) from None
    scopes = _scopes(forecast, directory, limits, alerts, budgets)
    code = max((line.code for s in scopes for line in s.lines), default=0)
    if args.format == "json":
        sys.stdout.buffer.write(_json(scopes, now, forecast.month, code))
    else:
        lines = _text(scopes, now, forecast.month, limits is not None, code)
        sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    return code
