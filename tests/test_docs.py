"""The docs hold together: the nav points at pages, links resolve, the snippets work."""

from __future__ import annotations

import html.parser
import os
import pathlib
import re
import subprocess
import sys

import pytest

from tests.test_docs_code import CODE_WIDTH

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"


def test_the_nav_points_at_pages() -> None:
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert len(nav) >= 10
    for page in nav:
        assert (DOCS / page).is_file(), page


@pytest.mark.parametrize(
    "page",
    sorted(p.relative_to(ROOT).as_posix() for p in [ROOT / "README.md", *DOCS.rglob("*.md")]),
)
def test_relative_links_resolve(page: str) -> None:
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        assert (path.parent / target).exists(), f"{page}: {target}"


# -- docs/guides/testing.md, as a reader would use it ---------------------------------

_FILE_BLOCK = re.compile(r"^(`{3,})\w*\n# ([\w.-]+\.(?:py|toml|ini))\n(.*?)^\1\s*$", re.M | re.S)


def _guide_files() -> dict[str, str]:
    """The testing guide's files: each block whose first line is ``# <file name>``."""
    text = (DOCS / "guides" / "testing.md").read_text()
    return {m[2]: m[3] for m in _FILE_BLOCK.finditer(text)}


def _pytest(directory: pathlib.Path, *options: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("PYTEST_", "OPENAI_"))}
    return subprocess.run(
        [sys.executable, "-m", "pytest", "-q", "-p", "no:cacheprovider", *options],
        cwd=directory,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def test_the_testing_guide_names_its_files() -> None:
    assert set(_guide_files()) == {"pyproject.toml", "conftest.py", "report.py", "test_report.py"}


def test_the_testing_guide_passes_as_written(tmp_path: pathlib.Path) -> None:
    for name, text in _guide_files().items():
        (tmp_path / name).write_text(text)
    done = _pytest(tmp_path, "-W", "error")  # and without a warning
    assert done.returncode == 0, done.stdout + done.stderr
    assert re.search(r"^3 passed in ", done.stdout, re.M), done.stdout


def test_without_the_guides_configuration_async_tests_fail(tmp_path: pathlib.Path) -> None:
    # What the guide warns about: the config it asks for is what makes the tests run.
    for name, text in _guide_files().items():
        if name != "pyproject.toml":
            (tmp_path / name).write_text(text)
    done = _pytest(tmp_path)
    assert done.returncode != 0
    assert "async def functions are not natively supported" in done.stdout + done.stderr


# -- shell examples name real commands and options -------------------------------------

_SHELL_BLOCK = re.compile(
    r"^([ \t]*)(`{3,}|~{3,})[ \t]*(?:bash|console|sh|shell)\b.*?\n(.*?)^\1\2[ \t]*$", re.M | re.S
)


def _cli_help(*command: str) -> str:
    done = subprocess.run(
        [sys.executable, "-m", "openai_usage_async", *command, "--help"],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def _shell_commands() -> list[tuple[str, str]]:
    found = []
    for path in [ROOT / "README.md", *sorted(DOCS.rglob("*.md"))]:
        for block in _SHELL_BLOCK.finditer(path.read_text()):
            for line in block[3].splitlines():
                command = re.sub(r"^\s*\$\s*", "", line).split(" #")[0].strip()
                if command.startswith("openai-usage "):
                    found.append((path.relative_to(ROOT).as_posix(), command))
    return found


def test_the_docs_show_commands() -> None:
    assert len(_shell_commands()) >= 10


def test_every_openai_usage_command_in_the_docs_exists() -> None:
    top = _cli_help()
    commands = re.findall(r"^ {4}([a-z]+) ", top, re.M)
    assert {"fetch", "summary", "sync", "demo"} <= set(commands)
    helps: dict[str, str] = {}
    for page, line in _shell_commands():
        words = line.split()
        command = next((w for w in words[1:] if w in commands), None)
        assert command is not None, f"{page}: {line!r} names no openai-usage command"
        text = helps.setdefault(command, _cli_help(command))
        for flag in re.findall(r"(?<![\w-])(--[a-z][a-z0-9-]*)", line):
            assert re.search(rf"{re.escape(flag)}(?![\w-])", text), f"{page}: {line!r}: {flag}"


# -- code fits the page ----------------------------------------------------------------

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")

#: Code lines that may be wider than CODE_WIDTH, by page and how the line starts: why.
WIDE_LINES = {
    ("guides/names.md", "openai-usage: note: "): "one line of stderr as printed (text: wraps)",
    (
        "backfill.md",
        'CREATE TABLE IF NOT EXISTS "',
    ): "SQLite's .schema, as printed (console: wraps)",
    ("backfill.md", "openai-usage: "): "one line of stderr as printed (console: wraps)",
    ("backfill.md", "*/15 "): "a crontab entry is one line",
    ("guides/spend.md", "10   *  "): "a crontab entry is one line",
    ("backfill.md", '    """The rows of one window'): "left to the rewrite of that page (issue 18)",
}


def code_lines(text: str) -> list[tuple[int, str, str]]:
    """``(line number, language, line)`` for every line inside a fenced block."""
    lines = text.splitlines()
    found = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = (opening["info"].strip().split() or [""])[0].lstrip(".{").lower()
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        i += 1
        while i < len(lines) and not close.match(lines[i]):
            line = lines[i][len(indent) :] if lines[i].startswith(indent) else lines[i]
            found.append((i + 1, language, line))
            i += 1
        i += 1
    return found


def test_code_lines_are_found_in_indented_and_nested_fences() -> None:
    text = (
        '```bash\na\n```\n\n=== "Tab"\n\n    ```python\n    b = 1\n    ```\n\n````\n```\nc\n````\n'
    )
    assert code_lines(text) == [
        (2, "bash", "a"),
        (8, "python", "b = 1"),
        (12, "", "```"),
        (13, "", "c"),
    ]


@pytest.mark.parametrize("page", sorted(p.relative_to(DOCS).as_posix() for p in DOCS.rglob("*.md")))
def test_code_lines_fit_the_page(page: str) -> None:
    too_wide = [
        f"{page}:{number}: {len(line)} columns: {line[:60]}..."
        for number, language, line in code_lines((DOCS / page).read_text())
        if len(line) > CODE_WIDTH
        and language != "mermaid"  # drawn as a diagram, not shown as code
        and not any(p == page and line.startswith(start) for p, start in WIDE_LINES)
    ]
    assert not too_wide, f"wider than {CODE_WIDTH} columns:\n" + "\n".join(too_wide)


def test_every_wide_line_says_why() -> None:
    assert all(reason.strip() for reason in WIDE_LINES.values())


# -- the built site --------------------------------------------------------------------


@pytest.fixture(scope="module")
def site(tmp_path_factory: pytest.TempPathFactory) -> pathlib.Path:
    pytest.importorskip("material", reason="the docs extra: pip install -e '.[docs]'")
    out = tmp_path_factory.mktemp("site")
    done = subprocess.run(
        [sys.executable, "-m", "mkdocs", "build", "--strict", "--quiet", "--site-dir", str(out)],
        cwd=ROOT,
        env={**os.environ, "NO_MKDOCS_2_WARNING": "1"},
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert done.returncode == 0, done.stdout + done.stderr
    return out


class _Cells(html.parser.HTMLParser):
    """The text of every table cell of a page (entities decoded, tags dropped)."""

    def __init__(self) -> None:
        super().__init__(convert_charrefs=True)
        self.cells: list[str] = []
        self._open = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag in ("td", "th"):
            self._open += 1
            self.cells.append("")

    def handle_endtag(self, tag: str) -> None:
        if tag in ("td", "th"):
            self._open -= 1

    def handle_data(self, data: str) -> None:
        if self._open:
            self.cells[-1] += data


def table_cells(page: str) -> list[str]:
    parser = _Cells()
    parser.feed(page)
    return parser.cells


def test_table_cells_are_read() -> None:
    page = "<table><tr><th>a</th><td><code>x&#124;y</code> <b>z</b></td></tr></table><p>\\|</p>"
    assert table_cells(page) == ["a", "x|y z"]


def test_no_table_cell_shows_an_escaped_pipe(site: pathlib.Path) -> None:
    # In a Markdown table, `a\|b` keeps its backslash inside code: write <code>a&#124;b</code>.
    shown = [
        f"{page.relative_to(site)}: {cell!r}"
        for page in sorted(site.rglob("*.html"))
        for cell in table_cells(page.read_text())
        if "\\|" in cell
    ]
    assert not shown, "\n".join(shown)


def test_the_endpoint_table_breaks_names_only_after_underscores_and_slashes(
    site: pathlib.Path,
) -> None:
    page = (site / "reference" / "endpoints" / "index.html").read_text()
    table = re.search(r'<div class="endpoint-table">(.*?)</table>', page, re.S)
    assert table is not None, "the table is not in its wrapper"
    codes = re.findall(r"<code>(.*?)</code>", table[1])
    assert "code_<wbr>interpreter_<wbr>sessions" in codes
    for code in codes:
        for piece in code.split("<wbr>")[:-1]:
            assert piece.endswith(("_", "/")), code
    assert "<wbr>" not in re.sub(r"<code>.*?</code>", "", table[1])
    css = (site / "stylesheets" / "extra.css").read_text()
    assert re.search(r"\.endpoint-table code \{[^}]*word-break: normal", css)
    assert 'href="../../stylesheets/extra.css"' in page
