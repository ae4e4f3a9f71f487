"""Helpers shared by the tests: constants and raw HTTP against the emulator."""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from typing import Any

import aiohttp
import anyio

from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator

#: The emulator's pinned clock in tests: 2025-11-23 13:20 UTC, mid-hour on purpose.
NOW = 1_763_904_000
DAY = 86_400
HOUR = 3_600
TEST_KEY = "sk-admin-test-0123456789"

Params = Sequence[tuple[str, str]]


def url(emu: Emulator, endpoint: str) -> str:
    assert emu.base_url is not None
    return emu.base_url + ENDPOINTS[endpoint].path


async def get_json(
    http: aiohttp.ClientSession, emu: Emulator, endpoint: str, params: Params
) -> tuple[int, Any]:
    async with http.get(url(emu, endpoint), params=list(params)) as response:
        return response.status, json.loads(await response.read())


async def fetch_all(
    http: aiohttp.ClientSession, emu: Emulator, endpoint: str, params: Params, max_pages: int = 500
) -> list[dict[str, Any]]:
    """Follow next_page by hand, resending the query with only ``page`` changed."""
    pages: list[dict[str, Any]] = []
    cursor: str | None = None
    seen: set[str] = set()
    for _ in range(max_pages):
        query = [*params, *([("page", cursor)] if cursor else [])]
        status, body = await get_json(http, emu, endpoint, query)
        assert status == 200, body
        pages.append(body)
        if not body["has_more"]:
            assert body["next_page"] is None
            return pages
        cursor = body["next_page"]
        assert isinstance(cursor, str) and cursor not in seen
        seen.add(cursor)
    raise AssertionError(f"more than {max_pages} pages")


def buckets_of(pages: Sequence[dict[str, Any]]) -> list[dict[str, Any]]:
    return [bucket for page in pages for bucket in page["data"]]


async def wait_until(predicate: Callable[[], bool], timeout_s: float = 5.0) -> None:
    """Poll a condition on the emulator's counters, within a bound (they have no event)."""
    with anyio.fail_after(timeout_s):
        while not predicate():  # noqa: ASYNC110 (the counters have no event to wait on)
            await anyio.sleep(0.005)
