"""The emulator in a process of its own, so its CPU is not the client's."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

#: The emulator's pinned clock in benchmarks: 2026-11-01 00:00 UTC.
NOW = 1_793_491_200


@contextlib.contextmanager
def emulator_process(
    latency_ms: float = 0.0,
    cache_mb: int = 1024,
    *,
    max_concurrent: int | None = None,
    rate_limit_retry_after_ms: int | None = None,
    directory_size: tuple[int, int] | None = None,
) -> Iterator[str]:
    """Start the emulator on a free port; yield its base URL.

    ``max_concurrent`` answers 429 beyond that many requests in flight, with
    ``retry-after-ms: rate_limit_retry_after_ms`` (the emulator's default when None).
    ``directory_size=(projects, api_keys)`` grows the organization directory to that many
    projects (the archived one included) and API keys.
    """
    extra: list[str] = []
    if max_concurrent is not None:
        extra += ["--max-concurrent", str(max_concurrent)]
    if rate_limit_retry_after_ms is not None:
        extra += ["--rate-limit-retry-after-ms", str(rate_limit_retry_after_ms)]
    if directory_size is not None:
        extra += ["--directory-size", ",".join(map(str, directory_size))]
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
        *extra,
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
