"""The ``fetch`` table: bucket start, grouping columns, then measures, fitted to the terminal.

What a row is (its grouping columns) and what a user came for (the amount of a cost;
tokens and requests, or the endpoint's own unit, for usage) are never dropped. When the
table is too wide, first the long IDs are shortened (``proj_mtsL4F…``) and, with
``--names``, an ID and its name become one column holding the name; only then do the
low-priority columns go: fields of result types this version does not know, quantity
units, the optional breakdowns (cached tokens, audio tokens, ...) and the quantity; last,
long text cells are cut. A cost's currency is folded into its amount (``$1,389.56``).

A first or last bucket shorter than its width (a range that starts or ends between
boundaries, as a fetch that runs to now does) gets a note line under the footer:
``the last day, 2026-12-07, is partial: up to 14:05 UTC``.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
from collections.abc import Callable, Sequence
from typing import Any

import msgspec

from .._sansio.endpoints import ENDPOINTS
from ..models import KNOWN_RESULT_TYPES, NAME_COLUMNS, Directory, UsageBucket, row_columns, to_rows
from ._output import fit_table, money, number, plural, table_width, terminal_width, utc

__all__ = ["usage_table"]

#: The measures a user came for: never dropped.
ESSENTIAL = frozenset(
    {
        "amount",
        "input_tokens",
        "output_tokens",
        "num_model_requests",
        "images",
        "characters",
        "seconds",
        "usage_bytes",
        "num_sessions",
        "num_requests",
    }
)
#: ID column -> how its cells are shortened (``proj_mtsL4F…``: 11 characters and ``…``).
_ID_CHARS = 11
_LABELS = {"project_id": "project", "user_id": "user", "api_key_id": "api_key"}
#: Shorter headers for the widest measures (the CSV and JSON keep the field names).
_HEADERS = {
    "usage_bytes": "usage (GiB)",
    "num_model_requests": "requests",
    "num_requests": "calls",
    "num_sessions": "sessions",
}


@dataclasses.dataclass(frozen=True, slots=True)
class _Column:
    header: str
    cell: Callable[[dict[str, Any]], str]
    kind: str  # "group", "measure" (essential) or "extra" (may be dropped)
    known: bool = True  # a column of the endpoint's own result type (so CSV has it)


def _short(value: object) -> str:
    text = "" if value is None else str(value)
    return text if len(text) <= _ID_CHARS + 1 else text[:_ID_CHARS] + "…"


def _plain(name: str) -> Callable[[dict[str, Any]], str]:
    if name == "usage_bytes":
        return lambda row: "" if row.get(name) is None else f"{row[name] / 2**30:,.2f}"
    return lambda row: _text(row.get(name))


def _text(value: object) -> str:
    if isinstance(value, dict | list):  # a nested field of an unknown result type
        return msgspec.json.encode(value).decode()
    return number(value)


def _id_cell(name: str, row: dict[str, Any]) -> str:
    return _short(row.get(name))


def _named_cell(name: str, named: str, row: dict[str, Any]) -> str:
    """The name where the directory knows the ID, else the shortened ID."""
    return str(row.get(named) or _short(row.get(name)))


def _amount(row: dict[str, Any]) -> str:
    value = row.get("amount_value")
    if value is None:
        return ""
    return money(value, row.get("amount_currency") or "usd")


def _columns(
    rows: Sequence[dict[str, Any]], endpoint: str, names: bool, shorten: bool, merge: bool
) -> list[_Column]:
    seen: list[str] = []
    for row in rows:
        seen += [k for k, v in row.items() if v is not None and k not in seen]
    fields = [n for n in seen if n not in ("start_time", "end_time", "object")]
    spec = ENDPOINTS[endpoint]
    known = {n for n, _ in row_columns(KNOWN_RESULT_TYPES[spec.result_object], names=names)}
    name_columns = {named for named, _ in NAME_COLUMNS.values()}
    groups: list[_Column] = []
    measures: list[_Column] = []
    extras: list[_Column] = []
    for name in fields:
        if name in name_columns and merge:
            continue  # shown in its ID's column
        if name in ("amount_value", "amount_currency"):
            if not any(c.header == "amount" for c in measures):
                measures.append(_Column("amount", _amount, "measure"))
        elif name in spec.group_by or name in name_columns:
            if name in NAME_COLUMNS and merge and NAME_COLUMNS[name][0] in fields:
                cell = functools.partial(_named_cell, name, NAME_COLUMNS[name][0])
                groups.append(_Column(_LABELS[name], cell, "group"))
            elif name.endswith("_id") and shorten:
                groups.append(_Column(name, functools.partial(_id_cell, name), "group"))
            else:
                groups.append(_Column(name, _plain(name), "group"))
        elif name in ESSENTIAL:
            measures.append(_Column(_HEADERS.get(name, name), _plain(name), "measure"))
        else:
            header = _HEADERS.get(name, name)
            extras.append(_Column(header, _plain(name), "extra", known=name in known))
    return [*groups, *measures, *extras]


def _drop_order(columns: Sequence[_Column]) -> list[int]:
    """Indexes (in the table, after the start column) of the columns that may go, first first:
    unknown fields, quantity units, then the other extras from the right."""
    extras = [i for i, c in enumerate(columns) if c.kind == "extra"]

    def rank(i: int) -> tuple[int, int]:
        column = columns[i]
        if not column.known:
            return (0, -i)
        if column.header == "quantity_unit":
            return (1, -i)
        if column.header == "quantity":
            return (3, -i)
        return (2, -i)

    return [i + 1 for i in sorted(extras, key=rank)]


def usage_table(
    buckets: Sequence[UsageBucket[Any]],
    endpoint: str,
    width_s: int,
    directory: Directory | None = None,
    *,
    width: int | None = None,
    now: int | None = None,
) -> list[str]:
    """The lines of the ``fetch`` table, its footer, and a note for each partial bucket at
    its edges (``now``: the time a bucket still in progress is complete up to)."""
    rows = list(to_rows(buckets, directory=directory))
    empty = sum(1 for b in buckets if not b.results)
    footer = f"{plural(len(buckets), 'bucket')} ({empty:,} empty), {plural(len(rows), 'result')}"
    footer_lines = [footer, *partial_notes(buckets, width_s, now)]
    if not rows:
        return footer_lines
    width = terminal_width() if width is None else width
    names = directory is not None
    starts = [utc(row["start_time"], width_s) for row in rows]
    # Each try is narrower than the last: full IDs, short IDs, then (with names) one column
    # per ID holding its name.
    tries = [(False, False), (True, False)] + ([(True, True)] if names else [])
    for shorten, merge in tries:
        columns = _columns(rows, endpoint, names, shorten, merge)
        headers = ["start (UTC)", *(c.header for c in columns)]
        table = [
            [start, *(c.cell(row) for c in columns)]
            for start, row in zip(starts, rows, strict=True)
        ]
        if table_width(headers, table) <= width:
            break
    right = [False] + [c.kind != "group" for c in columns]
    drop = _drop_order(columns)
    # Unknown fields are the first to go, so when any is left out, the note says the
    # format that keeps them: CSV's columns are fixed, JSON lines keep every field.
    unknown = any(not c.known for c in columns)
    hint = "use --format jsonl for all" if unknown else "use --format csv for all"
    lines = fit_table(headers, table, width=width, right=right, drop=drop, fixed=[0], hint=hint)
    return [*lines, "", *footer_lines]


_UNIT = {86_400: "day", 3_600: "hour", 60: "minute"}


def partial_notes(
    buckets: Sequence[UsageBucket[Any]], width_s: int, now: int | None = None
) -> list[str]:
    """``the last day, 2026-12-07, is partial: up to 14:05 UTC``, and the same for a first
    bucket that starts after its boundary. A bucket is partial when it ends before its
    boundary, or (answered whole) is still in progress at ``now``."""
    if not buckets:
        return []
    unit = _UNIT.get(width_s, "bucket")
    first, last = buckets[0], buckets[-1]
    first_boundary = first.start_time - first.start_time % width_s
    last_boundary = last.start_time - last.start_time % width_s
    until = last.end_time if now is None else min(last.end_time, now)
    late = first.start_time != first_boundary
    early = last.start_time < until < last_boundary + width_s
    if late and early and len(buckets) == 1:
        return [
            f"the only {unit}, {utc(first_boundary, width_s)}, is partial: from "
            f"{_clock(first.start_time, width_s)} to {_clock(until, width_s)} UTC"
        ]
    notes = []
    if late:
        notes.append(
            f"the first {unit}, {utc(first_boundary, width_s)}, is partial: from "
            f"{_clock(first.start_time, width_s)} UTC"
        )
    if early:
        notes.append(
            f"the last {unit}, {utc(last_boundary, width_s)}, is partial: up to "
            f"{_clock(until, width_s)} UTC"
        )
    return notes


def _clock(seconds: int, width_s: int) -> str:
    """The time of day, to the minute (to the second for minute buckets)."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    return moment.strftime("%H:%M:%S" if width_s <= 60 else "%H:%M")
