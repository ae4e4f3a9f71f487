"""Decoding pages from bytes: typed, tolerant of the upstream's quirks, strict on garbage."""

from __future__ import annotations

import pathlib

import msgspec
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_usage_async._sansio.decode import decode_page
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Organization
from openai_usage_async.emulator.app import bucket_bounds
from openai_usage_async.errors import APIResponseValidationError
from openai_usage_async.models import (
    KNOWN_RESULT_TYPES,
    AudioSpeechesResult,
    CompletionsResult,
    CostAmount,
    CostsResult,
    UnknownResult,
    VectorStoresResult,
    to_rows,
)

SAMPLES = pathlib.Path(__file__).parent.parent / "samples"
NOW = 1_763_904_000


def sample(name: str) -> bytes:
    return (SAMPLES / name).read_bytes()


def test_upstream_example_page() -> None:
    page = decode_page(sample("audio_speeches.json"), "audio_speeches")
    assert page.has_more is True and page.next_page == "page_AAAAAGdGxdEiJdKOAAAAAGcqsYA="
    [first, empty] = page.data
    assert (first.start_time, first.end_time, empty.results) == (1730419200, 1730505600, [])
    [r] = first.results
    assert r == AudioSpeechesResult(
        characters=45,
        num_model_requests=1,
        project_id="proj_abc",
        user_id="user-abc",
        api_key_id="key_abc",
        model="tts-1",
    )
    assert r.object == "organization.usage.audio_speeches.result"


def test_unknown_fields_on_known_types_are_tolerated() -> None:
    [bucket] = decode_page(sample("costs.json"), "costs").data
    [r] = bucket.results
    assert isinstance(r, CostsResult)
    assert r.amount == CostAmount(value=0.06, currency="usd")
    assert (r.quantity, r.quantity_unit, r.line_item) == (12, "images", "Image models")


def test_the_openapi_spelling_result_is_accepted() -> None:
    page = decode_page(sample("result_spelling.json"), "completions")
    [r] = page.data[0].results
    assert isinstance(r, CompletionsResult)
    assert (r.input_tokens, r.input_cached_tokens, r.batch) == (5000, 4000, False)
    assert page.next_page is None and page.has_more is False


def test_unknown_tags_keep_every_field() -> None:
    [bucket] = decode_page(sample("unknown_tag.json"), "vector_stores").data
    known, unknown = bucket.results
    assert known == VectorStoresResult(usage_bytes=1024, project_id="proj_abc")
    assert isinstance(unknown, UnknownResult)
    assert unknown.object == "organization.usage.hologram_renders.result"
    assert unknown.renders == 3 and unknown.details == {"tags": ["a", "b"], "depth": {"level": 2}}
    assert unknown.fields["ratio"] == 0.5 and unknown.fields["project_id"] is None
    with pytest.raises(AttributeError, match="no field 'nope'"):
        _ = unknown.nope
    rows = list(to_rows([bucket]))
    assert rows[1] == {
        "start_time": 1730419200,
        "end_time": 1730505600,
        "object": "organization.usage.hologram_renders.result",
        "renders": 3,
        "quality": "hd",
        "details": {"tags": ["a", "b"], "depth": {"level": 2}},
        "ratio": 0.5,
        "project_id": None,
    }


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_every_endpoint_round_trips(name: str) -> None:
    org = Organization(1, clock=lambda: NOW)
    spec = ENDPOINTS[name]
    data = org.buckets(spec, bucket_bounds(NOW - 5 * 86400, NOW, 86400, 31), spec.group_by)
    body = msgspec.json.encode(
        {"object": "page", "data": data, "has_more": False, "next_page": None}
    )
    page = decode_page(body, name)
    results = [r for b in page.data for r in b.results]
    assert results and all(type(r) is KNOWN_RESULT_TYPES[spec.result_object] for r in results)
    raw = [r for b in data for r in b["results"]]
    for typed, plain in zip(results, raw, strict=True):
        assert msgspec.to_builtins(typed) | {"object": typed.object} == plain
        assert typed.to_dict() == plain  # the dict the service sent, `object` tag included
    assert page.to_dict() == msgspec.json.decode(body)


def test_to_dict_keeps_an_unknown_result_as_sent_and_pydantic_names_point_to_it() -> None:
    body = sample("unknown_tag.json")
    page = decode_page(body, "vector_stores")
    assert page.to_dict() == msgspec.json.decode(body)
    unknown = page.data[0].results[1]
    assert isinstance(unknown, UnknownResult)
    assert unknown.to_dict()["renders"] == 3
    assert unknown.to_dict()["object"] == "organization.usage.hologram_renders.result"
    for obj in (unknown, page.data[0].results[0], CostAmount(value=1.0, currency="usd")):
        with pytest.raises(AttributeError, match=r"has no 'model_dump'.*\.to_dict\(\)"):
            obj.model_dump()  # type: ignore[union-attr]
        assert not hasattr(obj, "model_dump_json")
    assert CostAmount(value=1.0).to_dict() == {"value": 1.0, "currency": None}


def test_rows_flatten_costs() -> None:
    [bucket] = decode_page(sample("costs.json"), "costs").data
    [row] = bucket.rows()
    assert list(row)[:6] == [
        "start_time",
        "end_time",
        "object",
        "amount_value",
        "amount_currency",
        "line_item",
    ]
    assert row["amount_value"] == 0.06 and row["quantity_unit"] == "images"


@pytest.mark.parametrize(
    ("body", "invalid_json", "match"),
    [
        (b"", True, "not valid JSON"),
        (b'{"object": "page", "data": [', True, "not valid JSON"),
        (b"<html>502</html>", True, "not valid JSON"),
        (b'{"data": [], "has_more": "yes"}', False, "not a usage page"),
        (b'{"object": "page", "data": []}', False, "not a usage page"),
        (b"[]", False, "not a usage page"),
        (b'{"data": [{"start_time": 1, "end_time": 2}], "has_more": false}', False, "no results"),
        (
            b'{"data": [{"start_time": 1, "end_time": 2, "results": [{"object": '
            b'"organization.costs.result", "amount": {"value": "x", "currency": "usd"}}]}],'
            b' "has_more": false}',
            False,
            r"\$.data\[0\].results\[0\] \(organization.costs.result\) is invalid",
        ),
        (
            b'{"data": [{"start_time": 1, "end_time": 2, "results": [{"images": 1}]}],'
            b' "has_more": false}',
            False,
            "no string `object` tag",
        ),
    ],
)
def test_bad_bodies(body: bytes, invalid_json: bool, match: str) -> None:
    with pytest.raises(APIResponseValidationError, match=match) as info:
        decode_page(body, "costs")
    assert info.value.invalid_json is invalid_json


@settings(max_examples=300, deadline=None)
@given(st.binary(max_size=400) | st.from_regex(rb'\{"data": \[.*\], "has_more": (true|false)\}'))
def test_any_bytes_give_a_page_or_a_validation_error(body: bytes) -> None:
    try:
        page = decode_page(body, "costs")
    except APIResponseValidationError:
        return
    assert isinstance(page.has_more, bool)
