"""The docs hold together: the nav points at pages, links resolve, the snippets work."""

from __future__ import annotations

import os
import pathlib
import re
import subprocess
import sys

import pytest

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
