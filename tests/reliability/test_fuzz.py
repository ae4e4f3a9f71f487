"""Fuzzing what comes in: page bodies (decoder) and arguments (validation)."""

from __future__ import annotations

import json
from typing import Any

import msgspec
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from openai_usage_async._sansio.decode import decode_page
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async._sansio.query import validate
from openai_usage_async.emulator import Organization
from openai_usage_async.emulator.app import bucket_bounds
from openai_usage_async.errors import APIResponseValidationError
from tests.helpers import DAY, NOW

JSON = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**80), max_value=2**80)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=20),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=10), children, max_size=4)
    ),
    max_leaves=12,
)

_ORG = Organization(2, clock=lambda: NOW)


def valid_page(endpoint: str) -> dict[str, Any]:
    spec = ENDPOINTS[endpoint]
    data = _ORG.buckets(spec, bucket_bounds(NOW - 3 * DAY, NOW, DAY, 7), spec.group_by[:1])
    return {"object": "page", "data": data, "has_more": True, "next_page": "page_x"}


def paths(value: Any, prefix: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    out = [prefix]
    if isinstance(value, dict):
        for k, v in value.items():
            out += paths(v, (*prefix, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += paths(v, (*prefix, i))
    return out


def replaced(value: Any, path: tuple[Any, ...], new: Any) -> Any:
    if not path:
        return new
    head, rest = path[0], path[1:]
    if isinstance(value, dict):
        return {**value, head: replaced(value[head], rest, new)}
    copy = list(value)
    copy[head] = replaced(copy[head], rest, new)
    return copy


def removed(value: Any, path: tuple[Any, ...]) -> Any:
    head, rest = path[0], path[1:]
    if rest:
        container = dict(value) if isinstance(value, dict) else list(value)
        container[head] = removed(value[head], rest)
        return container
    if isinstance(value, dict):
        return {k: v for k, v in value.items() if k != head}
    return [v for i, v in enumerate(value) if i != head]


def decodes_or_refuses(body: bytes, endpoint: str = "completions") -> None:
    try:
        page = decode_page(body, endpoint)
    except APIResponseValidationError:
        return
    assert isinstance(page.has_more, bool)
    for bucket in page.data:
        assert isinstance(bucket.start_time, int)


@settings(max_examples=400, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(
    endpoint=st.sampled_from(list(ENDPOINTS)),
    choice=st.integers(min_value=0),
    new=JSON,
    remove=st.booleans(),
)
def test_mutated_pages(endpoint: str, choice: int, new: Any, remove: bool) -> None:
    page = valid_page(endpoint)
    candidates = paths(page)
    path = candidates[choice % len(candidates)]
    mutated = removed(page, path) if remove and path else replaced(page, path, new)
    decodes_or_refuses(json.dumps(mutated).encode(), endpoint)


def test_hostile_bodies() -> None:
    page = valid_page("completions")
    result = page["data"][0]["results"][0]
    for huge in (2**64, -(2**63) - 1, 10**400):
        decodes_or_refuses(
            json.dumps(replaced(page, ("data", 0, "results", 0, "input_tokens"), huge)).encode()
        )
    decodes_or_refuses(b"[" * 100_000 + b"]" * 100_000)
    decodes_or_refuses(b'{"data": ' + b"[" * 50_000 + b"]" * 50_000 + b', "has_more": false}')
    deep_unknown = {
        "object": "organization.usage.new.result",
        "x": json.loads("[" * 500 + "]" * 500),
    }
    decodes_or_refuses(json.dumps(replaced(page, ("data", 0, "results", 0), deep_unknown)).encode())
    decodes_or_refuses(
        b'{"object": "page", "data": [], "has_more": false, "next_page": "\xff\xfe"}'
    )
    decodes_or_refuses(msgspec.json.encode(page).replace(b'"bucket"', b'"bucket\xc3"'))
    decodes_or_refuses(
        json.dumps({**page, "data": [{**page["data"][0], "results": [result] * 3}]}).encode()
    )


ARGUMENT = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(min_value=-(2**70), max_value=2**70),
    st.floats(),
    st.text(max_size=12),
    st.lists(st.one_of(st.text(max_size=8), st.integers(), st.none()), max_size=3),
    st.dictionaries(st.text(max_size=5), st.integers(), max_size=2),
    st.sampled_from(["1d", "1h", "1m", "model", "project_id", "line_item", 5, 200, 0]),
)


@settings(max_examples=400, deadline=None)
@given(
    endpoint=st.sampled_from(list(ENDPOINTS)),
    arguments=st.dictionaries(
        st.sampled_from(
            [
                "start_time",
                "end_time",
                "bucket_width",
                "limit",
                "group_by",
                "models",
                "project_ids",
                "batch",
                "sizes",
                "nonsense",
            ]
        ),
        ARGUMENT,
        max_size=5,
    ),
)
def test_argument_validation_fuzz(endpoint: str, arguments: dict[str, Any]) -> None:
    named = {
        k: arguments[k]
        for k in ("start_time", "end_time", "bucket_width", "limit", "group_by")
        if k in arguments
    }
    filters = {k: v for k, v in arguments.items() if k not in named}
    named.setdefault("start_time", 0)
    try:
        query = validate(ENDPOINTS[endpoint], filters=filters, **named)
    except ValueError as exc:
        first = str(exc).split(":", 1)[0]
        assert first in arguments or first == "start_time", str(exc)
        return
    pairs = query.pairs()
    assert pairs[0][0] == "start_time" and all(isinstance(v, str) for _, v in pairs)
