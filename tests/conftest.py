"""Fixtures: the emulator on 127.0.0.1 with a pinned clock, and a raw HTTP session."""

from __future__ import annotations

from collections.abc import AsyncIterator

import aiohttp
import pytest

from openai_usage_async.emulator import Emulator
from tests.helpers import NOW, TEST_KEY

pytest_plugins = ["openai_usage_async.emulator.pytest_plugin", "pytester"]


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    async with Emulator(now=NOW) as emu:
        yield emu


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TEST_KEY}"}) as session:
        yield session
