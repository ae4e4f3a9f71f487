"""The official ``openai`` SDK parses every page the emulator serves: a verified fake."""

from __future__ import annotations

import collections
import json
import typing
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import msgspec
import openai
import pydantic
import pytest
from openai import AsyncOpenAI
from openai.types.admin.organization import (
    OrganizationSpendAlert,
    OrganizationSpendLimit,
    OrganizationUser,
    Project,
    organization_spend_alert,
    organization_spend_limit,
    organization_user,
)
from openai.types.admin.organization import project_api_key_spend_limit as spend_limit
from openai.types.admin.organization.projects import (
    ProjectServiceAccount,
    ProjectSpendAlert,
    ProjectSpendLimit,
    project_api_key,
    project_spend_alert,
    project_spend_limit,
)

from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async._sansio.organization import DIRECTORY_DECODERS
from openai_usage_async._sansio.spend import SPEND_ALERTS_DECODER, decode_limit
from openai_usage_async.emulator import Emulator
from tests.helpers import DAY, NOW, TEST_KEY, Params, buckets_of, fetch_all


@pytest.fixture
async def sdk(emulator: Emulator) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(admin_api_key=TEST_KEY, base_url=emulator.base_url, max_retries=0)
    async with client:
        yield client


def variants(endpoint: str) -> list[dict[str, Any]]:
    spec = ENDPOINTS[endpoint]
    start = NOW - 40 * DAY - 777
    out: list[dict[str, Any]] = [
        {"start_time": start, "end_time": start + 30 * DAY, "limit": 4},
        {
            "start_time": start,
            "end_time": start + 25 * 3600 if "1h" in spec.limits else start + 9 * DAY,
            "bucket_width": "1h" if "1h" in spec.limits else "1d",
            "limit": 7,
            "group_by": list(spec.group_by),
        },
    ]
    return out


def query_pairs(kwargs: dict[str, Any]) -> list[tuple[str, str]]:
    pairs = []
    for key, value in kwargs.items():
        if isinstance(value, list):
            pairs += [(f"{key}[]", str(v)) for v in value]
        else:
            pairs.append((key, str(value)))
    return pairs


@pytest.mark.parametrize("endpoint", list(ENDPOINTS))
async def test_sdk_parses_every_page(
    emulator: Emulator, http: aiohttp.ClientSession, sdk: AsyncOpenAI, endpoint: str
) -> None:
    method = getattr(sdk.admin.organization.usage, endpoint)
    for kwargs in variants(endpoint):
        raw_buckets = buckets_of(await fetch_all(http, emulator, endpoint, query_pairs(kwargs)))
        sdk_buckets = []
        cursor = None
        pages = 0
        while True:
            page = await method(**kwargs, **({"page": cursor} if cursor else {}))
            pages += 1
            assert page.object == "page"
            sdk_buckets += page.data
            if not page.has_more:
                break
            cursor = page.next_page
        assert pages >= 2
        assert len(sdk_buckets) == len(raw_buckets) > 0
        n_results = 0
        for sdk_bucket, raw in zip(sdk_buckets, raw_buckets, strict=True):
            assert (sdk_bucket.start_time, sdk_bucket.end_time) == (
                raw["start_time"],
                raw["end_time"],
            )
            assert len(sdk_bucket.results) == len(raw["results"])
            for result, raw_result in zip(sdk_bucket.results, raw["results"], strict=True):
                # The SDK picked the class whose `object` literal is this tag ...
                tag = typing.get_args(type(result).model_fields["object"].annotation)
                assert tag == (raw_result["object"],)
                # ... knows every field we sent, and reads back the same values.
                assert not result.model_extra
                assert result.model_dump(mode="json", exclude_unset=True) == raw_result
                n_results += 1
        assert n_results > 0
    # The SDK sends group_by as group_by[]=...: the emulator saw that spelling.
    by_sdk = [r for r in emulator.requests if r.headers["user-agent"].startswith("AsyncOpenAI/")]
    assert any(k == "group_by[]" for r in by_sdk for k, _ in r.query)


# -- the directory's lists ---------------------------------------------------------------------

#: Every model of the SDK's directory objects, nested ones included: the emulator serves
#: every field of each (some null), and the SDK reads back what it served.
SDK_DIRECTORY_MODELS: tuple[type[pydantic.BaseModel], ...] = (
    Project,
    OrganizationUser,
    organization_user.Projects,
    organization_user.ProjectsData,
    organization_user.User,
    project_api_key.ProjectAPIKey,
    project_api_key.Owner,
    project_api_key.OwnerUser,
    project_api_key.OwnerServiceAccount,
    spend_limit.ProjectAPIKeySpendLimit,
    spend_limit.Enforcement,
    ProjectServiceAccount,
)
#: The fields this round added to our models: served both null and not.
LATER_FIELDS = {
    Project: {"external_key_id", "residency"},
    OrganizationUser: {"created", "api_key_last_used_at", "developer_persona", "technical_level"},
    organization_user.User: {"picture"},
    project_api_key.ProjectAPIKey: {"spend_limit"},
}
#: Our decoder for each list the SDK reads.
OUR_KIND = {
    "projects": "projects",
    "users": "users",
    "keys": "api_keys",
    "accounts": "service_accounts",
}


