"""The store on the command line: a path that cannot be used is said the way --output's
are (what cannot be done, to which path, why), before any request; Ctrl-C during a sync
says what was kept, and running it again resumes there."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import shutil
import signal
import sqlite3
import subprocess
import time
from collections.abc import Iterator

import pytest

from openai_usage_async.emulator import Emulator
from tests.cli.conftest import run_cli, start_cli
from tests.helpers import DAY, NOW

TODAY = NOW // DAY * DAY
SPAN = ["--start", str(TODAY - 3 * DAY), "--end", str(TODAY)]
ROOT = os.geteuid() == 0
#: Root reads and writes whatever the modes say: without these capabilities it does not.
NO_DAC = ["setpriv", "--inh-caps=-dac_override,-dac_read_search"]
NO_DAC += ["--bounding-set=-dac_override,-dac_read_search"]


def base(emu: Emulator) -> list[str]:
    assert emu.base_url is not None
    return ["--base-url", emu.base_url]


def summary(
    path: pathlib.Path, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    return run_cli("summary", "--store", str(path), *SPAN, key=None, prefix=prefix or [])


def sync(
    emu: Emulator, path: pathlib.Path, prefix: list[str] | None = None
) -> subprocess.CompletedProcess[str]:
    args = [*base(emu), "sync", "--store", str(path), *SPAN, "--endpoints", "costs", "-q"]
    return run_cli(*args, prefix=prefix or [])


def error(line: str) -> str:
    return f"openai-usage: error: {line}\n"


def test_a_directory(emu: Emulator, tmp_path: pathlib.Path) -> None:
    line = error(f"--store: {tmp_path} is a directory; give the path of a store file")
    for done in (summary(tmp_path), sync(emu, tmp_path)):
        assert (done.returncode, done.stderr) == (7, line)
    assert emu.statistics().requests_total == 0


def test_a_missing_directory(emu: Emulator, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "no" / "usage.db"
    read = summary(path)
    assert (read.returncode, read.stderr) == (
        2,
        error(
            f"--store: {path} does not exist (no directory {path.parent}); create it with "
            "`openai-usage sync` (see openai-usage summary --help)"
        ),
    )
    written = sync(emu, path)
    assert (written.returncode, written.stderr) == (
        7,
        error(
            f"--store: cannot write {path}: No such file or directory (no directory {path.parent})"
        ),
    )
    assert emu.statistics().requests_total == 0 and not path.parent.exists()


def _without_dac() -> list[str]:
    if not ROOT:
        return []
    if shutil.which("setpriv") is None:
        pytest.skip("root reads any file, and setpriv is not here to drop that")
    return NO_DAC


def test_a_file_that_cannot_be_read(emu: Emulator, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "usage.db"
    assert sync(emu, path).returncode == 0
    emu.reset_statistics()
    path.chmod(0)
    prefix = _without_dac()
    line = error(f"--store: cannot read {path}: Permission denied")
    for done in (summary(path, prefix), sync(emu, path, prefix)):
        assert (done.returncode, done.stderr) == (7, line)
    assert emu.statistics().requests_total == 0


@contextlib.contextmanager
def unwritable(directory: pathlib.Path) -> Iterator[str]:
    """The directory made unwritable (root: immutable), and what writing in it says."""
    if ROOT:
        if shutil.which("chattr") is None:
            pytest.skip("root writes anywhere, and chattr is not here to stop that")
        made = subprocess.run(["chattr", "+i", str(directory)], capture_output=True)
        if made.returncode:
            pytest.skip(f"chattr +i: {made.stderr.decode().strip()}")
        try:
            yield "Operation not permitted"
        finally:
            subprocess.run(["chattr", "-i", str(directory)], check=True)
    else:
        directory.chmod(0o555)
        try:
            yield "Permission denied"
        finally:
            directory.chmod(0o755)


def test_a_directory_that_cannot_be_written(emu: Emulator, tmp_path: pathlib.Path) -> None:
    kept = tmp_path / "kept"
    kept.mkdir()
    old = kept / "usage.db"
    assert sync(emu, old).returncode == 0
    emu.reset_statistics()
    with unwritable(kept) as why:
        for path in (old, kept / "new.db"):
            done = sync(emu, path)
            assert (done.returncode, done.stderr) == (
                7,
                error(
                    f"--store: cannot write {path}: {why} (the directory {kept} cannot be "
                    "written, and the store keeps its lock and journal files there)"
                ),
            )
    assert emu.statistics().requests_total == 0
    assert not (kept / "new.db").exists()


def test_a_file_that_cannot_be_written(emu: Emulator, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "usage.db"
    assert sync(emu, path).returncode == 0
    emu.reset_statistics()
    path.chmod(0o444)
    done = sync(emu, path, _without_dac())
    assert (done.returncode, done.stderr) == (
        7,
        error(f"--store: cannot write {path}: Permission denied"),
    )
    assert emu.statistics().requests_total == 0


# -- Ctrl-C ------------------------------------------------------------------------------------


def committed(store: pathlib.Path) -> int:
    try:
        with contextlib.closing(sqlite3.connect(f"file:{store}?mode=ro", uri=True)) as db:
            return len(list(db.execute("SELECT 1 FROM _openai_usage_checkpoints")))
    except sqlite3.OperationalError:
        return 0  # not made yet


def test_ctrl_c_during_sync_says_what_was_kept_and_a_rerun_resumes(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    store = tmp_path / "usage.db"
    # 60 days of hours: 9 windows of at most 168 buckets, one request each, one at a time.
    args = [*base(emu), "--concurrency", "1", "sync", "--store", str(store), "-q"]
    args += ["--start", str(TODAY - 60 * DAY), "--end", str(TODAY)]
    args += ["--bucket-width", "1h", "--endpoints", "completions"]
    emu.latency_ms = 150
    proc = start_cli(*args, text=True)
    deadline = time.monotonic() + 30
    while committed(store) < 2 and time.monotonic() < deadline and proc.poll() is None:
        time.sleep(0.01)
    proc.send_signal(signal.SIGINT)
    out, err = proc.communicate(timeout=30)
    assert proc.returncode == 130, err
    said = re.fullmatch(
        r"openai-usage: sync interrupted: (\d+) windows? of (\d+) (?:was|were) committed and "
        rf"(?:is|are) kept in {re.escape(str(store))}; run the same command again to resume "
        r"where it stopped\nopenai-usage: interrupted\n",
        err,
    )
    assert said, err
    kept, planned = int(said.group(1)), int(said.group(2))
    assert 2 <= kept < planned == 9 and out == ""
    assert committed(store) >= kept
    emu.latency_ms = 0
    emu.reset_statistics()
    again = run_cli(*args)
    assert again.returncode == 0, again.stderr
    assert emu.statistics().requests_by_endpoint["completions"] == planned - kept
