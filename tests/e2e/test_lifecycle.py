"""Lifecycle: closing, cancelling, breaking out, caller-owned sessions, validation, gather."""

from __future__ import annotations

import asyncio
import gc
import logging
import traceback

import aiohttp
import anyio
import pytest

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async.emulator import Emulator
from tests.helpers import DAY, HOUR, NOW, TEST_KEY, wait_until

LONG = {"start_time": NOW // DAY * DAY - 360 * DAY, "end_time": NOW // DAY * DAY, "limit": 3}


def our_tasks() -> set[asyncio.Task]:
    """The client's tasks still alive (not the emulator's connection handlers)."""
    out = set()
    for task in asyncio.all_tasks():
        code = getattr(task.get_coro(), "cr_code", None)
        where = code.co_filename if code else ""
        if task is not asyncio.current_task() and not task.done() and "aiohttp" not in where:
            if "emulator" not in where:
                out.add(task)
    return out


async def settle() -> None:
    for _ in range(5):
        await asyncio.sleep(0)


async def wait_for_requests(emulator: Emulator, n: int) -> None:
    await wait_until(lambda: emulator.statistics().requests_total >= n)


async def test_break_cancels_the_rest(emulator: Emulator, client: AsyncUsageClient) -> None:
    emulator.latency_ms = 20
    before = our_tasks()
    seen = 0
    async for _bucket in client.usage.costs.iter(**LONG):
        seen += 1
        if seen == 4:
            break
    gc.collect()
    await asyncio.sleep(0.05)
    assert our_tasks() <= before  # the dropped iterator's supervisor and workers are gone
    sent = emulator.statistics().requests_total
    assert sent < 120 / 3
    await asyncio.sleep(0.1)
    assert emulator.statistics().requests_total == sent  # and nothing more is sent
    assert emulator.statistics().in_flight == 0


async def test_aclose_and_async_with_stop_at_once(
    emulator: Emulator, client: AsyncUsageClient
) -> None:
    emulator.latency_ms = 20
    before = our_tasks()
    async with client.usage.costs.iter(**LONG) as iterator:
        first = await iterator.__anext__()
        assert first.start_time == LONG["start_time"]
    assert our_tasks() <= before
    sent = emulator.statistics().requests_total
    await asyncio.sleep(0.1)
    assert emulator.statistics().requests_total == sent
    with pytest.raises(StopAsyncIteration):
        await iterator.__anext__()


async def test_dropping_an_iterator_whose_pages_all_arrived(emulator: Emulator, client) -> None:
    # As-ready: all seven pages and the end fit in the stream, so the fetching is over.
    kwargs = {"start_time": NOW - 20 * DAY, "end_time": NOW, "limit": 3, "ordered": False}
    async for bucket in client.usage.costs.iter(**kwargs):
        await wait_until(lambda: emulator.statistics().requests_total == 7)
        await settle()  # every window fetched and waiting to be read
        assert NOW - 20 * DAY <= bucket.start_time < NOW
        break
    gc.collect()  # no unclosed stream is left to warn about (warnings are errors here)
    await settle()
    assert emulator.statistics().requests_total == 7


async def test_an_iterator_that_is_never_read_sends_nothing(emulator: Emulator, client) -> None:
    iterator = client.usage.costs.iter(**LONG)
    del iterator
    gc.collect()
    await settle()
    assert emulator.statistics().requests_total == 0


async def test_cancelling_the_consumer(emulator: Emulator, client: AsyncUsageClient) -> None:
    emulator.latency_ms = 30
    before = our_tasks()
    got = []

    async def consume() -> None:
        async with client.usage.costs.iter(**LONG) as iterator:
            async for bucket in iterator:
                got.append(bucket)

    task = asyncio.create_task(consume())
    await wait_for_requests(emulator, 2)
    task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await task
    await settle()
    assert our_tasks() <= before
    await wait_until(lambda: emulator.statistics().in_flight == 0)  # it saw the client hang up
    stats = emulator.statistics()
    assert stats.cancelled >= 1 and stats.requests_total <= client.max_concurrency + 1


async def test_a_timeout_around_iter(emulator: Emulator, client: AsyncUsageClient) -> None:
    emulator.latency_ms = 50
    before = our_tasks()
    with pytest.raises(TimeoutError):
        async with asyncio.timeout(0.12):
            async with client.usage.costs.iter(**LONG) as iterator:
                async for _ in iterator:
                    pass
    await settle()
    assert our_tasks() <= before


async def test_anyio_task_group_cancellation(emulator: Emulator, client: AsyncUsageClient) -> None:
    emulator.latency_ms = 30
    before = our_tasks()
    async with anyio.create_task_group() as tg:

        async def consume() -> None:
            async with client.usage.costs.iter(**LONG) as iterator:
                async for _ in iterator:
                    pass

        tg.start_soon(consume)
        await wait_for_requests(emulator, 1)
        tg.cancel_scope.cancel()
    await settle()
    assert our_tasks() <= before


async def test_client_aclose_while_iterating_raises_in_the_consumer(emulator: Emulator) -> None:
    emulator.latency_ms = 20
    client = AsyncUsageClient(TEST_KEY, base_url=emulator.base_url)
    iterator = client.usage.costs.iter(**LONG)
    await iterator.__anext__()
    await client.aclose()
    # Reading from a closed client is the caller's mistake, not a network problem.
    with pytest.raises(RuntimeError, match="the client is closed") as info:
        async for _ in iterator:
            pass
    assert not isinstance(info.value, errors.APIError)
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        await client.usage.costs.get(start_time=NOW - DAY)
    await client.aclose()  # idempotent


async def test_an_error_reaches_the_consumer_in_order(emulator: Emulator, client) -> None:
    from openai_usage_async.emulator import Fault

    emulator.faults = [Fault(status=404, endpoints=frozenset({"costs"}), first=None)]
    got = []
    with pytest.raises(errors.NotFoundError):
        async for bucket in client.usage.costs.iter(**LONG):
            got.append(bucket)
    assert got == []  # nothing from later windows leaked out before the failure


async def test_a_caller_owned_session_is_never_closed(emulator: Emulator) -> None:
    async with aiohttp.ClientSession() as session:
        async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, session=session) as c:
            page = await c.usage.costs.get(start_time=NOW - 3 * DAY)
            assert len(page.data) == 4
        assert not session.closed
        async with session.get(emulator.base_url + "/organization/costs") as response:
            assert response.status == 401  # still usable, and our key did not stick to it


