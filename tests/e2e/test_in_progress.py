"""The bucket in progress, both ways the service answers it: whole, or clipped at its clock.

The service may answer the bucket that holds the time of the request whole (its full
interval, holding what happened so far) or cut at its own "now"; the emulator does
either (``in_progress``), and every test here runs both ways.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import DAY, NOW, TEST_KEY

TODAY = NOW // DAY * DAY


@pytest.fixture(params=["whole", "clipped"])
async def quirky(request: pytest.FixtureRequest) -> AsyncIterator[Emulator]:
    async with Emulator(now=NOW, costs_quirk=True, in_progress=request.param) as emu:
        yield emu


@pytest.fixture
async def client(quirky: Emulator) -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(TEST_KEY, base_url=quirky.base_url) as c:
        yield same_clock(fast_retries(c), quirky)


async def test_the_open_tail_of_costs_survives_the_quirk(
    quirky: Emulator, client: AsyncUsageClient
) -> None:
    buckets = await client.usage.costs.list(start_time=TODAY - 10 * DAY)
    assert [b.start_time for b in buckets] == [TODAY - d * DAY for d in range(10, -1, -1)]
    last = buckets[-1]
    assert last.end_time == (NOW if quirky.in_progress == "clipped" else TODAY + DAY)
    # The same numbers as a range that ends at now, which the service clips either way.
    closed = await client.usage.costs.list(start_time=TODAY - 10 * DAY, end_time=NOW)
    assert [b.results for b in buckets] == [b.results for b in closed]
    assert sum(len(b.results) for b in buckets) > 0


async def test_a_range_ending_after_now(quirky: Emulator, client: AsyncUsageClient) -> None:
    buckets = await client.usage.completions.list(
        start_time=TODAY - 2 * DAY, end_time=TODAY + 3 * DAY
    )
    ends = [b.end_time for b in buckets]
    if quirky.in_progress == "clipped":
        assert ends == [TODAY - DAY, TODAY, NOW]  # nothing is answered after now
    else:
        assert ends == [TODAY - DAY, TODAY, TODAY + DAY, TODAY + 2 * DAY, TODAY + 3 * DAY]
        assert buckets[-1].results == []  # the future is empty
    today = next(b for b in buckets if b.start_time == TODAY)
    assert sum(r.input_tokens for r in today.results) > 0
