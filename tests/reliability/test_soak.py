"""A short soak in CI: nothing lost, nothing duplicated, the bound held, nothing left behind."""

from __future__ import annotations

import os

from openai_usage_async.emulator import Emulator
from tests.helpers import wait_until
from tests.reliability.soak import BOUND, soak

SECONDS = float(os.environ.get("SOAK_SECONDS", "12"))


async def test_soak(emulator: Emulator) -> None:
    report = await soak(emulator, seconds=SECONDS, max_rounds=50)
    assert report.rounds >= 1 and report.iterators >= 23
    assert report.faults_fired > 0 and report.retries > 0
    assert (report.lost, report.duplicated) == (0, 0)
    assert report.peak_in_flight > 1 and report.peak_in_flight <= BOUND
    assert report.tasks_left == 0
    await wait_until(lambda: emulator.statistics().open_connections == 0)
