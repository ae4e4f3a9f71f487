"""Transport edge cases with aioresponses: headers, retries, error mapping, secrets."""

from __future__ import annotations

import logging
import re
from collections.abc import AsyncIterator

import aiohttp
import pytest
from aioresponses import aioresponses

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async._version import __version__

BASE = "http://api.test/v1"
KEY = "sk-admin-SECRET-0123456789abcdef"
COSTS = re.compile(r"^http://api\.test/v1/organization/costs\b.*$")
PAGE = {"object": "page", "data": [], "has_more": False, "next_page": None}
ERROR = {"error": {"message": "boom", "type": "server_error", "param": None, "code": None}}


@pytest.fixture
async def client() -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(
        KEY, base_url=BASE, organization="org-1", project="proj-2", max_retries=2
    ) as c:
        c._transport._sleep = sleeps.record  # type: ignore[method-assign]
        sleeps.delays.clear()
        yield c


class _Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def record(self, delay: float) -> None:
        self.delays.append(delay)


sleeps = _Sleeps()


def calls(m: aioresponses) -> list:
    return [call for key, value in m.requests.items() for call in value]


async def test_headers_and_no_redirects(client: AsyncUsageClient) -> None:
    with aioresponses() as m:
        m.get(COSTS, payload=PAGE, headers={"x-request-id": "req_1"})
        page = await client.usage.costs.get(start_time=0, limit=3, group_by="line_item")
    assert page.data == [] and page.has_more is False
    [call] = calls(m)
    headers = call.kwargs["headers"]
    assert headers["Authorization"] == f"Bearer {KEY}"
    assert headers["OpenAI-Organization"] == "org-1" and headers["OpenAI-Project"] == "proj-2"
    assert headers["Accept"] == "application/json"
    assert headers["User-Agent"].startswith(f"openai_usage_async/{__version__} aiohttp/")
    assert call.kwargs["allow_redirects"] is False
    assert call.kwargs["params"] == [
        ("start_time", "0"),
        ("bucket_width", "1d"),
        ("limit", "3"),
        ("group_by[]", "line_item"),
    ]


async def test_5xx_is_retried_with_backoff(client: AsyncUsageClient) -> None:
    with aioresponses() as m:
        m.get(COSTS, status=500, payload=ERROR)
        m.get(COSTS, status=503, payload=ERROR)
        m.get(COSTS, payload=PAGE)
        page = await client.usage.costs.get(start_time=0)
    assert page.has_more is False
    assert len(calls(m)) == 3
    assert len(sleeps.delays) == 2
    assert 0.375 <= sleeps.delays[0] <= 0.5 and 0.75 <= sleeps.delays[1] <= 1.0


async def test_retries_run_out(client: AsyncUsageClient) -> None:
    with aioresponses() as m:
        for _ in range(3):
            m.get(COSTS, status=500, payload=ERROR, headers={"x-request-id": "req_x"})
        with pytest.raises(errors.InternalServerError) as info:
            await client.usage.costs.get(start_time=0)
    assert len(calls(m)) == 3  # 1 + max_retries
    assert info.value.status_code == 500 and info.value.request_id == "req_x"
    assert info.value.message == "boom"


async def test_retry_after_ms_is_honoured_and_429_tightens_the_bound(
    client: AsyncUsageClient,
) -> None:
    with aioresponses() as m:
        m.get(COSTS, status=429, payload=ERROR, headers={"retry-after-ms": "250"})
        m.get(COSTS, status=429, payload=ERROR, headers={"retry-after": "2"})
        m.get(COSTS, payload=PAGE)
        await client.usage.costs.get(start_time=0)
    assert sleeps.delays == [0.25, 2.0]
    stats = client.statistics().limiter
    # Both attempts were admitted under the bound of their time: each 429 halves it.
    assert stats.decreases == 2 and stats.total_tokens == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(client: AsyncUsageClient, status: int) -> None:
    body = {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "limit", "code": None}
    }
    with aioresponses() as m:
        m.get(COSTS, status=status, payload=body)
        with pytest.raises(errors.APIStatusError) as info:
            await client.usage.costs.get(start_time=0)
    assert len(calls(m)) == 1 and sleeps.delays == []
    assert info.value.status_code == status and info.value.param == "limit"


