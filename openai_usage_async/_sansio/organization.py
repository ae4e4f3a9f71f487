"""The organization directory's list pages and their cursor: pure, like ``cursor.py``.

The admin endpoints (projects, users, a project's API keys and service accounts) answer
``{"object": "list", "data": [...], "first_id", "last_id", "has_more"}`` and page with
``after=<last_id>`` and ``limit`` (1..100, default 20). :class:`ListCursor` sends the
query with only ``after`` changed and refuses to loop: ``has_more: true`` without a
``last_id``, or a ``last_id`` seen before, is an ``APIResponseValidationError``.

:func:`skipped_listing` is the rule that keeps one project's failing listing from
failing the whole directory: which errors leave that listing out, and which one the
service documents (the 400 for an archived project's service accounts).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Final, Generic, Literal, TypeVar, get_args

import msgspec

from ..errors import (
    APIError,
    APIResponseValidationError,
    APIStatusError,
    AuthenticationError,
    BadRequestError,
    PermissionDeniedError,
)
from ..models import (
    OrganizationUser,
    Project,
    ProjectApiKey,
    ProjectServiceAccount,
    SkippedListing,
)

__all__ = [
    "DIRECTORY_DECODERS",
    "ListCursor",
    "ListDecoder",
    "ListPage",
    "OwnerProjectAccess",
    "check_limit",
    "check_owner_project_access",
    "check_project_id",
    "skipped_listing",
]

T = TypeVar("T")

MAX_LIMIT: Final = 100

#: The api_keys listing's ``owner_project_access`` filter: keys whose owner has access to
#: the project, keys whose owner has not, or every enabled key. Left out, the service
#: applies membership rules that may hide enabled keys (SDK 3.63, ``APIKeyListParams``).
OwnerProjectAccess = Literal["active", "inactive", "any"]


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


def check_owner_project_access(value: object) -> str | None:
    """``owner_project_access`` as sent, or ``ValueError`` naming it."""
    if value is None:
        return None
    choices = get_args(OwnerProjectAccess)
    if not isinstance(value, str) or value not in choices:
        raise ValueError(
            f"owner_project_access: expected one of {', '.join(map(repr, choices))}, got {value!r}"
        )
    return value


def skipped_listing(
    project: Project, listing: Literal["api_keys", "service_accounts"], exc: APIError
) -> SkippedListing | None:
    """What the directory records when one project's listing failed with ``exc`` (after the
    client's retries); None when the error must reach the caller instead.

    401 and 403 are about the key, not the project: every other listing would fail the
    same way, so they propagate. Anything else (the archived project's 400, a 404 for a
    project deleted since it was listed, a 5xx or a connection failure that outlived the
    retries, a body that is not a list) leaves this one listing out. The OpenAPI document
    (2026-08-21) documents a 400 "project is archived" for an archived project's
    ``service_accounts``: that one is ``expected``.
    """
    if isinstance(exc, AuthenticationError | PermissionDeniedError):
        return None
    status = (
        exc.status_code if isinstance(exc, APIStatusError | APIResponseValidationError) else None
    )
    archived = project.status == "archived" or project.archived_at is not None
    expected = listing == "service_accounts" and archived and isinstance(exc, BadRequestError)
    return SkippedListing(
        project_id=project.id,
        listing=listing,
        status_code=status,
        reason=str(exc),
        expected=expected,
    )


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
