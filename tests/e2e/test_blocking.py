"""UsageClient, the synchronous client, against the emulator on a thread of its own."""

from __future__ import annotations

import asyncio
import concurrent.futures
import inspect
import time
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest

from openai_usage_async import AsyncUsageClient, UsageClient, errors
from openai_usage_async.emulator import Emulator
from tests.helpers import DAY, NOW, TEST_KEY

TODAY = NOW // DAY * DAY
RANGE = {"start_time": TODAY - 60 * DAY, "end_time": TODAY}


@pytest.fixture
def client(emu: Emulator) -> Iterator[UsageClient]:
    with UsageClient(TEST_KEY, base_url=emu.base_url, max_concurrency=4) as c:
        c._async._requester.clock = emu.clock
        yield c


async def reference(emu: Emulator, name: str, **kwargs: Any) -> list[Any]:
    async with AsyncUsageClient(TEST_KEY, base_url=emu.base_url) as c:
        return await getattr(c.usage, name).list(**kwargs)


def test_every_method_returns_what_the_async_client_returns(
    emu: Emulator, client: UsageClient
) -> None:
    want = asyncio.run(reference(emu, "costs", **RANGE, limit=7))
    assert client.usage.costs.list(**RANGE, limit=7) == want
    assert list(client.usage.costs.iter(**RANGE, limit=7)) == want
    pages = list(client.usage.costs.pages(**RANGE, limit=7))
    assert [b for p in pages for b in p.data] == want and len(pages) == 9
    page = client.usage.costs.get(start_time=TODAY - 3 * DAY, end_time=TODAY)
    assert page.data == want[-3:]
    both = client.usage.gather(["costs", "images"], **RANGE)
    assert both["costs"] == want and len(both["images"]) == 60
    directory = client.organization.directory()
    assert len(directory.projects) == len(emu.org.directory.projects)
    assert [p.id for p in client.organization.projects.iter(include_archived=True)] == [
        p.id for p in directory.projects
    ]
    assert client.statistics().requests_sent > 0


def test_iter_waits_on_the_portal_once_a_page_not_once_a_bucket(
    emu: Emulator, client: UsageClient
) -> None:
    # A year of minute buckets read bucket by bucket through the portal cost ~80 us a
    # bucket (15x the async iterator); the rest of each page comes with its first bucket.
    waits = 0
    run = client._portal.run

    def counted(*args: Any, **kwargs: Any) -> Any:
        nonlocal waits
        waits += 1
        return run(*args, **kwargs)

    client._portal.run = counted  # type: ignore[method-assign]
    buckets = list(client.usage.costs.iter(**RANGE, limit=7))
    assert len(buckets) == 60
    assert waits == 9 + 1  # 9 pages, then the end; 60 waits before
    want = asyncio.run(reference(emu, "costs", **RANGE, limit=7))
    assert buckets == want
    # Leaving early mid-page drops the rest of that page and stops the requests.
    with client.usage.costs.iter(**RANGE, limit=7) as it:
        assert [next(it) for _ in range(10)] == want[:10]
    assert list(it) == []


def test_bad_arguments_and_errors_are_the_same_classes(emu: Emulator, client: UsageClient) -> None:
    with pytest.raises(ValueError, match=r"^limit: 200 exceeds"):
        client.usage.costs.iter(**RANGE, limit=200)
    emu._api_key = "sk-admin-another"
    with pytest.raises(errors.AuthenticationError):
        client.usage.costs.list(**RANGE)


def test_leaving_a_loop_early_stops_its_requests(emu: Emulator, client: UsageClient) -> None:
    emu.latency_ms = 30
    for bucket in client.usage.completions.iter(**RANGE, limit=1, bucket_width="1d"):
        assert bucket.start_time == RANGE["start_time"]
        break
    stopped = client.statistics().requests_sent  # the client sends nothing after this
    time.sleep(0.3)  # requests already on the wire reach the emulator's thread meanwhile
    assert client.statistics().requests_sent == stopped
    assert emu.statistics().in_flight == 0
    assert emu.statistics().requests_total <= stopped <= 2 * 4  # far from the 60 windows


def test_it_works_inside_a_running_event_loop(emu: Emulator, client: UsageClient) -> None:
    async def notebook_cell() -> int:
        # A Jupyter cell runs inside a loop: asyncio.run would fail here; this does not.
        return len(client.usage.costs.list(**RANGE))

    assert asyncio.run(notebook_cell()) == 60


def test_several_threads_at_once(emu: Emulator, client: UsageClient) -> None:
    want = asyncio.run(reference(emu, "embeddings", **RANGE))
    with concurrent.futures.ThreadPoolExecutor(4) as pool:
        got = list(pool.map(lambda _: client.usage.embeddings.list(**RANGE), range(4)))
    assert all(g == want for g in got)
    assert client.statistics().limiter.peak_borrowed <= 4


def test_a_closed_client_raises(emu: Emulator) -> None:
    client = UsageClient(TEST_KEY, base_url=emu.base_url)
    iterator = client.usage.costs.iter(**RANGE, limit=7)
    assert next(iterator).start_time == RANGE["start_time"]
    client.close()
    assert client.closed
    with pytest.raises(RuntimeError, match="closed"):
        client.usage.costs.list(**RANGE)
    with pytest.raises((RuntimeError, StopIteration)):
        for _ in range(10):
            next(iterator)
    client.close()  # idempotent


