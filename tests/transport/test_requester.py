"""The requester over a fake sender: headers, retries, limiter feedback, secrets.

No sockets: :class:`tests.transport.fakes.FakeSender` answers from a script, and the
requester's sleeps are recorded instead of waited.
"""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async._version import __version__
from tests.transport.fakes import ERROR, PAGE, FakeSender, response

BASE = "http://api.test/v1"
KEY = "sk-admin-SECRET-0123456789abcdef"


class Sleeps:
    def __init__(self) -> None:
        self.delays: list[float] = []

    async def record(self, delay: float) -> None:
        self.delays.append(delay)


@pytest.fixture
def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def client(sleeps: Sleeps) -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(
        KEY, base_url=BASE, organization="org-1", project="proj-2", max_retries=2
    ) as c:
        c._requester._sleep = sleeps.record  # type: ignore[method-assign]
        yield c


def script(client: AsyncUsageClient, *items: object) -> FakeSender:
    sender = FakeSender(list(items))  # type: ignore[arg-type]
    client._requester.sender = sender
    return sender


async def test_headers_and_query(client: AsyncUsageClient) -> None:
    sender = script(client, response(headers={"x-request-id": "req_1"}))
    page = await client.usage.costs.get(start_time=0, limit=3, group_by="line_item")
    assert page.data == [] and page.has_more is False
    [sent] = sender.sent
    assert sent.url == f"{BASE}/organization/costs"
    assert sent.headers["Authorization"] == f"Bearer {KEY}"
    assert sent.headers["OpenAI-Organization"] == "org-1"
    assert sent.headers["OpenAI-Project"] == "proj-2"
    assert sent.headers["Accept"] == "application/json"
    assert sent.headers["User-Agent"].startswith(f"openai_usage_async/{__version__} aiohttp/")
    assert sent.query == [
        ("start_time", "0"),
        ("bucket_width", "1d"),
        ("limit", "3"),
        ("group_by[]", "line_item"),
    ]


async def test_5xx_is_retried_with_backoff(client: AsyncUsageClient, sleeps: Sleeps) -> None:
    sender = script(client, response(500, ERROR), response(503, ERROR), response())
    page = await client.usage.costs.get(start_time=0)
    assert page.has_more is False
    assert len(sender.sent) == 3
    assert len(sleeps.delays) == 2
    assert 0.375 <= sleeps.delays[0] <= 0.5
    assert 0.75 <= sleeps.delays[1] <= 1.0


async def test_retries_run_out(client: AsyncUsageClient) -> None:
    sender = script(client, *[response(500, ERROR, {"x-request-id": "req_x"})] * 3)
    with pytest.raises(errors.InternalServerError) as info:
        await client.usage.costs.get(start_time=0)
    assert len(sender.sent) == 3  # 1 + max_retries
    assert info.value.status_code == 500 and info.value.request_id == "req_x"
    assert info.value.message == "boom (after 2 retries)" and info.value.retries == 2
    assert str(info.value) == "Error code: 500 - boom (after 2 retries) (request id req_x)"
    # The fields of the service's error object, as the official SDK's errors carry them.
    assert (info.value.type, info.value.code, info.value.param) == ("server_error", None, None)


async def test_retry_after_is_honoured_and_a_lone_429_tightens_the_bound(
    client: AsyncUsageClient, sleeps: Sleeps
) -> None:
    script(
        client,
        response(429, ERROR, {"retry-after-ms": "250"}),
        response(429, ERROR, {"retry-after": "2"}),
        response(),
    )
    await client.usage.costs.get(start_time=0)
    assert sleeps.delays == [0.25, 2.0]
    stats = client.statistics().limiter
    # Each attempt was admitted under the bound of its time: each 429 halves it.
    assert stats.decreases == 2 and stats.total_tokens == 2


async def test_429s_to_a_lone_request_spend_the_budget(client: AsyncUsageClient) -> None:
    """Alone in flight, a 429 is not our own doing: it counts (the storm tests cover the rest)."""
    sender = script(client, *[response(429, ERROR)] * 3)
    with pytest.raises(errors.RateLimitError) as info:
        await client.usage.costs.get(start_time=0)
    assert len(sender.sent) == 3 and info.value.retries == 2


