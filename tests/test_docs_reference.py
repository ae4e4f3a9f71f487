"""The generated parts of the site: the endpoint table and the API reference."""

from __future__ import annotations

import dataclasses
import importlib
import importlib.util
import pathlib
import re
import types
from typing import Any

import pytest

from openai_usage_async._sansio.endpoints import BUCKET_WIDTHS, ENDPOINTS

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"
REFERENCE = DOCS / "reference"


def _load(path: pathlib.Path) -> types.ModuleType:
    spec = importlib.util.spec_from_file_location(path.stem, path)
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


@pytest.fixture(scope="module")
def hook() -> types.ModuleType:
    return _load(DOCS / "hooks" / "endpoint_table.py")


def _rows(table: str) -> dict[str, list[str]]:
    rows = {}
    for line in table.splitlines()[2:]:
        cells = [c.strip() for c in line.strip().strip("|").split("|")]
        rows[cells[0].strip("`")] = cells
    return rows


# -- the endpoint table ----------------------------------------------------------------


def test_the_endpoint_table_lists_every_endpoint(hook: types.ModuleType) -> None:
    rows = _rows(hook.endpoint_table())
    assert list(rows) == list(ENDPOINTS)
    for name, spec in ENDPOINTS.items():
        _, path, filters, group_by, *limits = rows[name]
        assert path == f"`{spec.path}`"
        assert re.findall(r"`(\w+)`(?![^(]*\))", filters) == list(spec.filters), name
        assert re.findall(r"`(\w+)`", group_by) == list(spec.group_by), name
        widths = list(reversed(BUCKET_WIDTHS))
        for width, cell in zip(widths, limits, strict=True):
            expected = "{} / {}".format(*spec.limits[width]) if width in spec.limits else "—"
            assert cell == expected, (name, width)


def test_the_endpoint_table_shows_choices_and_booleans(hook: types.ModuleType) -> None:
    rows = _rows(hook.endpoint_table())
    assert "`batch` (bool)" in rows["completions"][2]
    assert "`context_levels` (`low`, `medium`, `high`)" in rows["web_search_calls"][2]
    assert rows["costs"][4:] == ["7 / 180", "—", "—"]


def test_the_hook_fills_the_marker_and_fails_without_one(hook: types.ModuleType) -> None:
    page = types.SimpleNamespace(file=types.SimpleNamespace(src_uri="reference/endpoints.md"))
    hook.on_pre_build(config=None)
    text = (REFERENCE / "endpoints.md").read_text()
    assert text.count(hook.MARKER) == 1
    filled = hook.on_page_markdown(text, page=page, config=None, files=None)
    assert hook.MARKER not in filled and "`/organization/usage/decisions`" in filled
    hook.on_post_build(config=None)  # the marker was found: fine

    hook.on_pre_build(config=None)
    assert hook.on_page_markdown("# No table", page=page, config=None, files=None) == "# No table"
    with pytest.raises(Exception, match="no page holds"):
        hook.on_post_build(config=None)


def test_mkdocs_runs_the_hook_and_hides_it() -> None:
    config = (ROOT / "mkdocs.yml").read_text()
    assert "  - docs/hooks/endpoint_table.py" in config
    assert re.search(r"exclude_docs: \|\n(?:  .*\n)*  hooks/\n", config)


@pytest.mark.parametrize("page", sorted(p.relative_to(ROOT).as_posix() for p in DOCS.rglob("*.md")))
def test_no_page_keeps_an_endpoint_table_by_hand(page: str) -> None:
    rows = re.findall(
        r"^\|.*`?/organization/(?:usage/\w+|costs)`?\s*\|", (ROOT / page).read_text(), re.M
    )
    assert not rows, f"{page}: link to reference/endpoints.md instead of {rows[0]!r}"


# -- the API reference -----------------------------------------------------------------


def _documented() -> set[str]:
    """Every object a ``::: path`` block of docs/reference renders."""
    names: set[str] = set()
    for page in REFERENCE.glob("*.md"):
        for path in re.findall(r"^::: ([\w.]+)", page.read_text(), re.M):
            names.add(path)
            module: Any = None
            try:
                module = importlib.import_module(path)
            except ImportError:
                continue
            for member in getattr(module, "__all__", ()):
                names.add(f"{path}.{member}")
    return names


def _public(module_name: str) -> list[str]:
    module = importlib.import_module(module_name)
    return [f"{module_name}.{n}" for n in module.__all__ if not n.startswith("__")]


@pytest.mark.parametrize(
    "name",
    [
        *_public("openai_usage_async"),
        *_public("openai_usage_async.store"),
        *_public("openai_usage_async.emulator"),
        *_public("openai_usage_async.dlt"),
    ],
)
def test_every_public_name_is_in_the_reference(name: str) -> None:
    documented = _documented()
    short = name.rsplit(".", 1)[1]
    # A top-level name may be documented where it is defined (errors, store, ...).
    aliases = {name, f"openai_usage_async.{short}", f"openai_usage_async.errors.{short}"}
    assert aliases & documented, f"{name}: no ::: block in docs/reference renders it"


def test_reference_pages_are_generated_not_hand_kept() -> None:
    for page in REFERENCE.glob("*.md"):
        text = page.read_text()
        if page.name == "endpoints.md":
            assert "<!-- endpoint-table -->" in text
            continue
        assert re.search(r"^::: ", text, re.M), f"{page.name}: no mkdocstrings block"
        assert not re.search(r"^\| *(type|class|argument|method) *\|", text, re.M), page.name


STATISTICS = [
    ("openai_usage_async._client", "ClientStatistics"),
    ("openai_usage_async._limiter", "LimiterStatistics"),
    ("openai_usage_async.store._sync", "EndpointReport"),
    ("openai_usage_async.store._sync", "SyncReport"),
    ("openai_usage_async.emulator.stats", "EmulatorStatistics"),
]


@pytest.mark.parametrize(("module", "name"), STATISTICS, ids=[n for _, n in STATISTICS])
def test_every_field_of_a_report_is_documented(module: str, name: str) -> None:
    import griffe  # the docs extra, which the test command installs

    cls = griffe.load(module, search_paths=[str(ROOT)])[name]
    fields = [f.name for f in dataclasses.fields(getattr(importlib.import_module(module), name))]
    assert fields
    undocumented = [f for f in fields if cls.members[f].docstring is None]
    assert not undocumented, f"{name}: fields without a docstring: {undocumented}"


# -- reST docstrings read as Markdown --------------------------------------------------


def test_rst_literal_blocks_become_fenced_python() -> None:
    convert = _load(DOCS / "hooks" / "griffe_rst.py").markdown_from_rst
    text = "Use it like this::\n\n    async with C() as c:\n        ...\n\n"
    text += "Then :class:`~a.b.C` and :meth:`C.get`."
    assert convert(text) == (
        "Use it like this:\n\n```python\nasync with C() as c:\n    ...\n```\n\n"
        "Then `C` and `C.get`."
    )
    assert convert("::\n\n    x = 1\n") == "\n```python\nx = 1\n```\n"
    assert convert("A tree::\n\n    APIError\n    └── APIConnectionError\n") == (
        "A tree:\n\n```text\nAPIError\n└── APIConnectionError\n```\n"
    )
