"""The command, run as users run it: a subprocess against the emulator on a thread."""

from __future__ import annotations

import os
import subprocess
import sys
import time
from collections.abc import Iterator

import pytest

from openai_usage_async.emulator import Emulator, serve_in_thread
from tests.helpers import NOW, TEST_KEY


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    with serve_in_thread(now=NOW) as emu:
        yield emu


@pytest.fixture
def emu(served: Emulator) -> Emulator:
    # Let the previous test's requests drain, so the counters are this test's alone.
    deadline = time.monotonic() + 10
    while served.statistics().in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    served.faults.clear()
    served.latency_ms = 0
    served._api_key = None
    served.reset_statistics()
    return served


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(extra)
    return env


def run_cli(
    *args: str, key: str | None = TEST_KEY, timeout: float = 60, **env: str
) -> subprocess.CompletedProcess[str]:
    """``python -m openai_usage_async ARGS`` with pipes (so: not a terminal)."""
    extra = {"OPENAI_ADMIN_KEY": key} if key else {}
    return subprocess.run(
        [sys.executable, "-m", "openai_usage_async", *args],
        capture_output=True,
        text=True,
        timeout=timeout,
        env=cli_env(**extra, **env),
    )


def start_cli(
    *args: str, key: str | None = TEST_KEY, stderr: int = subprocess.PIPE, text: bool = False
) -> subprocess.Popen:  # type: ignore[type-arg]
    """The same, started in the background (stdout piped) for tests that interact with it."""
    extra = {"OPENAI_ADMIN_KEY": key} if key else {}
    return subprocess.Popen(
        [sys.executable, "-m", "openai_usage_async", *args],
        stdout=subprocess.PIPE,
        stderr=stderr,
        text=text,
        env=cli_env(**extra),
    )
