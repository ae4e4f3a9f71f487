"""The soak: ``openai-usage serve`` against the emulator with random faults, many cycles.

:func:`run_soak` is what ``tests/serve/test_soak.py`` runs in CI (60 cycles) and what a
benchmark can call for longer runs (300 cycles) to record the RSS curve::

    from tests.serve.soak import run_soak

    result = run_soak(300, pathlib.Path("/tmp/soak"))
    for cycle, kib in result.rss_kib:
        ...

``serve`` runs as a subprocess, as users run it: its RSS (``VmRSS`` of
``/proc/<pid>/status``) is then the server's alone, not the test runner's, the
emulator's page cache or pytest's, and "the process never dies" is about a real process
that SIGTERM then stops. The emulator runs on a thread of this process, on real time
(the command's clock is the machine's), with random faults of several kinds (500s,
connections dropped before the answer and in the middle of the body). At the end the
faults stop, the emulator's clock is pinned, and once ``serve`` has synced twice more it
is stopped and every table of its store is compared with what the service answers.
"""

from __future__ import annotations

import pathlib
import signal
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Literal

import anyio

from openai_usage_async import AsyncUsageClient
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator, Fault, serve_in_thread
from openai_usage_async.store import open_store
from openai_usage_async.store._schema import schema_for
from tests.e2e.conftest import same_clock
from tests.helpers import DAY, TEST_KEY
from tests.serve.cli import Served, metric, serving

__all__ = ["SoakResult", "run_soak"]

#: The fault kinds, each with an equal share of the rate.
KINDS: tuple[Fault, ...] = (
    Fault(status=500),
    Fault(kind="drop"),
    Fault(kind="drop_mid_body"),
)


@dataclass
class SoakResult:
    """What a soak saw: ``rss_kib`` is ``(cycle, VmRSS in KiB)`` at each cycle observed."""

    cycles: int
    seconds: float
    rss_kib: list[tuple[int, int]] = field(default_factory=list)
    failures: int = 0
    faults_fired: int = 0
    exit_code: int | None = None
    mismatched_tables: list[str] = field(default_factory=list)

    def rss_growth_kib(self, warmup: int) -> int:
        """The spread of RSS over the cycles after ``warmup`` (max - min, KiB)."""
        after = [kib for cycle, kib in self.rss_kib if cycle >= warmup]
        return max(after) - min(after) if after else 0


def vm_rss_kib(pid: int) -> int:
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith("VmRSS:"):
                return int(line.split()[1])
    raise AssertionError(f"no VmRSS for {pid}")


def _faults(rate: float) -> list[Fault]:
    # Each kind fires on its share; together about `rate` of the requests.
    each = 1 - (1 - rate) ** (1 / len(KINDS))
    return [Fault(kind=k.kind, status=k.status, rate=each) for k in KINDS]


def _syncs(served: Served) -> tuple[int, float]:
    """(syncs ended, up) from /metrics."""
    _, body = served.get("/metrics")
    return int(metric(body, "openai_usage_syncs_total")), metric(body, "openai_usage_up")


def _cycles(served: Served, until: int, poll_s: float = 0.05) -> Iterator[int]:
    """Each new cycle count seen, until ``until`` (the process must stay alive)."""
    seen = -1
    deadline = time.monotonic() + 60 + until * 5
    served.until("/metrics", 200)  # a 503 until its first rendering, a moment after start
    while seen < until:
        assert served.process.poll() is None, f"serve died:\n{served.text()[-3000:]}"
        assert time.monotonic() < deadline, f"{seen} cycles only:\n{served.text()[-3000:]}"
        syncs, _ = _syncs(served)
        if syncs != seen:
            seen = syncs
            yield syncs
        time.sleep(poll_s)


async def _compare(emu: Emulator, path: pathlib.Path, start: int) -> list[str]:
    """The tables whose rows differ from what the service answers (none, if all is well)."""
    assert emu.base_url is not None
    from tests.store.conftest import table_rows
    from tests.store.test_exact import service_rows

    wrong = []
    async with (
        AsyncUsageClient(TEST_KEY, base_url=emu.base_url) as client,
        open_store(path) as store,
    ):
        same_clock(client, emu)
        for name in ENDPOINTS:
            schema = schema_for(name, "1d")
            stored = await table_rows(store, schema)
            # Up to where the last sync asked (serve's clock, after the emulator's).
            end = max((row[1] for row in stored), default=int(emu.clock()))
            if stored != await service_rows(client, name, start, end):
                wrong.append(schema.name)
    return wrong


def run_soak(
    cycles: int,
    workdir: pathlib.Path,
    *,
    every: str = "0.2s",
    fault_rate: float = 0.05,
    in_progress: Literal["whole", "clipped", "both"] = "both",
    days: int = 5,
) -> SoakResult:
    """Run ``serve`` for ``cycles`` sync cycles under faults; see the module's doc.

    ``in_progress="both"`` answers the bucket in progress whole for the first half and
    clipped for the second, as the service answers both ways. The store starts ``days``
    days back.
    """
    workdir.mkdir(parents=True, exist_ok=True)
    path = workdir / "soak.db"
    start = (int(time.time()) // DAY - days) * DAY
    began = time.monotonic()
    first: Literal["whole", "clipped"] = "clipped" if in_progress == "clipped" else "whole"
    with serve_in_thread(in_progress=first) as emu:
        assert emu.base_url is not None
        args = [
            "--store", str(path), "--port", "0", "--every", every, "--start", str(start),
            "--base-url", emu.base_url, "--max-retries", "1", "--concurrency", "4",
        ]  # fmt: skip
        result = SoakResult(cycles=cycles, seconds=0.0)
        with serving(*args, stderr=workdir / "serve.err") as served:
            pid = served.process.pid
            emu.faults[:] = _faults(fault_rate)
            for cycle in _cycles(served, cycles):
                result.rss_kib.append((cycle, vm_rss_kib(pid)))
                if in_progress == "both" and cycle >= cycles // 2:
                    emu.in_progress = "clipped"
            result.faults_fired = sum(f.fired for f in emu.faults)
            # The end: no faults, one pinned moment, two more good syncs, then SIGTERM.
            emu.faults.clear()
            emu.now = float(int(time.time()) - 2)  # whole seconds, before the CLI's clock
            syncs, _ = _syncs(served)
            deadline = time.monotonic() + 60
            while True:
                now_syncs, up = _syncs(served)
                if now_syncs >= syncs + 2 and up == 1:
                    break
                assert time.monotonic() < deadline, served.text()[-3000:]
                time.sleep(0.05)
            _, body = served.get("/metrics")
            result.failures = int(metric(body, "openai_usage_sync_failures_total"))
            result.exit_code, _ = served.stop(signal.SIGTERM)
        result.mismatched_tables = anyio.run(_compare, emu, path, start)
    result.seconds = time.monotonic() - began
    return result
