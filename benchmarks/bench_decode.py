"""Decode CPU for one large page: our msgspec Structs against the SDK's models and plain dicts."""

from __future__ import annotations

import json
import statistics
import time
from collections.abc import Callable
from typing import Any

import msgspec

from openai_usage_async._sansio.decode import decode_page
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Organization
from openai_usage_async.emulator.app import bucket_bounds

from ._emulator import NOW


def page_body(endpoint: str, width_s: int, buckets: int, group_by: tuple[str, ...]) -> bytes:
    org = Organization(0, clock=lambda: NOW)
    start = NOW - 30 * 86_400
    data = org.buckets(ENDPOINTS[endpoint], bucket_bounds(start, NOW, width_s, buckets), group_by)
    return msgspec.json.encode({"object": "page", "data": data, "has_more": True, "next_page": "x"})


def best_of(fn: Callable[[], Any], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        fn()
        times.append(time.perf_counter() - started)
    return statistics.median(times)


def decoders(endpoint: str) -> dict[str, Callable[[bytes], Any]]:
    out: dict[str, Callable[[bytes], Any]] = {
        "openai_usage_async (msgspec Structs)": decode_page,
        "json.loads (dicts)": json.loads,
    }
    try:
        import orjson

        out["orjson.loads (dicts)"] = orjson.loads
    except ImportError:  # the bench extra brings it
        pass
    try:
        from openai._models import construct_type
        from openai.types.admin.organization import usage_completions_response as r

        def sdk(body: bytes) -> Any:
            # What the SDK does with a response: parse, then build its models (not strict).
            return construct_type(type_=r.UsageCompletionsResponse, value=json.loads(body))

        if endpoint == "completions":
            out["official SDK models"] = sdk
    except ImportError:
        pass
    return out
