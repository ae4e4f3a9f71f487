"""The loopback forward proxy in tests/proxy.py: forwarding, CONNECT tunnels, auth, refusals."""

from __future__ import annotations

import asyncio
import contextlib
import json
import socket
import ssl
from collections.abc import AsyncIterator

import aiohttp
import pytest
import trustme
from aiohttp import web

from tests.proxy import LoopbackProxy

TIMEOUT = 10


BIG = 16 * 1024 * 1024


async def _echo(request: web.Request) -> web.Response:
    if request.path == "/big":
        return web.Response(body=b"x" * BIG)
    body = await request.read()
    return web.json_response(
        {
            "method": request.method,
            "path_qs": request.path_qs,
            "headers": {k.lower(): v for k, v in request.headers.items()},
            "body": body.decode(),
        }
    )


async def _serve(ssl_context: ssl.SSLContext | None = None) -> tuple[web.AppRunner, int]:
    app = web.Application()
    app.router.add_route("*", "/{tail:.*}", _echo)
    runner = web.AppRunner(app)
    await runner.setup()
    await web.TCPSite(runner, "127.0.0.1", 0, ssl_context=ssl_context).start()
    return runner, runner.addresses[0][1]


@pytest.fixture
async def upstream() -> AsyncIterator[str]:
    runner, port = await _serve()
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        await runner.cleanup()


@pytest.fixture
async def proxy() -> AsyncIterator[LoopbackProxy]:
    async with LoopbackProxy() as p:
        yield p


async def _raw(proxy: LoopbackProxy, data: bytes) -> bytes:
    """Send bytes to the proxy and read its answer until it closes the connection."""
    reader, writer = await asyncio.open_connection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]))
    try:
        writer.write(data)
        return await asyncio.wait_for(reader.read(), TIMEOUT)
    finally:
        writer.close()
        await writer.wait_closed()


async def test_url_is_loopback(proxy: LoopbackProxy) -> None:
    assert proxy.url.startswith("http://127.0.0.1:")
    assert int(proxy.url.rsplit(":", 1)[1]) > 0


async def test_get_is_forwarded(proxy: LoopbackProxy, upstream: str) -> None:
    url = f"{upstream}/v1/organization/costs?start_time=1&limit=2"
    async with (
        aiohttp.ClientSession() as session,
        session.get(url, proxy=proxy.url, headers={"X-Test": "yes"}) as response,
    ):
        assert response.status == 200
        echoed = await response.json()
    assert echoed["method"] == "GET"
    assert echoed["path_qs"] == "/v1/organization/costs?start_time=1&limit=2"
    assert echoed["headers"]["x-test"] == "yes"
    assert echoed["headers"]["host"] == upstream.removeprefix("http://")
    assert echoed["headers"]["connection"] == "close"
    assert "proxy-connection" not in echoed["headers"]
    assert proxy.requests == [("GET", url)]
    assert proxy.headers_seen[0]["x-test"] == "yes"


async def test_several_requests_in_one_session(proxy: LoopbackProxy, upstream: str) -> None:
    async with aiohttp.ClientSession() as session:
        for i in range(3):
            async with session.get(f"{upstream}/n?i={i}", proxy=proxy.url) as response:
                assert (await response.json())["path_qs"] == f"/n?i={i}"
    assert proxy.requests == [("GET", f"{upstream}/n?i={i}") for i in range(3)]


async def test_request_bodies_are_forwarded(proxy: LoopbackProxy, upstream: str) -> None:
    async def chunks() -> AsyncIterator[bytes]:
        for part in (b"chunked ", b"body"):
            yield part

    async with aiohttp.ClientSession() as session:
        async with session.post(f"{upstream}/post", data=b"plain body", proxy=proxy.url) as r:
            assert (await r.json())["body"] == "plain body"
        async with session.post(f"{upstream}/post", data=chunks(), proxy=proxy.url) as r:
            echoed = await r.json()
    assert echoed["body"] == "chunked body"
    assert echoed["headers"]["transfer-encoding"] == "chunked"
    assert [method for method, _ in proxy.requests] == ["POST", "POST"]


@pytest.fixture
async def tls_upstream() -> AsyncIterator[tuple[int, ssl.SSLContext]]:
    """An HTTPS server on 127.0.0.1: its port, and a client context that trusts it."""
    ca = trustme.CA()
    server_ctx = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_ctx)
    client_ctx = ssl.create_default_context()
    ca.configure_trust(client_ctx)
    runner, port = await _serve(server_ctx)
    try:
        yield port, client_ctx
    finally:
        await runner.cleanup()


