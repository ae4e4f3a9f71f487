"""The endpoint table matches API.md's (pure: no loop, no sockets)."""

from __future__ import annotations

import pytest

from openai_usage_async._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS, endpoint_by_path

MODEL = {"project_ids", "user_ids", "api_key_ids", "models"}
MODEL_GROUPS = {"project_id", "user_id", "api_key_id", "model"}

# API.md's table, restated independently.
TABLE = {
    "completions": (MODEL | {"batch"}, MODEL_GROUPS | {"batch", "service_tier", "api_source"}),
    "embeddings": (MODEL, MODEL_GROUPS),
    "moderations": (MODEL, MODEL_GROUPS),
    "images": (MODEL | {"sources", "sizes"}, MODEL_GROUPS | {"size", "source"}),
    "audio_speeches": (MODEL, MODEL_GROUPS),
    "audio_transcriptions": (MODEL, MODEL_GROUPS),
    "vector_stores": ({"project_ids"}, {"project_id"}),
    "code_interpreter_sessions": ({"project_ids"}, {"project_id"}),
    "costs": (
        {"project_ids", "api_key_ids", "line_items"},
        {"project_id", "user_id", "line_item", "api_key_id", "api_source"},
    ),
    "file_search_calls": (
        {"project_ids", "user_ids", "api_key_ids", "vector_store_ids"},
        {"project_id", "user_id", "api_key_id", "vector_store_id"},
    ),
    "web_search_calls": (
        MODEL | {"context_levels"},
        MODEL_GROUPS | {"context_level", "api_source"},
    ),
    "decisions": (MODEL | {"batch"}, MODEL_GROUPS | {"batch", "service_tier", "api_source"}),
}


def test_twelve_endpoints_in_api_md_order() -> None:
    assert list(ENDPOINTS) == list(TABLE)


@pytest.mark.parametrize("name", list(TABLE))
def test_filters_and_group_by(name: str) -> None:
    spec = ENDPOINTS[name]
    filters, groups = TABLE[name]
    assert set(spec.filters) == filters
    assert set(spec.group_by) == groups
    assert len(spec.group_by) == len(groups)
    assert endpoint_by_path(spec.path) is spec
    expected_path = "/organization/costs" if name == "costs" else f"/organization/usage/{name}"
    assert spec.path == expected_path


def test_limits() -> None:
    for name, spec in ENDPOINTS.items():
        if name == "costs":
            assert spec.widths == ("1d",)
            assert (spec.default_limit("1d"), spec.max_limit("1d")) == (7, 180)
        else:
            assert set(spec.widths) == {"1m", "1h", "1d"}
            assert [(spec.default_limit(w), spec.max_limit(w)) for w in ("1d", "1h", "1m")] == [
                (7, 31),
                (24, 168),
                (60, 1440),
            ]
        assert spec.default_width == "1d"
    assert dict(WIDTH_SECONDS) == {"1m": 60, "1h": 3600, "1d": 86400}


def test_result_tags_follow_upstream_names() -> None:
    tags = {name: spec.result_object for name, spec in ENDPOINTS.items()}
    assert tags["file_search_calls"] == "organization.usage.file_searches.result"
    assert tags["web_search_calls"] == "organization.usage.web_searches.result"
    assert tags["costs"] == "organization.costs.result"
    assert tags["audio_speeches"] == "organization.usage.audio_speeches.result"
    assert len(set(tags.values())) == 12
