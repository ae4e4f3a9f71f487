"""Every ``python`` code block of the docs runs, page by page, like a notebook's cells.

The convention, for every Markdown page under ``docs/``:

- A fenced block whose info string starts with ``python`` runs. Other fences (``bash``,
  ``console``, ``pycon``, ``text``, ``toml``, ``sql``, ...) are prose and do not.
- A block right after a line ``<!-- skip: reason -->`` (blank lines may separate them)
  does not run. Use it sparingly: for what needs a service we cannot run here.
- A page's blocks run in page order in one namespace (a fresh module named ``__docs__``,
  so ``if __name__ == "__main__":`` bodies do not run), in one event loop: top-level
  ``await`` works, and so does the synchronous ``UsageClient``.
- The environment: the current directory is a fresh temporary one; ``OPENAI_ADMIN_KEY``
  is ``sk-admin-test`` and ``OPENAI_BASE_URL`` the bundled emulator on 127.0.0.1 (on a
  thread of its own, its clock pinned to the time the module started); ``MPLBACKEND`` is
  ``Agg``; dlt keeps its state in a temporary ``DLT_DATA_DIR``, with telemetry off.

A failure names the page, the block, and the page's line that raised.

README.md is different: each of its ``python`` blocks is a whole script, to be saved as a
file and run. So each runs alone, in a fresh module, compiled as a script is (top-level
``await`` is a ``SyntaxError``), in the same environment; ``if __name__ == "__main__":``
bodies do not run, and the web app's handler is asked over a test server instead. A block
that must stay a fragment says so in its first line, ``# fragment: reason``, and only those
are skipped (an HTML comment would be invisible on GitHub). Every Python block, here and
in ``docs/``, is formatted by ruff at :data:`CODE_WIDTH` columns.
"""

from __future__ import annotations

import ast
import dataclasses
import gc
import inspect
import pathlib
import re
import subprocess
import sys
import time
import traceback
import types
import warnings
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from aiohttp.test_utils import TestClient, TestServer

from openai_usage_async import AsyncUsageClient, UsageClient
from openai_usage_async.emulator import Emulator, serve_in_thread

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"

_FENCE = re.compile(r"^(?P<indent>[ \t]*)(?P<fence>`{3,}|~{3,})(?P<info>.*)$")
_SKIP = re.compile(r"^\s*<!--\s*skip:\s*(?P<reason>.*?)\s*-->\s*$")

#: The module name the blocks run under.
MODULE_NAME = "__docs__"

#: The width the Python blocks are formatted to, and every code line of docs/ fits in:
#: 88 columns show beside both of the site's sidebars (docs/stylesheets/extra.css).
CODE_WIDTH = 88


@dataclass(frozen=True)
class Block:
    """One fenced code block: where it is, what it says, and whether it runs."""

    page: str
    index: int  # 1-based, among the page's Python blocks
    line: int  # 1-based line of the block's first line of code in the page
    source: str
    skip: str | None  # the reason, when the page says to skip it


def python_blocks(text: str, page: str) -> list[Block]:
    """Every ``python`` block of a Markdown page, in order (skipped ones included)."""
    lines = text.splitlines()
    blocks: list[Block] = []
    i = 0
    while i < len(lines):
        opening = _FENCE.match(lines[i])
        if opening is None:
            i += 1
            continue
        indent, fence = opening["indent"], opening["fence"]
        language = (opening["info"].strip().split() or [""])[0].lstrip(".{").lower()
        close = re.compile(rf"^[ \t]*{re.escape(fence[0])}{{{len(fence)},}}\s*$")
        end = i + 1
        while end < len(lines) and not close.match(lines[end]):
            end += 1
        if language == "python":
            body = [
                line[len(indent) :] if line.startswith(indent) else line
                for line in lines[i + 1 : end]
            ]
            before = i - 1
            while before >= 0 and not lines[before].strip():
                before -= 1
            skip = _SKIP.match(lines[before]) if before >= 0 else None
            blocks.append(
                Block(
                    page=page,
                    index=len(blocks) + 1,
                    line=i + 2,
                    source="\n".join(body) + "\n",
                    skip=skip["reason"] if skip else None,
                )
            )
        i = end + 1
    return blocks


class BlockFailed(AssertionError):
    """A block raised: the message names the page, the block and the line."""