def test_built_outside_a_running_loop(emulator_url_sync: str) -> None:
    client = AsyncUsageClient(TEST_KEY, base_url=emulator_url_sync)

    async def use() -> int:
        async with client:
            return len(await client.usage.costs.list(start_time=NOW - 10 * DAY, end_time=NOW))

    assert asyncio.run(use()) == 11


@pytest.fixture
def emulator_url_sync(usage_emulator: Emulator) -> str:
    usage_emulator.now = NOW
    assert usage_emulator.base_url is not None
    return usage_emulator.base_url


async def test_bad_arguments_fail_before_any_request(emulator: Emulator, client) -> None:
    cases = [
        lambda: client.usage.costs.iter(start_time=NOW, bucket_width="1h"),
        lambda: client.usage.costs.iter(start_time=NOW, models=["gpt-4o"]),
        lambda: client.usage.completions.iter(start_time=NOW, end_time=NOW - 1),
        lambda: client.usage.completions.iter(start_time=NOW, limit=32),
        lambda: client.usage.completions.iter(start_time=NOW, ordered="yes"),
        lambda: client.usage.images.pages(start_time=NOW, group_by=["line_item"]),
    ]
    for case in cases:
        with pytest.raises(ValueError):
            case()
    with pytest.raises(ValueError, match=r"^page"):
        await client.usage.costs.get(start_time=NOW, page="")
    with pytest.raises(ValueError, match=r"^start_time: naive"):
        import datetime as dt

        await client.usage.costs.list(start_time=dt.datetime(2025, 1, 1))
    assert emulator.statistics().requests_total == 0


