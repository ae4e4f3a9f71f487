"""Files written with ``-o``: atomic, the mode ``open()`` gives, errors that name the path."""

from __future__ import annotations

import os
import pathlib
import stat
import subprocess
import sys

import pytest

from openai_usage_async.cli._export import OutputError, atomic_output
from openai_usage_async.emulator import Emulator
from tests.cli.conftest import cli_env
from tests.helpers import TEST_KEY

FETCH = ["fetch", "costs", "--start", "2025-10-01", "--end", "2025-10-04", "--format", "csv"]


def run_with_umask(umask: int, *args: str) -> subprocess.CompletedProcess[str]:
    """The command under a umask of our choosing (the child's own, not the test's)."""
    code = (
        f"import os, sys; os.umask({umask:#o})\n"
        "from openai_usage_async.cli import main\n"
        "sys.exit(main(sys.argv[1:]))"
    )
    return subprocess.run(
        [sys.executable, "-c", code, *args],
        capture_output=True,
        text=True,
        timeout=60,
        env=cli_env(OPENAI_ADMIN_KEY=TEST_KEY),
    )


def mode(path: pathlib.Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.mark.parametrize("umask", [0o022, 0o002, 0o077])
def test_a_new_file_gets_the_mode_open_gives(
    emu: Emulator, tmp_path: pathlib.Path, umask: int
) -> None:
    assert emu.base_url is not None
    target = tmp_path / "costs.csv"
    done = run_with_umask(umask, "--base-url", emu.base_url, *FETCH, "-o", str(target))
    assert done.returncode == 0, done.stderr
    assert mode(target) == 0o666 & ~umask  # not mkstemp's 0600
    assert target.read_text().startswith("start_time,end_time,object,")
    assert [p.name for p in tmp_path.iterdir()] == ["costs.csv"]  # no temporary file left


@pytest.mark.parametrize("kept", [0o644, 0o640, 0o604])
def test_an_overwritten_file_keeps_its_mode(
    emu: Emulator, tmp_path: pathlib.Path, kept: int
) -> None:
    assert emu.base_url is not None
    target = tmp_path / "costs.csv"
    target.write_text("old\n")
    target.chmod(kept)
    for command in (FETCH, FETCH[:-2]):  # a streamed format, and the table
        done = run_with_umask(0o077, "--base-url", emu.base_url, *command, "-o", str(target))
        assert done.returncode == 0, done.stderr
        assert mode(target) == kept
    assert "buckets" in target.read_text()  # the table replaced the CSV


def test_the_directory_command_writes_files_the_same_way(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    assert emu.base_url is not None
    target = tmp_path / "directory.csv"
    done = run_with_umask(
        0o022, "--base-url", emu.base_url, "directory", "--format", "csv", "-o", str(target)
    )
    assert done.returncode == 0, done.stderr
    assert mode(target) == 0o644


def test_a_directory_as_output_is_named(emu: Emulator, tmp_path: pathlib.Path) -> None:
    assert emu.base_url is not None
    done = run_with_umask(0o022, "--base-url", emu.base_url, *FETCH, "-o", str(tmp_path))
    assert done.returncode == 7
    assert done.stderr == (
        f"openai-usage: error: --output: {tmp_path} is a directory; give a file name\n"
    )
    assert emu.statistics().requests_total == 0


def test_an_unwritable_path_is_named(emu: Emulator, tmp_path: pathlib.Path) -> None:
    # A file where a directory should be: refused even for root, unlike a mode.
    assert emu.base_url is not None
    blocker = tmp_path / "report"
    blocker.write_text("not a directory")
    target = blocker / "x.csv"
    done = run_with_umask(0o022, "--base-url", emu.base_url, *FETCH, "-o", str(target))
    assert done.returncode == 7
    assert done.stderr.startswith(f"openai-usage: error: --output: cannot write {target}: ")
    assert blocker.read_text() == "not a directory"
    assert emu.statistics().requests_total == 0


def test_a_failure_inside_leaves_the_old_file(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "out.txt"
    target.write_text("old\n")
    with pytest.raises(RuntimeError), atomic_output(str(target)) as out:
        out.write(b"half")
        raise RuntimeError("boom")
    assert target.read_text() == "old\n"
    assert [p.name for p in tmp_path.iterdir()] == ["out.txt"]


def test_output_error_is_one_message(tmp_path: pathlib.Path) -> None:
    with pytest.raises(OutputError, match=r"^--output: cannot write .*nowhere.*\(no directory "):
        with atomic_output(str(tmp_path / "nowhere" / "x")):
            pass


def test_permission_denied_names_the_path_even_as_root(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # Root writes anywhere: stage the refusal at the one call that creates the file.
    def refuse(path: str, flags: int, mode: int = 0o777) -> int:
        raise PermissionError(13, "Permission denied", path)

    monkeypatch.setattr(os, "open", refuse)
    target = tmp_path / "x.csv"
    with pytest.raises(OutputError) as caught, atomic_output(str(target)):
        pass
    assert str(caught.value) == f"--output: cannot write {target}: Permission denied"
