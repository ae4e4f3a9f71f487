"""to_arrow: the rows of to_rows as a typed Arrow table, and the CLI's Parquet export on it."""

from __future__ import annotations

import datetime as dt
import io
import pathlib
import re
import sys
from typing import Any

import msgspec
import pyarrow as pa
import pyarrow.parquet as pq
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_usage_async._sansio.decode import decode_page
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.arrow import to_arrow
from openai_usage_async.cli._export import make_writer
from openai_usage_async.emulator import Organization
from openai_usage_async.emulator.app import bucket_bounds
from openai_usage_async.models import (
    KNOWN_RESULT_TYPES,
    CostAmount,
    CostsResult,
    Directory,
    ImagesResult,
    OrganizationUser,
    Project,
    ProjectApiKey,
    UnknownResult,
    UsageBucket,
    UsagePage,
    VectorStoresResult,
    _Result,
    row_columns,
    to_rows,
)

SAMPLES = pathlib.Path(__file__).parent / "samples"
NOW = 1_763_904_000
TIME = pa.timestamp("s", tz="UTC")
ARROW_TYPES = {
    msgspec.inspect.IntType: pa.int64(),
    msgspec.inspect.FloatType: pa.float64(),
    msgspec.inspect.StrType: pa.string(),
    msgspec.inspect.BoolType: pa.bool_(),
}


def page_of(name: str) -> UsagePage[Any]:
    """Five daily buckets of ``name`` from the emulator's data, grouped by everything."""
    org = Organization(1, clock=lambda: NOW)
    spec = ENDPOINTS[name]
    data = org.buckets(spec, bucket_bounds(NOW - 5 * 86400, NOW, 86400, 31), spec.group_by)
    body = msgspec.json.encode({"object": "page", "data": data, "has_more": False})
    page = decode_page(body, name)
    assert any(b.results for b in page.data)
    return page


def plain(table: pa.Table) -> list[dict[str, Any]]:
    """The table's rows, timestamps back to Unix seconds (checking they are UTC)."""
    rows: list[dict[str, Any]] = table.to_pylist()
    for row in rows:
        for key in ("start_time", "end_time"):
            value = row[key]
            assert isinstance(value, dt.datetime) and value.utcoffset() == dt.timedelta(0)
            row[key] = int(value.timestamp())
    return rows


def expected_types(result_type: type, names: bool = False) -> list[tuple[str, pa.DataType]]:
    """The columns a result type should give, typed from its annotations (an oracle of
    its own, not the code under test)."""
    info = msgspec.inspect.type_info(result_type)
    assert isinstance(info, msgspec.inspect.StructType)
    out = [("start_time", TIME), ("end_time", TIME), ("object", pa.string())]
    for field in info.fields:
        t = field.type
        if isinstance(t, msgspec.inspect.UnionType):
            (t,) = [a for a in t.types if not isinstance(a, msgspec.inspect.NoneType)]
        if isinstance(t, msgspec.inspect.StructType):
            out += [(f"{field.name}_{s.name}", pa.float64()) for s in t.fields[:1]]
            out += [(f"{field.name}_{s.name}", pa.string()) for s in t.fields[1:]]
            continue
        out.append((field.name, ARROW_TYPES[type(t)]))
        named = {
            "project_id": "project_name",
            "user_id": "user_email",
            "api_key_id": "api_key_name",
        }
        if names and field.name in named:
            out.append((named[field.name], pa.string()))
    return out


def directory_for(page: UsagePage[Any]) -> Directory:
    """Names for every ID in the page but one of each kind (which gives None)."""
    ids: dict[str, list[str]] = {"project_id": [], "user_id": [], "api_key_id": []}
    for bucket in page.data:
        for result in bucket.results:
            for key, seen in ids.items():
                value = getattr(result, key, None)
                if value is not None and value not in seen:
                    seen.append(value)
    return Directory(
        projects=[Project(id=i, name=f"Project {i}") for i in ids["project_id"][1:]],
        users=[OrganizationUser(id=i, email=f"{i}@example.com") for i in ids["user_id"][1:]],
        api_keys=[ProjectApiKey(id=i, name=f"Key {i}") for i in ids["api_key_id"][1:]],
    )


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_every_endpoint_is_typed_and_equal_to_its_rows(name: str) -> None:
    page = page_of(name)
    table = to_arrow(page.data)
    result_type = KNOWN_RESULT_TYPES[ENDPOINTS[name].result_object]
    assert list(zip(table.schema.names, table.schema.types, strict=True)) == expected_types(
        result_type
    )
    assert table.schema.field("start_time").type.tz == "UTC"
    rows = list(to_rows(page.data))
    assert table.num_rows == len(rows)
    assert plain(table) == rows
    # The CLI's fixed columns are the same, in the same order.
    assert table.column_names == [c for c, _ in row_columns(result_type)]


