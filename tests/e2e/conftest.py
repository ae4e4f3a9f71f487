"""A client bound to the loopback emulator, with fast retries."""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async._sansio.retry import RetryPolicy
from openai_usage_async.emulator import Emulator
from tests.helpers import TEST_KEY


def fast_retries(client: AsyncUsageClient, max_retries: int | None = None) -> AsyncUsageClient:
    """Keep the policy's logic, shrink its waits: e2e tests must not sleep for seconds."""
    client._requester.retry = RetryPolicy(
        max_retries=client.max_retries if max_retries is None else max_retries,
        initial_delay_s=0.001,
        max_delay_s=0.01,
    )
    return client


def same_clock(client: AsyncUsageClient, emulator: Emulator) -> AsyncUsageClient:
    """Read the time from the emulator's pinned clock, as a client and the service share one."""
    client._requester.clock = emulator.clock
    return client


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=4) as c:
        yield same_clock(fast_retries(c), emulator)
