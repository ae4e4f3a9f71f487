"""The organization directory's list pages and their cursor: pure, like ``cursor.py``.

The admin endpoints (projects, users, a project's API keys and service accounts) answer
``{"object": "list", "data": [...], "first_id", "last_id", "has_more"}`` and page with
``after=<last_id>`` and ``limit`` (1..100, default 20). :class:`ListCursor` sends the
query with only ``after`` changed and refuses to loop: ``has_more: true`` without a
``last_id``, or a ``last_id`` seen before, is an ``APIResponseValidationError``.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Generic, TypeVar

import msgspec

from ..errors import APIResponseValidationError
from ..models import OrganizationUser, Project, ProjectApiKey, ProjectServiceAccount

__all__ = [
    "DIRECTORY_DECODERS",
    "ListCursor",
    "ListDecoder",
    "ListPage",
    "check_limit",
    "check_project_id",
]

T = TypeVar("T")

MAX_LIMIT: Final = 100


class ListPage(msgspec.Struct, Generic[T], frozen=True, kw_only=True, gc=False):
    """One page of a directory list."""

    data: list[T]
    has_more: bool = False
    first_id: str | None = None
    last_id: str | None = None
    object: str = "list"


class ListDecoder(Generic[T]):
    """Bytes to a :class:`ListPage` of one object type."""

    def __init__(self, item_type: type[T], what: str) -> None:
        self.what = what
        self._decoder: msgspec.json.Decoder[ListPage[Any]] = msgspec.json.Decoder(
            ListPage[item_type]  # type: ignore[valid-type]
        )

    def decode(self, body: bytes) -> ListPage[T]:
        try:
            page: ListPage[T] = self._decoder.decode(body)
        except msgspec.ValidationError as exc:
            raise APIResponseValidationError(
                f"the response is not a list of {self.what}: {exc}"
            ) from None
        except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
            raise APIResponseValidationError(
                f"the response is not valid JSON ({exc})", invalid_json=True
            ) from None
        return page


#: What each directory list holds.
DIRECTORY_DECODERS: Final[dict[str, ListDecoder[Any]]] = {
    "projects": ListDecoder(Project, "projects"),
    "users": ListDecoder(OrganizationUser, "users"),
    "api_keys": ListDecoder(ProjectApiKey, "API keys"),
    "service_accounts": ListDecoder(ProjectServiceAccount, "service accounts"),
}


def check_limit(limit: object) -> int | None:
    """``limit`` as sent, or ``ValueError`` naming it."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValueError(f"limit: expected an int, got {limit!r}")
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: {limit} is outside 1..{MAX_LIMIT}")
    return limit


def check_project_id(project_id: object) -> str:
    """The project ID, or ``ValueError`` naming it."""
    if not isinstance(project_id, str) or not project_id.strip():
        raise ValueError(f"project_id: expected a non-empty project ID string, got {project_id!r}")
    return project_id


class ListCursor:
    """Follows ``after`` through one directory list."""

    def __init__(self, pairs: Sequence[tuple[str, str]], what: str) -> None:
        self._pairs = list(pairs)
        self.what = what
        self.done = False
        self.pages = 0
        self._after: str | None = None
        self._seen: set[str] = set()

    def next_request(self) -> list[tuple[str, str]]:
        """The query pairs of the next page (only ``after`` changes)."""
        if self.done:
            raise RuntimeError("the list is complete")
        if self._after is None:
            return list(self._pairs)
        return [*self._pairs, ("after", self._after)]

    def feed(self, page: ListPage[T]) -> list[T]:
        """Take one page; return its objects."""
        self.pages += 1
        if not page.has_more:
            self.done = True
            return page.data
        last = page.last_id
        if not last:
            raise APIResponseValidationError(
                f"{self.what}, page {self.pages}: has_more is true but last_id is missing"
            )
        if last in self._seen:
            raise APIResponseValidationError(
                f"{self.what}, page {self.pages}: last_id {last!r} was already followed (a loop)"
            )
        self._seen.add(last)
        self._after = last
        return page.data
