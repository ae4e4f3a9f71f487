"""Under a concurrency limit at the service, the client settles near it, finishes, recovers."""

from __future__ import annotations

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
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
