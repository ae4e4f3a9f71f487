"""The subcommands: thin layers over the public client."""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import csv
import functools
import io
import logging
import os
import re
import secrets
import sys
from collections.abc import AsyncIterator, Callable, Coroutine
from typing import Any

import anyio
import msgspec

from .. import errors
from .._client import AsyncUsageClient
from .._fanout import first_error
from .._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from ..emulator import Emulator, run_emulator
from ..emulator.__main__ import add_arguments, emulator_from_args, serve_forever
from ..models import KNOWN_RESULT_TYPES, Directory, UsageBucket
from ..store._errors import StoreError
from ..store._read import StoredAlert, StoredLimit
from ._args import clock, parse_duration, parse_time
from ._budget import budget
from ._export import MissingExtraError, atomic_output, make_writer
from ._output import fit_table, money, number, plural, sparkline, utc
from ._progress import ProgressLine, SyncProgress
from ._serve import serve
from ._table import usage_table

__all__ = ["demo", "directory", "emulator", "fetch", "summary", "sync"]

DAY = 86_400
FILTERS = sorted({name for spec in ENDPOINTS.values() for name in spec.filters})


class UsageError(Exception):
    """Bad input from the command line: exit code 2, one line on stderr."""


class NoKeyError(Exception):
    """No API key anywhere: exit code 3."""


def make_client(
    args: argparse.Namespace, *, api_key: str | None = None, base_url: str | None = None
) -> AsyncUsageClient:
    key = api_key or args.api_key
    try:
        return AsyncUsageClient(
            key,
            base_url=base_url or args.base_url,
            organization=args.organization,
            project=args.project,
            max_concurrency=args.concurrency,
            max_retries=args.max_retries,
            timeout=args.timeout,
        )
    except ValueError as exc:
        if str(exc).startswith("api_key: no key"):
            raise NoKeyError(
                "no API key: set OPENAI_ADMIN_KEY or pass --api-key (an organization Admin "
                "key, sk-admin-...); `openai-usage demo` shows everything without one"
            ) from None
        name, _, rest = str(exc).partition(":")
        flag = _CLIENT_FLAGS.get(name, "--" + name.replace("_", "-"))
        raise UsageError(f"{flag}: {rest.strip()}") from None


#: The client's argument names, as the command line spells them.
_CLIENT_FLAGS = {"max_concurrency": "--concurrency", "api_key": "--api-key"}


def _time(option: str, text: str, *, whole_days: bool = False) -> int:
    """A time from the command line; ``whole_days`` for daily buckets (``7d`` is then
    00:00 UTC seven days before today)."""
    try:
        return parse_time(text, whole_days=whole_days)
    except ValueError as exc:
        raise UsageError(f"{option}: {exc}") from None


def _check_span(start: int, end: int, default_end: str | None) -> None:
    """``--end`` after ``--start``, said with dates; ``default_end`` names the end the user
    did not give (None when they gave ``--end``)."""
    if end > start:
        return
    if default_end is None:
        raise UsageError(f"--end: {utc(end)} is not after --start {utc(start)}")
    raise UsageError(
        f"--start: {utc(start)} is not before {default_end} ({utc(end, 1)} UTC), the "
        "default --end; give an earlier --start, or an --end after it"
    )


@contextlib.asynccontextmanager
async def _progress(client: AsyncUsageClient, args: argparse.Namespace) -> AsyncIterator[None]:
    line = ProgressLine(client, enabled=not args.quiet)
    # A task of its own rather than a task group, so the command's errors reach the
    # user as they are, not wrapped in an ExceptionGroup.
    task = asyncio.get_running_loop().create_task(line.run())
    try:
        yield
    finally:
        task.cancel()
        with anyio.CancelScope(shield=True), contextlib.suppress(asyncio.CancelledError):
            await task
        line.clear()


async def fetch(args: argparse.Namespace) -> int:
    now = int(clock())
    daily = (args.bucket_width or "1d") == "1d"
    start = _time("--start", args.start, whole_days=daily)
    end = _time("--end", args.end, whole_days=daily) if args.end else now
    _check_span(start, end, None if args.end else "now")
    filters = {name: getattr(args, name) for name in FILTERS if getattr(args, name) is not None}
    if args.format == "parquet" and args.output in (None, "-") and sys.stdout.isatty():
        raise UsageError("--format parquet writes binary: give --output FILE or pipe it")
    async with make_client(args) as client:
        endpoint = getattr(client.usage, args.endpoint)
        try:
            pages = endpoint.pages(
                start_time=start,
                end_time=end,
                bucket_width=args.bucket_width,
                limit=args.limit,
                group_by=args.group_by,
                **filters,
            )
        except ValueError as exc:
            name, _, rest = str(exc).partition(": ")
            flag = _FLAGS.get(name, "--" + name.replace("_", "-"))
            raise UsageError(f"{args.endpoint}: {flag}: {_in_flags(rest)}") from None
        # The file first: a path that cannot be written fails before any request.
        async with pages:
            with atomic_output(args.output) as out:
                directory, notes = await directory_or_none(client) if args.names else (None, [])
                if args.format == "table":
                    async with _progress(client, args):
                        buckets = [b async for page in pages for b in page.data]
                    width_s = WIDTH_SECONDS[args.bucket_width or "1d"]
                    lines = usage_table(buckets, args.endpoint, width_s, directory, now=now)
                    out.write(("\n".join(lines) + "\n").encode())
                else:
                    result_type = KNOWN_RESULT_TYPES[ENDPOINTS[args.endpoint].result_object]
                    async with _progress(client, args):
                        writer = make_writer(args.format, out, result_type, directory)
                        async for page in pages:
                            writer.write_page(page)
                        writer.close()
    _note(notes)
    return 0


