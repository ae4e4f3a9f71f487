"""A fake :class:`Sender`: scripted responses and errors, every request recorded."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import msgspec

from openai_usage_async._transport import RawResponse

PAGE = {"object": "page", "data": [], "has_more": False, "next_page": None}
ERROR = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}


def response(
    status: int = 200, body: object = PAGE, headers: Mapping[str, str] | None = None
) -> RawResponse:
    """A scripted answer; ``body`` is JSON-encoded unless it is bytes."""
    raw = body if isinstance(body, bytes) else msgspec.json.encode(body)
    return RawResponse(status, {k.lower(): v for k, v in (headers or {}).items()}, raw)


@dataclass
class Sent:
    url: str
    query: list[tuple[str, str]]
    headers: dict[str, str]


@dataclass
class FakeSender:
    """Answers each request with the next scripted item (raising it if an exception)."""

    script: list[RawResponse | BaseException]
    sent: list[Sent] = field(default_factory=list)
    closed: bool = False

    async def send(
        self, url: str, query: Sequence[tuple[str, str]], headers: Mapping[str, str]
    ) -> RawResponse:
        self.sent.append(Sent(url, list(query), dict(headers)))
        item = self.script.pop(0)
        if isinstance(item, BaseException):
            raise item
        return item

    async def aclose(self) -> None:
        self.closed = True
