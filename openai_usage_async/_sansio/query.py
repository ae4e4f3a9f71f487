"""Argument validation and query building: Python arguments in, ordered query pairs out.

Every check happens here, before any request, and every refusal is a ``ValueError``
whose message starts with the argument's name (``"limit: 200 exceeds the 1h maximum
(168)"``).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from typing import Any, TypeAlias

from .endpoints import WIDTH_SECONDS, EndpointSpec

__all__ = ["Query", "TimeArg", "to_unix", "validate"]

#: What ``start_time`` / ``end_time`` accept: Unix seconds or an aware datetime.
TimeArg: TypeAlias = "int | dt.datetime"


def to_unix(name: str, value: object) -> int:
    """Unix seconds from an ``int`` or a timezone-aware ``datetime`` (floored)."""
    if isinstance(value, bool) or not isinstance(value, int | dt.datetime):
        raise ValueError(
            f"{name}: expected Unix seconds (int) or a timezone-aware datetime, "
            f"got {type(value).__name__} {value!r}"
        )
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name}: naive datetime {value.isoformat()} is ambiguous; "
                "give it a timezone (e.g. tzinfo=datetime.timezone.utc) or pass Unix seconds"
            )
        seconds = value.timestamp()
        return int(seconds // 1)
    if value < 0:
        raise ValueError(f"{name}: {value} is before 1970; expected Unix seconds")
    return value


@dataclass(frozen=True, slots=True)
class Query:
    """One endpoint's validated arguments; :meth:`pairs` renders the query string."""

    spec: EndpointSpec
    start_time: int
    end_time: int | None
    bucket_width: str
    limit: int | None
    group_by: tuple[str, ...]
    filters: tuple[tuple[str, tuple[str, ...] | bool], ...]

    @property
    def width_s(self) -> int:
        """The bucket width in seconds."""
        return WIDTH_SECONDS[self.bucket_width]

    @property
    def page_size(self) -> int:
        """Buckets per page: ``limit``, else the endpoint's maximum for the width."""
        return self.limit if self.limit is not None else self.spec.max_limit(self.bucket_width)

    def pairs(
        self,
        *,
        start_time: int | None = None,
        end_time: int | None = None,
        limit: int | None = None,
        page: str | None = None,
    ) -> list[tuple[str, str]]:
        """Query pairs, in a stable order; the keywords override this query's values.

        Arrays repeat their key in the official SDK's bracket form (``group_by[]=model``);
        booleans are ``true``/``false``. See https://platform.openai.com/docs/api-reference/usage
        """
        out = [("start_time", str(self.start_time if start_time is None else start_time))]
        end = self.end_time if end_time is None else end_time
        if end is not None:
            out.append(("end_time", str(end)))
        out.append(("bucket_width", self.bucket_width))
        size = self.limit if limit is None else limit
        if size is not None:
            out.append(("limit", str(size)))
        out += [("group_by[]", g) for g in self.group_by]
        for name, value in self.filters:
            if isinstance(value, bool):
                out.append((name, "true" if value else "false"))
            else:
                out += [(f"{name}[]", v) for v in value]
        if page is not None:
            out.append(("page", page))
        return out


def _strings(name: str, value: object) -> tuple[str, ...]:
    items: Iterable[object] = (value,) if isinstance(value, str) else _iterable(name, value)
    out: list[str] = []
    for item in items:
        if not isinstance(item, str) or not item:
            raise ValueError(f"{name}: expected non-empty strings, got {item!r}")
        if item not in out:
            out.append(item)
    return tuple(out)


def _iterable(name: str, value: object) -> Iterable[object]:
    if isinstance(value, Iterable) and not isinstance(value, bytes | Mapping):
        return value
    raise ValueError(f"{name}: expected a string or a list of strings, got {value!r}")


def validate(
    spec: EndpointSpec,
    *,
    start_time: object,
    end_time: object = None,
    bucket_width: object = None,
    limit: object = None,
    group_by: object = None,
    filters: Mapping[str, Any] | None = None,
) -> Query:
    """Check every argument against ``spec``; return the normalized :class:`Query`."""
    start = to_unix("start_time", start_time)
    end = None if end_time is None else to_unix("end_time", end_time)
    if end is not None and end <= start:
        raise ValueError(f"end_time: {end} is not after start_time ({start})")
    width = spec.default_width if bucket_width is None else bucket_width
    if not isinstance(width, str) or width not in spec.limits:
        raise ValueError(
            f"bucket_width: {width!r} is not supported by {spec.name} "
            f"(supported: {', '.join(spec.widths)})"
        )
    if limit is not None:
        if isinstance(limit, bool) or not isinstance(limit, int):
            raise ValueError(f"limit: expected an int, got {limit!r}")
        maximum = spec.max_limit(width)
        if limit < 1:
            raise ValueError(f"limit: {limit} is below 1")
        if limit > maximum:
            raise ValueError(
                f"limit: {limit} exceeds the {width} maximum ({maximum}) of {spec.name}"
            )
    groups: tuple[str, ...] = ()
    if group_by is not None:
        groups = _strings("group_by", group_by)
        for g in groups:
            if g not in spec.group_by:
                raise ValueError(
                    f"group_by: {g!r} is not a group_by value of {spec.name} "
                    f"(supported: {', '.join(spec.group_by)})"
                )
    checked: list[tuple[str, tuple[str, ...] | bool]] = []
    for name, value in (filters or {}).items():
        fspec = spec.filters.get(name)
        if fspec is None:
            known = ", ".join(spec.filters) or "none"
            raise ValueError(f"{name}: not an argument of {spec.name} (its filters: {known})")
        if value is None:
            continue
        if fspec.kind == "bool":
            if not isinstance(value, bool):
                raise ValueError(f"{name}: expected True or False, got {value!r}")
            checked.append((name, value))
            continue
        values = _strings(name, value)
        if not values:
            raise ValueError(f"{name}: empty; leave it out to include everything")
        if fspec.choices is not None:
            for v in values:
                if v not in fspec.choices:
                    raise ValueError(f"{name}: {v!r} is not one of {', '.join(fspec.choices)}")
        checked.append((name, values))
    return Query(spec, start, end, width, limit, groups, tuple(checked))