def _note(notes: list[str]) -> None:
    """Notes kept until the data arrived: a command that fails says only why."""
    for note in notes:
        print(f"openai-usage: note: {note}", file=sys.stderr)


# -- summary -------------------------------------------------------------------------------

_USAGE_FOR_SUMMARY: dict[str, dict[str, Any] | None] = {
    "costs": {"group_by": ["line_item", "project_id", "api_key_id"]},
    "completions": {"group_by": ["model", "user_id"]},
    "decisions": {"group_by": ["model"]},
    "embeddings": {"group_by": ["model"]},
    "moderations": {"group_by": ["model"]},
    "images": {"group_by": ["model"]},
    "audio_speeches": {"group_by": ["model"]},
    "audio_transcriptions": {"group_by": ["model"]},
    "web_search_calls": {"group_by": ["model"]},
    "file_search_calls": None,
    "code_interpreter_sessions": None,
    "vector_stores": None,
}

_UNITS = {
    "images": ("images", "images"),
    "audio_speeches": ("characters", "characters of speech"),
    "audio_transcriptions": ("seconds", "seconds transcribed"),
    "web_search_calls": ("num_requests", "web searches"),
    "file_search_calls": ("num_requests", "file searches"),
    "code_interpreter_sessions": ("num_sessions", "code interpreter sessions"),
}


def _span(args: argparse.Namespace) -> tuple[int, int]:
    today = int(clock()) // DAY * DAY
    if args.start:  # the summary's buckets are daily: 7d is 00:00 UTC, 7 days ago
        start = _time("--start", args.start, whole_days=True)
        end = _time("--end", args.end, whole_days=True) if args.end else today
        _check_span(start, end, None if args.end else "today")
        return start, end
    if args.end:
        raise UsageError("--end: use it with --start (or use --days alone)")
    days = 30 if args.days is None else args.days
    if days < 1:
        raise UsageError(f"--days: {days} is not a positive number of days")
    if days > today // DAY:
        raise UsageError(
            f"--days: {days:,} days reach back before 1970-01-01, where Unix time starts "
            f"(at most {today // DAY:,})"
        )
    return today - days * DAY, today


async def summary(args: argparse.Namespace, client: AsyncUsageClient | None = None) -> int:
    start, end = _span(args)
    limits: Limits = None
    if getattr(args, "store", None):
        data, names, missing, limits = await _from_store(args.store, start, end)
        names = None if args.no_names else names
        if names is None and not args.no_names:
            print(
                f"openai-usage: note: {args.store} keeps no names (no sync could read the "
                "organization directory), so IDs are shown without names",
                file=sys.stderr,
            )
        if missing:
            print(
                f"openai-usage: note: {args.store} has no costs for "
                f"{_days_text(missing)} (never synced): marked · in the report, not "
                f"counted as $0.00; `openai-usage sync --start {utc(min(missing))}` fills them",
                file=sys.stderr,
            )
        lines = report(data, start, end, args.by, names, missing=missing, limits=limits)
        sys.stdout.write("\n".join(lines) + "\n")
        sys.stdout.flush()
        return 0
    owned = client is None
    client = client or make_client(args)
    directory: Directory | None = None
    notes: list[str] = []
    try:
        async with _progress(client, args):
            if getattr(args, "no_names", False):
                data = await client.usage.gather(_USAGE_FOR_SUMMARY, start_time=start, end_time=end)
            else:
                data, (directory, notes), limits = await _gather_with_names(client, start, end)
    finally:
        if owned:
            await client.aclose()
    lines = report(data, start, end, args.by, directory, limits=limits)
    _note(notes)
    sys.stdout.write("\n".join(lines) + "\n")
    sys.stdout.flush()
    return 0


