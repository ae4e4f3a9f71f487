"""aioresponses 0.7.9 predates aiohttp 3.14, whose ClientResponse requires a ``stream_writer``
(pnuckowski/aioresponses#289). Until a release fixes it, its responses get a stand-in.
Test-only: the package itself does not touch aiohttp internals.
"""

from __future__ import annotations

import inspect
from typing import Any

import aiohttp
import aioresponses.core
import pytest

_NEEDS_STREAM_WRITER = (
    "stream_writer" in inspect.signature(aiohttp.ClientResponse.__init__).parameters
)


class _SentRequest:
    output_size = 0  # what aiohttp reads from the writer of a request already sent


class _CompatResponse(aiohttp.ClientResponse):
    def __init__(self, *args: Any, **kwargs: Any) -> None:
        if _NEEDS_STREAM_WRITER:
            kwargs.setdefault("stream_writer", _SentRequest())
        super().__init__(*args, **kwargs)


@pytest.fixture(autouse=True)
def _aioresponses_on_aiohttp_314(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(aioresponses.core, "ClientResponse", _CompatResponse)
