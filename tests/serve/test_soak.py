"""The soak (see ``tests/serve/soak.py``): ``serve`` at ``--every 0.2s`` for 60 sync
cycles against the emulator with 5% random faults of three kinds. The process never dies,
its RSS stays flat after warm-up, SIGTERM stops it with 0, and its store equals the
service's answer at the end. A benchmark calls :func:`run_soak` with 300 cycles."""

from __future__ import annotations

import pathlib

from tests.serve.soak import run_soak

CYCLES = 60
#: Cycles before the RSS is expected flat (imports, caches, the first sync's backfill).
WARMUP = 10
FLAT_KIB = 5 * 1024


def test_serve_soaks_under_random_faults(tmp_path: pathlib.Path) -> None:
    result = run_soak(CYCLES, tmp_path)
    assert result.exit_code == 0
    assert result.faults_fired > 0  # the faults happened
    assert result.rss_kib[-1][0] >= CYCLES
    assert result.rss_growth_kib(WARMUP) <= FLAT_KIB, result.rss_kib
    assert result.mismatched_tables == []