async def _gather_with_names(
    client: AsyncUsageClient, start: int, end: int
) -> tuple[dict[str, list[UsageBucket[Any]]], tuple[Directory | None, list[str]], Limits]:
    """The summary's data and, at the same time, the directory (None if it cannot be
    read) with its notes, then the spend limits and alerts."""
    result: dict[str, tuple[Directory | None, list[str]]] = {}
    spend: dict[str, Any] = {}

    async def names() -> None:
        result["directory"] = found = await directory_or_none(client)
        spend["limits"] = await read_limits(client, found[0])

    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(names)
            data = await client.usage.gather(_USAGE_FOR_SUMMARY, start_time=start, end_time=end)
    except BaseExceptionGroup as group:
        raise first_error(group) from None  # the APIError itself, for its exit code
    return data, result["directory"], spend["limits"]


#: Hard limits and alerts as the store keeps them; None when they cannot be read.
Limits = tuple[list[StoredLimit], list[StoredAlert]] | None


async def read_limits(client: AsyncUsageClient, directory: Directory | None) -> Limits:
    """The spend limits and alerts as the store keeps them, or None when they cannot be
    read (a key without the scope, no directory to find the projects by)."""
    from ..store._names import _read_spend
    from ._budget import _alert_rows, _limit_rows

    try:
        limits, alerts = await _read_spend(client, directory)
    except errors.APIError:
        return None
    if limits is None:
        return None
    return _limit_rows(limits, directory), _alert_rows(alerts)


async def directory_or_none(client: AsyncUsageClient) -> tuple[Directory | None, list[str]]:
    """The organization's directory, and the notes to print once the command's data has
    arrived: None and a note when it cannot be read (a key that may read usage but not
    the directory, a service without one), a note when some project listings were left
    out. The notes wait for the data so that a key the Usage API refuses (a project key:
    403 everywhere) gets its one error, not first a note about names."""
    try:
        found = await read_directory(client)
    except errors.APIError as exc:
        if isinstance(exc, errors.PermissionDeniedError):
            why = "this key may read usage but not the organization directory (403)"
        elif isinstance(exc, errors.NotFoundError):
            why = "the service has no organization directory at this --base-url (404)"
        elif isinstance(exc, errors.APIStatusError):
            why = f"the organization directory could not be read (HTTP {exc.status_code})"
        else:
            why = f"the organization directory could not be read ({exc.message})"
        return None, [f"{why}, so IDs are shown without names"]
    note = skipped_note(found)
    return found, [note] if note else []


async def read_directory(client: AsyncUsageClient) -> Directory:
    """``client.organization.directory()``, without the library's log warning about
    left-out listings: :func:`skipped_note` says it in one line instead."""
    logger = logging.getLogger("openai_usage_async.directory")
    logger.addFilter(_no_warnings)
    try:
        return await client.organization.directory()
    finally:
        logger.removeFilter(_no_warnings)


def skipped_note(found: Directory) -> str | None:
    """The listings the directory left out, in one line; the archived project's expected
    400 is not worth one."""
    unexpected = [s for s in found.skipped if not s.expected]
    if not unexpected:
        return None
    what = {"api_keys": "the API keys", "service_accounts": "the service accounts"}
    told = [
        f"{what[s.listing]} of {s.project_id} "
        f"({'no answer' if s.status_code is None else f'HTTP {s.status_code}'})"
        for s in unexpected[:3]
    ]
    if len(unexpected) > 3:
        told.append(f"{len(unexpected) - 3} more")
    return f"the directory could not read {', '.join(told)}; what they name is left out"


def _no_warnings(record: logging.LogRecord) -> bool:
    return record.levelno < logging.WARNING


class Labels:
    """IDs as the report shows them, with what the directory says about them.

    ``Checkout (proj_mtsL…)`` for a named ID; ``Old app (proj_mtsL…, archived)`` for an
    archived project; an API key the directory does not know is ``key_abc123…
    (deleted key)`` (the listings name every key there is, so one missing from them was
    deleted), unless its project's keys could not be listed. Without a directory, IDs.
    """

    def __init__(self, directory: Directory | None) -> None:
        self.directory = directory
        projects = directory.projects if directory is not None else []
        skipped = directory.skipped if directory is not None else []
        self._archived = {p.id for p in projects if p.status == "archived"}
        self._unlisted = {s.project_id for s in skipped if s.listing == "api_keys"}
        self._said: dict[tuple[str, str, str | None], str] = {}

    def __call__(self, kind: str, key: str | None, project: str | None = None) -> str:
        if key is None:
            return f"(no {kind})"
        if self.directory is None:
            return key
        said = self._said.get((kind, key, project))
        if said is None:
            said = self._said[kind, key, project] = self._label(kind, key, project)
        return said

    def _label(self, kind: str, key: str, project: str | None) -> str:
        assert self.directory is not None
        short = key if len(key) <= 12 else key[:10] + "…"
        if kind == "project":
            name = self.directory.project_name(key)
            archived = ", archived" if key in self._archived else ""
            return f"{name} ({short}{archived})" if name else key
        if kind == "user":
            email = self.directory.user_email(key)
            return f"{email} ({short})" if email else key
        name = self.directory.api_key_name(key)
        if name:
            return f"{name} ({short})"
        if project in self._unlisted or (project is None and self._unlisted):
            return f"{short} (its project's keys could not be listed)"
        return f"{short} (deleted key)"