def test_client_arguments(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    with pytest.raises(ValueError, match=r"^api_key: no key given and OPENAI_ADMIN_KEY is not set"):
        AsyncUsageClient()
    monkeypatch.setenv("OPENAI_ADMIN_KEY", "sk-admin-from-env")
    monkeypatch.setenv("OPENAI_BASE_URL", "http://127.0.0.1:9/v1/")
    client = AsyncUsageClient()
    assert client.base_url == "http://127.0.0.1:9/v1"
    assert "sk-admin-from-env" not in repr(client) and "redacted" in repr(client)
    for kwargs, starts in [
        ({"max_concurrency": 0}, "max_concurrency"),
        ({"max_retries": -1}, "max_retries"),
        ({"timeout": 0}, "timeout"),
        ({"base_url": "ftp://x"}, "base_url"),
        ({"api_key": "sk admin"}, "api_key"),
    ]:
        with pytest.raises(ValueError, match=rf"^{starts}"):
            AsyncUsageClient(**{"api_key": "k", **kwargs})


async def test_gather_across_endpoints(emulator: Emulator, client: AsyncUsageClient) -> None:
    emulator.latency_ms = 10
    common = {"start_time": NOW - 30 * DAY, "end_time": NOW}
    data = await client.usage.gather(
        {"completions": {"group_by": ["model"]}, "costs": {"limit": 7}, "embeddings": None},
        **common,
    )
    assert list(data) == ["completions", "costs", "embeddings"]
    assert all(len(buckets) == 31 for buckets in data.values())
    assert data["costs"] == await client.usage.costs.list(**common)
    assert all(r.model for b in data["completions"] for r in b.results)
    peak = emulator.statistics().peak_in_flight
    assert peak > 1 and peak <= client.max_concurrency
    every = await client.usage.gather(["vector_stores", "code_interpreter_sessions"], **common)
    assert set(every) == {"vector_stores", "code_interpreter_sessions"}


async def test_gather_checks_everything_first(emulator: Emulator, client: AsyncUsageClient) -> None:
    common = {"start_time": NOW - 3 * DAY}
    with pytest.raises(ValueError, match=r"^costs: models: not an argument of costs"):
        await client.usage.gather(["completions", "costs"], models=["gpt-4o"], **common)
    with pytest.raises(ValueError, match=r"^costs: bucket_width: '1h'"):
        await client.usage.gather(["completions", "costs"], bucket_width="1h", **common)
    with pytest.raises(ValueError, match=r"^endpoints: unknown endpoint 'teleports'"):
        await client.usage.gather(["teleports"], **common)
    with pytest.raises(ValueError, match=r"^embeddings: start_time: required"):
        await client.usage.gather({"embeddings": None})
    assert emulator.statistics().requests_total == 0


async def test_an_ordered_iterator_buffers_a_bounded_number_of_pages(emulator: Emulator) -> None:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=3) as client:
        iterator = client.usage.costs.iter(**LONG)  # 120 windows
        await iterator.__anext__()
        await wait_for_requests(emulator, 3)
        await asyncio.sleep(0.1)  # a slow consumer: the fetchers must wait for it
        assert emulator.statistics().requests_total <= 2 * 3  # windows ahead: 2 x the bound
        await iterator.aclose()


async def test_secrets_stay_out_of_logs_and_tracebacks(
    emulator: Emulator, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    secret = "sk-admin-VERY-SECRET-5f3a"
    from openai_usage_async.emulator import Fault

    emulator.faults = [Fault(status=500, first=1)]
    async with AsyncUsageClient(secret, base_url=emulator.base_url) as client:
        client._requester.retry = type(client._requester.retry)(initial_delay_s=0.001)
        await client.usage.costs.list(start_time=NOW - 3 * DAY, end_time=NOW)
        emulator._api_key = TEST_KEY  # now the key is wrong
        with pytest.raises(errors.AuthenticationError) as info:
            await client.usage.costs.get(start_time=NOW - DAY)
        text = "".join(traceback.format_exception(info.value))
        shown = " ".join([text, caplog.text, repr(client), repr(client._requester._key)])
    assert "retry 1 of 2" in caplog.text and "-> 200" in caplog.text
    assert secret not in shown and "VERY-SECRET" not in shown


async def test_a_range_inside_one_bucket_is_one_partial_bucket(client: AsyncUsageClient) -> None:
    buckets = await client.usage.completions.list(start_time=NOW - 5 * HOUR, end_time=NOW)
    assert [(b.start_time, b.end_time) for b in buckets] == [(NOW - 5 * HOUR, NOW)]


async def test_one_slow_window_does_not_make_the_iterator_buffer_the_range(
    emulator: Emulator,
) -> None:
    from openai_usage_async.emulator import Fault

    emulator.faults = [Fault("slow", delay_ms=400, first=1)]  # the first window is slow
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=3) as client:
        async with client.usage.costs.iter(**LONG) as iterator:  # 120 windows
            first = asyncio.ensure_future(iterator.__anext__())
            await wait_for_requests(emulator, 3)
            await asyncio.sleep(0.15)  # the other windows are done; the first is not
            assert not first.done()
            # The window being waited for, and at most 2 x max_concurrency windows in all.
            await wait_for_requests(emulator, 6)
            await asyncio.sleep(0.1)
            assert emulator.statistics().requests_total == 6
            bucket = await first
            assert bucket.start_time == LONG["start_time"]
