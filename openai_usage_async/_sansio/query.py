"""Argument validation and query building: Python arguments in, ordered query pairs out.

Every check happens here, before any request, and every refusal is a ``ValueError``
whose message starts with the argument's name (``"limit: 200 exceeds the 1h maximum
(168)"``).
"""

from __future__ import annotations

import datetime as dt
import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, TypeAlias, cast

from .endpoints import WIDTH_SECONDS, EndpointSpec

__all__ = [
    "RANGE_ARGUMENTS",
    "ExtraQuery",
    "Query",
    "TimeArg",
    "check_extra_headers",
    "extra_pairs",
    "to_unix",
    "validate",
]

#: What ``start_time`` / ``end_time`` accept: Unix seconds (``int``, or a ``float`` such as
#: ``time.time() - 86400``) or a timezone-aware datetime.
TimeArg: TypeAlias = int | float | dt.datetime

#: ``extra_query=``: parameters sent as given, after the client's own. A list repeats its
#: key in the official SDK's bracket form (``{"tags": ["a", "b"]}`` sends ``tags[]=a&tags[]=b``,
#: unless the key already ends in ``[]``); booleans go as ``true``/``false``.
ExtraQuery: TypeAlias = Mapping[str, str | int | bool | Sequence[str | int | bool]]

#: The parameters the client sets itself for windows and cursors; ``extra_query`` may not.
RANGE_ARGUMENTS: Final = frozenset({"start_time", "end_time", "bucket_width", "limit", "page"})

# Unix seconds reach 10**11 in the year 5138: a larger number is a finer unit, by its digits.
_FINER_UNITS: Final = ((10**17, "nanoseconds", 10**9), (10**14, "microseconds", 10**6))
_SECONDS_CEILING: Final = 10**11


def to_unix(name: str, value: object, *, round_up: bool = False) -> int:
    """Unix seconds from an ``int``, a ``float`` or a timezone-aware ``datetime``.

    A fraction of a second is floored, or with ``round_up`` (what ``end_time`` uses, so
    the range covers at least the instant given) rounded up. A number too large for
    seconds (a 13-digit ``int(time.time() * 1000)``) is refused as milliseconds rather
    than read as a date tens of thousands of years away.
    """
    if isinstance(value, bool) or not isinstance(value, int | float | dt.datetime):
        raise ValueError(
            f"{name}: expected Unix seconds (int or float) or a timezone-aware datetime, "
            f"got {type(value).__name__} {value!r}"
        )
    if isinstance(value, dt.datetime):
        if value.tzinfo is None or value.utcoffset() is None:
            raise ValueError(
                f"{name}: naive datetime {value.isoformat()} is ambiguous; "
                "give it a timezone (e.g. tzinfo=datetime.timezone.utc) or pass Unix seconds"
            )
        delta = value - dt.datetime(1970, 1, 1, tzinfo=dt.UTC)
        seconds, micros = divmod(delta // dt.timedelta(microseconds=1), 1_000_000)
        return seconds + 1 if round_up and micros else seconds
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name}: {value} is not a time; expected Unix seconds")
    if value < 0:
        raise ValueError(f"{name}: {value} is before 1970; expected Unix seconds")
    if value >= _SECONDS_CEILING:
        unit, per_second = "milliseconds", 1000
        for floor, finer, scale in _FINER_UNITS:
            if value >= floor:
                unit, per_second = finer, scale
                break
        raise ValueError(
            f"{name}: {value!r} looks like {unit}, not Unix seconds; "
            f"pass {name}={int(value // per_second)} (or a datetime)"
        )
    return math.ceil(value) if round_up else math.floor(value)


def extra_pairs(
    extra_query: object, reserved: Iterable[str] = RANGE_ARGUMENTS
) -> tuple[tuple[str, str], ...]:
    """``extra_query`` as query pairs, or ``ValueError`` naming it.

    Keys in ``reserved`` (with or without ``[]``) are refused: the client sets those
    itself on every window and page.
    """
    if extra_query is None:
        return ()
    if not isinstance(extra_query, Mapping):
        raise ValueError(f"extra_query: expected a mapping of parameters, got {extra_query!r}")
    refused = frozenset(reserved)
    out: list[tuple[str, str]] = []
    for key, value in extra_query.items():
        if not isinstance(key, str) or not key:
            raise ValueError(f"extra_query: keys must be non-empty strings, got {key!r}")
        if key.removesuffix("[]") in refused:
            raise ValueError(
                f"extra_query: {key!r} is set by the client on every window and page; "
                f"pass it as the {key.removesuffix('[]')}= argument"
            )
        if isinstance(value, str | int | float):  # bool is an int
            out.append((key, _scalar(key, value)))
        elif isinstance(value, Sequence) and not isinstance(value, bytes):
            bracketed = key if key.endswith("[]") else f"{key}[]"
            out += [(bracketed, _scalar(key, item)) for item in value]
        else:
            raise ValueError(
                f"extra_query: {key!r}: expected a string, a number, a bool or a list of them, "
                f"got {value!r}"
            )
    return tuple(out)


def _scalar(key: str, value: object) -> str:
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, str | int | float):
        return str(value)
    raise ValueError(f"extra_query: {key!r}: expected a string, a number or a bool, got {value!r}")


def check_extra_headers(extra_headers: object) -> tuple[tuple[str, str], ...]:
    """``extra_headers`` as (name, value) pairs, or ``ValueError`` naming it.

    ``Authorization`` is refused (the key comes from the client's ``api_key`` alone, so a
    call can neither replace it nor send it somewhere else); a value is never echoed.
    """
    if extra_headers is None:
        return ()
    if not isinstance(extra_headers, Mapping):
        raise ValueError("extra_headers: expected a mapping of header names to strings")
    out: list[tuple[str, str]] = []
    for name, value in extra_headers.items():
        if not isinstance(name, str) or not name or any(c in name for c in ":\r\n \t"):
            raise ValueError(f"extra_headers: {name!r} is not a header name")
        if name.lower() in ("authorization", "proxy-authorization"):
            raise ValueError(
                f"extra_headers: {name!r} is set by the client from api_key and cannot be "
                "given per call; make another client for another key"
            )
        if not isinstance(value, str) or "\r" in value or "\n" in value:
            raise ValueError(f"extra_headers: the value of {name!r} must be a one-line string")
        out.append((name, value))
    return tuple(out)


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
    #: ``extra_query`` pairs, sent as given after the others on every window and page.
    extra: tuple[tuple[str, str], ...] = ()

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
        out += self.extra
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


def _instant(value: object) -> float:
    # Only called on values to_unix accepted: numbers and aware datetimes.
    return value.timestamp() if isinstance(value, dt.datetime) else float(cast(float, value))


def _shown(value: object) -> str:
    return value.isoformat() if isinstance(value, dt.datetime) else repr(value)


def validate(
    spec: EndpointSpec,
    *,
    start_time: object,
    end_time: object = None,
    bucket_width: object = None,
    limit: object = None,
    group_by: object = None,
    filters: Mapping[str, Any] | None = None,
    extra_query: object = None,
) -> Query:
    """Check every argument against ``spec``; return the normalized :class:`Query`."""
    start = to_unix("start_time", start_time)
    end = None if end_time is None else to_unix("end_time", end_time, round_up=True)
    if end is not None and (end <= start or _instant(end_time) <= _instant(start_time)):
        raise ValueError(
            f"end_time: {_shown(end_time)} is not after start_time ({_shown(start_time)})"
        )
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
    extra = extra_pairs(extra_query)
    return Query(spec, start, end, width, limit, groups, tuple(checked), extra)