async def _from_store(
    path: str, start: int, end: int
) -> tuple[dict[str, list[UsageBucket[Any]]], Directory | None, set[int], Limits]:
    """What ``gather`` would have returned for the summary, the names, the days of the
    range no sync stored (costs), and the spend limits and alerts, from a store."""
    from ..store import open_store

    await anyio.to_thread.run_sync(check_store, path)
    data: dict[str, list[UsageBucket[Any]]] = {}
    try:
        store = open_store(path)
    except ImportError as exc:
        raise MissingExtraError(str(exc)) from None
    async with store:
        for name, own in _USAGE_FOR_SUMMARY.items():
            try:
                data[name] = await store.buckets(
                    name, start_time=start, end_time=end, group_by=(own or {}).get("group_by", ())
                )
            except LookupError as exc:
                if name == "costs":
                    raise UsageError(f"--store: {exc}") from None
                data[name] = []  # an endpoint never synced: nothing to report for it
        names = await store.directory()
        tables = {c.table: c for c in await store.coverage()}
        stored = await store._read(lambda r: (r.spend_limits(), r.spend_alerts()))
    limits: Limits = None if stored[0] is None else (stored[0], stored[1] or [])
    covered = tables["costs_1d"]
    spans = _covered_spans(covered)
    missing = {
        day
        for day in range(start - start % DAY, end, DAY)
        if not any(lo < day + DAY and hi > day for lo, hi in spans)
    }
    return data, names, missing, limits


def _covered_spans(c: Any) -> list[tuple[int, int]]:
    """The ranges a table covers: ``[start, end)`` less its gaps."""
    if c.start is None:
        return []
    spans, edge = [], c.start
    for lo, hi in c.gaps:
        spans.append((edge, lo))
        edge = hi
    spans.append((edge, c.end))
    return spans


def _days_text(days: set[int]) -> str:
    """``2025-11-01 to 2025-11-03, 2025-11-20``: runs of days as ranges."""
    runs: list[list[int]] = []
    for day in sorted(days):
        if runs and day == runs[-1][-1] + DAY:
            runs[-1].append(day)
        else:
            runs.append([day])
    parts = [utc(r[0]) if len(r) == 1 else f"{utc(r[0])} to {utc(r[-1])}" for r in runs]
    return f"{plural(len(days), 'day')}: " + ", ".join(parts)


def _amount(cost: Any) -> float:
    """A cost result's value; 0 when the service left it out (it is optional upstream)."""
    amount = getattr(cost, "amount", None)
    return (amount.value or 0.0) if amount is not None else 0.0


def report(
    data: dict[str, list[UsageBucket[Any]]],
    start: int,
    end: int,
    by: str,
    directory: Directory | None = None,
    *,
    missing: set[int] | frozenset[int] = frozenset(),
    limits: Limits = None,
) -> list[str]:
    """The summary's lines, from what ``gather`` returned (names from ``directory``);
    ``missing``: the days (their starts) the data does not cover, marked, never $0.00."""
    costs = data["costs"]
    currency = next(
        (c.amount.currency for b in costs for c in b.results if c.amount and c.amount.currency),
        "usd",
    )
    daily: list[float | None] = [
        None if b.start_time in missing else sum(_amount(c) for c in b.results) for b in costs
    ]
    present = [(i, v) for i, v in enumerate(daily) if v is not None]
    total = sum(v for _, v in present)
    by_item: dict[str, float] = collections.defaultdict(float)
    by_project: dict[str, float] = collections.defaultdict(float)
    by_key: dict[str, float] = collections.defaultdict(float)
    labels = Labels(directory)
    for b in costs:
        for c in b.results:
            value = _amount(c)
            by_item[c.line_item or "(no line item)"] += value
            by_project[labels("project", c.project_id)] += value
            by_key[labels("key", c.api_key_id, c.project_id)] += value
    days = max(1, round((end - start) / DAY))
    out = [
        f"OpenAI usage {utc(start)} to {utc(end)} (end exclusive; {plural(days, 'day')}, UTC)",
        "",
        f"Total cost   {money(total, currency)}",
        f"Per day      {sparkline(daily)}",
    ]
    if present:
        low, low_value = min(present, key=lambda item: item[1])
        high, high_value = max(present, key=lambda item: item[1])
        out.append(
            f"             low {money(low_value, currency)} ({utc(costs[low].start_time)}), "
            f"high {money(high_value, currency)} ({utc(costs[high].start_time)}), "
            f"mean {money(total / len(present), currency)}"
        )
    if missing:
        out.append(
            f"             · not in the store, left out of the total and the mean: "
            f"{_days_text(set(missing))}"
        )
    out += ["", *_share_table("Cost by line item", by_item, total, currency, 10)]
    out += ["", *_share_table("Cost by project", by_project, total, currency, 10)]
    out += ["", *_share_table("Cost by API key", by_key, total, currency, 10)]
    out += ["", *_models_table(data)]
    out += ["", *_users_table(data, labels)]
    out += ["", *_other_usage(data)]
    out += ["", *_movers(costs, data, by, currency, labels)]
    if limits and (limits[0] or limits[1]):
        out += ["", *_limits_table(limits[0], limits[1], labels)]
    return out


