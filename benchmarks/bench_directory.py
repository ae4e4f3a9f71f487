"""The organization directory: ``client.organization.directory()`` against the official
SDK's auto-paging loops, written project by project as a user would write them.

Ours lists the projects (archived ones included), then fetches the users and every
project's API keys and service accounts concurrently under the client's bound (pages of
100). The SDK's loops ask for the same pages of 100, one request at a time. Requests
are counted on the client side: ours from ``client.statistics()``, the SDK's with an
httpx request hook.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from typing import TYPE_CHECKING

from openai_usage_async import AsyncUsageClient

if TYPE_CHECKING:
    from openai import AsyncOpenAI

KEY = "sk-admin-benchmark"
#: Page size both clients ask for: the endpoints' maximum.
LIMIT = 100


@dataclass(frozen=True)
class Run:
    """One client's pass over the directory: what it got, what it sent, how long it took."""

    seconds: float
    requests: int  # every attempt
    projects: int  # archived ones included
    api_keys: int
    service_accounts: int
    users: int

    @property
    def counts(self) -> tuple[int, int, int, int]:
        return (self.projects, self.api_keys, self.service_accounts, self.users)


async def ours(base_url: str) -> Run:
    """``await client.organization.directory()`` at the client's defaults."""
    async with AsyncUsageClient(KEY, base_url=base_url) as client:
        started = time.perf_counter()
        directory = await client.organization.directory()
        seconds = time.perf_counter() - started
        requests = client.statistics().requests_sent
    return Run(
        seconds,
        requests,
        len(directory.projects),
        len(directory.api_keys),
        len(directory.service_accounts),
        len(directory.users),
    )


async def _sdk_loops(sdk: AsyncOpenAI) -> tuple[int, int, int, int]:
    """The SDK's auto-paging loops, one project after another."""
    from openai import BadRequestError

    org = sdk.admin.organization
    projects = api_keys = service_accounts = users = 0
    async for project in org.projects.list(include_archived=True, limit=LIMIT):
        projects += 1
        keys = org.projects.api_keys.list(project.id, limit=LIMIT, owner_project_access="any")
        async for _key in keys:
            api_keys += 1
        try:  # an archived project's service accounts answer 400, as the service documents
            async for _account in org.projects.service_accounts.list(project.id, limit=LIMIT):
                service_accounts += 1
        except BadRequestError:
            if project.status != "archived":
                raise
    async for _user in org.users.list(limit=LIMIT):
        users += 1
    return projects, api_keys, service_accounts, users


async def official_sdk(base_url: str) -> Run:
    """The SDK at its defaults, its ``async for`` auto-paging loops, sequential."""
    import httpx2
    from openai import AsyncOpenAI, DefaultAsyncHttpxClient

    requests = 0

    async def on_request(request: httpx2.Request) -> None:
        nonlocal requests
        requests += 1

    http = DefaultAsyncHttpxClient(event_hooks={"request": [on_request]})
    async with AsyncOpenAI(admin_api_key=KEY, base_url=base_url, http_client=http) as sdk:
        started = time.perf_counter()
        counts = await _sdk_loops(sdk)
        seconds = time.perf_counter() - started
    return Run(seconds, requests, *counts)


async def warm_sdk(base_url: str) -> None:
    """One page of each list: the SDK's lazy imports and models, without a whole pass."""
    from openai import AsyncOpenAI

    async with AsyncOpenAI(admin_api_key=KEY, base_url=base_url) as sdk:
        org = sdk.admin.organization
        page = await org.projects.list(limit=LIMIT)  # active ones: their listings answer
        project_id = page.data[0].id
        await org.projects.api_keys.list(project_id, limit=LIMIT)
        await org.projects.service_accounts.list(project_id, limit=LIMIT)
        await org.users.list(limit=LIMIT)


def median_run(runs: list[Run]) -> Run:
    """The run of median wall time (its counts belong to that run)."""
    return sorted(runs, key=lambda r: r.seconds)[len(runs) // 2]


def compare(base_url: str, repeat: int) -> tuple[Run, Run]:
    """(ours, the SDK's): the median of ``repeat`` interleaved runs each, fresh event loop
    and client every run, after a warm-up of each (a whole pass of ours, a page of each
    list for the SDK, whose whole pass is latency-bound and long)."""
    asyncio.run(ours(base_url))
    asyncio.run(warm_sdk(base_url))
    mine: list[Run] = []
    theirs: list[Run] = []
    for _ in range(repeat):
        mine.append(asyncio.run(ours(base_url)))
        theirs.append(asyncio.run(official_sdk(base_url)))
    return median_run(mine), median_run(theirs)
