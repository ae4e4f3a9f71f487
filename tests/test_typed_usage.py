"""The typed surface of ``client.usage`` (``_typed_usage.py``): generated, current, faithful.

The file is what type checkers read; the runtime is one ``Endpoint`` and the endpoint
table. These tests regenerate the file in memory and compare, and check that what it
declares is what the runtime does.
"""

from __future__ import annotations

import dataclasses
import inspect
import pathlib
import typing
from collections.abc import Sequence
from typing import Any

import msgspec
import pytest

import openai_usage_async
from openai_usage_async import _typed_usage, _typegen
from openai_usage_async._blocking import BlockingIterator
from openai_usage_async._resources import Endpoint, Usage
from openai_usage_async._sansio.endpoints import ENDPOINTS, EndpointSpec, FilterSpec
from openai_usage_async.models import KNOWN_RESULT_TYPES, UnknownResult, UsageBucket, UsagePage

# The names the file imports only for type checkers, to resolve its annotations here.
NAMES = {**vars(openai_usage_async), "BlockingIterator": BlockingIterator}
METHODS = ("get", "__call__", "pages", "iter", "list")


def hints(function: Any) -> dict[str, Any]:
    return typing.get_type_hints(function, localns=NAMES)


def of(generic: Any, argument: Any) -> Any:
    """``generic[argument]``, built at run time (type checkers take subscripts as types)."""
    return generic[argument]


def one_or_many(one: Any) -> Any:
    return one | of(Sequence, one) | None


def filter_type(fspec: FilterSpec) -> object:
    if fspec.kind == "bool":
        return bool | None
    return one_or_many(str if fspec.choices is None else of(typing.Literal, fspec.choices))


def test_the_generated_file_is_current() -> None:
    text = _typegen.render()
    assert _typegen.TARGET.read_text(encoding="utf-8") == text, (
        "openai_usage_async/_typed_usage.py is stale: run python -m openai_usage_async._typegen"
    )