@pytest.mark.parametrize("name", list(ENDPOINTS))
def test_names_follow_their_ids_with_a_directory(name: str) -> None:
    page = page_of(name)
    directory = directory_for(page)
    table = to_arrow(page.data, directory=directory)
    result_type = KNOWN_RESULT_TYPES[ENDPOINTS[name].result_object]
    assert list(zip(table.schema.names, table.schema.types, strict=True)) == expected_types(
        result_type, names=True
    )
    rows = list(to_rows(page.data, directory=directory))
    assert plain(table) == rows
    if "project_id" in table.column_names:
        names = table.column("project_name").to_pylist()
        assert None in names and any(n and n.startswith("Project ") for n in names)


def test_timestamps_are_utc_instants() -> None:
    bucket = UsageBucket(
        start_time=1_730_419_200,
        end_time=1_730_505_600,
        results=[VectorStoresResult(usage_bytes=1, project_id="proj_a")],
    )
    table = to_arrow([bucket])
    assert table.schema.field("start_time").type == TIME
    [start] = table.column("start_time").to_pylist()
    assert start == dt.datetime(2024, 11, 1, tzinfo=dt.UTC)
    assert table.column("end_time").cast(pa.int64()).to_pylist() == [1_730_505_600]


def test_an_unknown_tag_keeps_its_fields_as_extra_columns() -> None:
    page = decode_page((SAMPLES / "unknown_tag.json").read_bytes(), "vector_stores")
    table = to_arrow(page.data)
    assert table.column_names == [
        "start_time",
        "end_time",
        "object",
        "usage_bytes",
        "project_id",
        "renders",
        "quality",
        "details",
        "ratio",
    ]
    schema = table.schema
    assert (schema.field("usage_bytes").type, schema.field("project_id").type) == (
        pa.int64(),
        pa.string(),
    )
    assert (schema.field("renders").type, schema.field("ratio").type) == (pa.int64(), pa.float64())
    assert pa.types.is_struct(schema.field("details").type)
    known, unknown = plain(table)
    assert known["renders"] is None and unknown["usage_bytes"] is None
    # Every value of to_rows is there; the missing ones are None.
    for row, flat in zip((known, unknown), to_rows(page.data), strict=True):
        assert {k: v for k, v in row.items() if k in flat} == flat
        assert all(row[k] is None for k in row.keys() - flat.keys())


def test_clashing_fields_of_an_unknown_tag_follow_to_rows() -> None:
    strange = UnknownResult(
        object="organization.usage.time_travel.result",
        fields={"start_time": 5, "end_time": 7, "object": "other", "trips": 2},
    )
    bucket = UsageBucket(start_time=60, end_time=120, results=[strange])
    table = to_arrow([bucket])
    [flat] = to_rows([bucket])
    assert (
        table.column_names
        == list(flat)
        == [
            "start_time",
            "end_time",
            "object",
            "result_start_time",
            "result_end_time",
            "result_object",
            "trips",
        ]
    )
    assert plain(table) == [flat]


def test_results_of_several_types_share_columns() -> None:
    images = ImagesResult(images=3, num_model_requests=1, project_id="proj_a", size="256x256")
    cost = CostsResult(amount=CostAmount(value=1.5, currency="usd"), project_id="proj_b")
    new = UnknownResult(
        object="organization.usage.hologram_renders.result",
        fields={"renders": 4, "project_id": "proj_c", "images": 1.5},
    )
    buckets: list[UsageBucket[Any]] = [
        UsageBucket(start_time=0, end_time=60, results=[images, cost]),
        UsageBucket(start_time=60, end_time=120, results=[]),
        UsageBucket(start_time=120, end_time=180, results=[new, images]),
    ]
    table = to_arrow(iter(buckets))  # any iterable, read once
    image_columns = [c for c, _ in row_columns(ImagesResult)]
    cost_columns = [c for c, _ in row_columns(CostsResult)[3:] if c not in image_columns]
    assert table.column_names == [*image_columns, *cost_columns, "renders"]
    assert table.schema.field("amount_value").type == pa.float64()
    assert table.schema.field("num_model_requests").type == pa.int64()
    # An unknown result's value that does not fit the known type: pyarrow's type instead.
    assert table.schema.field("images").type == pa.float64()
    assert table.column("images").to_pylist() == [3, None, 1.5, 3]
    assert table.column("project_id").to_pylist() == ["proj_a", "proj_b", "proj_c", "proj_a"]
    assert table.column("amount_currency").to_pylist() == [None, "usd", None, None]
    assert table.column("renders").to_pylist() == [None, None, 4, None]
    for row, flat in zip(plain(table), to_rows(buckets), strict=True):
        assert {k: v for k, v in row.items() if k in flat} == flat


