"""The spend routes: the seeded limits and alerts, paging, errors, and the knobs."""

from __future__ import annotations

import argparse
import json
import math
from typing import Any

import aiohttp
import pytest

from openai_usage_async.emulator import Emulator, Fault
from openai_usage_async.emulator.__main__ import add_arguments, emulator_from_args
from openai_usage_async.emulator.spend import DEFAULT_SPEND_LIMIT_USD
from tests.helpers import DAY, NOW, Params

ORG_LIMIT = "/organization/spend_limit"
ORG_ALERTS = "/organization/spend_alerts"


def project_limit(project_id: str) -> str:
    return f"/organization/projects/{project_id}/spend_limit"


def project_alerts(project_id: str) -> str:
    return f"/organization/projects/{project_id}/spend_alerts"


async def get(
    http: aiohttp.ClientSession, emu: Emulator, path: str, params: Params = ()
) -> tuple[int, Any]:
    assert emu.base_url is not None
    async with http.get(emu.base_url + path, params=list(params)) as response:
        return response.status, json.loads(await response.read())


async def pages_of(
    http: aiohttp.ClientSession, emu: Emulator, path: str, params: Params = ()
) -> list[dict[str, Any]]:
    pages: list[dict[str, Any]] = []
    after: str | None = None
    while True:
        status, page = await get(http, emu, path, [*params, *([("after", after)] if after else [])])
        assert status == 200, page
        ids = [x["id"] for x in page["data"]]
        assert page["object"] == "list"
        assert (page["first_id"], page["last_id"]) == ((ids[0], ids[-1]) if ids else (None, None))
        pages.append(page)
        if not page["has_more"]:
            return pages
        after = page["last_id"]


def error_of(body: Any) -> dict[str, Any]:
    error = body["error"]
    assert isinstance(error, dict)
    return error


# -- the seeded organization --------------------------------------------------------------------


def test_the_seed_gives_one_enforcing_one_inactive_limit_and_alerts() -> None:
    emu = Emulator(now=NOW)
    spend = emu.spend
    directory = emu.org.directory
    active = [p.id for p in directory.projects if p.archived_at is None]
    ids = {spend.enforcing_project_id, spend.inactive_project_id, spend.alert_only_project_id}
    assert len(ids) == 3 and ids <= set(active)
    limits = {p.id: emu.spend_limit(p.id) for p in directory.projects}
    assert {p for p, limit in limits.items() if limit is not None} == {
        spend.enforcing_project_id,
        spend.inactive_project_id,
    }
    enforcing = limits[spend.enforcing_project_id]
    inactive = limits[spend.inactive_project_id]
    assert enforcing is not None and inactive is not None
    assert (enforcing["enforcement"], enforcing["threshold_amount"]) == (
        {"status": "enforcing"},
        100_000,
    )
    assert (inactive["enforcement"], inactive["threshold_amount"]) == (
        {"status": "inactive"},
        2_500_000,
    )
    assert enforcing["object"] == inactive["object"] == "project.spend_limit"
    assert "notification_channel" not in inactive  # optional: left out
    assert enforcing["notification_channel"]["subject_prefix"] is None
    org = emu.spend_limit()
    assert org is not None and org["object"] == "organization.spend_limit"
    assert org["threshold_amount"] == round(DEFAULT_SPEND_LIMIT_USD * 100) == 6_000_000
    assert org["enforcement"] == {"status": "inactive"}
    owners = sorted(u.email for u in directory.users if u.role == "owner")
    assert sorted(org["notification_channel"]["recipients"]) == owners
    # Alerts: three on the organization, two on the inactive-limit project, one on a project
    # with no limit; recipients are organization members.
    assert len(emu.spend_alerts()) == 3
    assert len(emu.spend_alerts(spend.inactive_project_id)) == 2
    assert len(emu.spend_alerts(spend.alert_only_project_id)) == 1
    assert emu.spend_alerts(spend.enforcing_project_id) == []
    emails = {u.email for u in directory.users}
    every = [a for p in [None, *active] for a in emu.spend_alerts(p)]
    assert len({a["id"] for a in every}) == 6
    assert all(set(a["notification_channel"]["recipients"]) <= emails for a in every)
    assert {a["object"] for a in emu.spend_alerts()} == {"organization.spend_alert"}
    assert {a["object"] for a in emu.spend_alerts(spend.inactive_project_id)} == {
        "project.spend_alert"
    }
    # One API key with a hard limit of its own, in the directory.
    assert len([k for k in directory.api_keys if k.spend_limit is not None]) == 1


def test_the_seed_is_deterministic_and_independent_of_the_directory_size() -> None:
    a, b = Emulator(now=NOW, seed=4), Emulator(now=NOW, seed=4, directory_size=(40, 200))
    assert a.spend_alerts() == b.spend_alerts()
    assert a.spend.project_limits == b.spend.project_limits
    assert Emulator(now=NOW, seed=5).spend_alerts() != a.spend_alerts()
    for project in b.org.directory.projects:
        if a.org.directory.project(project.id) is None:  # a synthetic project
            assert b.spend_limit(project.id) is None and b.spend_alerts(project.id) == []