async def test_x_should_retry_false_is_obeyed(client: AsyncUsageClient) -> None:
    with aioresponses() as m:
        m.get(COSTS, status=503, payload=ERROR, headers={"x-should-retry": "false"})
        with pytest.raises(errors.InternalServerError):
            await client.usage.costs.get(start_time=0)
    assert len(calls(m)) == 1


@pytest.mark.parametrize(
    ("exc", "cls"),
    [
        (aiohttp.ClientConnectionError("refused"), errors.APIConnectionError),
        (aiohttp.ServerDisconnectedError(), errors.APIConnectionError),
        (aiohttp.ClientPayloadError("short read"), errors.APIConnectionError),
        (TimeoutError(), errors.APITimeoutError),
        (aiohttp.ServerTimeoutError("slow"), errors.APITimeoutError),
    ],
)
async def test_transport_errors_are_mapped_and_retried(client: AsyncUsageClient, exc, cls) -> None:
    with aioresponses() as m:
        for _ in range(3):
            m.get(COSTS, exception=exc)
        with pytest.raises(cls) as info:
            await client.usage.costs.get(start_time=0)
    assert type(info.value) is cls
    assert info.value.__cause__ is exc
    assert len(calls(m)) == 3


async def test_connection_error_then_success(client: AsyncUsageClient) -> None:
    with aioresponses() as m:
        m.get(COSTS, exception=aiohttp.ServerDisconnectedError())
        m.get(COSTS, payload=PAGE)
        page = await client.usage.costs.get(start_time=0)
    assert page.object == "page" and len(calls(m)) == 2


@pytest.mark.parametrize("body", [b"{", b"<html>oops</html>"])
async def test_garbled_bodies_are_retried_then_raised(
    client: AsyncUsageClient, body: bytes
) -> None:
    with aioresponses() as m:
        for _ in range(3):
            m.get(COSTS, body=body, headers={"x-request-id": "req_g"})
        with pytest.raises(errors.APIResponseValidationError) as info:
            await client.usage.costs.get(start_time=0)
    assert info.value.invalid_json and info.value.request_id == "req_g"
    assert len(calls(m)) == 3


async def test_a_wrong_shape_is_not_retried(client: AsyncUsageClient) -> None:
    with aioresponses() as m:
        m.get(COSTS, payload={"object": "list", "data": "nope"})
        with pytest.raises(errors.APIResponseValidationError) as info:
            await client.usage.costs.get(start_time=0)
    assert not info.value.invalid_json and len(calls(m)) == 1


async def test_3xx_is_an_error_not_a_redirect(client: AsyncUsageClient) -> None:
    with aioresponses() as m:
        m.get(COSTS, status=302, headers={"Location": "http://elsewhere.test/steal"}, body=b"")
        with pytest.raises(errors.APIStatusError) as info:
            await client.usage.costs.get(start_time=0)
    assert info.value.status_code == 302
    assert len(calls(m)) == 1


async def test_the_key_never_shows(
    client: AsyncUsageClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_usage_async")
    failures: list[BaseException] = []
    with aioresponses() as m:
        m.get(
            COSTS,
            status=401,
            payload={"error": {"message": "Incorrect API key provided: sk-ad***def"}},
        )
        m.get(COSTS, status=500, payload=ERROR)
        m.get(COSTS, exception=aiohttp.ClientConnectionError("refused"))
        m.get(COSTS, exception=aiohttp.ClientConnectionError("refused"))
        for _ in range(2):
            try:
                await client.usage.costs.get(start_time=0)
            except errors.APIError as exc:
                failures.append(exc)
    assert [type(f) for f in failures] == [errors.AuthenticationError, errors.APIConnectionError]
    shown = " ".join([repr(client), str(client), caplog.text] + [f"{f!s} {f!r}" for f in failures])
    assert "retry 1 of 2" in caplog.text
    assert KEY not in shown and "SECRET" not in shown
    assert "Admin key" in str(failures[0])