def test_the_command_checks_and_rewrites(
    tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    assert _typegen.main(["--check"]) == 0
    stale = tmp_path / "_typed_usage.py"
    stale.write_text("# an older version\n")
    monkeypatch.setattr(_typegen, "TARGET", stale)
    assert _typegen.main(["--check"]) == 1
    assert "stale: run python -m openai_usage_async._typegen" in capsys.readouterr().out
    assert _typegen.main([]) == 0
    assert stale.read_text() == _typegen.render()
    assert _typegen.main(["--check"]) == 0


def test_each_endpoint_has_a_protocol_and_a_blocking_twin() -> None:
    assert typing.get_type_hints(Usage) == {
        name: getattr(_typed_usage, f"{_typegen.camel(name)}Endpoint") for name in ENDPOINTS
    }
    blocking = typing.get_type_hints(_typed_usage.BlockingUsage)
    assert blocking == {
        name: getattr(_typed_usage, f"Blocking{_typegen.camel(name)}Endpoint") for name in ENDPOINTS
    }
    assert sorted(_typed_usage.__all__) == _typed_usage.__all__
    for name in _typed_usage.__all__:
        assert getattr(_typed_usage, name) is not None


@pytest.mark.parametrize("name", list(ENDPOINTS))
@pytest.mark.parametrize("blocking", [False, True], ids=["async", "blocking"])
def test_a_protocol_is_endpoints_signatures_and_its_spec(name: str, blocking: bool) -> None:
    """Endpoint's arguments, in order, with ``G`` its ``group_by`` values, then one keyword
    argument per filter of its spec; ``R`` its result Struct."""
    spec = ENDPOINTS[name]
    result = KNOWN_RESULT_TYPES[spec.result_object] | UnknownResult
    protocol = getattr(
        _typed_usage, f"{'Blocking' if blocking else ''}{_typegen.camel(name)}Endpoint"
    )
    for method in METHODS:
        template = getattr(Endpoint, method)
        declared = getattr(protocol, method)
        assert inspect.iscoroutinefunction(declared) == (
            inspect.iscoroutinefunction(template) and not blocking
        ), method
        *same, filters = inspect.signature(template).parameters.values()
        assert filters.kind is inspect.Parameter.VAR_KEYWORD
        parameters = list(inspect.signature(declared).parameters.values())
        assert [(p.name, p.kind, p.default) for p in parameters] == [
            *((p.name, p.kind, p.default) for p in same),
            *((f, inspect.Parameter.KEYWORD_ONLY, None) for f in spec.filters),
        ], (name, method)
        want = hints(template)
        got = hints(declared)
        for parameter in same[1:]:
            expected = want[parameter.name]
            if parameter.name == "group_by":
                expected = one_or_many(of(typing.Literal, spec.group_by))
            assert got[parameter.name] == expected, (name, method, parameter.name)
        for filter_name, fspec in spec.filters.items():
            assert got[filter_name] == filter_type(fspec), (name, method, filter_name)
        page, bucket = of(UsagePage, result), of(UsageBucket, result)
        returns = {
            "get": page,
            "__call__": page,
            "pages": of(BlockingIterator, page) if blocking else None,
            "iter": of(BlockingIterator, bucket) if blocking else None,
            "list": of(list, bucket),
        }[method]
        if returns is None:  # the async iterators: Endpoint's, with R its result
            returns = of(typing.get_origin(want["return"]), result)
        assert got["return"] == returns, (name, method)
    assert hints(protocol.spec.fget)["return"] is EndpointSpec


def test_gather_is_typed_alike_in_both() -> None:
    template = inspect.signature(Usage.gather)
    blocking = inspect.signature(_typed_usage.BlockingUsage.gather)
    assert list(template.parameters) == list(blocking.parameters) == ["self", "endpoints", "common"]
    assert hints(Usage.gather) == hints(_typed_usage.BlockingUsage.gather)
    fields = typing.get_type_hints(_typed_usage.GatherArguments)
    parameters = inspect.signature(Endpoint.list).parameters.values()
    keywords = [p for p in parameters if p.kind is inspect.Parameter.KEYWORD_ONLY]
    every_filter = {f: s for spec in ENDPOINTS.values() for f, s in spec.filters.items()}
    assert list(fields) == [p.name for p in keywords] + list(every_filter)
    for filter_name, fspec in every_filter.items():
        assert fields[filter_name] == filter_type(fspec)


class HologramRendersResult(msgspec.Struct, frozen=True, kw_only=True):
    renders: int


def test_a_new_endpoint_is_a_spec_entry_a_result_struct_and_a_rerun(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The goal, shown: a spec entry (with a filter of new choices), a result Struct, and
    the generator types it everywhere, ready for mypy."""
    spec = EndpointSpec(
        name="hologram_renders",
        path="/organization/usage/hologram_renders",
        result_object="organization.usage.hologram_renders.result",
        filters={"depths": FilterSpec("depths", "depth", choices=("2d", "3d"))},
        group_by=("project_id", "depth"),
    )
    monkeypatch.setattr(_typegen, "ENDPOINTS", {**ENDPOINTS, spec.name: spec})
    monkeypatch.setattr(
        _typegen,
        "KNOWN_RESULT_TYPES",
        {**KNOWN_RESULT_TYPES, spec.result_object: HologramRendersResult},
    )
    text = _typegen.render()
    compile(text, "_typed_usage.py", "exec")
    for line in [
        'Depth = Literal["2d", "3d"]',
        'HologramRendersGroupBy = Literal["project_id", "depth"]',
        "class HologramRendersEndpoint(Protocol):",
        "class BlockingHologramRendersEndpoint(Protocol):",
        "        depths: Depth | Sequence[Depth] | None = None,",
        "    ) -> BlockingIterator[UsageBucket[HologramRendersResult | UnknownResult]]:",
        "    hologram_renders: HologramRendersEndpoint",
        "    hologram_renders: BlockingHologramRendersEndpoint",
        "    depths: Depth | Sequence[Depth] | None",  # in GatherArguments
        "        endpoint: Endpoint[HologramRendersResult, HologramRendersGroupBy],",
        "        HologramRendersResult,",  # imported for type checkers
    ]:
        assert line in text.splitlines(), line


def test_the_signatures_come_from_endpoint_not_from_the_generator() -> None:
    source = _typegen.TEMPLATE.read_text(encoding="utf-8")
    changed = source.replace(
        "        ordered: bool = True,\n",
        "        ordered: bool = True,\n        sample: float | None = None,\n",
    )
    assert changed.count("sample:") == 3  # pages, iter, list
    text = _typegen.render(changed)
    assert text.count("        sample: float | None = None,\n") == 3 * 2 * len(ENDPOINTS)
    assert "    sample: float | None\n" in text  # gather takes what list takes


def test_one_filter_name_is_one_filter(monkeypatch: pytest.MonkeyPatch) -> None:
    costs = ENDPOINTS["costs"]
    other = dataclasses.replace(
        costs, name="other", filters={"models": FilterSpec("models", "model", kind="bool")}
    )
    monkeypatch.setattr(_typegen, "ENDPOINTS", {**ENDPOINTS, "other": other})
    with pytest.raises(ValueError, match=r"^models: two endpoints"):
        _typegen.render()


def test_a_name_the_generator_cannot_import_is_refused() -> None:
    source = _typegen.TEMPLATE.read_text(encoding="utf-8")
    changed = source.replace(
        "        ordered: bool = True,\n",
        "        ordered: bool = True,\n        hook: Callable[[], None] | None = None,\n",
    )
    with pytest.raises(ValueError, match=r"^Callable: used by the template"):
        _typegen.render(changed)
