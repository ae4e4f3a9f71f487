"""Bytes to typed pages, with msgspec, never through ``json.loads`` or dicts.

Each endpoint has its own :class:`PageDecoder`, built once at import: its fast path
decodes a whole page in one call into ``UsagePage[ThatEndpointsResult]``. msgspec has no
catch-all tag (msgspec issues #691 and #649), so when that fails (an unknown tag, the
bucket list spelled ``result``) the slow path decodes the page with each result left as
``msgspec.Raw``, then each result on its own: the endpoint's own tag must decode into its
type, a tag this version does not know becomes an ``UnknownResult`` keeping every field,
and another endpoint's known tag (a costs result in an ``audio_speeches`` page) makes the
page invalid. Only invalid pages fail, with ``APIResponseValidationError``.
"""

from __future__ import annotations

from collections.abc import Mapping
from types import MappingProxyType
from typing import Any, Final, Generic, TypeVar, Union

import msgspec

from ..errors import APIResponseValidationError
from ..models import KNOWN_RESULT_TYPES, UnknownResult, UsageBucket, UsagePage
from .endpoints import ENDPOINTS

__all__ = ["DECODERS", "PageDecoder", "decode_page"]

R = TypeVar("R")


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


class _Never(msgspec.Struct, tag_field="object", tag="\x00never"):
    """A tag no result has. msgspec accepts a lone tagged Struct with its tag missing;
    in a union with this one, the tag is required (and never matches this one)."""


_RAW_PAGE: Final = msgspec.json.Decoder(_RawPage)
_TAG: Final = msgspec.json.Decoder(_Tag)
_FIELDS: Final = msgspec.json.Decoder(dict[str, Any])


class PageDecoder(Generic[R]):
    """Decodes the pages of one endpoint, whose results are ``result_type``."""

    def __init__(self, result_type: type[R]) -> None:
        self.result_type = result_type
        self.tag = str(result_type.__struct_config__.tag)  # type: ignore[attr-defined]
        tagged: Any = Union[result_type, _Never]  # noqa: UP007  (a runtime union)
        self._page: msgspec.json.Decoder[Any] = msgspec.json.Decoder(UsagePage[tagged])
        self._result: msgspec.json.Decoder[Any] = msgspec.json.Decoder(tagged)

    def decode(self, body: bytes) -> UsagePage[R | UnknownResult]:
        """Decode one page; raise ``APIResponseValidationError`` if it is not one."""
        try:
            page: UsagePage[R | UnknownResult] = self._page.decode(body)
            return page
        except msgspec.ValidationError:
            pass  # valid JSON of another shape: the slow path sorts it out
        except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
            # Not JSON at all (truncated, garbled, not UTF-8): msgspec raises
            # UnicodeDecodeError, not DecodeError, for a string that is not UTF-8.
            raise APIResponseValidationError(
                f"the response is not valid JSON ({exc})", body=_preview(body), invalid_json=True
            ) from None
        try:
            return self._decode_slowly(body)
        except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
            raise APIResponseValidationError(
                f"the response is not a usage page: {exc}", body=_preview(body)
            ) from None

    def _decode_slowly(self, body: bytes) -> UsagePage[R | UnknownResult]:
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
                self._decode_result(item, f"$.data[{i}].results[{j}]")
                for j, item in enumerate(items)
            ]
            buckets.append(
                UsageBucket(start_time=rb.start_time, end_time=rb.end_time, results=results)
            )
        return UsagePage(data=buckets, has_more=raw.has_more, next_page=raw.next_page)

    def _decode_result(self, raw: msgspec.Raw, where: str) -> R | UnknownResult:
        try:
            tag = _TAG.decode(raw).object
        except msgspec.ValidationError:
            raise APIResponseValidationError(f"result {where} has no string `object` tag") from None
        if tag == self.tag:
            try:
                result: R = self._result.decode(raw)
                return result
            except msgspec.ValidationError as exc:
                raise APIResponseValidationError(
                    f"result {where} ({tag}) is invalid: {exc}"
                ) from None
        if tag in KNOWN_RESULT_TYPES:
            raise APIResponseValidationError(
                f"result {where} is a {tag}, not a {self.tag}: the page is not from this endpoint"
            )
        return UnknownResult(object=tag, fields=_FIELDS.decode(raw))


#: endpoint name -> its page decoder, built once.
DECODERS: Final[Mapping[str, PageDecoder[Any]]] = MappingProxyType(
    {name: PageDecoder(KNOWN_RESULT_TYPES[spec.result_object]) for name, spec in ENDPOINTS.items()}
)


def decode_page(body: bytes, endpoint: str) -> UsagePage[Any]:
    """Decode one page of ``endpoint`` (a ``client.usage`` attribute name)."""
    return DECODERS[endpoint].decode(body)


def _preview(body: bytes, limit: int = 500) -> str:
    text = body[:limit].decode("utf-8", "replace")
    return text + ("..." if len(body) > limit else "")