async def test_connect_tunnel_to_tls_server(
    proxy: LoopbackProxy, tls_upstream: tuple[int, ssl.SSLContext]
) -> None:
    port, client_ctx = tls_upstream
    url = f"https://127.0.0.1:{port}/v1/organization/usage/completions?limit=1"
    async with aiohttp.ClientSession() as session:
        for _ in range(2):
            async with session.get(url, proxy=proxy.url, ssl=client_ctx) as response:
                assert response.status == 200
                echoed = await response.json()
            assert echoed["path_qs"] == "/v1/organization/usage/completions?limit=1"
    # The tunnel is a kept-alive connection: both requests went through one CONNECT.
    assert proxy.requests == [("CONNECT", f"127.0.0.1:{port}")]
    assert proxy.headers_seen[0]["host"] == f"127.0.0.1:{port}"


# aiohttp 3.14 deprecates BasicAuth/proxy_auth, and sends its proxy_headers on CONNECT only:
# credentials in the proxy URL work for both kinds of request.


async def test_proxy_auth(upstream: str) -> None:
    async with LoopbackProxy(require_auth="user:pass") as proxy, aiohttp.ClientSession() as s:
        async with s.get(f"{upstream}/a", proxy=proxy.url) as response:
            assert response.status == 407
            assert response.headers["Proxy-Authenticate"].startswith("Basic ")
        wrong = {"Proxy-Authorization": aiohttp.encode_basic_auth("user", "nope")}
        async with s.get(f"{upstream}/b", proxy=proxy.url, headers=wrong) as response:
            assert response.status == 407
        with_creds = proxy.url.replace("http://", "http://user:pass@")
        async with s.get(f"{upstream}/c", proxy=with_creds) as response:
            assert response.status == 200
            echoed = await response.json()
    assert [target for _, target in proxy.requests] == [f"{upstream}/{p}" for p in "abc"]
    assert "proxy-authorization" not in proxy.headers_seen[0]
    right = aiohttp.encode_basic_auth("user", "pass")
    assert proxy.headers_seen[2]["proxy-authorization"] == right
    assert "proxy-authorization" not in echoed["headers"]  # not forwarded upstream


async def test_proxy_auth_on_connect(tls_upstream: tuple[int, ssl.SSLContext]) -> None:
    port, client_ctx = tls_upstream
    url = f"https://127.0.0.1:{port}/x"
    async with LoopbackProxy(require_auth="user:pass") as proxy, aiohttp.ClientSession() as s:
        with pytest.raises(aiohttp.ClientHttpProxyError) as refused:
            await s.get(url, proxy=proxy.url, ssl=client_ctx)
        assert refused.value.status == 407
        right = {"Proxy-Authorization": aiohttp.encode_basic_auth("user", "pass")}
        async with s.get(url, proxy=proxy.url, proxy_headers=right, ssl=client_ctx) as response:
            assert response.status == 200
    assert proxy.requests == [("CONNECT", f"127.0.0.1:{port}")] * 2


async def test_connect_needs_auth_too() -> None:
    async with LoopbackProxy(require_auth="user:pass") as proxy:
        answer = await _raw(proxy, b"CONNECT 127.0.0.1:9 HTTP/1.1\r\nHost: 127.0.0.1:9\r\n\r\n")
    assert answer.startswith(b"HTTP/1.1 407 Proxy Authentication Required\r\n")


@pytest.mark.parametrize(
    "request_line",
    [
        "GET http://example.invalid/ HTTP/1.1",
        "GET http://example.invalid:8080/x?y=1 HTTP/1.1",
        "GET http://10.0.0.1/ HTTP/1.1",
        "GET http://127.0.0.1.example.invalid/ HTTP/1.1",
        "GET http://localhost.example.invalid/ HTTP/1.1",
        "GET http://[::ffff:127.0.0.1]/ HTTP/1.1",
        "GET http://evil.invalid#@127.0.0.1/ HTTP/1.1",
        "GET http://127.1/ HTTP/1.1",
        "CONNECT example.invalid:443 HTTP/1.1",
        "CONNECT 192.0.2.1:443 HTTP/1.1",
        "CONNECT [::1]:443 HTTP/1.1",
    ],
)
async def test_non_loopback_targets_are_refused(
    proxy: LoopbackProxy, monkeypatch: pytest.MonkeyPatch, request_line: str
) -> None:
    attempts: list[tuple[str, int]] = []

    async def never(host: str, port: int) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        attempts.append((host, port))
        raise OSError("the test forbids connecting")

    monkeypatch.setattr(proxy, "_connect", never)
    answer = await _raw(proxy, f"{request_line}\r\nHost: example.invalid\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 403 Forbidden\r\n")
    assert attempts == []
    assert proxy.requests == [tuple(request_line.split(" ")[:2])]


