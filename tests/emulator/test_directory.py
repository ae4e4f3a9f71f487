"""The organization directory routes: pages, filters, errors, and agreement with usage."""

from __future__ import annotations

import json
import math
import re
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest
from openai import AsyncOpenAI

from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async.emulator import Emulator, Fault, Organization
from tests.helpers import DAY, HOUR, NOW, TEST_KEY, Params, buckets_of, fetch_all

# Big enough that a project list crosses the default page (20) and the largest (100).
BIG = (130, 450)
#: Every enabled key of a project, whatever its owner's access.
ANY = [("owner_project_access", "any")]


@pytest.fixture
async def big() -> AsyncIterator[Emulator]:
    async with Emulator(now=NOW, directory_size=BIG) as emu:
        yield emu


@pytest.fixture
async def sdk(emulator: Emulator) -> AsyncIterator[AsyncOpenAI]:
    client = AsyncOpenAI(admin_api_key=TEST_KEY, base_url=emulator.base_url, max_retries=0)
    async with client:
        yield client


async def get(
    http: aiohttp.ClientSession, emu: Emulator, path: str, params: Params = ()
) -> tuple[int, Any]:
    assert emu.base_url is not None
    async with http.get(emu.base_url + path, params=list(params)) as response:
        return response.status, json.loads(await response.read())


async def list_all(
    http: aiohttp.ClientSession, emu: Emulator, path: str, params: Params = ()
) -> list[dict[str, Any]]:
    """Every page of a list, by ``after=<last_id>``, checking each page's envelope."""
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        status, page = await get(http, emu, path, [*params, *([("after", after)] if after else [])])
        assert status == 200, page
        assert page["object"] == "list"
        ids = [x["id"] for x in page["data"]]
        assert page["first_id"] == (ids[0] if ids else None)
        assert page["last_id"] == (ids[-1] if ids else None)
        pages.append(page)
        if not page["has_more"]:
            return pages
        assert ids, "has_more with an empty page"
        after = page["last_id"]
        assert len(pages) < 1000


def ids_of(pages: list[dict[str, Any]]) -> list[str]:
    return [x["id"] for p in pages for x in p["data"]]


def keys_path(project_id: str) -> str:
    return f"/organization/projects/{project_id}/api_keys"


def accounts_path(project_id: str) -> str:
    return f"/organization/projects/{project_id}/service_accounts"


# -- paging -------------------------------------------------------------------------------


@pytest.mark.parametrize("limit", [1, 2, None, 100])
async def test_every_list_pages_exactly_once_through(
    big: Emulator, http: aiohttp.ClientSession, limit: int | None
) -> None:
    d = big.org.directory
    assert len(d.projects) == 130
    busiest = max(d.projects, key=lambda p: len(d.api_keys_of(p.id)))
    active = [p for p in d.projects if p.archived_at is None]  # archived: a 400
    with_accounts = max(active, key=lambda p: len(d.service_accounts_of(p.id)))
    cases: list[tuple[str, Params, list[str]]] = [
        ("/organization/projects", [("include_archived", "true")], [p.id for p in d.projects]),
        ("/organization/users", [], [u.id for u in d.users]),
        (keys_path(busiest.id), ANY, [k.id for k in d.api_keys_of(busiest.id)]),
        (
            accounts_path(with_accounts.id),
            [],
            [a.id for a in d.service_accounts_of(with_accounts.id)],
        ),
    ]
    size = 20 if limit is None else limit
    for path, params, expected in cases:
        query = [*params, *([("limit", str(limit))] if limit is not None else [])]
        pages = await list_all(http, big, path, query)
        # Nothing missed, nothing twice, in the order of the directory.
        assert ids_of(pages) == expected
        assert len(set(expected)) == len(expected) >= 2
        assert len(pages) == math.ceil(len(expected) / size)
        assert [len(p["data"]) for p in pages[:-1]] == [size] * (len(pages) - 1)
        assert [p["has_more"] for p in pages] == [True] * (len(pages) - 1) + [False]
    # Ordered by creation time, oldest first (then id).
    status, page = await get(
        http, big, "/organization/projects", [("include_archived", "true"), ("limit", "100")]
    )
    assert status == 200 and len(page["data"]) == 100 and page["has_more"] is True
    stamps = [(p["created_at"], p["id"]) for p in page["data"]]
    assert stamps == sorted(stamps)


