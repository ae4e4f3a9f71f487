"""The aiohttp sender: error mapping (aioresponses), caller sessions and proxies (loopback).

aioresponses raises exceptions without building a response, so it needs no patching of
aiohttp internals; everything about real responses runs against the emulator on
127.0.0.1, through a real proxy on 127.0.0.1 where it says so.
"""

from __future__ import annotations

import re
import socket
import ssl
from collections.abc import Iterator
from typing import Any

import aiohttp
import pytest
import trustme
from aioresponses import aioresponses
from multidict import CIMultiDict, CIMultiDictProxy
from yarl import URL

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async.emulator import Emulator, Fault
from tests.helpers import DAY, NOW, TEST_KEY
from tests.proxy import LoopbackProxy

BASE = "http://api.test/v1"
KEY = "sk-admin-SECRET-0123456789abcdef"
COSTS = re.compile(r"^http://api\.test/v1/organization/costs\b.*$")


def chain(exc: BaseException | None) -> Iterator[BaseException]:
    """The exception, its causes and contexts, each once."""
    seen: set[int] = set()
    stack = [exc]
    while stack:
        e = stack.pop()
        if e is None or id(e) in seen:
            continue
        seen.add(id(e))
        yield e
        stack += [e.__cause__, e.__context__]


def shows(exc: BaseException, secret: str) -> bool:
    """Whether the secret appears anywhere in the chain's reprs or request infos."""
    for e in chain(exc):
        text = f"{e!r} {e!s} {getattr(e, 'request_info', '')!r} {vars(e)!r}"
        if secret in text:
            return True
    return False


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
async def test_transport_errors_are_mapped_and_retried(exc: Exception, cls: type) -> None:
    async with AsyncUsageClient(KEY, base_url=BASE, max_retries=2) as client:
        client._requester.retry = type(client._requester.retry)(initial_delay_s=0.0)
        with aioresponses() as m:
            for _ in range(3):
                m.get(COSTS, exception=exc)
            with pytest.raises(cls) as info:
                await client.usage.costs.get(start_time=0)
            sent = sum(len(v) for v in m.requests.values())
    assert type(info.value) is cls
    assert info.value.__cause__ is exc
    assert "GET /v1/organization/costs" in str(info.value)
    assert sent == 3 and info.value.retries == 2
    assert str(info.value).endswith(" (after 2 retries)")


def connector_error(cls: type[aiohttp.ClientConnectorError], os_error: OSError) -> Exception:
    key = aiohttp.client_reqrep.ConnectionKey("127.0.0.1", 8000, False, True, None, None, None)
    return cls(key, os_error)


@pytest.mark.parametrize(
    ("exc", "says"),
    [
        (
            connector_error(aiohttp.ClientConnectorError, ConnectionRefusedError(111, "x")),
            "cannot connect to 127.0.0.1:8000 (connection refused)",
        ),
        (
            connector_error(aiohttp.ClientConnectorError, OSError(101, "Network is unreachable")),
            "cannot connect to 127.0.0.1:8000 (Network is unreachable)",
        ),
        (
            connector_error(
                aiohttp.ClientConnectorDNSError,
                socket.gaierror(-2, "Name or service not known"),
            ),
            "cannot resolve host 127.0.0.1 (Name or service not known)",
        ),
    ],
)
async def test_connect_errors_say_what_happened_without_ssl_noise(
    exc: Exception, says: str
) -> None:
    # aiohttp's own text is "Cannot connect to host ... ssl:default [...]", even for http://.
    assert "ssl:default" in str(exc)
    async with AsyncUsageClient(KEY, base_url=BASE, max_retries=0) as client:
        with aioresponses() as m:
            m.get(COSTS, exception=exc)
            with pytest.raises(errors.APIConnectionError) as info:
                await client.usage.costs.get(start_time=0)
    assert str(info.value) == f"GET /v1/organization/costs failed: {says}"
    assert info.value.retries == 0 and info.value.__cause__ is exc


async def test_errors_carrying_the_request_never_chain_it() -> None:
    """aiohttp's response errors hold the request's headers, the key among them."""
    headers = CIMultiDictProxy(CIMultiDict({"Authorization": f"Bearer {KEY}"}))
    info = aiohttp.RequestInfo(URL(BASE + "/organization/costs"), "GET", headers, URL(BASE))
    leaky = aiohttp.ClientResponseError(info, (), status=502, message="Bad Gateway")
    assert shows(leaky, KEY)  # the premise: aiohttp's own exception carries it
    async with AsyncUsageClient(KEY, base_url=BASE, max_retries=0) as client:
        with aioresponses() as m:
            m.get(COSTS, exception=leaky)
            with pytest.raises(errors.APIConnectionError, match="HTTP 502 Bad Gateway") as caught:
                await client.usage.costs.get(start_time=0)
    assert not shows(caught.value, KEY)