def _limits_table(
    limits: list[StoredLimit], alerts: list[StoredAlert], labels: Labels
) -> list[str]:
    """Each hard limit with its state (what the service says), and the alerts, in dollars."""

    def scope(kind: str, project_id: str | None, key_id: str | None) -> str:
        if kind == "organization":
            return "organization"
        if kind == "api_key":
            return "key " + labels("key", key_id, project_id)
        return labels("project", project_id)

    rows = []
    order = {"organization": 0, "project": 1, "api_key": 2}
    for x in sorted(limits, key=lambda x: (order.get(x.scope, 3), -x.threshold_usd)):
        state = {
            "enforcing": "reached: blocking requests",
            "inactive": "not reached",
        }.get(x.enforcement or "", x.enforcement or "")
        rows.append(
            [
                scope(x.scope, x.project_id, x.api_key_id),
                "hard limit",
                money(x.threshold_usd),
                state,
            ]
        )
    for a in sorted(alerts, key=lambda a: (order.get(a.scope, 3), a.threshold_usd)):
        rows.append(
            [
                scope(a.scope, a.project_id, None),
                "alert",
                money(a.threshold_usd),
                plural(len(a.recipients), "recipient") if a.recipients else "",
            ]
        )
    headers = ["", "", "a month", "state (the service's)"]
    return [
        "Limits (a hard limit blocks requests once reached; an alert only emails)",
        *fit_table(headers, rows, right=[False, False, True, False], drop=[3]),
    ]


def _share_table(
    title: str, amounts: dict[str, float], total: float, currency: str, top: int
) -> list[str]:
    ranked = sorted(amounts.items(), key=lambda item: -item[1])
    rows = [
        [name, money(value, currency), f"{100 * value / total:.1f}%" if total else ""]
        for name, value in ranked[:top]
    ]
    headers = ["", "amount", "share"]
    lines = [title, *fit_table(headers, rows, right=[False, True, True], drop=[2])]
    if len(ranked) > top:
        rest = sum(v for _, v in ranked[top:])
        lines.append(f"  and {len(ranked) - top} more, {money(rest, currency)}")
    return lines


def _models_table(data: dict[str, list[UsageBucket[Any]]]) -> list[str]:
    tokens_in: collections.Counter[str] = collections.Counter()
    tokens_out: collections.Counter[str] = collections.Counter()
    requests: collections.Counter[str] = collections.Counter()
    for name in (
        "completions",
        "decisions",
        "embeddings",
        "moderations",
        "images",
        "audio_speeches",
        "audio_transcriptions",
        "web_search_calls",
    ):
        for bucket in data.get(name, []):
            for r in bucket.results:
                model = getattr(r, "model", None) or "(all models)"
                tokens_in[model] += getattr(r, "input_tokens", 0) or 0
                tokens_out[model] += getattr(r, "output_tokens", 0) or 0
                requests[model] += getattr(r, "num_model_requests", 0) or 0
    rows = [
        [model, number(tokens_in[model]), number(tokens_out[model]), number(n)]
        for model, n in requests.most_common(12)
    ]
    headers = ["", "input tokens", "output tokens", "requests"]
    return [
        "Tokens and requests by model",
        *fit_table(headers, rows, right=[False, True, True, True]),
    ]


def _users_table(data: dict[str, list[UsageBucket[Any]]], labels: Labels) -> list[str]:
    tokens: collections.Counter[str] = collections.Counter()
    requests: collections.Counter[str] = collections.Counter()
    for bucket in data.get("completions", []):
        for r in bucket.results:
            user = getattr(r, "user_id", None)
            if user is None:
                continue
            key = labels("user", user)
            tokens[key] += (r.input_tokens or 0) + (r.output_tokens or 0)
            requests[key] += r.num_model_requests or 0
    if not tokens:
        return ["Top users: no completions by user in the range"]
    rows = [[user, number(n), number(requests[user])] for user, n in tokens.most_common(10)]
    table = fit_table(["", "tokens", "requests"], rows, right=[False, True, True])
    return ["Top users by completion tokens", *table]


def _other_usage(data: dict[str, list[UsageBucket[Any]]]) -> list[str]:
    lines = ["Other usage"]
    for name, (field, label) in _UNITS.items():
        amount = sum(getattr(r, field, 0) or 0 for b in data.get(name, []) for r in b.results)
        lines.append(f"  {number(amount):>16}  {label}")
    stores = data.get("vector_stores", [])
    if stores:
        last = stores[-1].results
        size = sum(r.usage_bytes for r in last) if last else 0
        lines.append(f"  {size / 2**30:>16,.2f}  GiB in vector stores (last day)")
    return lines