def _where(exc: BaseException, filename: str) -> int | None:
    line = None
    for frame in traceback.extract_tb(exc.__traceback__):
        if frame.filename == filename:
            line = frame.lineno
    return line


def _report(block: Block, filename: str, exc: BaseException) -> BlockFailed:
    if isinstance(exc, SyntaxError) and exc.filename == filename:
        line = exc.lineno
    else:
        line = _where(exc, filename)
    shown = traceback.format_exception(exc)
    # Keep the frames from the page onwards: the runner's own frames are noise.
    for n, entry in enumerate(shown):
        if f'File "{filename}"' in entry:
            shown = [shown[0], *shown[n:]] if n else shown
            break
    at = f", line {line}" if line is not None else ""
    return BlockFailed(
        f"{block.page}: block {block.index} (starting at line {block.line}){at} raised "
        f"{type(exc).__name__}: {exc}\n\n{''.join(shown)}"
    )


def new_module(filename: str) -> types.ModuleType:
    """A fresh module for one page's blocks to run in."""
    module = types.ModuleType(MODULE_NAME)
    module.__file__ = filename
    return module


async def run_blocks(
    blocks: list[Block], filename: str, module: types.ModuleType | None = None
) -> types.ModuleType:
    """Run the blocks that are not skipped, in order, in one module; return it.

    ``filename`` is the page's path, shown in tracebacks: each block is compiled at its
    own line of the page, so a traceback's line numbers are the page's.
    """
    module = new_module(filename) if module is None else module
    sys.modules[MODULE_NAME] = module
    try:
        for block in blocks:
            if block.skip is not None:
                continue
            padded = "\n" * (block.line - 1) + block.source
            try:
                code = compile(padded, filename, "exec", flags=ast.PyCF_ALLOW_TOP_LEVEL_AWAIT)
                result = eval(code, module.__dict__)
                if inspect.iscoroutine(result):
                    await result
            except Exception as exc:
                raise _report(block, filename, exc) from None
    finally:
        sys.modules.pop(MODULE_NAME, None)
    return module


async def close_clients(module: types.ModuleType) -> None:
    """Close the clients a failed page left open, so that its failure is the only one."""
    for value in list(module.__dict__.values()):
        if isinstance(value, AsyncUsageClient) and not value.closed:
            await value.aclose()
        elif isinstance(value, UsageClient) and not value.closed:
            value.close()


# -- the docs' pages -------------------------------------------------------------------


def _page_blocks(path: pathlib.Path) -> list[Block]:
    return python_blocks(path.read_text(), path.relative_to(ROOT).as_posix())


PAGES = sorted(p for p in DOCS.rglob("*.md") if "hooks" not in p.relative_to(DOCS).parts)
RUNNABLE = [p for p in PAGES if any(b.skip is None for b in _page_blocks(p))]


@pytest.fixture(scope="module")
def docs_emulator() -> Iterator[Emulator]:
    # Pinned to the time the module started: reproducible while it runs, and in step with
    # the client's own clock, which plans open ranges ("the last 30 days") from time.time().
    with serve_in_thread(now=int(time.time())) as emu:
        yield emu


