"""``client.organization``: the directory that names the IDs in usage data; glue only."""

from __future__ import annotations

import builtins
import functools
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, TypeVar

import anyio
import msgspec

from ._fanout import first_error
from ._sansio.organization import (
    DIRECTORY_DECODERS,
    ListCursor,
    ListPage,
    check_limit,
    check_project_id,
)
from ._sansio.query import ExtraQuery, _strings, check_extra_headers, extra_pairs
from ._sansio.responses import decipher
from .models import Directory, OrganizationUser, Project, ProjectApiKey, ProjectServiceAccount

if TYPE_CHECKING:
    from ._client import AsyncUsageClient

__all__ = ["Organization"]

T = TypeVar("T")

#: Page size the directory asks for: the maximum, so an organization is few requests.
_PAGE = 100


#: The parameters a directory list sets itself; `extra_query` may not.
_LIST_ARGUMENTS = ("limit", "after")


def _follow(
    client: AsyncUsageClient,
    path: str,
    pairs: list[tuple[str, str]],
    kind: str,
    extras: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]],
) -> AsyncIterator[Any]:
    extra_query, extra_headers = extras
    return _pages(client, path, [*pairs, *extra_query], kind, extra_headers)


async def _pages(
    client: AsyncUsageClient,
    path: str,
    pairs: list[tuple[str, str]],
    kind: str,
    extra_headers: tuple[tuple[str, str], ...],
) -> AsyncIterator[Any]:
    cursor = ListCursor(pairs, f"{kind} ({path})")
    decoder: Any = DIRECTORY_DECODERS[kind]
    decode = functools.partial(decipher, decode=decoder.decode)
    requester = client._requester
    while not cursor.done:
        request = cursor.next_request()
        page: ListPage[Any] = await requester.get(
            path, request, decode, extra_headers=extra_headers
        )
        for item in cursor.feed(page):
            yield item


def _limit_pairs(limit: int | None) -> list[tuple[str, str]]:
    checked = check_limit(limit)
    return [] if checked is None else [("limit", str(checked))]


