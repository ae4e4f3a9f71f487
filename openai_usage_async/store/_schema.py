"""Tables from the endpoint table: one per endpoint and width, columns from the result type.

``<endpoint>_<width>`` holds ``start_time`` and ``end_time`` (integer Unix seconds), the
endpoint's ``group_by`` columns in the spec's order (NULL when not grouped by them), then
the result's other fields with their upstream names; a cost's ``amount`` becomes
``amount_value`` and ``amount_currency``. Column types come from the result Struct's
annotations (``int`` -> integer, ``float`` -> real, ``str`` -> text, ``bool`` ->
boolean), so a new endpoint needs no edit here. Rows are tuples built straight from the
Structs, never through dicts.
"""

from __future__ import annotations

import dataclasses
import operator
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

import msgspec

from .._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS, EndpointSpec
from ..models import KNOWN_RESULT_TYPES, UsageBucket

__all__ = ["Column", "TableSchema", "schema_for"]

Kind = Literal["integer", "real", "text", "boolean"]

_KINDS: Final[dict[type[msgspec.inspect.Type], Kind]] = {
    msgspec.inspect.IntType: "integer",
    msgspec.inspect.FloatType: "real",
    msgspec.inspect.StrType: "text",
    msgspec.inspect.BoolType: "boolean",
}


@dataclass(frozen=True, slots=True)
class Column:
    """One column: its name and kind (each backend maps kinds to its own types)."""

    name: str
    kind: Kind


def _kind(t: msgspec.inspect.Type, where: str) -> Kind | msgspec.inspect.StructType:
    if isinstance(t, msgspec.inspect.UnionType):
        (t,) = [a for a in t.types if not isinstance(a, msgspec.inspect.NoneType)]
    if isinstance(t, msgspec.inspect.StructType):
        return t
    kind = _KINDS.get(type(t))
    if kind is None:
        raise TypeError(f"{where}: no column kind for {t!r}")
    return kind


@dataclass(frozen=True)
class TableSchema:
    """The table of one endpoint at one width, and how its rows are made."""

    name: str
    spec: EndpointSpec
    bucket_width: str
    result_type: type[Any]
    columns: tuple[Column, ...]
    _pick: Callable[[tuple[Any, ...]], tuple[Any, ...]]
    _nested: tuple[int, int] | None  # (field index, field count) of the one nested Struct
    _order: tuple[int, ...] = ()  # which flattened field each column after the times is

    @property
    def column_names(self) -> tuple[str, ...]:
        return tuple(c.name for c in self.columns)

    @property
    def column_kinds(self) -> tuple[tuple[str, Kind], ...]:
        return tuple((c.name, c.kind) for c in self.columns)

    @property
    def width_s(self) -> int:
        return WIDTH_SECONDS[self.bucket_width]

    def grouped(self, group_by: Sequence[str]) -> TableSchema:
        """The columns a table grouped by ``group_by`` holds values in, and rows of them.

        The endpoint's ``group_by`` columns it is not grouped by are NULL in every row, so
        writes leave them out (fewer values to bind, the same rows stored)."""
        drop = {g for g in self.spec.group_by if g not in group_by}
        if not drop:
            return self
        keep = [i for i, c in enumerate(self.columns[2:]) if c.name not in drop]
        order = tuple(self._order[i] for i in keep)
        return dataclasses.replace(
            self,
            columns=self.columns[:2] + tuple(self.columns[2 + i] for i in keep),
            _pick=_picker(order),
            _order=order,
        )

    def rows(self, buckets: Iterable[UsageBucket[Any]]) -> Iterator[tuple[Any, ...]]:
        """One tuple per result of the table's type; other results (unknown tags) are left
        out: see :meth:`unknown`."""
        result_type, pick, nested = self.result_type, self._pick, self._nested
        astuple = msgspec.structs.astuple
        for bucket in buckets:
            times = (bucket.start_time, bucket.end_time)
            for result in bucket.results:
                if type(result) is not result_type:
                    continue
                values = astuple(result)
                if nested is not None:
                    at, count = nested
                    inner = values[at]
                    flat = astuple(inner) if inner is not None else (None,) * count
                    values = values[:at] + flat + values[at + 1 :]
                yield times + pick(values)

    def unknown(self, buckets: Iterable[UsageBucket[Any]]) -> int:
        """How many results are not of the table's type (tags this version does not know)."""
        t = self.result_type
        return sum(type(r) is not t for b in buckets for r in b.results)


def schema_for(endpoint: str, bucket_width: str) -> TableSchema:
    """The table schema of ``endpoint`` at ``bucket_width``."""
    spec = ENDPOINTS[endpoint]
    result_type = KNOWN_RESULT_TYPES[spec.result_object]
    info = msgspec.inspect.type_info(result_type)
    assert isinstance(info, msgspec.inspect.StructType)
    flat: list[Column] = []  # the result's fields, nested ones flattened, in Struct order
    nested: tuple[int, int] | None = None
    for index, field in enumerate(info.fields):
        kind = _kind(field.type, f"{result_type.__name__}.{field.name}")
        if isinstance(kind, msgspec.inspect.StructType):
            if nested is not None:
                raise TypeError(f"{result_type.__name__}: one nested Struct at most")
            nested = (index, len(kind.fields))
            for sub in kind.fields:
                sub_kind = _kind(sub.type, f"{field.name}.{sub.name}")
                assert not isinstance(sub_kind, msgspec.inspect.StructType)
                flat.append(Column(f"{field.name}_{sub.name}", sub_kind))
        else:
            flat.append(Column(field.name, kind))
    by_name = {c.name: i for i, c in enumerate(flat)}
    missing = [g for g in spec.group_by if g not in by_name]
    if missing:
        raise TypeError(f"{endpoint}: group_by {missing} are not fields of {result_type.__name__}")
    order = [by_name[g] for g in spec.group_by]
    order += [i for i in range(len(flat)) if i not in order]
    columns = (
        Column("start_time", "integer"),
        Column("end_time", "integer"),
        *(flat[i] for i in order),
    )
    return TableSchema(
        f"{endpoint}_{bucket_width}",
        spec,
        bucket_width,
        result_type,
        columns,
        _picker(order),
        nested,
        tuple(order),
    )


def _picker(order: Sequence[int]) -> Callable[[tuple[Any, ...]], tuple[Any, ...]]:
    """A function picking the fields at ``order`` out of a tuple, as a tuple."""
    if len(order) == 1:
        (only,) = order
        return lambda values: (values[only],)
    return operator.itemgetter(*order)
