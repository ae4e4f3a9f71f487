"""``client.organization``: the directory that names the IDs in usage data, and the
spend limits and alerts; glue only."""

from __future__ import annotations

import builtins
import functools
import logging
import urllib.parse
from collections.abc import AsyncIterator, Mapping, Sequence
from typing import TYPE_CHECKING, Any, ClassVar, Generic, Literal, TypeVar

import anyio
import msgspec

from ._fanout import first_error
from ._sansio.organization import (
    DIRECTORY_DECODERS,
    ListCursor,
    ListPage,
    OwnerProjectAccess,
    check_limit,
    check_owner_project_access,
    check_project_id,
    skipped_listing,
)
from ._sansio.query import ExtraQuery, _strings, check_extra_headers, extra_pairs
from ._sansio.responses import decipher
from ._sansio.spend import (
    SPEND_ALERTS_DECODER,
    SpendOrder,
    check_alert_limit,
    check_order,
    decipher_limit,
)
from .errors import APIError
from .models import (
    Directory,
    OrganizationUser,
    Project,
    ProjectApiKey,
    ProjectServiceAccount,
    SkippedListing,
    SpendAlert,
    SpendLimit,
)

if TYPE_CHECKING:
    from ._client import AsyncUsageClient

__all__ = ["Organization"]

T = TypeVar("T")

#: Page size the directory asks for: the maximum, so an organization is few requests.
_PAGE = 100


#: The parameters a directory list sets itself; `extra_query` may not.
_LIST_ARGUMENTS = ("limit", "after")
#: And those directory() sets on some of its lists.
_DIRECTORY_ARGUMENTS = (*_LIST_ARGUMENTS, "include_archived", "owner_project_access")

log = logging.getLogger("openai_usage_async.directory")

#: Every list's decoder, by kind: the directory's, and the spend alerts'.
_LIST_DECODERS: dict[str, Any] = {**DIRECTORY_DECODERS, "spend_alerts": SPEND_ALERTS_DECODER}
#: The parameters a spend alerts list sets itself.
_ALERT_ARGUMENTS = (*_LIST_ARGUMENTS, "order")


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
    decoder: Any = _LIST_DECODERS[kind]
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
    extra_query: object, extra_headers: object, reserved: Sequence[str] = _LIST_ARGUMENTS
) -> tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]]:
    """Both checked before any request (``ValueError`` naming the argument)."""
    return extra_pairs(extra_query, reserved), check_extra_headers(extra_headers)


class _ProjectListing(Generic[T]):
    """One list of a project: its API keys or its service accounts."""

    #: The path segment after ``/organization/projects/<id>/``, and the decoder's kind.
    _kind: ClassVar[str]

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    def _iter(
        self,
        project_id: str,
        pairs: builtins.list[tuple[str, str]],
        extras: tuple[tuple[tuple[str, str], ...], tuple[tuple[str, str], ...]],
    ) -> AsyncIterator[T]:
        quoted = urllib.parse.quote(check_project_id(project_id), safe="")
        path = f"/organization/projects/{quoted}/{self._kind}"
        pages = _follow(self._client, path, pairs, self._kind, extras)
        return _with_project(pages, project_id)