class _Odd(_Result, frozen=True, kw_only=True, tag="test.odd.result"):
    images: float  # a float where ImagesResult has an int


def test_a_column_two_known_types_type_differently_is_not_truncated() -> None:
    images = ImagesResult(images=3, num_model_requests=1)
    bucket = UsageBucket(start_time=0, end_time=60, results=[images, _Odd(images=1.5)])
    table = to_arrow([bucket])
    assert table.schema.field("images").type == pa.float64()
    assert table.column("images").to_pylist() == [3, 1.5]


def test_a_value_not_of_its_annotated_type_is_not_truncated() -> None:
    # msgspec checks types when decoding, not when a caller builds a Struct by hand: the
    # one-type fast path must not let Arrow turn 1.5 into 1.
    built = ImagesResult(images=1.5, num_model_requests=1)  # type: ignore[arg-type]
    table = to_arrow([UsageBucket(start_time=0, end_time=60, results=[built])])
    assert table.column("images").to_pylist() == [1.5]
    assert table.column("num_model_requests").type == pa.int64()


def test_an_unknown_tag_gets_names_too() -> None:
    directory = Directory(projects=[Project(id="proj_a", name="Checkout")], users=[], api_keys=[])
    new = UnknownResult(object="organization.usage.x.result", fields={"project_id": "proj_a"})
    bucket = UsageBucket(start_time=0, end_time=60, results=[new])
    table = to_arrow([bucket], directory=directory)
    assert table.column_names[-2:] == ["project_id", "project_name"]
    assert table.column("project_name").to_pylist() == ["Checkout"]


# -- unknown tags whose values no one Arrow type holds: JSON text, never a crash ---------------

NEW = "organization.usage.hologram_renders.result"
COMPLETIONS = "organization.usage.completions.result"


def one_page(*results: dict[str, Any], endpoint: str = "completions") -> list[UsageBucket[Any]]:
    """One bucket of ``results`` decoded from JSON, as the client decodes a page."""
    bucket = {"object": "bucket", "start_time": 0, "end_time": 60, "results": list(results)}
    body = msgspec.json.encode({"object": "page", "data": [bucket], "has_more": False})
    data: list[UsageBucket[Any]] = decode_page(body, endpoint).data
    return data


def json_values(table: pa.Table, column: str) -> list[Any]:
    """A JSON text column's values, decoded (a null stays None)."""
    assert table.schema.field(column).type == pa.string()
    return [None if v is None else msgspec.json.decode(v) for v in table[column].to_pylist()]


def same(a: Any, b: Any) -> bool:
    """Equal as values, strictly: a bool is no number, and Arrow may widen an int to the
    float of the same value and fill a struct's missing keys with None."""
    if isinstance(a, bool) or isinstance(b, bool):
        return type(a) is type(b) and a == b
    if isinstance(a, dict) and isinstance(b, dict):
        return all(same(a.get(k), b.get(k)) for k in a.keys() | b.keys())
    if isinstance(a, list) and isinstance(b, list):
        return len(a) == len(b) and all(same(x, y) for x, y in zip(a, b, strict=True))
    if isinstance(a, int | float) and isinstance(b, int | float):
        return a == b
    return type(a) is type(b) and a == b


def assert_every_value_kept(
    table: pa.Table, buckets: list[UsageBucket[Any]], directory: Directory | None = None
) -> None:
    """Each value of ``to_rows`` is in the table, as it is or, in a string column whose
    values are not all strings, as JSON text."""
    flat = list(to_rows(buckets, directory=directory))
    assert set(table.column_names) == {k for row in flat for k in row}
    for column in table.column_names[3:]:
        values = [row.get(column) for row in flat]
        got = table[column].to_pylist()
        if table.schema.field(column).type == pa.string() and any(
            v is not None and not isinstance(v, str) for v in values
        ):
            got = [None if v is None else msgspec.json.decode(v) for v in got]
        assert all(same(g, v) for g, v in zip(got, values, strict=True)), (column, got, values)