def _movers(
    costs: list[UsageBucket[Any]],
    data: dict[str, list[UsageBucket[Any]]],
    by: str,
    currency: str,
    labels: Labels,
) -> list[str]:
    half = len(costs) // 2
    if half < 1:
        return ["Top movers: the range is too short to compare"]
    before: dict[str, float] = collections.defaultdict(float)
    after: dict[str, float] = collections.defaultdict(float)
    # Two equal spans: with an odd number of days the first one is left out (and said so).
    for i, bucket in enumerate(costs[len(costs) - 2 * half :]):
        side = before if i < half else after
        for c in bucket.results:
            key = _mover_key(c, by, labels)
            side[key] += _amount(c)
    changes = sorted(
        ((after[k] - before[k], k) for k in before.keys() | after.keys()),
        key=lambda change: -abs(change[0]),
    )[:8]
    rows = [
        [key, money(before[key], currency), money(after[key], currency), _signed(delta, currency)]
        for delta, key in changes
    ]
    spans = "day against the day before" if half == 1 else f"{half} days against the {half} before"
    lines = [f"Top movers by {by.replace('_', ' ')}: the last {spans}"]
    if len(costs) % 2:
        first = utc(costs[0].start_time)
        lines.append(
            f"  ({plural(len(costs), 'day')}: the first, {first}, is left out to compare "
            "equal spans)"
        )
    headers = ["", "before", "after", "change"]
    return [*lines, *fit_table(headers, rows, right=[False, True, True, True], drop=[1, 2])]


def _mover_key(cost: Any, by: str, labels: Labels) -> str:
    if by == "project":
        return labels("project", cost.project_id)
    item = str(cost.line_item or "(no line item)")
    if by == "model":  # line items are "<model>, <what>" for model-priced usage
        return item.split(", ", 1)[0] if ", " in item else f"({item})"
    return item


def _signed(delta: float, currency: str) -> str:
    return ("+" if delta >= 0 else "-") + money(abs(delta), currency)


# -- emulator and demo ---------------------------------------------------------------------------


async def emulator(args: argparse.Namespace) -> int:
    # A key given to the command is used, not ignored: the emulator then accepts only it.
    # OPENAI_ADMIN_KEY counts too, so that `openai-usage` in another shell of the same
    # environment is let in and anything else gets the service's 401.
    source = "given with --api-key"
    if not args.api_key and os.environ.get("OPENAI_ADMIN_KEY"):
        args.api_key, source = os.environ["OPENAI_ADMIN_KEY"], "in $OPENAI_ADMIN_KEY"
    try:
        emu = emulator_from_args(args)
    except ValueError as exc:
        raise UsageError(str(exc)) from None
    if args.api_key and not args.quiet:
        print(
            f"openai-usage emulator: accepting only the key {source} (any other gets 401)",
            file=sys.stderr,
        )
    await serve_forever(emu, args.host, args.port, quiet=args.quiet, log_requests=args.verbose)
    return 0


def demo_emulator(latency_ms: float) -> Emulator:
    """The emulator `demo` runs: the one `openai-usage emulator` serves by default (same
    seed, same organization and names), with ``latency_ms``."""
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    options = parser.parse_args([])
    options.latency_ms = latency_ms
    return emulator_from_args(options)


async def demo(args: argparse.Namespace) -> int:
    async with run_emulator(demo_emulator(args.latency_ms)) as base_url:
        print(
            f"openai-usage demo: the bundled emulator at {base_url} (synthetic data, no key, "
            "no network)",
            file=sys.stderr,
        )
        client = make_client(args, api_key="sk-admin-demo", base_url=base_url)
        async with client:
            return await summary(args, client)


# -- directory -----------------------------------------------------------------------------


async def directory(args: argparse.Namespace) -> int:
    # The file first: a path that cannot be written fails before any request.
    with atomic_output(args.output) as out:
        async with make_client(args) as client:
            found = await read_directory(client)
        _note([note] if (note := skipped_note(found)) else [])
        rows = directory_rows(found)
        if args.format == "table":
            kinds = {"project": ("Projects", "status"), "user": ("Users", "role")}
            kinds["api_key"] = ("API keys", "owner")
            lines: list[str] = []
            for kind, (title, detail) in kinds.items():
                mine = [r for r in rows if r["kind"] == kind]
                table = [[r["name"] or "", r["id"], r["detail"] or ""] for r in mine]
                headers = ["name", "id", detail]
                hint = "use --format csv for all"
                lines += [f"{title} ({len(mine)})", *fit_table(headers, table, drop=[2], hint=hint)]
                lines.append("")
            out.write(("\n".join(lines[:-1]) + "\n").encode())
        elif args.format == "jsonl":
            encoder = msgspec.json.Encoder()
            out.write(b"".join(encoder.encode(r) + b"\n" for r in rows))
        else:
            text = io.TextIOWrapper(out, encoding="utf-8", newline="", write_through=True)
            writer = csv.DictWriter(text, fieldnames=list(rows[0]) if rows else ["kind"])
            writer.writeheader()
            writer.writerows(rows)
            text.detach()
    return 0


