"""The official ``openai`` SDK parses every page the emulator serves: a verified fake."""

from __future__ import annotations

import typing
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import pytest
from openai import AsyncOpenAI

from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator
from tests.helpers import DAY, NOW, TEST_KEY, buckets_of, fetch_all


@pytest.fixture
async def sdk(emulator: Emulator) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(admin_api_key=TEST_KEY, base_url=emulator.base_url, max_retries=0)
    async with client:
        yield client


def variants(endpoint: str) -> list[dict[str, Any]]:
    spec = ENDPOINTS[endpoint]
    start = NOW - 40 * DAY - 777
    out: list[dict[str, Any]] = [
        {"start_time": start, "end_time": start + 30 * DAY, "limit": 4},
        {
            "start_time": start,
            "end_time": start + 25 * 3600 if "1h" in spec.limits else start + 9 * DAY,
            "bucket_width": "1h" if "1h" in spec.limits else "1d",
            "limit": 7,
            "group_by": list(spec.group_by),
        },
    ]
    return out


def query_pairs(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for key, value in kwargs.items():
        if isinstance(value, list):
            pairs += [(f"{key}[]", str(v)) for v in value]
        else:
            pairs.append((key, str(value)))
    return pairs


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_sdk_parses_every_page(
    emulator: Emulator, http: aiohttp.ClientSession, sdk: AsyncOpenAI, endpoint: str
) -> None:
    method = getattr(sdk.admin.organization.usage, endpoint)
    for kwargs in variants(endpoint):
        raw_buckets = buckets_of(await fetch_all(http, emulator, endpoint, query_pairs(kwargs)))
        sdk_buckets = []
        cursor = None
        pages = 0
        while True:
            page = await method(**kwargs, **({"page": cursor} if cursor else {}))
            pages += 1
            assert page.object == "page"
            sdk_buckets += page.data
            if not page.has_more:
                break
            cursor = page.next_page
        assert pages >= 2
        assert len(sdk_buckets) == len(raw_buckets) > 0
        n_results = 0
        for sdk_bucket, raw in zip(sdk_buckets, raw_buckets, strict=True):
            assert (sdk_bucket.start_time, sdk_bucket.end_time) == (
                raw["start_time"],
                raw["end_time"],
            )
            assert len(sdk_bucket.results) == len(raw["results"])
            for result, raw_result in zip(sdk_bucket.results, raw["results"], strict=True):
                # The SDK picked the class whose `object` literal is this tag ...
                tag = typing.get_args(type(result).model_fields["object"].annotation)
                assert tag == (raw_result["object"],)
                # ... knows every field we sent, and reads back the same values.
                assert not result.model_extra
                assert result.model_dump(mode="json", exclude_unset=True) == raw_result
                n_results += 1
        assert n_results > 0
    # The SDK sends group_by as group_by[]=...: the emulator saw that spelling.
    by_sdk = [r for r in emulator.requests if r.headers["user-agent"].startswith("AsyncOpenAI/")]
    assert any(k == "group_by[]" for r in by_sdk for k, _ in r.query)