def test_an_unknown_field_of_several_types_becomes_json_text() -> None:
    buckets = one_page(
        {"object": NEW, "n": 1, "renders": 2}, {"object": NEW, "n": "many", "renders": 3}
    )
    table = to_arrow(buckets)
    assert json_values(table, "n") == [1, "many"]
    assert table.schema.field("renders").type == pa.int64()  # only the failing column
    assert_every_value_kept(table, buckets)


def test_a_list_beside_a_scalar_becomes_json_text() -> None:
    buckets = one_page(
        {"object": NEW, "tags": ["a"]}, {"object": NEW, "tags": "a"}, {"object": NEW}
    )
    table = to_arrow(buckets)
    assert json_values(table, "tags") == [["a"], "a", None]
    assert_every_value_kept(table, buckets)


def test_nested_values_of_several_types_become_json_text() -> None:
    buckets = one_page(
        {"object": NEW, "details": {"depth": 1, "tags": ["a"]}},
        {"object": NEW, "details": {"depth": "deep"}},
    )
    table = to_arrow(buckets)
    assert json_values(table, "details") == [{"depth": 1, "tags": ["a"]}, {"depth": "deep"}]
    assert_every_value_kept(table, buckets)


def test_a_known_int_column_with_a_string_of_an_unknown_tag_becomes_json_text() -> None:
    # int64 cannot hold "7" and a plain string column would make 3 and "3" alike: the one
    # column both fall in becomes JSON text; every other known column keeps its type.
    completion = {
        "object": COMPLETIONS,
        "input_tokens": 3,
        "output_tokens": 2,
        "num_model_requests": 1,
        "model": "gpt-4o",
    }
    buckets = one_page(completion, {"object": NEW, "input_tokens": "7", "renders": 1})
    table = to_arrow(buckets)
    assert json_values(table, "input_tokens") == [3, "7"]
    for column, arrow_type in expected_types(KNOWN_RESULT_TYPES[COMPLETIONS]):
        if column != "input_tokens":
            assert table.schema.field(column).type == arrow_type, column
    assert table["output_tokens"].to_pylist() == [2, None]
    assert table["model"].to_pylist() == ["gpt-4o", None]
    assert table.schema.field("renders").type == pa.int64()
    assert_every_value_kept(table, buckets)


@pytest.mark.parametrize("big", [2**63, 2**64, -(2**63) - 1, 10**30])
def test_an_integer_past_int64_becomes_json_text(big: int) -> None:
    buckets = one_page({"object": NEW, "n": big}, {"object": NEW, "n": 1})
    table = to_arrow(buckets)
    assert json_values(table, "n") == [big, 1]
    assert_every_value_kept(table, buckets)


def test_a_known_counter_past_int64_becomes_json_text() -> None:
    # msgspec decodes any JSON integer into an int field: the one-type path cannot take
    # it, and the general path must not crash either.
    counts = {"object": COMPLETIONS, "output_tokens": 2, "num_model_requests": 1}
    buckets = one_page({**counts, "input_tokens": 2**64}, {**counts, "input_tokens": 5})
    table = to_arrow(buckets)
    assert json_values(table, "input_tokens") == [2**64, 5]
    assert table.schema.field("output_tokens").type == pa.int64()
    assert_every_value_kept(table, buckets)


def test_a_bool_is_not_read_as_a_number() -> None:
    # pyarrow infers float64 for [1.5, True] and reads True as 1.0.
    buckets = one_page(
        {"object": NEW, "x": 1.5, "y": [1.5, True], "z": {"a": 2.5}},
        {"object": NEW, "x": True, "y": [2, False], "z": {"a": False}},
    )
    table = to_arrow(buckets)
    assert json_values(table, "x") == [1.5, True]
    assert json_values(table, "y") == [[1.5, True], [2, False]]
    assert json_values(table, "z") == [{"a": 2.5}, {"a": False}]
    assert_every_value_kept(table, buckets)


def test_an_id_of_another_type_names_nothing() -> None:
    directory = Directory(projects=[Project(id="proj_a", name="Checkout")], users=[], api_keys=[])
    buckets = one_page(
        {"object": NEW, "project_id": "proj_a"},
        {"object": NEW, "project_id": ["proj_a"]},
        {"object": NEW, "project_id": 5},
    )
    table = to_arrow(buckets, directory=directory)
    assert json_values(table, "project_id") == ["proj_a", ["proj_a"], 5]
    assert table["project_name"].to_pylist() == ["Checkout", None, None]