class ProjectApiKeys(_ProjectListing[ProjectApiKey]):
    """``client.organization.projects.api_keys``: the API keys of one project."""

    _kind = "api_keys"

    def iter(
        self,
        project_id: str,
        *,
        owner_project_access: OwnerProjectAccess | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[ProjectApiKey]:
        """Every API key of the project (``limit`` is the page size, 1..100), each with
        its ``project_id`` set.

        ``owner_project_access`` filters by whether the key's owner has access to the
        project: ``"active"``, ``"inactive"``, or ``"any"`` for every enabled key. Left
        out, the service applies its membership rules, which may hide enabled keys
        (:meth:`Organization.directory` asks for ``"any"``).
        """
        pairs = _limit_pairs(limit)
        access = check_owner_project_access(owner_project_access)
        if access is not None:
            pairs.append(("owner_project_access", access))
        reserved = (*_LIST_ARGUMENTS, "owner_project_access")
        extras = _extras(extra_query, extra_headers, reserved)
        return self._iter(project_id, pairs, extras)

    async def list(
        self,
        project_id: str,
        *,
        owner_project_access: OwnerProjectAccess | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> builtins.list[ProjectApiKey]:
        """:meth:`iter` collected."""
        keys = self.iter(
            project_id,
            owner_project_access=owner_project_access,
            limit=limit,
            extra_query=extra_query,
            extra_headers=extra_headers,
        )
        return [k async for k in keys]


class ProjectServiceAccounts(_ProjectListing[ProjectServiceAccount]):
    """``client.organization.projects.service_accounts``: the service accounts of a project.

    The service answers 400 (``BadRequestError``) for an archived project's service
    accounts (the OpenAPI document of 2026-08-21 documents it)."""

    _kind = "service_accounts"

    def iter(
        self,
        project_id: str,
        *,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[ProjectServiceAccount]:
        """Every service account of the project (``limit`` is the page size, 1..100), each
        with its ``project_id`` set."""
        extras = _extras(extra_query, extra_headers)
        return self._iter(project_id, _limit_pairs(limit), extras)

    async def list(
        self,
        project_id: str,
        *,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> builtins.list[ProjectServiceAccount]:
        """:meth:`iter` collected."""
        accounts = self.iter(
            project_id, limit=limit, extra_query=extra_query, extra_headers=extra_headers
        )
        return [a async for a in accounts]


async def _with_project(items: AsyncIterator[T], project_id: str) -> AsyncIterator[T]:
    async for item in items:
        yield msgspec.structs.replace(item, project_id=project_id)  # type: ignore[type-var]


# -- spend limits and alerts (read-only) ---------------------------------------------------


def _alert_pairs(order: object, limit: object) -> builtins.list[tuple[str, str]]:
    checked = check_alert_limit(limit)
    pairs = [] if checked is None else [("limit", str(checked))]
    sort = check_order(order)
    if sort is not None:
        pairs.append(("order", sort))
    return pairs


async def _get_limit(
    client: AsyncUsageClient, path: str, extra_query: object, extra_headers: object
) -> SpendLimit | None:
    extra_q, extra_h = _extras(extra_query, extra_headers, ())
    limit: SpendLimit | None = await client._requester.get(
        path, builtins.list(extra_q), decipher_limit, extra_headers=extra_h
    )
    return limit


class OrganizationSpendLimit:
    """``client.organization.spend_limit``: the organization's hard spend limit."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    async def get(
        self,
        *,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SpendLimit | None:
        """The organization's hard spend limit, or None when it has none (the service's
        404). A key without the scope gets ``PermissionDeniedError`` (403, not retried).

        ``threshold_amount`` is in cents (``threshold_usd`` in dollars);
        ``enforcement.status`` is a state: ``"enforcing"`` while the limit is reached and
        blocking requests.
        """
        return await _get_limit(
            self._client, "/organization/spend_limit", extra_query, extra_headers
        )


class ProjectSpendLimit:
    """``client.organization.projects.spend_limit``: a project's hard spend limit."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    async def get(
        self,
        project_id: str,
        *,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> SpendLimit | None:
        """The project's hard spend limit (with its ``project_id`` set), or None when it
        has none (the service's 404; an ID the organization has no project for answers
        404 too, so it gives None as well: check IDs against ``projects.list()`` when that
        matters). A key without the scope gets ``PermissionDeniedError`` (403).
        """
        quoted = urllib.parse.quote(check_project_id(project_id), safe="")
        path = f"/organization/projects/{quoted}/spend_limit"
        limit = await _get_limit(self._client, path, extra_query, extra_headers)
        return None if limit is None else msgspec.structs.replace(limit, project_id=project_id)


class OrganizationSpendAlerts:
    """``client.organization.spend_alerts``: the organization's email spend alerts."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client

    def iter(
        self,
        *,
        order: SpendOrder | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[SpendAlert]:
        """Every spend alert of the organization (``limit`` is the page size, 1..100;
        ``order`` ``"asc"`` or ``"desc"``, left out: the service's)."""
        pairs = _alert_pairs(order, limit)
        extras = _extras(extra_query, extra_headers, _ALERT_ARGUMENTS)
        return _follow(self._client, "/organization/spend_alerts", pairs, "spend_alerts", extras)

    async def list(
        self,
        *,
        order: SpendOrder | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> builtins.list[SpendAlert]:
        """:meth:`iter` collected."""
        alerts = self.iter(
            order=order, limit=limit, extra_query=extra_query, extra_headers=extra_headers
        )
        return [a async for a in alerts]


class ProjectSpendAlerts(_ProjectListing[SpendAlert]):
    """``client.organization.projects.spend_alerts``: a project's email spend alerts."""

    _kind = "spend_alerts"

    def iter(
        self,
        project_id: str,
        *,
        order: SpendOrder | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> AsyncIterator[SpendAlert]:
        """Every spend alert of the project (``limit`` is the page size, 1..100; ``order``
        ``"asc"`` or ``"desc"``), each with its ``project_id`` set. An ID the organization
        has no project for is ``NotFoundError`` (404)."""
        pairs = _alert_pairs(order, limit)
        extras = _extras(extra_query, extra_headers, _ALERT_ARGUMENTS)
        return self._iter(project_id, pairs, extras)

    async def list(
        self,
        project_id: str,
        *,
        order: SpendOrder | None = None,
        limit: int | None = None,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> builtins.list[SpendAlert]:
        """:meth:`iter` collected."""
        alerts = self.iter(
            project_id,
            order=order,
            limit=limit,
            extra_query=extra_query,
            extra_headers=extra_headers,
        )
        return [a async for a in alerts]


class Projects:
    """``client.organization.projects``, with ``api_keys``, ``service_accounts``,
    ``spend_limit`` and ``spend_alerts``."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self._client = client
        self.api_keys = ProjectApiKeys(client)
        self.service_accounts = ProjectServiceAccounts(client)
        self.spend_limit = ProjectSpendLimit(client)
        self.spend_alerts = ProjectSpendAlerts(client)

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
    :meth:`directory`, all of them at once; and the hard spend limits and email spend
    alerts of the organization (``spend_limit``, ``spend_alerts``) and of its projects
    (``projects.spend_limit``, ``projects.spend_alerts``), read-only. A key that may read
    usage but not these gets ``PermissionDeniedError`` (403) here.

    Every method takes ``extra_query`` and ``extra_headers``, sent as given on every page
    as :class:`~openai_usage_async.Endpoint` sends them (``limit`` and ``after`` are the
    client's to set; ``Authorization`` is never replaced)."""

    def __init__(self, client: AsyncUsageClient) -> None:
        self.projects = Projects(client)
        self.users = Users(client)
        self.spend_limit = OrganizationSpendLimit(client)
        self.spend_alerts = OrganizationSpendAlerts(client)

    def __repr__(self) -> str:
        return (
            "<Organization projects, users, projects.api_keys, projects.service_accounts, "
            "spend_limit, spend_alerts, projects.spend_limit, projects.spend_alerts>"
        )

    async def directory(
        self,
        *,
        extra_query: ExtraQuery | None = None,
        extra_headers: Mapping[str, str] | None = None,
    ) -> Directory:
        """Everything the organization names, fetched concurrently under the client's bound:
        projects (archived ones included), users, and every project's API keys (every
        enabled one: ``owner_project_access="any"``) and service accounts.
        ``extra_query`` and ``extra_headers`` go with every request.

        One project's listing never fails the directory: when a project's API keys or
        service accounts cannot be read (the 400 the service answers for an archived
        project's service accounts, a 404, a 5xx or a connection failure that outlived
        the retries), they are left out, every other name is kept, and the listing is
        recorded in ``Directory.skipped`` (a warning on the ``openai_usage_async.directory``
        logger says so, a debug line for the archived project's expected 400). A 401 or
        403 still raises: the key may not read the directory at all. So do failures of
        the projects and users lists, without which nothing can be named.
        """
        _extras(extra_query, extra_headers, _DIRECTORY_ARGUMENTS)  # before any request
        extra: dict[str, Any] = {"extra_query": extra_query, "extra_headers": extra_headers}
        users: builtins.list[OrganizationUser] = []
        keys: dict[str, builtins.list[ProjectApiKey]] = {}
        accounts: dict[str, builtins.list[ProjectServiceAccount]] = {}
        skipped: dict[tuple[str, str], SkippedListing] = {}

        async def load_users() -> None:
            users.extend(await self.users.list(limit=_PAGE, **extra))

        async def load_keys(project: Project) -> None:
            try:
                keys[project.id] = await self.projects.api_keys.list(
                    project.id, owner_project_access="any", limit=_PAGE, **extra
                )
            except APIError as exc:
                skipped[project.id, "api_keys"] = _skip(project, "api_keys", exc)

        async def load_accounts(project: Project) -> None:
            try:
                accounts[project.id] = await self.projects.service_accounts.list(
                    project.id, limit=_PAGE, **extra
                )
            except APIError as exc:
                skipped[project.id, "service_accounts"] = _skip(project, "service_accounts", exc)

        try:
            async with anyio.create_task_group() as tg:
                tg.start_soon(load_users)
                projects = await self.projects.list(include_archived=True, limit=_PAGE, **extra)
                for project in projects:
                    tg.start_soon(load_keys, project)
                    tg.start_soon(load_accounts, project)
        except BaseExceptionGroup as group:
            raise first_error(group) from None
        left_out = [
            skipped[p.id, listing]
            for p in projects
            for listing in ("api_keys", "service_accounts")
            if (p.id, listing) in skipped
        ]
        _log_skipped(left_out)
        return Directory(
            projects=projects,
            users=users,
            api_keys=[k for p in projects for k in keys.get(p.id, ())],
            service_accounts=[a for p in projects for a in accounts.get(p.id, ())],
            skipped=left_out,
        )


def _skip(
    project: Project, listing: Literal["api_keys", "service_accounts"], exc: APIError
) -> SkippedListing:
    """The listing left out, or ``exc`` re-raised when it is about the key (401, 403)."""
    found = skipped_listing(project, listing, exc)
    if found is None:
        raise exc
    return found


def _log_skipped(skipped: Sequence[SkippedListing]) -> None:
    # Error messages never hold the key (errors.py), so neither do these lines.
    for s in skipped:
        if s.expected:
            log.debug("directory: %s of %s left out: %s", s.listing, s.project_id, s.reason)
    unexpected = [s for s in skipped if not s.expected]
    if unexpected:
        log.warning(
            "directory: %d project listing%s left out (see Directory.skipped): %s",
            len(unexpected),
            "" if len(unexpected) == 1 else "s",
            "; ".join(f"{s.listing} of {s.project_id}: {s.reason}" for s in unexpected),
        )
