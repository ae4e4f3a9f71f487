"""The emulator in a process of its own, so its CPU is not the client's."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

#: The emulator's pinned clock in benchmarks: 2026-11-01 00:00 UTC.
NOW = 1_793_491_200


@contextlib.contextmanager
def emulator_process(latency_ms: float = 0.0, cache_mb: int = 1024) -> Iterator[str]:
    """Start ``python -m openai_usage_async.emulator`` on a free port; yield its base URL."""
    command = [
        sys.executable,
        "-m",
        "openai_usage_async.emulator",
        "--port",
        "0",
        "--now",
        str(NOW),
        "--latency-ms",
        str(latency_ms),
        "--cache-mb",
        str(cache_mb),
    ]
    with subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, text=True
    ) as proc:
        try:
            assert proc.stdout is not None
            base_url = proc.stdout.readline().strip()
            if not base_url.startswith("http://"):
                raise RuntimeError("the emulator did not start")
            yield base_url
        finally:
            proc.terminate()
            proc.wait(timeout=10)
