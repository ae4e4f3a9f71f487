"""MkDocs hook: the endpoint table, generated from ``_sansio/endpoints.py`` at build time.

A page holds the marker ``<!-- endpoint-table -->``; the build replaces it with one row
per :data:`~openai_usage_async._sansio.endpoints.ENDPOINTS` entry, so the table exists
once, in the code, and cannot drift from what the client validates. Listed under
``hooks:`` in ``mkdocs.yml``; ``exclude_docs`` keeps this file out of the site.

The table sits in ``<div class="endpoint-table">``. Material lets inline code break
anywhere, which squeezed names into "completio/ns"; the stylesheet turns that off there,
and :func:`on_page_content` lets a name break only after ``_`` or ``/`` (a ``<wbr>``).
"""

from __future__ import annotations

import re
from typing import Any

from openai_usage_async._sansio.endpoints import BUCKET_WIDTHS, ENDPOINTS, FilterSpec

MARKER = "<!-- endpoint-table -->"
WRAPPER = "endpoint-table"

_WRAPPED = re.compile(rf'<div class="{WRAPPER}">.*?</table>', re.S)
_CODE = re.compile(r"<code>([^<]*)</code>")

_replaced: list[str] = []


def _filter(spec: FilterSpec) -> str:
    if spec.kind == "bool":
        return f"`{spec.name}` (bool)"
    if spec.choices:
        return f"`{spec.name}` ({', '.join(f'`{c}`' for c in spec.choices)})"
    return f"`{spec.name}`"


def endpoint_table() -> str:
    """The table, as Markdown: one row per endpoint, in the order of ``ENDPOINTS``."""
    widths = [w for w in reversed(BUCKET_WIDTHS)]  # 1d, 1h, 1m: the default width first
    head = ["`client.usage.`", "path", "filters", "`group_by`"]
    head += [f"`{w}` limit" for w in widths]
    lines = ["| " + " | ".join(head) + " |", "|" + "---|" * len(head)]
    for name, spec in ENDPOINTS.items():
        cells = [
            f"`{name}`",
            f"`{spec.path}`",
            "<br>".join(_filter(f) for f in spec.filters.values()),
            "<br>".join(f"`{g}`" for g in spec.group_by),
        ]
        for width in widths:
            if width in spec.limits:
                default, maximum = spec.limits[width]
                cells.append(f"{default} / {maximum}")
            else:
                cells.append("—")
        lines.append("| " + " | ".join(cells) + " |")
    return "\n".join(lines)


def on_pre_build(config: Any) -> None:
    _replaced.clear()


def on_page_markdown(markdown: str, page: Any, config: Any, files: Any) -> str:
    if MARKER not in markdown:
        return markdown
    _replaced.append(page.file.src_uri)
    table = f'<div class="{WRAPPER}" markdown>\n\n{endpoint_table()}\n\n</div>'
    return markdown.replace(MARKER, table)


def break_points(html: str) -> str:
    """Let the table's code break after ``_`` and ``/`` (never at its first character)."""

    def code(match: re.Match[str]) -> str:
        text = match[1]
        return "<code>" + text[:1] + re.sub(r"([_/])(?=.)", r"\1<wbr>", text[1:]) + "</code>"

    return _WRAPPED.sub(lambda table: _CODE.sub(code, table[0]), html)


def on_page_content(html: str, page: Any, config: Any, files: Any) -> str:
    return break_points(html) if page.file.src_uri in _replaced else html


def on_post_build(config: Any) -> None:
    if not _replaced:
        from mkdocs.exceptions import PluginError

        raise PluginError(f"endpoint_table: no page holds {MARKER}; the table is missing")