def _extras(
    extra_query: object, extra_headers: object
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Both checked before any request (``ValueError`` naming the argument)."""
    return extra_pairs(extra_query, _LIST_ARGUMENTS), check_extra_headers(extra_headers)


class _ProjectListing(Generic[T]):
    """One list of a project: its API keys or its service accounts."""

    #: The path segment after ``/organization/projects/<id>/``, and the decoder's kind.
    _kind: ClassVar[str]

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    def iter(
        self,
        project_id: str,
        *,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[T]:
        """Every one of the project (``limit`` is the page size, 1..100), each with its
        ``project_id`` set."""
        quoted = urllib.parse.quote(check_project_id(project_id), safe="")
        path = f"/organization/projects/{quoted}/{self._kind}"
        extras = _extras(extra_query, extra_headers)
        pages = _follow(self._client, path, _limit_pairs(limit), self._kind, extras)
        return _with_project(pages, project_id)

    async def list(
        self,
        project_id: str,
        *,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> builtins.list[T]:
        """:meth:`iter` collected."""
        items = self.iter(
            project_id, limit=limit, extra_query=extra_query, extra_headers=extra_headers
        )
        return [i async for i in items]


class ProjectApiKeys(_ProjectListing[ProjectApiKey]):
    """``client.organization.projects.api_keys``: the API keys of one project."""

    _kind = "api_keys"


class ProjectServiceAccounts(_ProjectListing[ProjectServiceAccount]):
    """``client.organization.projects.service_accounts``: the service accounts of a project."""

    _kind = "service_accounts"


async def _with_project(items: AsyncIterator[T], project_id: str) -> AsyncIterator[T]:
    async for item in items:
        yield msgspec.structs.replace(item, project_id=project_id)  # type: ignore[type-var]


class Projects:
    """``client.organization.projects``, with ``api_keys`` and ``service_accounts``."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client
        self.api_keys = ProjectApiKeys(client)
        self.service_accounts = ProjectServiceAccounts(client)

    def iter(
        self,
        *,
        include_archived: bool = False,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[Project]:
        """Every project; archived ones too with ``include_archived=True``."""
        if not isinstance(include_archived, bool):
            raise ValueError(f"include_archived: expected True or False, got {include_archived!r}")
        pairs = _limit_pairs(limit)
        if include_archived:
            pairs.append(("include_archived", "true"))
        extras = _extras(extra_query, extra_headers)
        return _follow(self._client, "/organization/projects", pairs, "projects", extras)

    async def list(
        self,
        *,
        include_archived: bool = False,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> builtins.list[Project]:
        """:meth:`iter` collected."""
        projects = self.iter(
            include_archived=include_archived,
            limit=limit,
            extra_query=extra_query,
            extra_headers=extra_headers,
        )
        return [p async for p in projects]


class Users:
    """``client.organization.users``: the members of the organization."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    def iter(
        self,
        *,
        emails: str | Sequence[str] | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[OrganizationUser]:
        """Every user, or those with the given ``emails``."""
        pairs = _limit_pairs(limit)
        if emails is not None:
            wanted = _strings("emails", emails)
            if not wanted:
                raise ValueError("emails: empty; leave it out to list every user")
            pairs += [("emails[]", e) for e in wanted]
        extras = _extras(extra_query, extra_headers)
        return _follow(self._client, "/organization/users", pairs, "users", extras)

    async def list(
        self,
        *,
        emails: str | Sequence[str] | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> builtins.list[OrganizationUser]:
        """:meth:`iter` collected."""
        users = self.iter(
            emails=emails, limit=limit, extra_query=extra_query, extra_headers=extra_headers
        )
        return [u async for u in users]


class Organization:
    """``client.organization``: projects, users, API keys and service accounts, and
    :meth:`directory`, all of them at once. A key that may read usage but not the
    directory gets ``PermissionDeniedError`` (403) here.

    Every method takes ``extra_query`` and ``extra_headers``, sent as given on every page
    as :class:`~openai_usage_async.Endpoint` sends them (``limit`` and ``after`` are the
    client's to set; ``Authorization`` is never replaced)."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self.projects = Projects(client)
        self.users = Users(client)

    def __repr__(self) -> str:
        return "<Organization projects, users, projects.api_keys, projects.service_accounts>"

    async def directory(
        self,
        *,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Directory:
        """Everything the organization names, fetched concurrently under the client's bound:
        projects (archived ones included), users, and every project's API keys and
        service accounts. ``extra_query`` and ``extra_headers`` go with every request."""
        _extras(extra_query, extra_headers)  # checked before any request
        extra: dict[str, Any] = {"extra_query": extra_query, "extra_headers": extra_headers}
        users: builtins.list[OrganizationUser] = []
        keys: dict[str, builtins.list[ProjectApiKey]] = {}
        accounts: dict[str, builtins.list[ProjectServiceAccount]] = {}

        async def load_users() -> None:
            users.extend(await self.users.list(limit=_PAGE, **extra))

        async def load_project(project_id: str) -> None:
            keys[project_id] = await self.projects.api_keys.list(project_id, limit=_PAGE, **extra)

        async def load_accounts(project_id: str) -> None:
            accounts[project_id] = await self.projects.service_accounts.list(
                project_id, limit=_PAGE, **extra
            )

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(load_users)
                projects = await self.projects.list(include_archived=True, limit=_PAGE, **extra)
                for project in projects:
                    tg.start_soon(load_project, project.id)
                    tg.start_soon(load_accounts, project.id)
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        return Directory(
            projects=projects,
            users=users,
            api_keys=[k for p in projects for k in keys[p.id]],
            service_accounts=[a for p in projects for a in accounts[p.id]],
        )
