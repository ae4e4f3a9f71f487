"""The package's shape: what it exports, and the sans-I/O seam."""

from __future__ import annotations

import ast
import pathlib

import openai_usage_async
import openai_usage_async.emulator as emulator

PACKAGE = pathlib.Path(openai_usage_async.__file__).parent
IO_LIBRARIES = {"aiohttp", "asyncio", "anyio", "socket", "time", "random"}


def test_sansio_imports_no_io_library() -> None:
    files = sorted((PACKAGE / "_sansio").glob("*.py"))
    assert files
    for path in files:
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                names = [alias.name for alias in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            else:
                continue
            for name in names:
                assert name.split(".")[0] not in IO_LIBRARIES, f"{path.name} imports {name}"


def test_py_typed_ships() -> None:
    assert (PACKAGE / "py.typed").is_file()


def isort_style(name: str) -> tuple[int, str]:
    # ruff's RUF022 order: CONSTANTS, then Classes, then functions.
    return (0 if name.isupper() else 1 if name[0].isupper() else 2, name)


def test_emulator_all_is_sorted_and_complete() -> None:
    assert list(emulator.__all__) == sorted(emulator.__all__, key=isort_style)
    public = {n for n in vars(emulator) if not n.startswith("_")}
    submodules = {"app", "data", "directory", "faults", "runner", "spend", "stats", "pytest_plugin"}
    assert set(emulator.__all__) == public - submodules
    for name in emulator.__all__:
        obj = getattr(emulator, name)
        if callable(obj) and not name.isupper() and name != "FaultKind":
            assert obj.__doc__, name


def test_store_all_is_sorted_complete_and_documented() -> None:
    import openai_usage_async.store as store

    assert list(store.__all__) == sorted(store.__all__, key=isort_style)
    public = {n for n in vars(store) if not n.startswith("_")}
    imported = {"annotations", "anyio", "dt", "os", "sync", "q", "schema_for", "to_unix"}
    imported |= {"Any", "Callable", "Self", "Sequence", "TYPE_CHECKING", "TypeVar", "T"}
    imported |= {"ENDPOINTS", "WIDTH_SECONDS", "CostAmount", "UsageBucket", "SQLBackend"}
    imported |= {"Directory", "OrganizationUser", "Project", "ProjectApiKey", "Reader"}
    imported |= {"time", "MonthForecast", "forecast_daily", "CostDays"}
    assert set(store.__all__) == public - imported
    for name in store.__all__:
        assert getattr(store, name).__doc__, name


def test_version_is_the_one_string() -> None:
    from openai_usage_async._version import __version__

    assert openai_usage_async.__version__ == __version__
    assert __version__.count(".") == 2


def test_package_all_is_the_contract() -> None:
    names = list(openai_usage_async.__all__)
    assert names == sorted(names, key=isort_style)
    public = {n for n in vars(openai_usage_async) if not n.startswith("_")} | {"__version__"}
    submodules = {"errors", "models", "emulator", "cli", "store", "arrow", "dlt", "forecast"}
    submodules |= {"serve"}
    assert set(names) == public - submodules
    for name in ["AsyncUsageClient", "UsagePage", "UsageBucket", "UnknownResult", "APIError"]:
        assert name in names
    import openai_usage_async.errors as errors

    assert set(errors.__all__) <= set(names)


def test_every_public_name_is_documented() -> None:
    for name in openai_usage_async.__all__:
        obj = getattr(openai_usage_async, name)
        if callable(obj):
            assert obj.__doc__, name


def test_each_endpoint_is_its_spec_entry_and_its_result_struct() -> None:
    """A new endpoint costs its spec entry and its result Struct (exported), and a re-run of
    the generator of the types checkers read (tests/test_typed_usage.py), which must agree
    with both."""
    import typing

    from openai_usage_async._resources import Usage
    from openai_usage_async._sansio.decode import DECODERS
    from openai_usage_async._sansio.endpoints import ENDPOINTS
    from openai_usage_async.models import KNOWN_RESULT_TYPES, UnknownResult

    hints = typing.get_type_hints(Usage)
    assert set(hints) == set(ENDPOINTS)
    for name, spec in ENDPOINTS.items():
        result_type = KNOWN_RESULT_TYPES[spec.result_object]
        assert getattr(openai_usage_async, result_type.__name__) is result_type
        get = typing.get_type_hints(hints[name].get, localns=vars(openai_usage_async))
        assert get["return"] == openai_usage_async.UsagePage[result_type | UnknownResult], name
        assert DECODERS[name].result_type is result_type


def _expected_filter_type(fspec: object) -> object:
    """The static type a filter of the spec table must have in its endpoint's TypedDict."""
    import typing
    from collections.abc import Sequence

    from openai_usage_async._sansio.endpoints import FilterSpec

    assert isinstance(fspec, FilterSpec)
    if fspec.kind == "bool":
        return bool | None
    if fspec.choices is None:
        return str | Sequence[str] | None
    one = typing.Literal[fspec.choices]  # type: ignore[valid-type]
    return one | Sequence[one] | None  # type: ignore[valid-type]


def test_gathers_typeddict_takes_every_filter_and_lists_arguments() -> None:
    import inspect
    import typing

    from openai_usage_async._resources import Endpoint, GatherArguments
    from openai_usage_async._sansio.endpoints import ENDPOINTS

    fields = typing.get_type_hints(GatherArguments)
    list_arguments = set(inspect.signature(Endpoint.list).parameters) - {"self", "filters"}
    every_filter = {f: s for spec in ENDPOINTS.values() for f, s in spec.filters.items()}
    assert set(fields) == list_arguments | set(every_filter)
    assert GatherArguments.__required_keys__ == frozenset()
    for name, fspec in every_filter.items():
        assert fields[name] == _expected_filter_type(fspec), name