def directory_rows(found: Directory) -> list[dict[str, Any]]:
    """One flat row per project, user and API key."""
    rows: list[dict[str, Any]] = []
    for p in found.projects:
        detail = "archived" if p.status == "archived" else None
        rows.append(
            {"kind": "project", "id": p.id, "name": p.name, "detail": detail, "project_id": None}
        )
    for u in found.users:
        rows.append(
            {"kind": "user", "id": u.id, "name": u.email, "detail": u.role, "project_id": None}
        )
    for k in found.api_keys:
        owner = None
        if k.owner is not None and k.owner.user is not None:
            owner = k.owner.user.email or k.owner.user.name
        elif k.owner is not None and k.owner.service_account is not None:
            owner = f"service account {k.owner.service_account.name}"
        rows.append(
            {
                "kind": "api_key",
                "id": k.id,
                "name": k.name,
                "detail": owner,
                "project_id": k.project_id,
            }
        )
    return rows


# -- sync ----------------------------------------------------------------------------------

_FLAGS = {
    "start_time": "--start",
    "end_time": "--end",
    "bucket_width": "--bucket-width",
    "group_by": "--group-by",
    "endpoints": "--endpoints",
    "overlap": "--overlap",
}


def _in_flags(message: str) -> str:
    """A library message about arguments, said with the command line's flags."""
    return re.sub(r"\b(" + "|".join(_FLAGS) + r")\b", lambda m: _FLAGS[m.group(1)], message)


