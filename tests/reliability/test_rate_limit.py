"""Under a concurrency limit at the service, the client settles near it, finishes, recovers."""

from __future__ import annotations

import pytest

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async.emulator import Emulator, Fault
from tests.e2e.conftest import fast_retries
from tests.helpers import DAY, NOW, TEST_KEY

K = 3
RANGE = {
    "start_time": NOW // DAY * DAY - 300 * DAY,
    "end_time": NOW // DAY * DAY,
    "bucket_width": "1d",
    "limit": 5,
}


async def test_converges_near_the_limit_and_recovers(emulator: Emulator) -> None:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as clean:
        expected = await clean.usage.costs.list(**RANGE)
    emulator.latency_ms = 15
    emulator.max_concurrent = K
    emulator.rate_limit_retry_after_ms = 5
    emulator.reset_statistics()
    async with AsyncUsageClient(
        TEST_KEY, base_url=emulator.base_url, max_concurrency=16, max_retries=20
    ) as client:
        fast_retries(client)
        got = await client.usage.costs.list(**RANGE)  # 60 windows
        limited = client.statistics()
        served = emulator.statistics()
        assert got == expected  # finished, every bucket once
        assert limited.limiter.decreases >= 2
        tokens = limited.limiter.total_tokens
        assert tokens >= 1 and tokens <= 2 * K  # settled near K
        assert served.responses_by_status[429] < served.responses_by_status[200]
        # The limit lifts: the bound grows back.
        emulator.max_concurrent = None
        emulator.reset_statistics()
        for _ in range(3):
            assert await client.usage.costs.list(**RANGE) == expected
        recovered = client.statistics().limiter
    assert recovered.total_tokens > limited.limiter.total_tokens
    assert recovered.increases > limited.limiter.increases
    assert 429 not in emulator.statistics().responses_by_status


# -- issue 9, item 7: a 429 storm at default settings -------------------------------------

STORM = {
    "start_time": NOW // DAY * DAY - 10 * DAY,
    "end_time": NOW // DAY * DAY,
    "bucket_width": "1d",
    "limit": 3,
}


@pytest.mark.parametrize("limit", [1, 2, 3])
async def test_a_429_storm_at_default_settings_finishes(emulator: Emulator, limit: int) -> None:
    """The service allows ``limit`` requests in flight; the client starts 4 windows at once.

    Halving 8 -> 1 takes three 429s per page, more than ``max_retries=2``: those 429s are
    the client's own doing and must not spend the budget.
    """
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as clean:
        expected = await clean.usage.costs.list(**STORM)
    emulator.latency_ms = 100
    emulator.max_concurrent = limit
    emulator.rate_limit_retry_after_ms = 50
    emulator.reset_statistics()
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as client:  # defaults
        got = await client.usage.costs.list(**STORM)
        stats = client.statistics()
    served = emulator.statistics()
    assert got == expected and len(got) == 10
    assert served.responses_by_status[429] >= 1  # it was a storm
    assert served.responses_by_status[200] == 4  # one page per window, each once
    assert stats.limiter.decreases >= 1  # the bound came down to what the service accepts
    assert served.responses_by_status[429] <= 3 * 4  # and did not hammer it meanwhile


async def test_a_service_that_refuses_everything_still_ends_in_rate_limit_error(
    emulator: Emulator,
) -> None:
    emulator.faults = [Fault(status=429, retry_after_ms=1)]
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as client:
        with pytest.raises(errors.RateLimitError) as info:
            await client.usage.costs.list(**STORM)
        stats = client.statistics()
    assert stats.limiter.total_tokens == 1
    # Four windows: at most 16 uncounted retries each, then 1 + max_retries alone.
    assert stats.requests_sent <= 4 * (16 + 3)
    assert info.value.retries >= 2
