"""Fixtures: the emulator on 127.0.0.1 with a pinned clock, and a raw HTTP session."""

from __future__ import annotations

import time
from collections.abc import AsyncIterator, Iterator

import aiohttp
import pytest

from openai_usage_async.emulator import Emulator, serve_in_thread
from tests.helpers import NOW, TEST_KEY

pytest_plugins = ["openai_usage_async.emulator.pytest_plugin", "pytester"]


_PROXY_VARIABLES = ("http_proxy", "https_proxy", "all_proxy", "no_proxy")


@pytest.fixture(autouse=True)
def _no_proxy_from_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    """Tests talk to 127.0.0.1 directly unless a test sets a proxy itself."""
    for name in _PROXY_VARIABLES:
        monkeypatch.delenv(name, raising=False)
        monkeypatch.delenv(name.upper(), raising=False)


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(now=NOW) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TEST_KEY}"}) as session:
        yield session


@pytest.fixture(scope="module")
def served() -> Iterator[Emulator]:
    """The emulator on a thread of its own, for subprocesses and blocking clients."""
    with serve_in_thread(now=NOW) as emu:
        yield emu


@pytest.fixture
def emu(served: Emulator) -> Emulator:
    # Let the previous test's requests drain, so the counters are this test's alone.
    deadline = time.monotonic() + 10
    while served.statistics().in_flight and time.monotonic() < deadline:
        time.sleep(0.01)
    served.faults.clear()
    served.latency_ms = 0
    served._api_key = None
    served.reset_statistics()
    return served