def check_store(path: str, write: bool = False) -> None:
    """The store's path, checked before the store is opened (and before any request), its
    errors said as ``--output``'s are: what cannot be done to which path, and why.

    A sync writes the file and, beside it, its lock and journal files: the directory
    must be writable too. A store to read must exist (a usage error: sync makes it).
    """
    if os.path.isdir(path):
        raise StoreError(f"--store: {path} is a directory; give the path of a store file")
    parent = os.path.dirname(os.path.abspath(path))
    if not os.path.exists(path):
        if not write:
            where = "" if os.path.isdir(parent) else f" (no directory {parent})"
            raise UsageError(
                f"--store: {path} does not exist{where}; create it with `openai-usage sync`"
            )
    else:
        for verb, mode in (("read", "rb"), ("write", "r+b"))[: 1 + write]:
            try:
                with open(path, mode):
                    pass
            except OSError as exc:
                raise StoreError(f"--store: cannot {verb} {path}: {_why(exc)}") from None
    if write:
        probe = os.path.join(parent, f".{os.path.basename(path)}.{secrets.token_hex(4)}.probe")
        try:
            os.close(os.open(probe, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
            os.unlink(probe)
        except OSError as exc:
            if isinstance(exc, FileNotFoundError) and not os.path.isdir(parent):
                where = f"no directory {parent}"
            else:
                where = (
                    f"the directory {parent} cannot be written, and the store keeps its "
                    "lock and journal files there"
                )
            raise StoreError(f"--store: cannot write {path}: {_why(exc)} ({where})") from None


def _why(exc: OSError) -> str:
    return exc.strerror or str(exc)


def store_path(args: argparse.Namespace) -> str:
    """``--store``, else ``$OPENAI_USAGE_STORE``, else ``openai-usage.db``."""
    return str(args.store or os.environ.get("OPENAI_USAGE_STORE") or "openai-usage.db")


async def sync(args: argparse.Namespace) -> int:
    from ..store import StoreBusyError, open_store

    path = store_path(args)
    if args.status:
        return await sync_status(path, args.format)
    if args.format != "table":
        raise UsageError("--format: only with --status (a sync prints its summary table)")
    endpoints: str | list[str] = "all"
    if args.endpoints.strip() != "all":
        endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    group_by: str | list[str] | None = args.group_by.strip()
    if group_by == "none":
        group_by = None
    elif group_by != "auto":
        group_by = [g.strip() for g in str(group_by).split(",") if g.strip()]
    try:
        overlap = parse_duration(args.overlap)
    except ValueError as exc:
        raise UsageError(f"--overlap: {exc}") from None
    start = _time("--start", args.start) if args.start else None
    end = _time("--end", args.end) if args.end else None
    # The path first: a store that cannot be written fails before any request.
    await anyio.to_thread.run_sync(functools.partial(check_store, path, write=True))
    async with make_client(args) as client:
        try:
            store = open_store(path)
        except ImportError as exc:
            raise MissingExtraError(str(exc)) from None
        try:
            async with store:
                line = SyncProgress(store, enabled=not args.quiet)
                task = asyncio.get_running_loop().create_task(line.run())

                async def run(wait: bool) -> Any:
                    return await store.sync(
                        client,
                        endpoints=endpoints,
                        start_time=start,
                        end_time=end,
                        bucket_width=args.bucket_width,
                        group_by=group_by,
                        overlap=overlap,
                        wait=wait,
                    )

                try:
                    try:
                        result = await run(wait=False)
                    except StoreBusyError as exc:
                        if args.no_wait:
                            raise StoreError(f"{exc} (--no-wait: not waiting)") from None
                        line.clear()
                        print(
                            f"openai-usage: {exc}: waiting for it to finish (Ctrl-C to stop; "
                            "--no-wait exits at once instead)",
                            file=sys.stderr,
                        )
                        result = await run(wait=True)
                except asyncio.CancelledError:
                    line.clear()
                    _say_what_was_kept(store, path)
                    raise
                finally:
                    task.cancel()
                    with (
                        anyio.CancelScope(shield=True),
                        contextlib.suppress(asyncio.CancelledError),
                    ):
                        await task
                    line.clear()
        except ImportError as exc:
            raise MissingExtraError(str(exc)) from None
        except ValueError as exc:
            raise UsageError(_in_flags(str(exc))) from None
    sys.stdout.write(f"{result}\nstore: {path}\n")
    sys.stdout.flush()
    return 0


def _say_what_was_kept(store: Any, path: str) -> None:
    done = store.progress()
    windows = sum(d for d, _ in done.values())
    planned = sum(p for _, p in done.values())
    verbs = "was committed and is" if windows == 1 else "were committed and are"
    kept = (
        f"{plural(windows, 'window')} of {planned:,} {verbs} kept"
        if planned
        else "nothing had been written yet"
    )
    print(
        f"openai-usage: sync interrupted: {kept} in {path}; run the same command again "
        "to resume where it stopped",
        file=sys.stderr,
    )


async def sync_status(path: str, fmt: str) -> int:
    """``sync --status``: what the store covers, per table, from its bookkeeping only."""
    from ..store import open_store

    await anyio.to_thread.run_sync(check_store, path)
    try:
        store = open_store(path)
    except ImportError as exc:
        raise MissingExtraError(str(exc)) from None
    async with store:
        tables = await store.coverage()
    if fmt == "json":
        rows = [
            {
                "table": c.table,
                "endpoint": c.endpoint,
                "bucket_width": c.bucket_width,
                "group_by": list(c.group_by),
                "start": c.start,
                "end": c.end,
                "settled_until": c.settled_until,
                "open_buckets": c.open_buckets,
                "gaps": [list(g) for g in c.gaps],
                "last_sync": c.last_sync,
            }
            for c in tables
        ]
        sys.stdout.write(msgspec.json.encode({"store": path, "tables": rows}).decode() + "\n")
        return 0
    if not tables:
        sys.stdout.write(f"{path}: no tables yet; sync with --start to make the first\n")
        return 0

    def when(t: int | None, width_s: int) -> str:
        # A day at midnight, else to the minute, for people (the JSON has the seconds).
        return "-" if t is None else utc(t - t % 60 if width_s >= 60 else t)

    headers = ["table", "from", "to", "settled", "open", "gaps", "last sync", "grouped by"]
    rows_text = []
    for c in tables:
        width_s = WIDTH_SECONDS[c.bucket_width]
        missing = sum(hi - lo for lo, hi in c.gaps)
        gaps = "0" if not c.gaps else f"{len(c.gaps)} ({_span_text(missing)})"
        rows_text.append(
            [
                c.table,
                when(c.start, width_s),
                when(c.end, width_s),
                when(c.settled_until, width_s),
                str(c.open_buckets),
                gaps,
                when(c.last_sync, 60),
                ", ".join(c.group_by) or "(ungrouped)",
            ]
        )
    right = [False, False, False, False, True, True, False, False]
    lines = fit_table(headers, rows_text, right=right, drop=[7, 6], fixed=[0])
    last = max((c.last_sync for c in tables if c.last_sync is not None), default=None)
    head = f"store: {path}" + (f", last sync {when(last, 60)} UTC" if last else "")
    sys.stdout.write("\n".join([head, *lines]) + "\n")
    return 0


def _span_text(seconds: int) -> str:
    if seconds % DAY == 0:
        return plural(seconds // DAY, "day")
    if seconds % 3600 == 0:
        return plural(seconds // 3600, "hour")
    return plural(seconds // 60, "minute")


COMMANDS: dict[str, Callable[[argparse.Namespace], Coroutine[Any, Any, int]]] = {
    "fetch": fetch,
    "summary": summary,
    "sync": sync,
    "directory": directory,
    "emulator": emulator,
    "demo": demo,
    "serve": serve,
    "budget": budget,
}