@pytest.fixture
def docs_environment(
    docs_emulator: Emulator, tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> Emulator:
    docs_emulator.faults.clear()
    docs_emulator.reset_statistics()
    cwd = tmp_path / "cwd"
    cwd.mkdir()
    monkeypatch.chdir(cwd)
    assert docs_emulator.base_url is not None
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-test")
    monkeypatch.setenv("OPENAI_BASE_URL", docs_emulator.base_url)
    monkeypatch.delenv("OPENAI_USAGE_STORE", raising=False)
    monkeypatch.setenv("MPLBACKEND", "Agg")
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt"))
    return docs_emulator


@pytest.mark.parametrize("path", RUNNABLE, ids=[p.relative_to(DOCS).as_posix() for p in RUNNABLE])
async def test_the_python_blocks_of_a_page_run(
    path: pathlib.Path, docs_environment: Emulator
) -> None:
    blocks = _page_blocks(path)
    module = new_module(str(path))
    with warnings.catch_warnings():
        # plt.show() under the Agg backend says it cannot show anything: true, and fine.
        warnings.filterwarnings("ignore", message=".*non-interactive, and thus cannot be shown")
        try:
            await run_blocks(blocks, str(path), module)
        except BlockFailed:
            await close_clients(module)
            raise
    ran = [b for b in blocks if b.skip is None]
    assert ran and module.__dict__, path
    # Whatever a page left open is closed now, while this test still owns the warnings.
    module.__dict__.clear()
    if "matplotlib.pyplot" in sys.modules:
        sys.modules["matplotlib.pyplot"].close("all")
    gc.collect()


def test_the_pages_with_code_are_found() -> None:
    names = {p.relative_to(DOCS).as_posix() for p in RUNNABLE}
    assert {"index.md", "quickstart.md", "guides/iteration.md", "guides/testing.md"} <= names


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_every_skip_gives_a_reason_and_marks_a_python_block(path: pathlib.Path) -> None:
    text = path.read_text()
    skips = [m for line in text.splitlines() if (m := _SKIP.match(line))]
    assert all(m["reason"] for m in skips), f"{path}: a skip without a reason"
    assert len(skips) == sum(b.skip is not None for b in _page_blocks(path)), (
        f"{path}: a skip marker that is not right before a python block"
    )


def _ruff(tmp_path: pathlib.Path, blocks: list[Block], *command: str) -> str | None:
    """Run ``ruff <command>`` over the blocks, one file each; its output if it objects."""
    for block in blocks:
        (tmp_path / f"block_{block.index:02}_line_{block.line}.py").write_text(block.source)
    done = subprocess.run(
        [sys.executable, "-m", "ruff", *command, "--config", str(ROOT / "pyproject.toml")]
        + [str(p) for p in sorted(tmp_path.iterdir())],
        capture_output=True,
        text=True,
    )
    return None if done.returncode == 0 else done.stdout + done.stderr


FORMAT = ("format", "--diff", "--line-length", str(CODE_WIDTH))


@pytest.mark.parametrize("path", PAGES, ids=[p.relative_to(DOCS).as_posix() for p in PAGES])
def test_the_python_blocks_of_a_page_are_ruff_formatted(
    path: pathlib.Path, tmp_path: pathlib.Path
) -> None:
    blocks = _page_blocks(path)
    if not blocks:
        return
    objection = _ruff(tmp_path, blocks, *FORMAT)
    assert objection is None, f"{path.relative_to(ROOT)}: ruff format would change\n{objection}"


# -- README.md: each block is a script -------------------------------------------------

README = ROOT / "README.md"
_FRAGMENT = re.compile(r"\A#\s*fragment:(?P<reason>.*)$", re.M)


def script_blocks(text: str, page: str) -> list[Block]:
    """The page's ``python`` blocks, each skipped only if its first line says it is a fragment."""
    blocks = []
    for block in python_blocks(text, page):
        fragment = _FRAGMENT.match(block.source)
        skip = (fragment["reason"].strip() or "a fragment") if fragment else None
        blocks.append(dataclasses.replace(block, skip=skip))
    return blocks


#: The name a script block runs under: not ``__main__``, so that a server it would start
#: (``web.run_app``) is not started.
SCRIPT_NAME = "__readme__"


def run_script(block: Block, filename: str) -> types.ModuleType:
    """Run one block as a script of its own: a fresh module, no top-level ``await``."""
    module = types.ModuleType(SCRIPT_NAME)
    module.__file__ = filename
    sys.modules[SCRIPT_NAME] = module
    try:
        code = compile("\n" * (block.line - 1) + block.source, filename, "exec")
        exec(code, module.__dict__)
    except Exception as exc:
        raise _report(block, filename, exc) from None
    finally:
        sys.modules.pop(SCRIPT_NAME, None)
    return module


README_BLOCKS = script_blocks(README.read_text(), "README.md")


def test_the_readme_has_scripts_and_no_hidden_skips() -> None:
    assert len([b for b in README_BLOCKS if b.skip is None]) >= 6
    hidden = [line for line in README.read_text().splitlines() if _SKIP.match(line)]
    assert not hidden, "README.md: a block says '# fragment: why' in its first line instead"
    assert all(b.skip for b in README_BLOCKS if b.skip is not None)


@pytest.mark.parametrize("block", README_BLOCKS, ids=[f"line-{b.line}" for b in README_BLOCKS])
def test_a_readme_block_runs_as_a_script(block: Block, docs_environment: Emulator) -> None:
    if block.skip is not None:
        pytest.skip(f"README.md line {block.line}: a fragment: {block.skip}")
    before = docs_environment.statistics().requests_total
    run_script(block, str(README))
    gc.collect()  # what the script left unclosed warns now, while this test owns the warnings
    if "web.run_app(" not in block.source:  # the web app is asked below
        assert docs_environment.statistics().requests_total > before, "no request was sent"


async def test_the_readme_web_app_answers(docs_environment: Emulator) -> None:
    (block,) = [b for b in README_BLOCKS if "web.run_app(" in b.source]
    app = run_script(block, str(README)).app
    async with TestClient(TestServer(app)) as http, http.get("/spend") as response:
        assert response.status == 200, await response.text()
        assert (await response.json())["usd"] > 0


def test_the_readme_blocks_are_ruff_formatted_and_define_what_they_use(
    tmp_path: pathlib.Path,
) -> None:
    blocks = [b for b in README_BLOCKS if b.skip is None]
    (tmp_path / "format").mkdir()
    objection = _ruff(tmp_path / "format", blocks, *FORMAT)
    assert objection is None, f"README.md: ruff format would change\n{objection}"
    (tmp_path / "check").mkdir()  # pyflakes: undefined names, unused imports
    objection = _ruff(tmp_path / "check", blocks, "check", "--select", "F", "--no-cache")
    assert objection is None, f"README.md: ruff check\n{objection}"


# -- the runner itself -----------------------------------------------------------------

SAMPLE = """# A page

```python
x = 1
```

Prose, then a block that is not Python:

```bash
echo no
```

<!-- skip: needs a database server -->

```python
raise RuntimeError("never runs")
```

1. In a list:

    ```python
    y = x + 1
    ```

````python title="nested fences"
```
z = await __import__("asyncio").sleep(0, result=y * 10)
````
"""


def test_blocks_are_found_with_their_lines_and_skips() -> None:
    blocks = python_blocks(SAMPLE, "sample.md")
    assert [(b.index, b.line, b.skip) for b in blocks] == [
        (1, 4, None),
        (2, 16, "needs a database server"),
        (3, 22, None),
        (4, 26, None),
    ]
    assert blocks[2].source == "y = x + 1\n"
    assert blocks[3].source == '```\nz = await __import__("asyncio").sleep(0, result=y * 10)\n'


async def test_blocks_share_one_namespace_and_may_await() -> None:
    blocks = python_blocks(SAMPLE.replace("```\nz", "z"), "sample.md")
    module = await run_blocks(blocks, "sample.md")
    assert module.y == 2 and module.z == 20
    assert module.__name__ == MODULE_NAME


async def test_a_failure_names_the_page_the_block_and_the_line() -> None:
    page = "# P\n\n```python\na = 1\n```\n\n```python\nb = 2\nc = undefined_name\n```\n"
    with pytest.raises(BlockFailed) as raised:
        await run_blocks(python_blocks(page, "docs/p.md"), "docs/p.md")
    message = str(raised.value)
    assert message.startswith("docs/p.md: block 2 (starting at line 8), line 9 raised NameError")
    assert 'File "docs/p.md", line 9' in message


async def test_a_syntax_error_names_its_line() -> None:
    page = "```python\nok = 1\nnot python(\n```\n"
    with pytest.raises(BlockFailed, match=r"block 1 \(starting at line 2\), line 3 raised Syn"):
        await run_blocks(python_blocks(page, "p.md"), "p.md")


def test_a_script_block_is_skipped_only_as_a_fragment() -> None:
    page = (
        "<!-- skip: invisible -->\n\n```python\nprint(1)\n```\n\n"
        "```python\n# fragment: the body of a handler\nawait x\n```\n\n"
        "```python\n# a comment\n# fragment: not on the first line\n```\n"
    )
    assert [b.skip for b in script_blocks(page, "README.md")] == [
        None,
        "the body of a handler",
        None,
    ]


def test_a_script_block_may_not_await_at_the_top_level() -> None:
    (block,) = script_blocks("```python\nimport asyncio\n\nawait asyncio.sleep(0)\n```\n", "R")
    with pytest.raises(BlockFailed, match=r"block 1 \(starting at line 2\), line 4 raised Syn"):
        run_script(block, "R")


def test_a_script_block_runs_alone() -> None:
    first, second = script_blocks("```python\nx = 1\n```\n\n```python\nprint(x)\n```\n", "R")
    assert run_script(first, "R").x == 1
    with pytest.raises(BlockFailed, match="NameError"):
        run_script(second, "R")
