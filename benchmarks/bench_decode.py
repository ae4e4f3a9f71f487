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


OURS = "openai_usage_async (msgspec Structs)"


def decoders(endpoint: str) -> dict[str, Callable[[bytes], Any]]:
    """The decoders to compare, by name; the bench extra brings orjson and the SDK."""
    out: dict[str, Callable[[bytes], Any]] = {
        OURS: lambda body: decode_page(body, endpoint),
        "json.loads (dicts)": json.loads,
    }
    try:
        import orjson

        out["orjson.loads (dicts)"] = orjson.loads
    except ImportError:
        pass
    try:
        import importlib

        from openai._models import construct_type

        module = importlib.import_module(
            f"openai.types.admin.organization.usage_{endpoint}_response"
        )
        camel = "".join(part.title() for part in endpoint.split("_"))
        response_type = getattr(module, f"Usage{camel}Response")

        def sdk(body: bytes) -> Any:
            # What the SDK does with a response: parse, then build its models (not strict).
            return construct_type(type_=response_type, value=json.loads(body))

        out["official SDK models"] = sdk
    except ImportError:
        pass
    return out