_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**70), max_value=2**70)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(max_size=3),
    lambda inner: st.lists(inner, max_size=3) | st.dictionaries(st.sampled_from("ab"), inner),
    max_leaves=6,
)
_names = st.sampled_from(["n", "input_tokens", "model", "project_id", "project_name"])
_unknown = st.dictionaries(_names, _json | st.just("proj_a")).map(lambda f: {**f, "object": NEW})
_known = st.fixed_dictionaries(
    {"object": st.just(COMPLETIONS), "num_model_requests": st.integers(0, 2**64)},
    optional={
        "input_tokens": st.integers(0, 2**64),
        "model": st.text(max_size=3),
        "project_id": st.sampled_from(["proj_a", "proj_b"]),
    },
).map(lambda r: {"output_tokens": 0, "input_tokens": 0, **r})


@settings(max_examples=200, deadline=None)
@given(st.lists(_known | _unknown, min_size=1, max_size=5), st.booleans())
def test_any_json_values_of_an_unknown_tag_are_kept(
    results: list[dict[str, Any]], named: bool
) -> None:
    buckets = one_page(*results)
    directory = None
    if named:
        directory = Directory(projects=[Project(id="proj_a", name="A")], users=[], api_keys=[])
    assert_every_value_kept(to_arrow(buckets, directory=directory), buckets, directory)


def test_a_cost_without_amount_gives_nulls() -> None:
    bucket = UsageBucket(start_time=0, end_time=60, results=[CostsResult(line_item="x")])
    table = to_arrow([bucket])
    assert table.column("amount_value").type == pa.float64()
    assert plain(table) == list(to_rows([bucket]))


@pytest.mark.parametrize(
    "buckets", [[], [UsageBucket(start_time=0, end_time=60, results=[])]], ids=["none", "empty"]
)
def test_no_rows_give_the_bucket_columns(buckets: list[UsageBucket[Any]]) -> None:
    table = to_arrow(buckets)
    assert table.num_rows == 0
    assert list(zip(table.schema.names, table.schema.types, strict=True)) == [
        ("start_time", TIME),
        ("end_time", TIME),
        ("object", pa.string()),
    ]


def test_without_pyarrow_the_error_names_the_extra(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setitem(sys.modules, "pyarrow", None)
    message = "to_arrow needs pyarrow: pip install 'openai_usage_async[arrow]'"
    with pytest.raises(ImportError, match=re.escape(message)):
        to_arrow([])


# -- the CLI's Parquet export, built on to_arrow ----------------------------------------------


def write_parquet(pages: list[UsagePage[Any]], result_type: type, **kw: Any) -> pa.Table:
    out = io.BytesIO()
    writer = make_writer("parquet", out, result_type, **kw)
    for page in pages:
        writer.write_page(page)
    writer.close()
    return pq.read_table(io.BytesIO(out.getvalue()))


@pytest.mark.parametrize("batch", [3, 50_000])
def test_parquet_has_utc_timestamps_and_the_fixed_columns(
    batch: int, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_usage_async.cli import _export

    monkeypatch.setattr(_export._Parquet, "_BATCH", batch)
    page = page_of("costs")
    table = write_parquet([page, page], CostsResult)
    start = table.schema.field("start_time").type
    assert pa.types.is_timestamp(start) and start.tz == "UTC"  # Parquet keeps ms, not s
    assert table.schema.field("amount_value").type == pa.float64()
    assert table.column_names == [c for c, _ in row_columns(CostsResult)]
    assert plain(table) == list(to_rows(page.data)) * 2


def test_parquet_drops_unknown_fields_and_says_so(capsys: pytest.CaptureFixture[str]) -> None:
    mixed = decode_page((SAMPLES / "unknown_tag.json").read_bytes(), "vector_stores")
    only_new = UsagePage(
        data=[
            UsageBucket(
                start_time=0,
                end_time=60,
                results=[UnknownResult(object="organization.usage.x.result", fields={"n": 1})],
            )
        ],
        has_more=False,
    )
    table = write_parquet([mixed, only_new], VectorStoresResult)
    assert table.column_names == [c for c, _ in row_columns(VectorStoresResult)]
    assert table.schema.field("usage_bytes").type == pa.int64()
    assert table.column("usage_bytes").to_pylist() == [1024, None, None]
    assert table.column("object").to_pylist()[-1] == "organization.usage.x.result"
    err = capsys.readouterr().err
    assert "Parquet has no column for details, n, quality, ratio, renders" in err