def test_every_async_method_has_its_sync_twin_with_the_same_signature(emu: Emulator) -> None:
    with UsageClient(TEST_KEY, base_url=emu.base_url) as client:
        pairs: list[tuple[Any, Any, str]] = [(client.usage, client._async.usage, "usage")]
        pairs.append((client.organization, client._async.organization, "organization"))
        seen = 0
        while pairs:
            sync, async_, where = pairs.pop()
            for name in dir(async_):
                if name.startswith("_"):
                    continue
                value = getattr(async_, name)
                if inspect.ismethod(value):
                    twin = getattr(sync, name)
                    assert inspect.signature(twin) == inspect.signature(value), f"{where}.{name}"
                    seen += 1
                elif (
                    type(value).__module__.startswith("openai_usage_async._")
                    and not inspect.isclass(value)
                    and name != "spec"
                ):
                    pairs.append((getattr(sync, name), value, f"{where}.{name}"))
        # 12 endpoints x get/iter/pages/list, gather, directory, and the directory lists
        assert seen >= 12 * 4 + 2 + 8


SCRIPT = """
import signal
# As at a terminal: a test runner started in the background may pass SIGINT on ignored.
signal.signal(signal.SIGINT, signal.default_int_handler)
from openai_usage_async import UsageClient
client = UsageClient("{key}", base_url="{url}")
print("ready", flush=True)
client.usage.completions.list(start_time={start}, end_time={end}, bucket_width="1h", limit=1)
print("finished", flush=True)
"""


def test_ctrl_c_in_a_script_interrupts_promptly_and_leaves_no_thread(emu: Emulator) -> None:
    import signal
    import subprocess
    import sys

    emu.latency_ms = 200  # the list would take minutes: 1440 windows, 200 ms each
    code = SCRIPT.format(key=TEST_KEY, url=emu.base_url, start=TODAY - 60 * DAY, end=TODAY)
    proc = subprocess.Popen(
        [sys.executable, "-c", code], stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True
    )
    assert proc.stdout is not None
    assert proc.stdout.readline() == "ready\n"
    time.sleep(0.5)
    proc.send_signal(signal.SIGINT)
    started = time.monotonic()
    out, err = proc.communicate(timeout=10)  # a thread left behind would hang here
    assert time.monotonic() - started < 3
    assert "finished" not in out
    assert "KeyboardInterrupt" in err
    assert proc.returncode != 0


# -- the client's edges: a caller's session, a fork, the garbage collector ----------------


async def test_a_session_is_refused_before_any_thread_starts(
    emu: Emulator, monkeypatch: pytest.MonkeyPatch
) -> None:
    from openai_usage_async import _blocking

    def no_thread() -> None:
        raise AssertionError("the portal thread started")

    monkeypatch.setattr(_blocking, "_Portal", no_thread)
    async with aiohttp.ClientSession() as session:
        with pytest.raises(TypeError, match=r"^session: .*AsyncUsageClient\(session="):
            UsageClient(TEST_KEY, base_url=emu.base_url, session=session)  # type: ignore[arg-type]


# Python 3.12+ warns that forking a process with threads may deadlock: that is the case
# under test (the client's portal thread does not exist in the child).
@pytest.mark.filterwarnings("ignore:This process .* is multi-threaded:DeprecationWarning")
def test_a_forked_child_gets_a_clear_error_not_a_hang(emu: Emulator, client: UsageClient) -> None:
    import os
    import select
    import signal

    iterator = client.usage.costs.iter(**RANGE, limit=7)
    assert next(iterator).start_time == RANGE["start_time"]  # the portal thread runs
    read_end, write_end = os.pipe()
    pid = os.fork()
    if pid == 0:  # the child: report what each call did, then leave without pytest's exit
        outcome = []
        try:
            for call in (
                lambda: client.usage.costs.list(**RANGE),
                lambda: client.usage.costs.iter(**RANGE),
                lambda: [next(iterator) for _ in range(7)],  # 6 in memory, then the portal
                client.close,  # must return, not wait for a thread that is not there
            ):
                try:
                    call()
                    outcome.append("returned")
                except RuntimeError as exc:
                    outcome.append(f"RuntimeError: {exc}")
            os.write(write_end, "\n".join(outcome).encode())
        finally:
            os._exit(0)
    os.close(write_end)
    with os.fdopen(read_end, "rb") as pipe:
        try:
            ready, _, _ = select.select([pipe], [], [], 10)  # a hang fails the test, in 10 s
            if not ready:
                os.kill(pid, signal.SIGKILL)
                pytest.fail("the child hung on a client made before the fork")
            lines = pipe.read().decode().splitlines()
        finally:
            os.waitpid(pid, 0)
    *errors, closed = lines
    assert len(errors) == 3 and closed == "returned", lines
    for line in errors:
        assert line.startswith("RuntimeError: ") and "fork" in line, line
        assert "create the UsageClient after the fork" in line, line
    # The parent's client is untouched by its child.
    assert len(list(iterator)) == 59
    assert len(client.usage.costs.list(**RANGE)) == 60


def test_a_client_collected_on_its_own_portal_thread_still_stops_that_thread(
    emu: Emulator,
) -> None:
    import gc
    import threading

    before = set(threading.enumerate())
    holder = [UsageClient(TEST_KEY, base_url=emu.base_url)]
    holder[0]._async._requester.clock = emu.clock
    assert len(holder[0].usage.costs.list(**RANGE)) == 60  # its session is open
    [portal_thread] = set(threading.enumerate()) - before
    portal = holder[0]._portal.portal

    # The last reference goes on the portal thread, as when the garbage collector happens
    # to run there: the client's finalizer cannot wait on its own thread.
    portal.call(holder.clear)
    gc.collect()
    portal_thread.join(timeout=10)
    assert not portal_thread.is_alive(), "the portal thread leaked"
    for closer in set(threading.enumerate()) - before:  # the thread that closed it ends too
        closer.join(timeout=10)
    assert set(threading.enumerate()) <= before
