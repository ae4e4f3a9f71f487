"""pytest fixtures that serve the emulator on loopback, for your own test suites.

Enable them in your ``conftest.py``::

    pytest_plugins = ["openai_usage_async.emulator.pytest_plugin"]

then ask for ``usage_emulator`` (the running :class:`Emulator`, with ``.base_url``,
``.faults`` and ``.statistics()``) or ``usage_emulator_url`` (just the base URL). Options
go in a marker: ``@pytest.mark.usage_emulator(latency_ms=5, api_key="sk-admin-test")``.

The emulator runs on a thread of its own, so the fixtures are plain (not async): they work
with pytest-asyncio, anyio's plugin or synchronous tests alike, and one emulator per test
keeps tests independent.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest

from .app import Emulator
from .runner import serve_in_thread

__all__ = ["usage_emulator", "usage_emulator_url"]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers",
        "usage_emulator(**options): options for the usage_emulator fixture "
        "(any keyword of openai_usage_async.emulator.Emulator)",
    )


@pytest.fixture
def usage_emulator(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """A fresh emulator on a free loopback port, stopped after the test."""
    marker = request.node.get_closest_marker("usage_emulator")
    options = dict(marker.kwargs) if marker is not None else {}
    with serve_in_thread(**options) as emulator:
        yield emulator


@pytest.fixture
def usage_emulator_url(usage_emulator: Emulator) -> str:
    """The running emulator's base URL, ``http://127.0.0.1:PORT/v1``."""
    assert usage_emulator.base_url is not None
    return usage_emulator.base_url
