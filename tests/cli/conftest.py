"""The command, run as users run it: a subprocess against the emulator on a thread."""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Sequence

from tests.helpers import TEST_KEY


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env.update(extra)
    return env


def run_cli(
    *args: str,
    key: str | None = TEST_KEY,
    timeout: float = 60,
    prefix: Sequence[str] = (),
    **env: str,
) -> subprocess.CompletedProcess[str]:
    """``python -m openai_usage_async ARGS`` with pipes (so: not a terminal); ``prefix``
    runs it under another command (``setpriv ...``)."""
    extra = {"OPENAI_ADMIN_KEY": key} if key else {}
    return subprocess.run(
        [*prefix, sys.executable, "-m", "openai_usage_async", *args],
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
