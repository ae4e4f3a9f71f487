"""What an official SDK user writes first, over loopback: it works, or the error says what
to write instead. Also the escape hatch for upstream growth (``extra_query`` and
``extra_headers``) as the emulator receives it, and the errors' service fields.
"""

from __future__ import annotations

import socket
import time
from typing import Any

import aiohttp
import msgspec
import pytest

from openai_usage_async import AsyncUsageClient, UsageClient, errors
from openai_usage_async.emulator import Emulator, Fault
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import DAY, NOW, TEST_KEY, get_json

TODAY = NOW // DAY * DAY
RANGE = {"start_time": TODAY - 20 * DAY, "end_time": TODAY}


def params(query: tuple[tuple[str, str], ...]) -> list[tuple[str, str]]:
    return list(query)


async def test_calling_the_endpoint_is_get(emulator: Emulator, client: AsyncUsageClient) -> None:
    # The official SDK: `await client.admin.organization.usage.completions(start_time=...)`.
    called = await client.usage.completions(start_time=TODAY - 3 * DAY, limit=2, models="gpt-4o")
    got = await client.usage.completions.get(start_time=TODAY - 3 * DAY, limit=2, models="gpt-4o")
    assert called == got and len(called.data) == 2 and called.has_more is True
    assert emulator.statistics().requests_total == 2  # one page each, as the SDK's call


