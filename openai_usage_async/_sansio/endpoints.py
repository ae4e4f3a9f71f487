"""The twelve endpoints of the Usage and Costs API, as data.

One frozen :class:`EndpointSpec` per endpoint is the single source of truth: argument
validation, the ``client.usage`` attributes, the emulator's routes and the docs'
endpoint table all read :data:`ENDPOINTS`. A new endpoint costs one entry here (and one
result Struct in ``models.py``).

Facts are from the upstream OpenAPI document and the official SDK's parameter types;
``../shared/API.md`` restates them.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from types import MappingProxyType
from typing import Final, Literal, TypedDict

__all__ = [
    "BUCKET_WIDTHS",
    "ENDPOINTS",
    "WIDTH_SECONDS",
    "BucketWidth",
    "CompletionsFilters",
    "CompletionsGroupBy",
    "ContextLevel",
    "CostsFilters",
    "CostsGroupBy",
    "EndpointSpec",
    "FileSearchFilters",
    "FileSearchGroupBy",
    "FilterSpec",
    "ImageSize",
    "ImageSource",
    "ImagesFilters",
    "ImagesGroupBy",
    "ModelFilters",
    "ModelGroupBy",
    "ProjectFilters",
    "ProjectGroupBy",
    "WebSearchFilters",
    "WebSearchGroupBy",
    "endpoint_by_path",
]

BucketWidth = Literal["1m", "1h", "1d"]

BUCKET_WIDTHS: Final[tuple[BucketWidth, ...]] = ("1m", "1h", "1d")

#: Bucket width -> seconds. Boundaries fall on UTC multiples of these.
WIDTH_SECONDS: Final[Mapping[str, int]] = MappingProxyType({"1m": 60, "1h": 3600, "1d": 86400})

# `limit` counts buckets per page: (default, maximum) for each width.
_USAGE_LIMITS: Final[Mapping[str, tuple[int, int]]] = MappingProxyType(
    {"1d": (7, 31), "1h": (24, 168), "1m": (60, 1440)}
)
# Costs only has daily buckets, and pages of up to 180 of them.
_COSTS_LIMITS: Final[Mapping[str, tuple[int, int]]] = MappingProxyType({"1d": (7, 180)})


@dataclass(frozen=True, slots=True)
class FilterSpec:
    """One filter query parameter.

    ``field`` is the result field it restricts; ``kind`` is ``"list"`` (an array
    parameter, sent as repeated keys) or ``"bool"``; ``choices`` limits the values when
    the upstream API enumerates them.
    """

    name: str
    field: str
    kind: Literal["list", "bool"] = "list"
    choices: tuple[str, ...] | None = None


@dataclass(frozen=True, slots=True)
class EndpointSpec:
    """Everything the client and the emulator need to know about one endpoint."""

    name: str
    path: str
    result_object: str
    filters: Mapping[str, FilterSpec]
    group_by: tuple[str, ...]
    limits: Mapping[str, tuple[int, int]] = dataclasses.field(default_factory=lambda: _USAGE_LIMITS)
    default_width: BucketWidth = "1d"

    @property
    def widths(self) -> tuple[str, ...]:
        """The bucket widths this endpoint accepts."""
        return tuple(self.limits)

    def default_limit(self, width: str) -> int:
        """Buckets per page when ``limit`` is not sent."""
        return self.limits[width][0]

    def max_limit(self, width: str) -> int:
        """The largest ``limit`` the endpoint accepts for ``width``."""
        return self.limits[width][1]


def _filters(*specs: FilterSpec) -> Mapping[str, FilterSpec]:
    return MappingProxyType({s.name: s for s in specs})


_PROJECT = FilterSpec("project_ids", "project_id")
_USER = FilterSpec("user_ids", "user_id")
_KEY = FilterSpec("api_key_ids", "api_key_id")
_MODEL = FilterSpec("models", "model")
_BATCH = FilterSpec("batch", "batch", kind="bool")
_SOURCES = FilterSpec(
    "sources", "source", choices=("image.generation", "image.edit", "image.variation")
)
_SIZES = FilterSpec(
    "sizes", "size", choices=("256x256", "512x512", "1024x1024", "1792x1792", "1024x1792")
)
_VECTOR_STORE = FilterSpec("vector_store_ids", "vector_store_id")
_CONTEXT = FilterSpec("context_levels", "context_level", choices=("low", "medium", "high"))
_LINE_ITEM = FilterSpec("line_items", "line_item")

_MODEL_FILTERS = _filters(_PROJECT, _USER, _KEY, _MODEL)
_MODEL_GROUPS = ("project_id", "user_id", "api_key_id", "model")
_COMPLETION_FILTERS = _filters(_PROJECT, _USER, _KEY, _MODEL, _BATCH)
_COMPLETION_GROUPS = (*_MODEL_GROUPS, "batch", "service_tier", "api_source")


def _usage(
    name: str, result: str, filters: Mapping[str, FilterSpec], groups: tuple[str, ...]
) -> EndpointSpec:
    return EndpointSpec(
        name=name,
        path=f"/organization/usage/{name}",
        result_object=f"organization.usage.{result}.result",
        filters=filters,
        group_by=groups,
    )


#: attribute name on ``client.usage`` -> spec, in the order of API.md's table.
ENDPOINTS: Final[Mapping[str, EndpointSpec]] = MappingProxyType(
    {
        spec.name: spec
        for spec in (
            _usage("completions", "completions", _COMPLETION_FILTERS, _COMPLETION_GROUPS),
            _usage("embeddings", "embeddings", _MODEL_FILTERS, _MODEL_GROUPS),
            _usage("moderations", "moderations", _MODEL_FILTERS, _MODEL_GROUPS),
            _usage(
                "images",
                "images",
                _filters(_PROJECT, _USER, _KEY, _MODEL, _SOURCES, _SIZES),
                (*_MODEL_GROUPS, "size", "source"),
            ),
            _usage("audio_speeches", "audio_speeches", _MODEL_FILTERS, _MODEL_GROUPS),
            _usage("audio_transcriptions", "audio_transcriptions", _MODEL_FILTERS, _MODEL_GROUPS),
            _usage("vector_stores", "vector_stores", _filters(_PROJECT), ("project_id",)),
            _usage(
                "code_interpreter_sessions",
                "code_interpreter_sessions",
                _filters(_PROJECT),
                ("project_id",),
            ),
            EndpointSpec(
                name="costs",
                path="/organization/costs",
                result_object="organization.costs.result",
                filters=_filters(_PROJECT, _KEY, _LINE_ITEM),
                group_by=("project_id", "user_id", "line_item", "api_key_id", "api_source"),
                limits=_COSTS_LIMITS,
            ),
            # The path says "calls"; the result tag says "file_searches" (upstream naming).
            _usage(
                "file_search_calls",
                "file_searches",
                _filters(_PROJECT, _USER, _KEY, _VECTOR_STORE),
                ("project_id", "user_id", "api_key_id", "vector_store_id"),
            ),
            _usage(
                "web_search_calls",
                "web_searches",
                _filters(_PROJECT, _USER, _KEY, _MODEL, _CONTEXT),
                (*_MODEL_GROUPS, "context_level", "api_source"),
            ),
            _usage("decisions", "decisions", _COMPLETION_FILTERS, _COMPLETION_GROUPS),
        )
    }
)


def endpoint_by_path(path: str) -> EndpointSpec | None:
    """The spec whose ``path`` is ``path`` (without the ``/v1`` prefix), or None."""
    return _BY_PATH.get(path)


_BY_PATH: Final[Mapping[str, EndpointSpec]] = MappingProxyType(
    {spec.path: spec for spec in ENDPOINTS.values()}
)


# group_by values, as types: each endpoint's `group_by=` accepts its own (checked in tests
# against the specs above).
ModelGroupBy = Literal["project_id", "user_id", "api_key_id", "model"]
CompletionsGroupBy = Literal[
    "project_id", "user_id", "api_key_id", "model", "batch", "service_tier", "api_source"
]
ImagesGroupBy = Literal["project_id", "user_id", "api_key_id", "model", "size", "source"]
ProjectGroupBy = Literal["project_id"]
CostsGroupBy = Literal["project_id", "user_id", "line_item", "api_key_id", "api_source"]
FileSearchGroupBy = Literal["project_id", "user_id", "api_key_id", "vector_store_id"]
WebSearchGroupBy = Literal[
    "project_id", "user_id", "api_key_id", "model", "context_level", "api_source"
]


# Filters, as types: each endpoint's `**filters` are one of these TypedDicts (the static
# mirror of `EndpointSpec.filters`, checked against the specs above in
# tests/sansio/test_endpoints.py), so a misspelt filter is a type error and an editor
# completes the right names. A list filter takes one string or several; None is "not given".
ImageSource = Literal["image.generation", "image.edit", "image.variation"]
ImageSize = Literal["256x256", "512x512", "1024x1024", "1792x1792", "1024x1792"]
ContextLevel = Literal["low", "medium", "high"]


class ProjectFilters(TypedDict, total=False):
    """Filters of ``vector_stores`` and ``code_interpreter_sessions``."""

    project_ids: str | Sequence[str] | None


class ModelFilters(TypedDict, total=False):
    """Filters of ``embeddings``, ``moderations``, ``audio_speeches`` and
    ``audio_transcriptions``."""

    project_ids: str | Sequence[str] | None
    user_ids: str | Sequence[str] | None
    api_key_ids: str | Sequence[str] | None
    models: str | Sequence[str] | None


class CompletionsFilters(ModelFilters, total=False):
    """Filters of ``completions`` and ``decisions``."""

    batch: bool | None


class ImagesFilters(ModelFilters, total=False):
    """Filters of ``images``."""

    sources: ImageSource | Sequence[ImageSource] | None
    sizes: ImageSize | Sequence[ImageSize] | None


class WebSearchFilters(ModelFilters, total=False):
    """Filters of ``web_search_calls``."""

    context_levels: ContextLevel | Sequence[ContextLevel] | None


class FileSearchFilters(TypedDict, total=False):
    """Filters of ``file_search_calls``."""

    project_ids: str | Sequence[str] | None
    user_ids: str | Sequence[str] | None
    api_key_ids: str | Sequence[str] | None
    vector_store_ids: str | Sequence[str] | None


class CostsFilters(TypedDict, total=False):
    """Filters of ``costs``."""

    project_ids: str | Sequence[str] | None
    api_key_ids: str | Sequence[str] | None
    line_items: str | Sequence[str] | None
