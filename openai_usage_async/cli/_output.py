"""Human output: numbers with separators, money, UTC times, tables that fit, bars."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from collections.abc import Sequence

__all__ = ["bar", "fit_table", "money", "number", "plural", "sparkline", "table_width", "utc"]

_SPARKS = " ▁▂▃▄▅▆▇█"
_CURRENCY = {"usd": "$", "eur": "€", "gbp": "£"}


def number(value: object) -> str:
    """``1234567`` -> ``1,234,567``; whole floats as integers, others with two decimals;
    None is blank."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        if value.is_integer():
            return f"{int(value):,}"
        return f"{value:,.2f}" if abs(value) >= 0.01 else f"{value:.4g}"
    return str(value)


def plural(count: int, singular: str, plural_form: str | None = None) -> str:
    """``1 bucket``, ``2 buckets``, ``1,000 buckets``."""
    word = singular if count == 1 else (plural_form or singular + "s")
    return f"{count:,} {word}"


def money(value: float, currency: str = "usd") -> str:
    symbol = _CURRENCY.get(currency.lower())
    if symbol:
        return f"-{symbol}{-value:,.2f}" if value < 0 else f"{symbol}{value:,.2f}"
    return f"{value:,.2f} {currency.upper()}"


def utc(seconds: int, width_s: int = 86400) -> str:
    """A bucket start in UTC, as precise as its width needs."""
    moment = dt.datetime.fromtimestamp(seconds, dt.UTC)
    if width_s >= 86400 and moment.hour == moment.minute == moment.second == 0:
        return moment.strftime("%Y-%m-%d")
    if moment.second == 0:
        return moment.strftime("%Y-%m-%d %H:%M")
    return moment.strftime("%Y-%m-%d %H:%M:%S")


def sparkline(values: Sequence[float | None]) -> str:
    """One block per value, scaled to the largest; ``·`` where a value is missing."""
    top = max((v for v in values if v is not None), default=0) or 1.0
    return "".join("·" if v is None else _SPARKS[round(8 * max(v, 0) / top)] for v in values)


def bar(value: float, top: float, width: int) -> str:
    cells = 0 if top <= 0 else round(width * value / top)
    return "█" * cells


def terminal_width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def table_width(headers: Sequence[str], rows: Sequence[Sequence[str]]) -> int:
    """The width of a table with every column shown in full."""
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    return sum(widths) + 2 * (len(widths) - 1)


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    right: Sequence[bool] | None = None,
    drop: Sequence[int] = (),
    fixed: Sequence[int] = (),
    hint: str | None = None,
) -> list[str]:
    """Lines of a table no wider than ``width``, if it can be.

    While it is too wide, the columns listed in ``drop`` go, in that order; then the
    widest text (left-aligned) column not in ``fixed`` is shortened, cells cut with ``…``.
    Numbers (right-aligned) are never cut, and no other column goes: a table whose
    essential columns cannot fit is wider than ``width`` (its text cut to 12 characters,
    not to nothing). A note lists the columns left out,
    ending with ``hint`` (what shows them all).
    """
    width = terminal_width() if width is None else width
    right = list(right) if right is not None else [False] * len(headers)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    shown = list(range(len(headers)))

    def total() -> int:
        return sum(widths[i] for i in shown) + 2 * (len(shown) - 1)

    for i in drop:
        if total() <= width:
            break
        if i in shown and len(shown) > 1:
            shown.remove(i)
    overflow = total() - width
    cuttable = [i for i in shown if not right[i] and i not in fixed]
    # Text is cut down to 4 characters if that makes the table fit; if nothing would,
    # to no less than 12, so that what is left still says something.
    floor = 4 if overflow <= sum(max(0, widths[i] - 4) for i in cuttable) else 12
    while overflow > 0:  # still too wide: shorten the widest text column, one at a time
        text = [i for i in cuttable if widths[i] > floor]
        if not text:
            break
        widths[max(text, key=lambda i: widths[i])] -= 1
        overflow -= 1

    def cell(text: str, i: int) -> str:
        if len(text) > widths[i]:
            text = text[: widths[i] - 1] + "…"
        return text.rjust(widths[i]) if right[i] else text.ljust(widths[i])

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell(cells[i], i) for i in shown).rstrip()

    out = [line(headers), "  ".join("-" * widths[i] for i in shown)]
    out += [line(r) for r in rows]
    hidden = [h for i, h in enumerate(headers) if i not in shown]
    if hidden:
        more = plural(len(hidden), "more column")
        note = f"({more}: {', '.join(hidden)}{'; ' + hint if hint else ''})"
        out += textwrap.wrap(note, max(width, 20))
    return out
