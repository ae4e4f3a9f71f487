"""Typed Arrow tables from buckets, for data frames, Parquet files and warehouses.

:func:`to_arrow` makes one ``pyarrow.Table`` of the rows :func:`~openai_usage_async.to_rows`
gives, with the same columns in the same order: ``start_time`` and ``end_time`` as
``timestamp[s, tz=UTC]``, ``object``, then the result's fields typed from the models
(``int64`` counters, ``float64`` amounts, strings, booleans). It needs the ``arrow``
extra (``pip install 'openai_usage_async[arrow]'``). pandas and polars take the table as
it is::

    import datetime as dt

    from openai_usage_async import UsageClient, to_arrow

    month_ago = dt.datetime.now(dt.UTC) - dt.timedelta(days=30)
    with UsageClient() as client:
        buckets = client.usage.completions.list(start_time=month_ago, group_by=["model"])
    table = to_arrow(buckets)

    df = table.to_pandas()                  # start_time: datetimes in UTC
    df.groupby("model")["input_tokens"].sum()

    import polars as pl

    frame = pl.from_arrow(table)
    frame.group_by("model").agg(pl.col("input_tokens").sum())
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import TYPE_CHECKING, Any

import msgspec

from .models import NAME_COLUMNS, Directory, UnknownResult, UsageBucket, row_columns, to_rows

if TYPE_CHECKING:
    import pyarrow

__all__ = ["to_arrow"]

_MISSING = "to_arrow needs pyarrow: pip install 'openai_usage_async[arrow]'"

#: What converting Python values to Arrow may raise besides ``pyarrow.ArrowException``:
#: OverflowError past int64, TypeError and ValueError (which pyarrow's ArrowTypeError and
#: ArrowInvalid also are).
_CONVERSION_ERRORS: tuple[type[Exception], ...] = (ArithmeticError, TypeError, ValueError)

#: How each column of a result type is filled from a result's field tuple (``astuple``):
#: (column, kind, field index, how), how being None (the field's value), ``("attr", sub)``
#: (a nested Struct's field: a cost's ``amount`` -> ``value``) or ``("lookup", method)``
#: (a name column: that ``Directory`` method applied to the ID field).
_Layout = tuple[tuple[str, str, int, tuple[str, str] | None], ...]
_layouts: dict[tuple[type[Any], bool], _Layout] = {}

#: name column -> (the ID column it follows, the ``Directory`` lookup that fills it)
_NAMED = {column: (id_column, lookup) for id_column, (column, lookup) in NAME_COLUMNS.items()}


def _layout(result_type: type[Any], names: bool) -> _Layout:
    """The columns of ``result_type`` after ``start_time``, ``end_time`` and ``object``.

    Names and kinds come from ``models.row_columns``, the CLI's columns of the same rows, so the
    two never disagree; this only says where each column's values are in a result.
    """
    layout = _layouts.get((result_type, names))
    if layout is not None:
        return layout

    fields: tuple[str, ...] = result_type.__struct_fields__
    index = {name: i for i, name in enumerate(fields)}
    columns = row_columns(result_type, names=names)[3:]
    # A field without a column of its name is a nested Struct (a cost's amount), whose
    # fields are columns <field>_<sub>.
    nested = [f for f in fields if f not in {c for c, _ in columns}]
    out: list[tuple[str, str, int, tuple[str, str] | None]] = []
    for column, kind in columns:
        if column in index:
            out.append((column, kind, index[column], None))
        elif names and column in _NAMED:
            id_column, lookup = _NAMED[column]
            out.append((column, kind, index[id_column], ("lookup", lookup)))
        else:
            (field,) = (f for f in nested if column.startswith(f"{f}_"))
            out.append((column, kind, index[field], ("attr", column[len(field) + 1 :])))
    layout = _layouts[result_type, names] = tuple(out)
    return layout


def _known_columns(
    result_type: type[Any], results: list[Any], directory: Directory | None
) -> Iterable[tuple[str, str, list[Any]]]:
    """(column, kind, values) for results all of one known type, column by column."""
    astuple = msgspec.structs.astuple
    by_field = list(zip(*(astuple(r) for r in results), strict=True))
    for column, kind, at, how in _layout(result_type, directory is not None):
        values = by_field[at]
        if how is None:
            yield column, kind, list(values)
        elif how[0] == "attr":
            sub = how[1]
            yield column, kind, [None if v is None else getattr(v, sub) for v in values]
        else:
            lookup = getattr(directory, how[1])
            yield column, kind, [lookup(v) for v in values]


def to_arrow(
    buckets: Iterable[UsageBucket[Any]], *, directory: Directory | None = None
) -> pyarrow.Table:
    """The rows of ``to_rows(buckets, directory=directory)`` as a typed ``pyarrow.Table``.

    Same column names and order as :func:`~openai_usage_async.to_rows`: ``start_time``
    and ``end_time`` as ``timestamp[s, tz=UTC]``, ``object`` (string), then the result's
    fields typed from the result type (``int64``, ``float64``, ``string``, ``bool``); a
    cost's ``amount`` is ``amount_value`` and ``amount_currency``. With a ``directory``,
    ``project_name``, ``user_email`` and ``api_key_name`` (strings) follow their IDs.

    Results of several types may be mixed: each known type's columns appear where that
    type first does, NULL in the other types' rows. The fields of results whose tag this
    version does not know (:class:`~openai_usage_async.UnknownResult`) fill the columns
    of the same name, and the others become extra columns after the known ones, typed by
    pyarrow from their values (a field named ``start_time``, ``end_time`` or ``object``
    is ``result_start_time``... as in ``to_rows``). Buckets without results give no
    rows; no rows at all give the ``start_time``, ``end_time`` and ``object`` columns.

    A value is never lost or changed on the way. A column whose values its type cannot
    hold as they are takes the type pyarrow infers from them when that holds them all
    (an unknown tag's ``1.5`` in an ``int64`` column makes it ``float64``), and is
    otherwise JSON text: a ``string`` column of each value's JSON, NULL staying NULL.
    That is the case for ``1`` beside ``"many"``, a list beside a string, an integer
    past ``int64`` and ``true`` beside a number; an unknown tag's ``"7"`` in a counter
    column gives the texts ``3`` and ``"7"`` (quotes included), which
    ``msgspec.json.decode`` reads back. Only such a column changes; the others keep
    their types.

    Raises ``ImportError`` when pyarrow (the ``arrow`` extra) is not installed.
    """
    try:
        import pyarrow as pa
    except ImportError:
        raise ImportError(_MISSING) from None

    starts: list[int] = []
    ends: list[int] = []
    objects: list[str] = []
    groups: dict[type[Any], tuple[list[int], list[Any], str]] = {}
    unknown: list[tuple[int, UsageBucket[Any], UnknownResult]] = []
    n = 0
    for bucket in buckets:
        results = bucket.results
        if not results:
            continue
        starts += [bucket.start_time] * len(results)
        ends += [bucket.end_time] * len(results)
        for result in results:
            of = type(result)
            if of is UnknownResult:
                unknown.append((n, bucket, result))
                objects.append(result.object)
            else:
                group = groups.get(of)
                if group is None:
                    group = groups[of] = ([], [], result.object)
                group[0].append(n)
                group[1].append(result)
                objects.append(group[2])
            n += 1

    time = pa.timestamp("s", tz="UTC")
    head = [
        pa.array(starts, type=time),
        pa.array(ends, type=time),
        pa.array(objects, type=pa.string()),
    ]
    if len(groups) == 1 and not unknown:  # the usual case: one known type, no unknown tags
        ((result_type, (_, results, _)),) = groups.items()
        single = _single_type(pa, result_type, results, directory)
        if single is not None:
            names, arrays = single
            return pa.Table.from_arrays(
                head + arrays, names=["start_time", "end_time", "object", *names]
            )

    columns: dict[str, list[Any]] = {}
    kinds: dict[str, str] = {}
    for result_type, (rows, results, _) in groups.items():
        for column, kind, values in _known_columns(result_type, results, directory):
            kinds.setdefault(column, kind)
            if len(rows) == n:  # the one type of every row: the values are the column
                columns[column] = values
                continue
            full = columns.get(column)
            if full is None:
                full = columns[column] = [None] * n
            for row, value in zip(rows, values, strict=True):
                full[row] = value
    for row, bucket, result in unknown:
        alone = UsageBucket(
            start_time=bucket.start_time, end_time=bucket.end_time, results=[result]
        )
        (flat,) = to_rows((alone,), directory=directory)  # the one place the rules live
        for position, (column, value) in enumerate(flat.items()):
            if position < 3:  # start_time, end_time, object: the bucket's and the tag
                continue
            full = columns.get(column)
            if full is None:
                full = columns[column] = [None] * n
            full[row] = value

    types = _arrow_types(pa)
    arrays = head
    for column, values in columns.items():
        known = kinds.get(column)  # None: only unknown results have this column
        if known is not None and not _fits(values, known):
            # Two types typing it differently, an unknown tag's value, a Struct built by
            # hand: pyarrow would convert quietly (1.5 to int64 is 1), so infer instead.
            known = None
        arrays.append(_array(pa, values, None if known is None else types.get(known)))
    return pa.Table.from_arrays(arrays, names=["start_time", "end_time", "object", *columns])


def _arrow_types(pa: Any) -> dict[str, Any]:
    return {"int": pa.int64(), "float": pa.float64(), "str": pa.string(), "bool": pa.bool_()}


def _single_type(
    pa: Any, result_type: type[Any], results: list[Any], directory: Directory | None
) -> tuple[list[str], list[Any]] | None:
    """(columns, arrays) of results all of one known type, with no nested Struct (so not
    costs), or None. The field tuples become one Arrow struct array, split into its
    fields by Arrow: the transposition happens in C++, not in Python lists."""
    layout = _layout(result_type, directory is not None)
    if any(how is not None and how[0] == "attr" for *_, how in layout):
        return None
    types = _arrow_types(pa)
    kind_of = {at: kind for _, kind, at, how in layout if how is None}
    fields = result_type.__struct_fields__
    if set(kind_of) != set(range(len(fields))):
        return None
    # Integers go through float64 and a safe cast back: converting a struct, Arrow would
    # truncate a float in an int64 field quietly (1.5 to 1), and msgspec checks types only
    # when decoding, not in a Struct a caller builds. The cast refuses 1.5 and integers
    # past 2**53, and the general path then infers the column's type from its values (a
    # bool in an int field becomes 0 or 1, as int() makes it).
    wide = {"int": pa.float64()}
    struct = pa.struct([(f, wide.get(kind_of[i], types[kind_of[i]])) for i, f in enumerate(fields)])
    astuple = msgspec.structs.astuple
    tuples = [astuple(r) for r in results]
    arrays = []
    try:
        split = pa.array(tuples, type=struct).flatten()
    except (pa.ArrowException, *_CONVERSION_ERRORS):
        return None
    for _, kind, at, how in layout:
        if how is None and kind == "int":
            try:
                split[at] = split[at].cast(types["int"], safe=True)
            except (pa.ArrowException, *_CONVERSION_ERRORS):
                # 1.5 (a Struct built by hand) or 2**64 (msgspec decodes any JSON
                # integer): this column alone takes the general path's type.
                values = [t[at] for t in tuples]
                split[at] = _array(pa, values, types["int"] if _fits(values, "int") else None)
    for _, _, at, how in layout:
        if how is None:
            arrays.append(split[at])
        else:
            lookup = getattr(directory, how[1])
            arrays.append(pa.array([lookup(t[at]) for t in tuples], type=pa.string()))
    return [column for column, *_ in layout], arrays


_PYTHON_TYPES: dict[str, tuple[type, ...]] = {
    "int": (int,),
    "float": (int, float),
    "str": (str,),
    "bool": (bool,),
}


def _fits(values: list[Any], kind: str) -> bool:
    """Whether every value is None or of the Python type of ``kind`` (a bool is no int)."""
    allowed = _PYTHON_TYPES.get(kind, ())
    return all(v is None or type(v) in allowed for v in values)


#: A column's values as JSON text; a value JSON has no form for (only in a Struct built
#: by hand) as its repr.
_JSON = msgspec.json.Encoder(enc_hook=repr)


def _array(pa: Any, values: list[Any], arrow_type: Any) -> Any:
    """``values`` as an array of ``arrow_type`` (values ``_fits``); of the type pyarrow
    infers when there is none, the values do not fit it (an int past int64) and the
    inferred type holds them as they are; else as JSON text, which holds any value."""
    if arrow_type is not None:
        try:
            return pa.array(values, type=arrow_type)
        except (pa.ArrowException, *_CONVERSION_ERRORS):
            pass
    try:
        inferred = pa.array(values)
    except (pa.ArrowException, *_CONVERSION_ERRORS):
        pass  # 1 beside "many", a list beside a string, an int past int64
    else:
        if _holds(pa, inferred.type, values):
            return inferred
    encode = _JSON.encode
    return pa.array([None if v is None else encode(v) for v in values], type=pa.string())


def _holds(pa: Any, arrow_type: Any, values: list[Any]) -> bool:
    """Whether ``arrow_type``, inferred by pyarrow from ``values``, holds them as they are.

    pyarrow refuses what its type cannot hold exactly (1.5 beside "x", 2**53 + 1 beside
    1.5), with one exception: beside a float it reads a bool as 1.0 or 0.0, at any depth.
    So only a float inside the type needs the values looked at.
    """
    if pa.types.is_floating(arrow_type):
        return not any(type(v) is bool for v in values)
    if not _has_float(pa, arrow_type):
        return True
    present = [v for v in values if v is not None]
    if pa.types.is_struct(arrow_type):
        return all(
            _holds(pa, field.type, [v.get(field.name) for v in present]) for field in arrow_type
        )
    # A list (the only other nested type pyarrow infers from JSON values).
    return _holds(pa, arrow_type.value_type, [x for v in present for x in v])


def _has_float(pa: Any, arrow_type: Any) -> bool:
    if pa.types.is_floating(arrow_type):
        return True
    if pa.types.is_struct(arrow_type):
        return any(_has_float(pa, field.type) for field in arrow_type)
    if pa.types.is_list(arrow_type) or pa.types.is_large_list(arrow_type):
        return _has_float(pa, arrow_type.value_type)
    return False