async def test_an_empty_page_has_no_ids(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    status, page = await get(http, emulator, "/organization/users", [("emails", "nobody@x.io")])
    assert status == 200
    assert page == {
        "object": "list",
        "data": [],
        "first_id": None,
        "last_id": None,
        "has_more": False,
    }
    last = emulator.org.directory.users[-1].id
    status, page = await get(http, emulator, "/organization/users", [("after", last)])
    assert status == 200
    assert (page["data"], page["first_id"], page["has_more"]) == ([], None, False)


async def test_archived_projects_only_with_include_archived(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    d = emulator.org.directory
    archived = emulator.org.archived_project_id
    every = [p.id for p in d.projects]
    assert archived in every
    active = [p for p in every if p != archived]
    for params in ([], [("include_archived", "false")]):
        pages = await list_all(http, emulator, "/organization/projects", params)
        assert ids_of(pages) == active
        assert {p["status"] for p in pages[0]["data"]} == {"active"}
        assert {p["archived_at"] for p in pages[0]["data"]} == {None}
    pages = await list_all(http, emulator, "/organization/projects", [("include_archived", "true")])
    assert ids_of(pages) == every
    [shown] = [p for p in pages[0]["data"] if p["id"] == archived]
    assert shown["status"] == "archived"
    assert shown["created_at"] < shown["archived_at"] < NOW
    # The archived project's id is a valid cursor even where it is not listed.
    position = every.index(archived)
    status, page = await get(
        http, emulator, "/organization/projects", [("after", archived), ("limit", "100")]
    )
    assert status == 200
    assert [p["id"] for p in page["data"]] == every[position + 1 :]
    # Its keys are still listed; its service accounts are the service's documented 400
    # (OpenAPI 2026-08-21), unless the emulator is asked for the old answer.
    keys = ids_of(await list_all(http, emulator, keys_path(archived), ANY))
    assert keys == [k.id for k in d.api_keys_of(archived)] and len(keys) >= 2
    status, body = await get(http, emulator, accounts_path(archived))
    assert status == 400
    assert body["error"] == {
        "message": f"Project '{archived}' is archived.",
        "type": "invalid_request_error",
        "param": None,
        "code": None,
    }
    emulator.archived_project_error = False
    accounts = ids_of(await list_all(http, emulator, accounts_path(archived)))
    assert accounts == [a.id for a in d.service_accounts_of(archived)] and len(accounts) >= 1


async def test_emails_filter(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    users = emulator.org.directory.users
    a, b = users[1], users[4]
    # The SDK's spelling, several values; and two per page, so it pages too.
    for limit in ("1", "20"):
        params = [("emails[]", b.email), ("emails[]", a.email), ("limit", limit)]
        pages = await list_all(http, emulator, "/organization/users", params)
        assert ids_of(pages) == [a.id, b.id]  # in list order, not in query order
        assert len(pages) == (2 if limit == "1" else 1)
    status, page = await get(http, emulator, "/organization/users", [("emails", a.email.upper())])
    assert status == 200
    [shown] = page["data"]
    assert {k: shown[k] for k in ("id", "object", "name", "email", "role", "added_at")} == {
        "id": a.id,
        "object": "organization.user",
        "name": a.name,
        "email": a.email,
        "role": a.role,
        "added_at": a.added_at,
    }
    assert shown == emulator.org.directory.user_json(a, NOW)
    pages = await list_all(
        http, emulator, "/organization/users", [("emails", a.email), ("emails", "x@y.z")]
    )
    assert ids_of(pages) == [a.id]


@pytest.mark.parametrize(
    ("access", "shown"),
    [(None, "active"), ("active", "active"), ("inactive", "inactive"), ("any", "both")],
)
async def test_owner_project_access_filters_keys(
    emulator: Emulator, http: aiohttp.ClientSession, access: str | None, shown: str
) -> None:
    d = emulator.org.directory
    inactive = d.api_key(d.inactive_api_key_id)
    assert inactive is not None and inactive.owner_project_access == "inactive"
    every = [k.id for k in d.api_keys_of(inactive.project_id)]
    expected = {
        "active": [k for k in every if k != inactive.id],
        "inactive": [inactive.id],
        "both": every,
    }[shown]
    params = [] if access is None else [("owner_project_access", access)]
    # Paged one by one, so a filtered-out key is skipped across pages too.
    pages = await list_all(
        http, emulator, keys_path(inactive.project_id), [*params, ("limit", "1")]
    )
    assert ids_of(pages) == expected
    for key in (x for p in pages for x in p["data"]):
        assert key["owner_project_access"] == ("inactive" if key["id"] == inactive.id else "active")
    # The key is one that usage carries: without `any`, its name would go missing.
    assert inactive.used and inactive.owner_type == "user"


async def test_listing_faults_hit_one_project_alone(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    one, other = [p.id for p in emulator.org.directory.projects if p.archived_at is None][:2]
    emulator.listing_faults[keys_path(one)] = Fault(status=404)
    emulator.listing_faults[accounts_path(one)] = Fault(status=500, first=1)
    status, body = await get(http, emulator, keys_path(one))
    assert status == 404 and body["error"]["type"] == "invalid_request_error"
    status, body = await get(http, emulator, accounts_path(one))
    assert status == 500 and body["error"]["type"] == "server_error"
    status, _ = await get(http, emulator, accounts_path(one))  # `first=1`: once only
    assert status == 200
    for path in (keys_path(other), accounts_path(other), "/organization/projects"):
        status, _ = await get(http, emulator, path)
        assert status == 200
    # After the key is checked, as the service would.
    assert emulator.base_url is not None
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(emulator.base_url + keys_path(one)) as response:
            assert response.status == 401
    emulator.listing_faults[keys_path(one)] = Fault(kind="drop")
    with pytest.raises(aiohttp.ClientError):
        await get(http, emulator, keys_path(one))


async def test_later_fields_are_served_some_null(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    d = emulator.org.directory
    pages = await list_all(http, emulator, "/organization/projects", [("include_archived", "true")])
    projects = [x for p in pages for x in p["data"]]
    assert {p["residency"] for p in projects} == {None, "GLOBAL", "EU_STORAGE_PROCESSING"}
    [eu] = [p for p in projects if p["residency"] == "EU_STORAGE_PROCESSING"]
    assert re.fullmatch(r"ekey_[A-Za-z0-9]{24}", eu["external_key_id"])
    assert [p["external_key_id"] for p in projects].count(None) == len(projects) - 1
    users = [x for p in await list_all(http, emulator, "/organization/users") for x in p["data"]]
    assert [u["is_default"] for u in users] == [True] + [False] * (len(users) - 1)
    assert {u["is_service_account"] for u in users} == {False}
    assert {u["created"] is None for u in users} == {True, False}
    assert all(u["created"] is None or u["created"] <= u["added_at"] for u in users)
    assert {u["developer_persona"] is None for u in users} == {True, False}
    assert {u["user"]["picture"] is None for u in users} == {True, False}
    for user in users:
        assert user["user"]["id"] == user["id"] and user["user"]["email"] == user["email"]
        keys = [k for k in d.api_keys if k.owner_type == "user" and k.owner_id == user["id"]]
        member = {k.project_id for k in keys if k.owner_project_access == "active"}
        assert {p["id"] for p in user["projects"]["data"]} == member
        used = [t for t in (k.last_used_at(NOW) for k in keys) if t is not None]
        assert user["api_key_last_used_at"] == max(used, default=None)
    limited = [k for k in d.api_keys if k.spend_limit is not None]
    assert len(limited) == 1
    page = await list_all(http, emulator, keys_path(limited[0].project_id), ANY)
    [key] = [x for p in page for x in p["data"] if x["id"] == limited[0].id]
    assert key["spend_limit"] == {
        "threshold_amount": 50_000,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": "inactive"},
    }


# -- agreement with usage -----------------------------------------------------------------


async def usage_ids(
    http: aiohttp.ClientSession, emu: Emulator
) -> list[tuple[str, str | None, str | None]]:
    """(project_id, user_id, api_key_id) of every usage and cost result of 30 days."""
    out = []
    start = NOW // DAY * DAY - 30 * DAY
    for spec in ENDPOINTS.values():
        group_by = [g for g in ("project_id", "user_id", "api_key_id") if g in spec.group_by]
        params = [("start_time", str(start)), ("end_time", str(start + 30 * DAY)), ("limit", "31")]
        params += [("group_by[]", g) for g in group_by]
        for bucket in buckets_of(await fetch_all(http, emu, spec.name, params)):
            for r in bucket["results"]:
                out.append((r["project_id"], r.get("user_id"), r.get("api_key_id")))
    return out


async def test_every_usage_id_resolves_but_the_two_on_purpose(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    org = emulator.org
    rows = await usage_ids(http, emulator)
    assert len(rows) > 100
    listed = ids_of(await list_all(http, emulator, "/organization/projects"))
    every = ids_of(
        await list_all(http, emulator, "/organization/projects", [("include_archived", "true")])
    )
    users = {
        u["id"]: u for p in await list_all(http, emulator, "/organization/users") for u in p["data"]
    }
    keys: dict[str, tuple[str, dict[str, Any]]] = {}
    for project_id in every:
        for page in await list_all(http, emulator, keys_path(project_id), ANY):
            for key in page["data"]:
                assert key["id"] not in keys
                keys[key["id"]] = (project_id, key)

    used_projects = {p for p, _, _ in rows}
    used_users = {u for _, u, _ in rows if u is not None}
    used_keys = {k for _, _, k in rows if k is not None}
    assert used_projects - set(listed) == {org.archived_project_id}
    assert used_projects <= set(every) and len(used_projects) == 5
    assert used_users <= set(users) and len(used_users) >= 4
    assert used_keys - set(keys) == {org.deleted_api_key_id}
    assert org.deleted_api_key_id.startswith("key_")
    assert org.directory.api_key(org.deleted_api_key_id) is None
    # A usage key is listed by the project its usage names, and owned by the user it names.
    for project_id, user_id, key_id in rows:
        if key_id is None or key_id == org.deleted_api_key_id:
            continue
        owner_project, key = keys[key_id]
        assert owner_project == project_id
        assert key["owner"]["type"] == "user"
        assert key["owner"]["user"]["id"] == user_id
        assert key["owner"]["user"]["email"] == users[user_id]["email"]
        assert key["last_used_at"] is not None
    # Keys are owned both ways; service accounts' keys carry no usage here.
    kinds = {key["owner"]["type"] for _, key in keys.values()}
    assert kinds == {"user", "service_account"}
    for _, key in keys.values():
        if key["owner"]["type"] == "service_account":
            assert key["id"] not in used_keys and key["last_used_at"] is None
            account = key["owner"]["service_account"]
            assert set(account) == {"id", "name", "role", "created_at"}
            assert account["role"] in ("owner", "member")


async def test_key_objects_never_show_a_full_key(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    d = emulator.org.directory
    seen = 0
    access = []
    for project in d.projects:
        for page in await list_all(http, emulator, keys_path(project.id), ANY):
            for key in page["data"]:
                seen += 1
                prefix = "sk-proj-" if key["owner"]["type"] == "user" else "sk-svcacct-"
                assert re.fullmatch(
                    re.escape(prefix) + r"[A-Za-z0-9]{2}\.\.\.[A-Za-z0-9]{4}", key["redacted_value"]
                )
                assert key["expires_at"] is None
                access.append((key["owner_project_access"], key["id"]))
                assert key["object"] == "organization.project.api_key"
                if key["last_used_at"] is not None:  # a recent hour, by the pinned clock
                    assert key["last_used_at"] % HOUR == 0
                    assert NOW - 48 * HOUR < key["last_used_at"] <= NOW
    assert seen == len(d.api_keys) > 10
    assert [i for a, i in access if a != "active"] == [d.inactive_api_key_id]


def test_directory_names_are_distinct_and_the_directory_deterministic() -> None:
    org = Organization(0, clock=lambda: NOW)
    again = Organization(0, clock=lambda: NOW)
    other = Organization(1, clock=lambda: NOW)
    d = org.directory
    assert d.projects == again.directory.projects
    assert d.api_keys == again.directory.api_keys
    assert d.users == again.directory.users
    assert [p.id for p in d.projects] != [p.id for p in other.directory.projects]
    assert len({p.name for p in d.projects}) == len(d.projects) == 5
    assert len({u.email for u in d.users}) == len(d.users) == 8
    assert sorted(u.id for u in d.users) == sorted(org.users)
    assert sorted(p.id for p in d.projects) == sorted(org.projects)
    assert {u.role for u in d.users} == {"owner", "reader"}
    assert all(re.fullmatch(r"[a-z]+\.[a-z]+@example\.com", u.email) for u in d.users)
    assert org.archived_project_id in org.projects
    assert org.deleted_api_key_id in org.api_keys


def test_directory_size_grows_without_moving_usage() -> None:
    base = Organization(0, clock=lambda: NOW)
    grown = Organization(0, clock=lambda: NOW, directory_size=(200, 3000))
    d = grown.directory
    assert len(d.projects) == 200
    assert len(d.api_keys) == 3000
    assert len({p.name for p in d.projects}) == 200
    assert len({k.id for k in d.api_keys}) == 3000
    # The base organization is a part of it, unchanged, and so is its usage.
    by_id = {p.id: p for p in d.projects}
    assert all(by_id[p.id] == p for p in base.directory.projects)
    assert set(base.directory.api_keys) <= set(d.api_keys)
    assert grown.streams == base.streams
    assert (grown.archived_project_id, grown.deleted_api_key_id) == (
        base.archived_project_id,
        base.deleted_api_key_id,
    )
    with pytest.raises(ValueError, match=r"^directory_size: \(3, 10\) is smaller"):
        Organization(0, clock=lambda: NOW, directory_size=(3, 10))
    with pytest.raises(ValueError, match="no project to hold them"):
        Organization(0, clock=lambda: NOW, directory_size=(5, 400))


# -- errors, and the machinery every route shares ----------------------------------------------


@pytest.mark.parametrize(
    ("where", "params", "param", "message"),
    [
        ("projects", [("limit", "0")], "limit", "Invalid value for 'limit': 0 is outside 1..100."),
        (
            "projects",
            [("limit", "101")],
            "limit",
            "Invalid value for 'limit': 101 is outside 1..100.",
        ),
        (
            "users",
            [("limit", "2.5")],
            "limit",
            "Invalid value for 'limit': expected an integer, got '2.5'.",
        ),
        ("keys", [("limit", "ten")], "limit", None),
        ("accounts", [("limit", "-3")], "limit", None),
        ("users", [("limit", "5"), ("limit", "6")], "limit", None),
        ("projects", [("after", "proj_nope")], "after", None),
        ("users", [("after", "")], "after", None),
        ("keys", [("after", "DELETED")], "after", None),
        ("keys", [("after", "OTHER_KEY")], "after", None),
        ("projects", [("include_archived", "yes")], "include_archived", None),
        ("keys", [("owner_project_access", "some")], "owner_project_access", None),
        ("projects", [("order", "desc")], "order", "Unrecognized query parameter: 'order'."),
        ("users", [("include_archived", "true")], "include_archived", None),
        ("accounts", [("emails[]", "a@b.c")], "emails", None),
    ],
)
async def test_bad_queries_are_400s_naming_the_parameter(
    emulator: Emulator,
    http: aiohttp.ClientSession,
    where: str,
    params: list[tuple[str, str]],
    param: str,
    message: str | None,
) -> None:
    org = emulator.org
    project = next(p for p in org.directory.projects if p.archived_at is None)
    other = next(p for p in org.directory.projects if p.id != project.id)
    swap = {
        "DELETED": org.deleted_api_key_id,
        "OTHER_KEY": org.directory.api_keys_of(other.id)[0].id,
    }
    params = [(k, swap.get(v, v)) for k, v in params]
    path = {
        "projects": "/organization/projects",
        "users": "/organization/users",
        "keys": keys_path(project.id),
        "accounts": accounts_path(project.id),
    }[where]
    status, body = await get(http, emulator, path, params)
    assert status == 400
    assert body["error"]["param"] == param
    assert body["error"]["type"] == "invalid_request_error"
    if message is not None:
        assert body["error"]["message"] == message
    if param == "after":
        value = params[0][1]
        assert body["error"]["message"] == (
            f"Invalid value for 'after': no object in this list has id {value!r}."
        )


@pytest.mark.parametrize("route", ["api_keys", "service_accounts"])
async def test_an_unknown_project_is_a_404(
    emulator: Emulator, http: aiohttp.ClientSession, route: str
) -> None:
    status, body = await get(http, emulator, f"/organization/projects/proj_nope/{route}")
    assert status == 404
    assert body["error"] == {
        "message": "No such project: 'proj_nope'",
        "type": "invalid_request_error",
        "param": "project_id",
        "code": None,
    }
    status, body = await get(http, emulator, f"/organization/projects/proj%2Fodd%20id/{route}")
    assert status == 404 and body["error"]["message"] == "No such project: 'proj/odd id'"
    # A key id is not a project either, nor is the deleted key.
    status, _ = await get(
        http, emulator, f"/organization/projects/{emulator.org.deleted_api_key_id}/{route}"
    )
    assert status == 404


async def test_routes_share_auth_faults_and_recording(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    project = next(p.id for p in emulator.org.directory.projects if p.archived_at is None)
    emulator.faults[:] = [
        Fault(status=503, first=1, endpoints=frozenset({"projects"}), retry_after_ms=7),
        Fault(kind="early_end", keep=1, endpoints=frozenset({"project_api_keys"})),
    ]
    status, body = await get(http, emulator, "/organization/projects")
    assert status == 503 and body["error"]["type"] == "server_error"
    status, body = await get(http, emulator, "/organization/projects")
    assert status == 200 and len(body["data"]) == 4
    status, body = await get(http, emulator, keys_path(project))
    first = next(
        k.id
        for k in emulator.org.directory.api_keys_of(project)
        if k.owner_project_access == "active"
    )
    assert status == 200
    assert [k["id"] for k in body["data"]] == [first]
    assert (body["first_id"], body["last_id"], body["has_more"]) == (first, first, False)
    status, _ = await get(http, emulator, accounts_path(project))
    assert status == 200
    assert emulator.base_url is not None
    users_url = emulator.base_url + "/organization/users"
    async with aiohttp.ClientSession() as anonymous:
        async with anonymous.get(users_url) as response:
            assert response.status == 401
        proj_key = {"Authorization": "Bearer sk-proj-abcdef"}
        async with anonymous.get(users_url, headers=proj_key) as response:
            assert response.status == 403
            assert (await response.json())["error"]["code"] == "insufficient_permissions"
    stats = emulator.statistics()
    assert stats.requests_by_endpoint == {
        "projects": 2,
        "project_api_keys": 1,
        "project_service_accounts": 1,
        "users": 2,
    }
    assert stats.responses_by_status == {503: 1, 200: 3, 401: 1, 403: 1}
    assert [r.endpoint for r in emulator.requests] == [
        "projects",
        "projects",
        "project_api_keys",
        "project_service_accounts",
        "users",
        "users",
    ]
    assert [f.fired for f in emulator.faults] == [1, 1]


async def test_max_concurrent_applies_to_directory_routes(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, max_concurrent=0, rate_limit_retry_after_ms=9) as emu:
        assert emu.base_url is not None
        async with http.get(emu.base_url + "/organization/users") as response:
            assert response.status == 429
            assert response.headers["retry-after-ms"] == "9"


# -- the official SDK reads the same lists ----------------------------------------------------


@pytest.mark.parametrize("limit", [2, None])
async def test_official_sdk_autopages_the_same_objects(
    emulator: Emulator, http: aiohttp.ClientSession, sdk: AsyncOpenAI, limit: int | None
) -> None:
    org = sdk.admin.organization
    extra: dict[str, Any] = {} if limit is None else {"limit": limit}
    query: Params = [] if limit is None else [("limit", str(limit))]

    def same(objects: list[Any], pages: list[dict[str, Any]]) -> None:
        raw = [x for p in pages for x in p["data"]]
        assert [o.id for o in objects] == [x["id"] for x in raw]
        for obj, x in zip(objects, raw, strict=True):
            assert not obj.model_extra
            assert obj.model_dump(mode="json", exclude_unset=True) == x

    projects = [p async for p in org.projects.list(include_archived=True, **extra)]
    raw_projects = await list_all(
        http, emulator, "/organization/projects", [*query, ("include_archived", "true")]
    )
    same(projects, raw_projects)
    assert len(projects) == 5
    active = [p async for p in org.projects.list(**extra)]
    assert [p.id for p in active] == [p.id for p in projects if p.status == "active"]
    assert len(active) == 4

    users = [u async for u in org.users.list(**extra)]
    same(users, await list_all(http, emulator, "/organization/users", query))
    assert len(users) == 8
    picked = [u async for u in org.users.list(emails=[users[2].email, users[5].email], **extra)]
    assert [u.id for u in picked] == [users[2].id, users[5].id]

    owners = set()
    for project in projects:
        keys = [
            k
            async for k in org.projects.api_keys.list(
                project.id, owner_project_access="any", **extra
            )
        ]
        same(keys, await list_all(http, emulator, keys_path(project.id), [*query, *ANY]))
        for key in keys:
            owners.add(key.owner.type)
            if key.owner.type == "user":
                assert key.owner.user is not None and key.owner.service_account is None
                user = emulator.org.directory.user(key.owner.user.id)
                assert user is not None and key.owner.user.email == user.email
            else:
                assert key.owner.service_account is not None and key.owner.user is None
                account = emulator.org.directory.service_account(key.owner.service_account.id)
                assert account is not None and key.owner.service_account.name == account.name
        if project.status == "archived":
            with pytest.raises(openai.BadRequestError, match="is archived"):
                await org.projects.service_accounts.list(project.id, **extra)
            continue
        accounts = [a async for a in org.projects.service_accounts.list(project.id, **extra)]
        same(accounts, await list_all(http, emulator, accounts_path(project.id), query))
        assert [a.id for a in accounts] == [
            a.id for a in emulator.org.directory.service_accounts_of(project.id)
        ]
    assert owners == {"user", "service_account"}
    # The SDK paged with after=<last_id>, and spelled the filter emails[].
    sent = [r for r in emulator.requests if r.headers["user-agent"].startswith("AsyncOpenAI/")]
    if limit is not None:
        assert any(k == "after" for r in sent for k, _ in r.query)
    assert any(k == "emails[]" for r in sent for k, _ in r.query)


def test_the_command_line_option() -> None:
    import argparse

    from openai_usage_async.emulator.__main__ import add_arguments, emulator_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    emu = emulator_from_args(parser.parse_args(["--directory-size", "200,3000", "--now", "0"]))
    assert (len(emu.org.directory.projects), len(emu.org.directory.api_keys)) == (200, 3000)
    assert len(emulator_from_args(parser.parse_args([])).org.directory.projects) == 5
    with pytest.raises(SystemExit):
        parser.parse_args(["--directory-size", "200"])
