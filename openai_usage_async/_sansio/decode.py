"""Bytes to typed pages, with msgspec, never through ``json.loads`` or dicts.

The fast path decodes a whole page in one call into ``UsagePage[KnownResult]``, a tagged
union on ``object``. msgspec has no catch-all tag (msgspec issues #691 and #649), so when
that fails (an unknown tag, the bucket list spelled ``result``) the slow path decodes
the page with each result left as ``msgspec.Raw``, then each result on its own: a known
tag must decode into its type, an unknown one becomes an ``UnknownResult`` keeping every
field. Only malformed pages fail, with ``APIResponseValidationError``.
"""

from __future__ import annotations

from typing import Any, Final

import msgspec

from ..errors import APIResponseValidationError
from ..models import KNOWN_RESULT_TYPES, KnownResult, UnknownResult, UsageBucket, UsagePage

__all__ = ["decode_page"]


class _Tag(msgspec.Struct):
    object: str


class _RawBucket(msgspec.Struct):
    start_time: int
    end_time: int
    # The live service and the SDKs say `results`; the OpenAPI document says `result`
    # (https://platform.openai.com/docs/api-reference/usage/object). Accept both.
    results: list[msgspec.Raw] | None = None
    result: list[msgspec.Raw] | None = None
    object: str = "bucket"


class _RawPage(msgspec.Struct):
    data: list[_RawBucket]
    has_more: bool
    next_page: str | None = None
    object: str = "page"


_PAGE: Final = msgspec.json.Decoder(UsagePage[KnownResult])
_RAW_PAGE: Final = msgspec.json.Decoder(_RawPage)
_RESULT: Final = msgspec.json.Decoder(KnownResult)
_TAG: Final = msgspec.json.Decoder(_Tag)
_FIELDS: Final = msgspec.json.Decoder(dict[str, Any])


def decode_page(body: bytes) -> UsagePage[Any]:
    """Decode one page; raise ``APIResponseValidationError`` if it is not one."""
    try:
        return _PAGE.decode(body)
    except msgspec.ValidationError:
        pass  # valid JSON of another shape: the slow path sorts it out
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        # Not JSON at all (truncated, garbled, not UTF-8): msgspec raises UnicodeDecodeError,
        # not DecodeError, for a string that is not UTF-8.
        raise APIResponseValidationError(
            f"the response is not valid JSON ({exc})", body=_preview(body), invalid_json=True
        ) from None
    try:
        return _decode_slowly(body)
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise APIResponseValidationError(
            f"the response is not a usage page: {exc}", body=_preview(body)
        ) from None


def _decode_slowly(body: bytes) -> UsagePage[Any]:
    try:
        raw = _RAW_PAGE.decode(body)
    except msgspec.ValidationError as exc:
        raise APIResponseValidationError(
            f"the response is not a usage page: {exc}", body=_preview(body)
        ) from None
    buckets = []
    for i, rb in enumerate(raw.data):
        items = rb.results if rb.results is not None else rb.result
        if items is None:
            raise APIResponseValidationError(
                f"the response is not a usage page: bucket $.data[{i}] has no results",
                body=_preview(body),
            )
        results = [
            _decode_result(item, f"$.data[{i}].results[{j}]") for j, item in enumerate(items)
        ]
        buckets.append(UsageBucket(start_time=rb.start_time, end_time=rb.end_time, results=results))
    return UsagePage(data=buckets, has_more=raw.has_more, next_page=raw.next_page)


def _decode_result(raw: msgspec.Raw, where: str) -> Any:
    try:
        return _RESULT.decode(raw)
    except msgspec.ValidationError as exc:
        error = exc
    try:
        tag = _TAG.decode(raw).object
    except msgspec.ValidationError:
        raise APIResponseValidationError(f"result {where} has no string `object` tag") from None
    if tag in KNOWN_RESULT_TYPES:
        raise APIResponseValidationError(f"result {where} ({tag}) is invalid: {error}") from None
    return UnknownResult(object=tag, fields=_FIELDS.decode(raw))


def _preview(body: bytes, limit: int = 500) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("..." if len(body) > limit else "")
