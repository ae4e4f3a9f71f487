"""``client.organization``: the directory that names the IDs in usage data; glue only."""

from __future__ import annotations

import builtins
import functools
import urllib.parse
from collections.abc import AsyncIterator, Sequence
from typing import TYPE_CHECKING, Any, TypeVar

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
from ._sansio.query import _strings
from ._sansio.responses import decipher
from .models import Directory, OrganizationUser, Project, ProjectApiKey, ProjectServiceAccount

if TYPE_CHECKING:
    from ._client import AsyncUsageClient

__all__ = ["Organization"]

T = TypeVar("T")

#: Page size the directory asks for: the maximum, so an organization is few requests.
_PAGE = 100


async def _follow(
    client: AsyncUsageClient, path: str, pairs: list[tuple[str, str]], kind: str
) -> AsyncIterator[Any]:
    cursor = ListCursor(pairs, f"{kind} ({path})")
    decoder: Any = DIRECTORY_DECODERS[kind]
    decode = functools.partial(decipher, decode=decoder.decode)
    while not cursor.done:
        page: ListPage[Any] = await client._requester.get(path, cursor.next_request(), decode)
        for item in cursor.feed(page):
            yield item


def _limit_pairs(limit: int | None) -> list[tuple[str, str]]:
    checked = check_limit(limit)
    return [] if checked is None else [("limit", str(checked))]


class ProjectApiKeys:
    """``client.organization.projects.api_keys``: the API keys of one project."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    def iter(self, project_id: str, *, limit: int | None = None) -> AsyncIterator[ProjectApiKey]:
        """Every API key of the project (``limit`` is the page size, 1..100)."""
        quoted = urllib.parse.quote(check_project_id(project_id), safe="")
        path = f"/organization/projects/{quoted}/api_keys"
        return _with_project(
            _follow(self._client, path, _limit_pairs(limit), "api_keys"), project_id
        )

    async def list(
        self, project_id: str, *, limit: int | None = None
    ) -> builtins.list[ProjectApiKey]:
        """:meth:`iter` collected."""
        return [k async for k in self.iter(project_id, limit=limit)]


class ProjectServiceAccounts:
    """``client.organization.projects.service_accounts``: the service accounts of a project."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    def iter(
        self, project_id: str, *, limit: int | None = None
    ) -> AsyncIterator[ProjectServiceAccount]:
        """Every service account of the project (``limit`` is the page size, 1..100)."""
        quoted = urllib.parse.quote(check_project_id(project_id), safe="")
        path = f"/organization/projects/{quoted}/service_accounts"
        pages = _follow(self._client, path, _limit_pairs(limit), "service_accounts")
        return _with_project(pages, project_id)

    async def list(
        self, project_id: str, *, limit: int | None = None
    ) -> builtins.list[ProjectServiceAccount]:
        """:meth:`iter` collected."""
        return [a async for a in self.iter(project_id, limit=limit)]


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
        self, *, include_archived: bool = False, limit: int | None = None
    ) -> AsyncIterator[Project]:
        """Every project; archived ones too with ``include_archived=True``."""
        if not isinstance(include_archived, bool):
            raise ValueError(f"include_archived: expected True or False, got {include_archived!r}")
        pairs = _limit_pairs(limit)
        if include_archived:
            pairs.append(("include_archived", "true"))
        return _follow(self._client, "/organization/projects", pairs, "projects")

    async def list(
        self, *, include_archived: bool = False, limit: int | None = None
    ) -> builtins.list[Project]:
        """:meth:`iter` collected."""
        return [p async for p in self.iter(include_archived=include_archived, limit=limit)]


class Users:
    """``client.organization.users``: the members of the organization."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    def iter(
        self, *, emails: str | Sequence[str] | None = None, limit: int | None = None
    ) -> AsyncIterator[OrganizationUser]:
        """Every user, or those with the given ``emails``."""
        pairs = _limit_pairs(limit)
        if emails is not None:
            wanted = _strings("emails", emails)
            if not wanted:
                raise ValueError("emails: empty; leave it out to list every user")
            pairs += [("emails[]", e) for e in wanted]
        return _follow(self._client, "/organization/users", pairs, "users")

    async def list(
        self, *, emails: str | Sequence[str] | None = None, limit: int | None = None
    ) -> builtins.list[OrganizationUser]:
        """:meth:`iter` collected."""
        return [u async for u in self.iter(emails=emails, limit=limit)]


class Organization:
    """``client.organization``: projects, users, API keys and service accounts, and
    :meth:`directory`, all of them at once. A key that may read usage but not the
    directory gets ``PermissionDeniedError`` (403) here."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self.projects = Projects(client)
        self.users = Users(client)

    def __repr__(self) -> str:
        return "<Organization projects, users, projects.api_keys, projects.service_accounts>"

    async def directory(self) -> Directory:
        """Everything the organization names, fetched concurrently under the client's bound:
        projects (archived ones included), users, and every project's API keys and
        service accounts."""
        users: builtins.list[OrganizationUser] = []
        keys: dict[str, builtins.list[ProjectApiKey]] = {}
        accounts: dict[str, builtins.list[ProjectServiceAccount]] = {}

        async def load_users() -> None:
            users.extend(await self.users.list(limit=_PAGE))

        async def load_project(project_id: str) -> None:
            keys[project_id] = await self.projects.api_keys.list(project_id, limit=_PAGE)

        async def load_accounts(project_id: str) -> None:
            accounts[project_id] = await self.projects.service_accounts.list(
                project_id, limit=_PAGE
            )

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(load_users)
                projects = await self.projects.list(include_archived=True, limit=_PAGE)
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