@pytest.mark.parametrize(
    "data",
    [
        b"GET /origin-form HTTP/1.1\r\nHost: 127.0.0.1\r\n\r\n",
        b"GET https://127.0.0.1:1/ HTTP/1.1\r\n\r\n",
        b"GET http://127.0.0.1:99999/ HTTP/1.1\r\n\r\n",
        b"CONNECT 127.0.0.1 HTTP/1.1\r\n\r\n",
        b"nonsense\r\n\r\n",
        b"GET http://127.0.0.1/ HTTP/1.1\r\nbad header\r\n\r\n",
        b"POST http://127.0.0.1/ HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n",
    ],
)
async def test_malformed_requests_get_400(proxy: LoopbackProxy, data: bytes) -> None:
    assert (await _raw(proxy, data)).startswith(b"HTTP/1.1 400 Bad Request\r\n")


async def test_unreachable_upstream_gets_502(proxy: LoopbackProxy) -> None:
    with socket.socket() as sock:  # a port nothing listens on
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    answer = await _raw(proxy, f"GET http://127.0.0.1:{port}/ HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")
    answer = await _raw(proxy, f"CONNECT localhost:{port} HTTP/1.1\r\n\r\n".encode())
    assert answer.startswith(b"HTTP/1.1 502 Bad Gateway\r\n")


async def test_raw_tunnel_and_aclose_ends_it(upstream: str) -> None:
    proxy = LoopbackProxy()
    await proxy.start()
    target = upstream.removeprefix("http://")
    reader, writer = await asyncio.open_connection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]))
    try:
        writer.write(f"CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        established = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert established == b"HTTP/1.1 200 Connection established\r\n\r\n"
        # A keep-alive request through the tunnel: the connection stays open afterwards.
        writer.write(f"GET /in-tunnel HTTP/1.1\r\nHost: {target}\r\n\r\n".encode())
        head = await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)
        assert head.startswith(b"HTTP/1.1 200 OK\r\n")
        length = next(
            int(line.split(b":", 1)[1])
            for line in head.split(b"\r\n")
            if line.lower().startswith(b"content-length:")
        )
        body = json.loads(await asyncio.wait_for(reader.readexactly(length), TIMEOUT))
        assert body["path_qs"] == "/in-tunnel"
        await proxy.aclose()  # closes the open tunnel
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    finally:
        writer.close()
        await writer.wait_closed()
        await proxy.aclose()  # idempotent
    assert proxy.requests == [("CONNECT", target)]


async def test_aclose_with_idle_client_connection() -> None:
    proxy = LoopbackProxy()
    await proxy.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]))
    try:
        writer.write(b"GET http://127.0.0.1")  # an incomplete request: the proxy waits
        await asyncio.sleep(0.05)
        await proxy.aclose()
        assert await asyncio.wait_for(reader.read(), TIMEOUT) == b""
    finally:
        writer.close()
        await writer.wait_closed()
    assert proxy.requests == []


async def test_aclose_with_client_not_reading(upstream: str) -> None:
    proxy = LoopbackProxy()
    await proxy.start()
    reader, writer = await asyncio.open_connection("127.0.0.1", int(proxy.url.rsplit(":", 1)[1]))
    try:
        writer.write(f"GET {upstream}/big HTTP/1.1\r\n\r\n".encode())
        assert (await asyncio.wait_for(reader.readuntil(b"\r\n\r\n"), TIMEOUT)).startswith(
            b"HTTP/1.1 200 OK\r\n"
        )
        await asyncio.sleep(0.2)  # the proxy is now blocked writing to a client that won't read
        await asyncio.wait_for(proxy.aclose(), TIMEOUT)
    finally:
        writer.close()
        with contextlib.suppress(ConnectionError):
            await writer.wait_closed()


async def test_start_twice_is_an_error() -> None:
    async with LoopbackProxy() as proxy:
        with pytest.raises(RuntimeError):
            await proxy.start()