# -- issue 9, item 9: the caller's session defaults change nothing -----------------------


@pytest.mark.parametrize(
    "defaults",
    [
        {"raise_for_status": True},
        {"auto_decompress": False},
        {"headers": {"Authorization": "Bearer sk-admin-the-wrong-one"}},
    ],
)
async def test_a_callers_session_defaults_change_nothing(defaults: dict[str, Any]) -> None:
    async with Emulator(now=NOW, api_key=TEST_KEY) as emulator:
        async with aiohttp.ClientSession(**defaults) as session:
            async with AsyncUsageClient(
                TEST_KEY, base_url=emulator.base_url, session=session
            ) as client:
                page = await client.usage.costs.get(start_time=NOW - 3 * DAY)
            assert len(page.data) == 4
            async with AsyncUsageClient(
                "sk-admin-not-this-one", base_url=emulator.base_url, session=session
            ) as wrong:
                with pytest.raises(errors.AuthenticationError) as info:
                    await wrong.usage.costs.get(start_time=NOW - 3 * DAY)
        assert emulator.statistics().requests_total == 2  # the 401 was not retried
    assert not shows(info.value, "sk-admin-not-this-one")
    assert not any(isinstance(e, aiohttp.ClientError) for e in chain(info.value))


async def test_a_callers_session_that_raises_for_status_still_retries_5xx() -> None:
    async with Emulator(now=NOW) as emulator:
        emulator.faults = [Fault(status=503, first=1)]
        async with aiohttp.ClientSession(raise_for_status=True) as session:
            async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url, session=session) as c:
                c._requester.retry = type(c._requester.retry)(initial_delay_s=0.001)
                page = await c.usage.costs.get(start_time=NOW - 3 * DAY)
        assert len(page.data) == 4
        assert emulator.statistics().responses_by_status == {503: 1, 200: 1}


# -- issue 9, item 10: HTTP_PROXY / HTTPS_PROXY / NO_PROXY --------------------------------


async def test_http_proxy_is_honoured(monkeypatch: pytest.MonkeyPatch, tmp_path: Any) -> None:
    # A .netrc for the emulator's host must not replace the Authorization header.
    netrc = tmp_path / "netrc"
    netrc.write_text("machine 127.0.0.1 login someone password not-the-key\n")
    netrc.chmod(0o600)
    monkeypatch.setenv("NETRC", str(netrc))
    async with Emulator(now=NOW, api_key=TEST_KEY) as emulator, LoopbackProxy() as proxy:
        monkeypatch.setenv("HTTP_PROXY", proxy.url)
        async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as client:
            page = await client.usage.costs.get(start_time=NOW - 3 * DAY)
        assert len(page.data) == 4
        [(method, target)] = proxy.requests
        assert method == "GET" and target.startswith(emulator.base_url + "/organization/costs?")
        assert proxy.headers_seen[0]["authorization"] == f"Bearer {TEST_KEY}"
        # NO_PROXY names the host: straight to the emulator.
        monkeypatch.setenv("NO_PROXY", "127.0.0.1")
        async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as client:
            await client.usage.costs.get(start_time=NOW - 3 * DAY)
        assert len(proxy.requests) == 1 and emulator.statistics().requests_total == 2


async def test_https_proxy_tunnels_with_connect(monkeypatch: pytest.MonkeyPatch) -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    trusting = ssl.create_default_context()
    ca.configure_trust(trusting)
    emulator = Emulator(now=NOW)
    base_url = await emulator.start(ssl_context=server_context)
    try:
        async with LoopbackProxy() as proxy:
            monkeypatch.setenv("https_proxy", proxy.url)
            connector = aiohttp.TCPConnector(ssl=trusting)
            async with aiohttp.ClientSession(connector=connector) as session:
                async with AsyncUsageClient(TEST_KEY, base_url=base_url, session=session) as c:
                    page = await c.usage.costs.get(start_time=NOW - 3 * DAY)
            assert len(page.data) == 4
            port = URL(base_url).port
            assert proxy.requests == [("CONNECT", f"127.0.0.1:{port}")]
    finally:
        await emulator.aclose()