@pytest.mark.parametrize("status", [400, 401, 403, 404, 422])
async def test_client_errors_are_not_retried(
    client: AsyncUsageClient, sleeps: Sleeps, status: int
) -> None:
    body = {
        "error": {"message": "bad", "type": "invalid_request_error", "param": "limit", "code": None}
    }
    sender = script(client, response(status, body))
    with pytest.raises(errors.APIStatusError) as info:
        await client.usage.costs.get(start_time=0)
    assert len(sender.sent) == 1 and sleeps.delays == []
    assert info.value.status_code == status and info.value.param == "limit"


@pytest.mark.parametrize("spelling", ["false", "False"])
async def test_x_should_retry_false_is_obeyed(client: AsyncUsageClient, spelling: str) -> None:
    sender = script(client, response(503, ERROR, {"x-should-retry": spelling}))
    with pytest.raises(errors.InternalServerError):
        await client.usage.costs.get(start_time=0)
    assert len(sender.sent) == 1


async def test_connection_errors_are_retried(client: AsyncUsageClient) -> None:
    sender = script(client, errors.APIConnectionError("reset"), response())
    page = await client.usage.costs.get(start_time=0)
    assert page.object == "page" and len(sender.sent) == 2
    sender = script(client, *[errors.APITimeoutError("slow")] * 3)
    with pytest.raises(errors.APITimeoutError):
        await client.usage.costs.get(start_time=0)
    assert len(sender.sent) == 3


@pytest.mark.parametrize("body", [b"{", b"<html>oops</html>"])
async def test_garbled_bodies_are_retried_then_raised(
    client: AsyncUsageClient, body: bytes
) -> None:
    sender = script(client, *[response(200, body, {"x-request-id": "req_g"})] * 3)
    with pytest.raises(errors.APIResponseValidationError) as info:
        await client.usage.costs.get(start_time=0)
    assert info.value.invalid_json and info.value.request_id == "req_g"
    assert len(sender.sent) == 3


async def test_a_wrong_shape_is_not_retried(client: AsyncUsageClient) -> None:
    sender = script(client, response(200, {"object": "list", "data": "nope"}))
    with pytest.raises(errors.APIResponseValidationError) as info:
        await client.usage.costs.get(start_time=0)
    assert not info.value.invalid_json and len(sender.sent) == 1


async def test_another_endpoints_results_are_not_a_valid_page(client: AsyncUsageClient) -> None:
    costs = {"object": "organization.costs.result", "amount": {"value": 1.0, "currency": "usd"}}
    page = {
        **PAGE,
        "data": [{"object": "bucket", "start_time": 0, "end_time": 60, "results": [costs]}],
    }
    script(client, response(200, page))
    with pytest.raises(errors.APIResponseValidationError, match="not from this endpoint"):
        await client.usage.audio_speeches.get(start_time=0)


async def test_a_3xx_is_an_error(client: AsyncUsageClient) -> None:
    sender = script(client, response(302, b"", {"Location": "http://elsewhere.test/steal"}))
    with pytest.raises(errors.APIStatusError) as info:
        await client.usage.costs.get(start_time=0)
    assert info.value.status_code == 302 and len(sender.sent) == 1


async def test_a_closed_client_sends_nothing(client: AsyncUsageClient) -> None:
    sender = script(client, response())
    await client.aclose()
    assert sender.closed
    with pytest.raises(RuntimeError, match="client is closed"):
        await client.usage.costs.get(start_time=0)
    with pytest.raises(RuntimeError, match="client is closed"):
        client.usage.costs.iter(start_time=0, end_time=86400)
    assert sender.sent == []


async def test_the_key_never_shows(
    client: AsyncUsageClient, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG, logger="openai_usage_async")
    script(
        client,
        response(401, {"error": {"message": "Incorrect API key provided: sk-ad***def"}}),
        response(500, ERROR),
        errors.APIConnectionError("refused"),
        errors.APIConnectionError("refused"),
    )
    failures: list[BaseException] = []
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