async def test_float_times_as_time_time_gives_them(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    start = TODAY - 3 * DAY + 0.75  # a float such as time.time() - 3 * 86400
    buckets = await client.usage.costs.list(start_time=start, end_time=TODAY + 0.25)
    # The fraction past TODAY asks for the bucket that starts there: it comes, clipped.
    assert [(b.start_time, b.end_time) for b in buckets] == [
        *[(TODAY - d * DAY, TODAY - (d - 1) * DAY) for d in (3, 2, 1)],
        (TODAY, TODAY + 1),
    ]
    [sent] = [dict(r.query) for r in emulator.requests]
    # start floored, end rounded up: the range covers at least the instants given.
    assert (sent["start_time"], sent["end_time"]) == (str(TODAY - 3 * DAY), str(TODAY + 1))


async def test_milliseconds_are_refused_before_any_request(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    millis = int(time.time() * 1000)
    with pytest.raises(ValueError, match=r"^start_time: \d{13} looks like milliseconds"):
        await client.usage.completions.list(start_time=millis)
    with pytest.raises(ValueError, match=rf"^end_time: .* pass end_time={TODAY}\b"):
        client.usage.costs.iter(start_time=0, end_time=TODAY * 1000)
    assert emulator.statistics().requests_total == 0


async def test_admin_api_key_is_an_alias(emulator: Emulator) -> None:
    async with AsyncUsageClient(admin_api_key=TEST_KEY, base_url=emulator.base_url) as client:
        page = await client.usage.costs.get(start_time=TODAY - DAY)
    assert page.data[0].start_time == TODAY - DAY
    with pytest.raises(ValueError) as both:
        AsyncUsageClient("sk-admin-one-SECRET", admin_api_key="sk-admin-two-SECRET")
    assert str(both.value).startswith("admin_api_key: give the key once, as api_key=")
    assert "SECRET" not in str(both.value)
    with UsageClient(admin_api_key=TEST_KEY, base_url=emulator.base_url) as blocking:
        assert "redacted" in repr(blocking)


async def test_to_dict_is_the_json_the_service_sent(
    emulator: Emulator, client: AsyncUsageClient, http: aiohttp.ClientSession
) -> None:
    query = [("start_time", str(TODAY - 2 * DAY)), ("group_by[]", "line_item")]
    page = await client.usage.costs.get(start_time=TODAY - 2 * DAY, group_by="line_item")
    status, raw = await get_json(http, emulator, "costs", query)
    assert status == 200 and page.to_dict() == raw
    assert page.data[0].to_dict() == raw["data"][0]
    assert page.data[0].results[0].to_dict() == raw["data"][0]["results"][0]
    assert msgspec.to_builtins(page.data[0].results[0]) == raw["data"][0]["results"][0]
    for obj in (page, page.data[0], page.data[0].results[0]):
        for name in ("model_dump", "model_dump_json", "dict", "json"):
            with pytest.raises(AttributeError) as info:
                getattr(obj, name)()
            assert f"{type(obj).__name__!r} has no {name!r}" in str(info.value)
            assert ".to_dict()" in str(info.value) and "msgspec.to_builtins" in str(info.value)
    with pytest.raises(AttributeError, match="has no attribute 'no_such_field'"):
        page.no_such_field  # type: ignore[attr-defined]  # noqa: B018  # other names: as usual


async def test_extras_arrive_on_every_window_and_retry(emulator: Emulator) -> None:
    emulator.faults = [Fault(status=500, first=1)]  # the retry resends them too
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=2) as c:
        buckets = await same_clock(fast_retries(c), emulator).usage.costs.list(
            **RANGE,
            limit=7,
            # Filters and group_by values the client validates can also go as given.
            extra_query={"project_ids": ["proj_x"], "group_by": "project_id"},
            extra_headers={"OpenAI-Project": "proj_call", "User-Agent": "my-dashboard/2"},
        )
    assert len(buckets) == 20
    received = emulator.requests
    assert len(received) == 4  # three windows of 7, 7 and 6 days, and one retry
    for request in received:
        query = params(request.query)
        # A list goes in the bracket form, a single value under its key as given.
        assert query[-2:] == [("project_ids[]", "proj_x"), ("group_by", "project_id")]
        assert request.headers["openai-project"] == "proj_call"
        assert request.headers["user-agent"] == "my-dashboard/2"


async def test_an_upstream_parameter_we_do_not_know_is_sent_and_answered(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    # The emulator, like the service, refuses a parameter it does not know: the request
    # went out as given, and the error carries the service's fields.
    with pytest.raises(errors.BadRequestError) as info:
        await client.usage.completions.get(
            start_time=TODAY - DAY, extra_query={"reasoning_effort": ["high"]}
        )
    error = info.value
    assert (error.type, error.code, error.param) == (
        "invalid_request_error",
        None,
        "reasoning_effort",
    )
    assert "Unrecognized query parameter: 'reasoning_effort'" in error.message
    [request] = emulator.requests
    assert ("reasoning_effort[]", "high") in params(request.query)


async def test_error_fields_come_from_the_service(emulator: Emulator) -> None:
    emulator.faults = [Fault(status=429, retry_after_ms=1, first=3)]
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_retries=2) as client:
        with pytest.raises(errors.RateLimitError) as info:
            await fast_retries(client).usage.costs.get(start_time=TODAY - DAY)
    error = info.value
    assert (error.type, error.code) == ("requests", "rate_limit_exceeded")
    assert error.param is None and error.retries == 2
    assert str(error).endswith(f"(after 2 retries) (request id {error.request_id})")


async def test_gather_and_the_directory_take_the_extras(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    data = await client.usage.gather(
        ["costs", "images"], **RANGE, extra_headers={"OpenAI-Project": "proj_gather"}
    )
    assert len(data["costs"]) == len(data["images"]) == 20
    directory = await client.organization.directory(extra_headers={"OpenAI-Project": "proj_dir"})
    assert len(directory.projects) == len(emulator.org.directory.projects)
    kinds = set()
    for request in emulator.requests:
        usage = request.endpoint in ("costs", "images")
        kinds.add(usage)
        assert request.headers["openai-project"] == ("proj_gather" if usage else "proj_dir")
    assert kinds == {True, False}
    with pytest.raises(ValueError, match=r"^costs: extra_query: 'limit' is set by the client"):
        await client.usage.gather(["costs"], start_time=0, extra_query={"limit": 2})


async def test_a_base_url_without_v1_gets_a_hint(emulator: Emulator) -> None:
    assert emulator.base_url is not None and emulator.base_url.endswith("/v1")
    root = emulator.base_url.removesuffix("/v1")
    async with AsyncUsageClient(TEST_KEY, base_url=root) as client:
        with pytest.raises(errors.NotFoundError) as info:
            await client.usage.costs.get(start_time=TODAY - DAY)
    assert f"does not end in /v1; it probably needs it: {root}/v1" in str(info.value)
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as client:
        with pytest.raises(errors.NotFoundError) as other:
            await client.organization.projects.api_keys.list("proj_nope")
    assert "/v1" not in other.value.message  # a 404 at a right base URL: no hint


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
    return port  # closed again: connecting is refused


async def test_connection_refused_says_so_without_ssl_noise() -> None:
    port = free_port()
    async with AsyncUsageClient(TEST_KEY, base_url=f"http://127.0.0.1:{port}/v1") as client:
        with pytest.raises(errors.APIConnectionError) as info:
            await fast_retries(client, max_retries=1).usage.costs.get(start_time=0)
    message = str(info.value)
    assert message == (
        f"GET /v1/organization/costs failed: cannot connect to 127.0.0.1:{port} "
        "(connection refused) (after 1 retry)"
    )
    assert info.value.message == message and "ssl" not in message.lower()
    assert info.value.retries == 1 and info.value.type is None and info.value.code is None


def test_the_blocking_client_calls_endpoints_too(emu: Emulator) -> None:
    with UsageClient(TEST_KEY, base_url=emu.base_url) as client:
        page = client.usage.costs(start_time=TODAY - 2 * DAY, end_time=TODAY)
        again: Any = client.usage.costs.get(start_time=TODAY - 2 * DAY, end_time=TODAY)
    assert page == again and len(page.data) == 2