async def raw_pages(
    http: aiohttp.ClientSession, emu: Emulator, path: str, params: Params
) -> list[dict[str, Any]]:
    assert emu.base_url is not None
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        query = [*params, *([("after", after)] if after else [])]
        async with http.get(emu.base_url + path, params=query) as response:
            assert response.status == 200, await response.text()
            page = json.loads(await response.read())
        pages.append(page)
        if not page["has_more"]:
            return pages
        after = page["last_id"]


def _strip(value: Any) -> Any:
    if isinstance(value, dict):
        return {k: _strip(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [_strip(v) for v in value]
    return value


class Served:
    """What the SDK read, per model: the fields it was sent, and those it saw non-null."""

    def __init__(self) -> None:
        self.fields: dict[type, set[str]] = collections.defaultdict(set)
        self.non_null: dict[type, set[str]] = collections.defaultdict(set)
        self.null: dict[type, set[str]] = collections.defaultdict(set)

    def check(self, obj: pydantic.BaseModel, raw: dict[str, Any]) -> None:
        """The SDK knows every field sent, at every depth, and reads back the same values."""
        assert not obj.model_extra, (type(obj).__name__, obj.model_extra)
        assert obj.model_dump(mode="json", exclude_unset=True) == raw
        cls = type(obj)
        self.fields[cls] |= set(raw)
        for name, value in raw.items():
            (self.null if value is None else self.non_null)[cls].add(name)
            child = getattr(obj, name)
            if isinstance(child, pydantic.BaseModel):
                self.check(child, value)
            elif isinstance(child, list):
                for item, raw_item in zip(child, value, strict=True):
                    if isinstance(item, pydantic.BaseModel):
                        self.check(item, raw_item)


async def test_sdk_parses_every_directory_page(
    emulator: Emulator, http: aiohttp.ClientSession, sdk: AsyncOpenAI
) -> None:
    org = sdk.admin.organization
    served = Served()
    pages_read = 0

    async def compare(kind: str, paginator: Any, path: str, params: Params) -> None:
        nonlocal pages_read
        raw = await raw_pages(http, emulator, path, params)
        page = await paginator
        for raw_page in raw:
            assert [o.id for o in page.data] == [x["id"] for x in raw_page["data"]]
            for obj, x in zip(page.data, raw_page["data"], strict=True):
                served.check(obj, x)
            # Our models keep every field the SDK does, with the same values.
            ours = DIRECTORY_DECODERS[OUR_KIND[kind]].decode(json.dumps(raw_page).encode())
            theirs = [_strip(o.model_dump(mode="json")) for o in page.data]
            mine = [_strip(msgspec.to_builtins(o)) for o in ours.data]
            assert mine == theirs
            pages_read += 1
            if raw_page is not raw[-1]:
                assert page.has_next_page()
                page = await page.get_next_page()
        assert not page.has_next_page()

    for limit in (None, 2):
        given: dict[str, Any] = {} if limit is None else {"limit": limit}
        query: list[tuple[str, str]] = [] if limit is None else [("limit", str(limit))]
        for archived in (False, True):
            await compare(
                "projects",
                org.projects.list(include_archived=archived, **given),
                "/organization/projects",
                [*query, ("include_archived", str(archived).lower())],
            )
        await compare("users", org.users.list(**given), "/organization/users", query)
    users = emulator.org.directory.users
    emails = [users[1].email, users[3].email]
    await compare(
        "users",
        org.users.list(emails=emails, limit=1),
        "/organization/users",
        [*(("emails[]", e) for e in emails), ("limit", "1")],
    )
    for project in emulator.org.directory.projects:
        keys = f"/organization/projects/{project.id}/api_keys"
        for access in (None, "active", "inactive", "any"):
            own: dict[str, Any] = {} if access is None else {"owner_project_access": access}
            params = [] if access is None else [("owner_project_access", access)]
            await compare(
                "keys",
                org.projects.api_keys.list(project.id, limit=2, **own),
                keys,
                [*params, ("limit", "2")],
            )
        accounts = f"/organization/projects/{project.id}/service_accounts"
        if project.archived_at is not None:
            with pytest.raises(openai.BadRequestError, match="is archived") as refused:
                await org.projects.service_accounts.list(project.id)
            assert refused.value.status_code == 400
            continue
        await compare(
            "accounts",
            org.projects.service_accounts.list(project.id, limit=1),
            accounts,
            [("limit", "1")],
        )
    assert pages_read > 40
    # Every field of every SDK model was served at least once ...
    for model in SDK_DIRECTORY_MODELS:
        assert served.fields[model] == set(model.model_fields), model.__name__
    # ... and the later ones both set and null.
    for model, names in LATER_FIELDS.items():
        assert names <= served.non_null[model], model.__name__
        assert names <= served.null[model], model.__name__


# -- spend limits and alerts ----------------------------------------------------------------------

#: Every model of the SDK's spend objects, nested ones included: the emulator serves every
#: field of each, and the SDK reads back what it served.
SDK_SPEND_MODELS: tuple[type[pydantic.BaseModel], ...] = (
    OrganizationSpendLimit,
    organization_spend_limit.Enforcement,
    organization_spend_limit.NotificationChannel,
    ProjectSpendLimit,
    project_spend_limit.Enforcement,
    project_spend_limit.NotificationChannel,
    OrganizationSpendAlert,
    organization_spend_alert.NotificationChannel,
    ProjectSpendAlert,
    project_spend_alert.NotificationChannel,
)


def ours_as_sdk(obj: Any) -> Any:
    """One of our spend objects as the SDK dumps it (without the project_id we add)."""
    out = msgspec.to_builtins(obj)
    out.pop("project_id")
    return _strip(out)


async def test_sdk_parses_every_spend_page(
    emulator: Emulator, http: aiohttp.ClientSession, sdk: AsyncOpenAI
) -> None:
    assert emulator.base_url is not None
    org = sdk.admin.organization
    served = Served()

    async def raw_get(path: str) -> tuple[int, bytes]:
        async with http.get(emulator.base_url + path) as response:  # type: ignore[operator]
            return response.status, await response.read()

    # The limits: the SDK's class for each object tag, every field, the same values as ours.
    status, body = await raw_get("/organization/spend_limit")
    assert status == 200
    limit = await org.spend_limit.retrieve()
    assert type(limit) is OrganizationSpendLimit
    served.check(limit, json.loads(body))
    assert ours_as_sdk(decode_limit(body)) == _strip(limit.model_dump(mode="json"))
    limits = 0
    for project in emulator.org.directory.projects:
        path = f"/organization/projects/{project.id}/spend_limit"
        status, body = await raw_get(path)
        if emulator.spend_limit(project.id) is None:
            assert status == 404
            with pytest.raises(openai.NotFoundError):  # the SDK has no "no limit": a 404
                await org.projects.spend_limit.retrieve(project.id)
            continue
        plimit = await org.projects.spend_limit.retrieve(project.id)
        assert type(plimit) is ProjectSpendLimit
        served.check(plimit, json.loads(body))
        assert ours_as_sdk(decode_limit(body)) == _strip(plimit.model_dump(mode="json"))
        limits += 1
    assert limits == 2

    # The alerts, page by page, in both orders and with small pages.
    pages_read = 0
    paths: list[tuple[str, Any]] = [("/organization/spend_alerts", None)]
    paths += [
        (f"/organization/projects/{p.id}/spend_alerts", p.id)
        for p in emulator.org.directory.projects
    ]
    for path, project_id in paths:
        for limit_given in (None, 1, 2):
            for order in (None, "asc", "desc"):
                given: dict[str, Any] = {}
                query: list[tuple[str, str]] = []
                if limit_given is not None:
                    given["limit"] = limit_given
                    query.append(("limit", str(limit_given)))
                if order is not None:
                    given["order"] = order
                    query.append(("order", order))
                raw = await raw_pages(http, emulator, path, query)
                page: Any
                if project_id is None:
                    page = await org.spend_alerts.list(**given)
                else:
                    page = await org.projects.spend_alerts.list(project_id, **given)
                for raw_page in raw:
                    assert [a.id for a in page.data] == [x["id"] for x in raw_page["data"]]
                    for alert, x in zip(page.data, raw_page["data"], strict=True):
                        expected = (
                            OrganizationSpendAlert if project_id is None else ProjectSpendAlert
                        )
                        assert type(alert) is expected
                        served.check(alert, x)
                    ours = SPEND_ALERTS_DECODER.decode(json.dumps(raw_page).encode())
                    theirs = [_strip(a.model_dump(mode="json")) for a in page.data]
                    assert [ours_as_sdk(a) for a in ours.data] == theirs
                    pages_read += 1
                    if raw_page is not raw[-1]:
                        assert page.has_next_page()
                        page = await page.get_next_page()
                assert not page.has_next_page()
    assert pages_read > 50
    # Every field of every SDK model was served at least once ...
    for spend_model in SDK_SPEND_MODELS:
        assert served.fields[spend_model] == set(spend_model.model_fields), spend_model.__name__
    # ... and an alert's subject_prefix both set and null.
    for channel in (
        organization_spend_alert.NotificationChannel,
        project_spend_alert.NotificationChannel,
    ):
        assert "subject_prefix" in served.non_null[channel] & served.null[channel], channel.__name__
