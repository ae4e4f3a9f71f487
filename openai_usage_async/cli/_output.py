"""Human output: numbers with separators, money, UTC times, tables that fit, bars."""

from __future__ import annotations

import datetime as dt
import shutil
import textwrap
from collections.abc import Sequence

__all__ = ["bar", "fit_table", "money", "number", "sparkline", "utc"]

_SPARKS = " ▁▂▃▄▅▆▇█"
_CURRENCY = {"usd": "$", "eur": "€", "gbp": "£"}


def number(value: object) -> str:
    """``1234567`` -> ``1,234,567``; floats get two decimals; None is blank."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return f"{value:,.2f}" if abs(value) >= 0.01 or value == 0 else f"{value:.4g}"
    return str(value)


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


def sparkline(values: Sequence[float]) -> str:
    top = max(values, default=0) or 1.0
    return "".join(_SPARKS[round(8 * max(v, 0) / top)] for v in values)


def bar(value: float, top: float, width: int) -> str:
    cells = 0 if top <= 0 else round(width * value / top)
    return "█" * cells


def terminal_width() -> int:
    return shutil.get_terminal_size((100, 24)).columns


def fit_table(
    headers: Sequence[str],
    rows: Sequence[Sequence[str]],
    *,
    width: int | None = None,
    right: Sequence[bool] | None = None,
) -> list[str]:
    """Lines of a table no wider than ``width``: drop trailing columns, then shorten cells.

    Columns are kept left to right (so put what matters first); a note says how many were
    left out.
    """
    width = terminal_width() if width is None else width
    right = list(right) if right is not None else [False] * len(headers)
    widths = [max([len(h), *(len(r[i]) for r in rows)]) for i, h in enumerate(headers)]
    keep = len(headers)
    while keep > 1 and sum(widths[:keep]) + 2 * (keep - 1) > width:
        keep -= 1
    shown = widths[:keep]
    overflow = sum(shown) + 2 * (keep - 1) - width
    while overflow > 0:  # one column still too wide: shorten the widest
        widest = shown.index(max(shown))
        cut = min(overflow, shown[widest] - 4)
        if cut <= 0:
            break
        shown[widest] -= cut
        overflow -= cut

    def cell(text: str, i: int) -> str:
        if len(text) > shown[i]:
            text = text[: shown[i] - 1] + "…"
        return text.rjust(shown[i]) if right[i] else text.ljust(shown[i])

    def line(cells: Sequence[str]) -> str:
        return "  ".join(cell(c, i) for i, c in enumerate(cells[:keep])).rstrip()

    out = [line(headers), "  ".join("-" * w for w in shown)]
    out += [line(r) for r in rows]
    if keep < len(headers):
        hidden = ", ".join(headers[keep:])
        note = f"({len(headers) - keep} more columns: {hidden}; use --format csv for all)"
        out += textwrap.wrap(note, width)
    return out
