"""Faults survived over loopback: every bucket delivered exactly once, or a clear error."""

from __future__ import annotations

import pytest

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async.emulator import Emulator, Fault
from tests.e2e.conftest import fast_retries
from tests.helpers import DAY, HOUR, NOW, TEST_KEY

RANGE = {"start_time": NOW // HOUR * HOUR - 90 * DAY, "end_time": NOW // HOUR * HOUR - 10 * DAY}


async def reference(emulator: Emulator, **kwargs) -> list:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_retries=0) as clean:
        return await clean.usage.completions.list(**RANGE, bucket_width="1h", **kwargs)


@pytest.mark.parametrize(
    "faults",
    [
        [
            Fault(status=429, retry_after_ms=1, first=3),
            Fault(status=429, retry_after_s=0, rate=0.3),
        ],
        [Fault(status=502, first=2), Fault(status=500, rate=0.2), Fault(status=503, rate=0.1)],
        [Fault("drop", first=2), Fault("drop", rate=0.15)],
        [Fault("drop_mid_body", first=2), Fault("drop_mid_body", rate=0.2)],
        [Fault("truncate", first=1), Fault("malformed", first=1), Fault("truncate", rate=0.15)],
    ],
    ids=["429-storm", "5xx", "drop", "drop-mid-body", "garbled-bodies"],
)
async def test_every_bucket_exactly_once_under_faults(
    emulator: Emulator, faults: list[Fault]
) -> None:
    expected = await reference(emulator)
    assert len(expected) == 80 * 24
    emulator.faults = faults
    emulator.reset_statistics()
    async with AsyncUsageClient(
        TEST_KEY, base_url=emulator.base_url, max_concurrency=4, max_retries=8
    ) as client:
        got = await fast_retries(client).usage.completions.list(**RANGE, bucket_width="1h")
        stats = client.statistics()
    assert got == expected
    assert faults[0].fired == faults[0].first  # the scripted faults happened
    # One request per window plus one per retry (aiohttp itself silently re-sends a GET
    # whose reused connection closed before any byte: the emulator counts those too).
    assert stats.requests_sent == 12 + stats.retries and stats.buckets == len(expected)
    assert emulator.statistics().requests_total > 12  # 12 windows, plus the retries


async def test_a_persistent_fault_is_raised_after_the_retries(emulator: Emulator, client) -> None:
    emulator.faults = [Fault(status=503)]
    with pytest.raises(errors.InternalServerError) as info:
        await client.usage.costs.list(start_time=NOW - 20 * DAY, end_time=NOW)
    assert info.value.status_code == 503 and info.value.request_id.startswith("req_")
    assert emulator.statistics().responses_by_status[503] >= 3


async def test_a_bad_request_is_not_retried_and_stops_the_iteration(
    emulator: Emulator, client
) -> None:
    emulator.faults = [Fault(status=400, endpoints=frozenset({"costs"}))]
    with pytest.raises(errors.BadRequestError):
        await client.usage.costs.list(start_time=NOW - 400 * DAY, end_time=NOW, limit=5)
    stats = emulator.statistics()
    assert stats.responses_by_status == {400: stats.requests_total}
    assert stats.requests_total <= 2 * client.max_concurrency  # no retries; stopped at once


async def test_timeouts_are_retried(emulator: Emulator) -> None:
    emulator.faults = [Fault("slow", delay_ms=1000, first=2)]
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, timeout=0.1) as client:
        buckets = await fast_retries(client).usage.costs.list(
            start_time=NOW - 5 * DAY, end_time=NOW
        )
    assert len(buckets) == 6
    assert emulator.faults[0].fired == 2


async def test_timeout_raises_when_retries_run_out(emulator: Emulator) -> None:
    emulator.faults = [Fault("slow", delay_ms=1000)]
    async with AsyncUsageClient(
        TEST_KEY, base_url=emulator.base_url, timeout=0.05, max_retries=1
    ) as c:
        with pytest.raises(errors.APITimeoutError, match=r"timed out after 0\.05s"):
            await fast_retries(c).usage.costs.get(start_time=NOW - 5 * DAY)


async def test_the_client_slows_down_under_rate_limits_then_recovers(emulator: Emulator) -> None:
    emulator.max_concurrent = 2
    emulator.latency_ms = 10
    emulator.rate_limit_retry_after_ms = 1
    async with AsyncUsageClient(
        TEST_KEY, base_url=emulator.base_url, max_concurrency=8, max_retries=10
    ) as client:
        fast_retries(client)
        buckets = await client.usage.completions.list(**RANGE, bucket_width="1h", limit=24)
        limited = client.statistics().limiter
        assert len(buckets) == 80 * 24
        assert limited.decreases >= 1 and limited.total_tokens <= 4
        emulator.max_concurrent = None  # the limit lifts: tokens come back
        await client.usage.completions.list(**RANGE, bucket_width="1h", limit=24)
        recovered = client.statistics().limiter
    assert recovered.increases >= 1 and recovered.total_tokens > limited.total_tokens
    assert 429 in emulator.statistics().responses_by_status


@pytest.mark.parametrize(
    ("key", "cls", "status"),
    [
        ("sk-proj-abc123", errors.PermissionDeniedError, 403),
        ("sk-admin-wrong", errors.AuthenticationError, 401),
    ],
)
async def test_auth_errors_teach(key: str, cls, status: int) -> None:
    async with (
        Emulator(now=NOW, api_key=TEST_KEY) as emu,
        AsyncUsageClient(key, base_url=emu.base_url) as c,
    ):
        with pytest.raises(cls) as info:
            await c.usage.costs.get(start_time=NOW - DAY)
        assert emu.statistics().requests_total == 1
    assert info.value.status_code == status
    assert "Admin key" in str(info.value) and "admin-keys" in str(info.value)
    assert key not in str(info.value)