# -- the routes ---------------------------------------------------------------------------------


async def test_the_limit_routes_answer_the_ground_truth_or_404(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    status, body = await get(http, emulator, ORG_LIMIT)
    assert (status, body) == (200, emulator.spend_limit())
    for project in emulator.org.directory.projects:
        status, body = await get(http, emulator, project_limit(project.id))
        expected = emulator.spend_limit(project.id)
        if expected is None:
            assert status == 404
            assert (
                error_of(body)["message"]
                == f"No hard spend limit is set for project '{project.id}'."
            )
        else:
            assert (status, body) == (200, expected)
    status, body = await get(http, emulator, project_limit("proj_nope"))
    assert status == 404 and error_of(body)["param"] == "project_id"
    status, body = await get(http, emulator, ORG_LIMIT, [("limit", "1")])
    assert status == 400 and error_of(body)["param"] == "limit"
    stats = emulator.statistics()
    assert stats.requests_by_endpoint["spend_limit"] == 2
    assert (
        stats.requests_by_endpoint["project_spend_limit"]
        == len(emulator.org.directory.projects) + 1
    )


@pytest.mark.parametrize("limit", [None, 1, 2, 3, 100])
@pytest.mark.parametrize("order", [None, "asc", "desc"])
async def test_alert_pages_follow_after_in_either_order(
    emulator: Emulator, http: aiohttp.ClientSession, limit: int | None, order: str | None
) -> None:
    params = [*([("limit", str(limit))] if limit else []), *([("order", order)] if order else [])]
    for project_id in (
        None,
        emulator.spend.inactive_project_id,
        emulator.spend.alert_only_project_id,
    ):
        path = ORG_ALERTS if project_id is None else project_alerts(project_id)
        expected = emulator.spend_alerts(project_id)
        if order == "desc":
            expected.reverse()
        pages = await pages_of(http, emulator, path, params)
        assert [a for p in pages for a in p["data"]] == expected
        per_page = limit or 20
        assert len(pages) == max(1, math.ceil(len(expected) / per_page))
        assert all(len(p["data"]) <= per_page for p in pages)


async def test_alert_lists_before_limit_zero_and_errors(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    ids = [a["id"] for a in emulator.spend_alerts()]
    status, page = await get(http, emulator, ORG_ALERTS, [("before", ids[2])])
    assert status == 200 and [a["id"] for a in page["data"]] == ids[:2] and not page["has_more"]
    status, page = await get(http, emulator, ORG_ALERTS, [("before", ids[0]), ("order", "desc")])
    assert [a["id"] for a in page["data"]] == ids[:0:-1]
    status, page = await get(http, emulator, ORG_ALERTS, [("after", ids[0]), ("before", ids[2])])
    assert [a["id"] for a in page["data"]] == [ids[1]]
    # limit=0 is accepted (0..100), as documented: no alerts, and it says more remain.
    status, page = await get(http, emulator, ORG_ALERTS, [("limit", "0")])
    assert status == 200 and page["data"] == [] and page["has_more"] is True
    assert page["first_id"] is page["last_id"] is None
    for params, param in [
        ([("limit", "101")], "limit"),
        ([("limit", "-1")], "limit"),
        ([("after", "spend_alert_nope")], "after"),
        ([("before", "spend_alert_nope")], "before"),
        ([("order", "up")], "order"),
        ([("page", "x")], "page"),
    ]:
        status, body = await get(http, emulator, ORG_ALERTS, params)
        assert status == 400 and error_of(body)["param"] == param, params
    status, body = await get(http, emulator, project_alerts("proj_nope"))
    assert status == 404 and error_of(body)["param"] == "project_id"


# -- the knobs ----------------------------------------------------------------------------------


async def test_no_spend_limits_is_404_everywhere_but_alerts_stay(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(now=NOW, spend_limits=False) as emu:
        status, body = await get(http, emu, ORG_LIMIT)
        assert status == 404
        assert error_of(body)["message"] == "No hard spend limit is set for this organization."
        for project in emu.org.directory.projects:
            assert (await get(http, emu, project_limit(project.id)))[0] == 404
        status, page = await get(http, emu, ORG_ALERTS)
        assert status == 200 and len(page["data"]) == 3


async def test_the_organization_limit_amount_is_configurable(http: aiohttp.ClientSession) -> None:
    async with Emulator(now=NOW, spend_limit_usd=1234.565) as emu:
        status, body = await get(http, emu, ORG_LIMIT)
        assert status == 200 and body["threshold_amount"] == 123_456  # cents, rounded
        emu.spend_limit_usd = None  # an attribute: changes take effect at once
        assert (await get(http, emu, ORG_LIMIT))[0] == 404
        # The projects' limits are not the organization's.
        assert (await get(http, emu, project_limit(emu.spend.enforcing_project_id)))[0] == 200


async def test_a_key_without_the_scope_gets_403_on_every_spend_route(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(now=NOW, spend_forbidden=True) as emu:
        project = emu.spend.inactive_project_id
        for path in (ORG_LIMIT, ORG_ALERTS, project_limit(project), project_alerts(project)):
            status, body = await get(http, emu, path)
            assert status == 403 and error_of(body)["code"] == "insufficient_permissions", path
        # Usage and the directory still answer.
        status, _ = await get(http, emu, "/organization/costs", [("start_time", str(NOW - DAY))])
        assert status == 200
        assert (await get(http, emu, "/organization/projects"))[0] == 200
        assert emu.statistics().requests_by_endpoint == {
            "spend_limit": 1,
            "spend_alerts": 1,
            "project_spend_limit": 1,
            "project_spend_alerts": 1,
            "costs": 1,
            "projects": 1,
        }


async def test_the_limit_reached_refuses_usage_with_the_spend_429(
    http: aiohttp.ClientSession,
) -> None:
    async with Emulator(now=NOW, spend_limit_reached=True, spend_limit_usd=100) as emu:
        for endpoint in ("/organization/costs", "/organization/usage/completions"):
            status, body = await get(http, emu, endpoint, [("start_time", str(NOW - DAY))])
            assert status == 429, body
            error = error_of(body)
            assert error["code"] == "organization_spend_limit_exceeded"
            assert "hard spend limit" in error["message"]
        # Even an invalid query: the limit blocks first.
        status, body = await get(http, emu, "/organization/costs")
        assert status == 429
        # The spend routes and the directory still answer, and say so.
        status, body = await get(http, emu, ORG_LIMIT)
        assert status == 200 and body["enforcement"] == {"status": "enforcing"}
        assert body["threshold_amount"] == 10_000
        assert (await get(http, emu, "/organization/users"))[0] == 200
        emu.spend_limit_reached = False
        assert (await get(http, emu, "/organization/costs", [("start_time", str(NOW - DAY))]))[
            0
        ] == 200


def test_the_limit_reached_needs_a_limit() -> None:
    with pytest.raises(ValueError, match=r"^spend_limit_reached: the organization has no spend"):
        Emulator(spend_limit_reached=True, spend_limits=False)
    with pytest.raises(ValueError, match=r"^spend_limit_reached: "):
        Emulator(spend_limit_reached=True, spend_limit_usd=None)
    with pytest.raises(ValueError, match=r"^spend_limit_usd: -1 is not an amount"):
        Emulator(spend_limit_usd=-1)


@pytest.mark.parametrize(
    "code", ["project_spend_limit_exceeded", "insufficient_quota", "billing_not_active"]
)
async def test_a_status_fault_carries_a_code(
    emulator: Emulator, http: aiohttp.ClientSession, code: str
) -> None:
    emulator.faults = [Fault(status=429, code=code, first=1, endpoints=frozenset({"costs"}))]
    status, body = await get(
        http, emulator, "/organization/costs", [("start_time", str(NOW - DAY))]
    )
    assert status == 429 and error_of(body)["code"] == code
    assert (
        error_of(body)["message"]
        != "Rate limit reached for requests per min (RPM). Please try again shortly."
    )
    status, _ = await get(http, emulator, "/organization/costs", [("start_time", str(NOW - DAY))])
    assert status == 200


async def test_faults_reach_the_spend_routes_by_name_and_path(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    emulator.faults = [Fault(status=503, first=1, endpoints=frozenset({"spend_alerts"}))]
    assert (await get(http, emulator, ORG_ALERTS))[0] == 503
    assert (await get(http, emulator, ORG_ALERTS))[0] == 200
    project = emulator.spend.inactive_project_id
    emulator.listing_faults[project_alerts(project)] = Fault(kind="early_end", keep=1)
    status, page = await get(http, emulator, project_alerts(project))
    assert status == 200 and len(page["data"]) == 1 and page["has_more"] is False
    emulator.listing_faults[ORG_LIMIT] = Fault(status=500, first=1)
    assert (await get(http, emulator, ORG_LIMIT))[0] == 500
    assert (await get(http, emulator, ORG_LIMIT))[0] == 200


def test_the_command_line_flags() -> None:
    parser = argparse.ArgumentParser()
    add_arguments(parser)
    default = emulator_from_args(parser.parse_args([]))
    assert (default.spend_limit_usd, default.spend_limits) == (DEFAULT_SPEND_LIMIT_USD, True)
    assert (default.spend_limit_reached, default.spend_forbidden) == (False, False)
    emu = emulator_from_args(
        parser.parse_args(
            ["--spend-limit-usd", "$1,500.25", "--spend-limit-reached", "--spend-forbidden"]
        )
    )
    assert (emu.spend_limit_usd, emu.spend_limit_reached, emu.spend_forbidden) == (
        1500.25,
        True,
        True,
    )
    none = emulator_from_args(parser.parse_args(["--no-spend-limits"]))
    assert none.spend_limits is False and none.spend_limit() is None
    with pytest.raises(ValueError, match=r"^spend_limit_reached"):
        emulator_from_args(parser.parse_args(["--no-spend-limits", "--spend-limit-reached"]))
    with pytest.raises(SystemExit):
        parser.parse_args(["--spend-limit-usd", "lots"])
