"""A forward HTTP proxy on 127.0.0.1 for tests of the client's HTTP_PROXY/HTTPS_PROXY support.

Pure asyncio, standard library only. It listens on 127.0.0.1 and only ever connects to
loopback addresses (127.0.0.0/8, or ``localhost``, which it maps to 127.0.0.1): a request for
any other host is answered ``403 Forbidden`` and never connected to.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import ipaddress
import re
from collections.abc import Coroutine, Iterable, Mapping
from contextlib import suppress
from typing import Any
from urllib.parse import urlsplit

__all__ = ["LoopbackProxy"]

_LOOPBACK = ipaddress.IPv4Network("127.0.0.0/8")
_TOKEN = re.compile(r"[!#$%&'*+\-.^_`|~0-9A-Za-z]+")
_DIGITS = re.compile(r"[0-9]+")
_HEX = re.compile(rb"[0-9A-Fa-f]+")
_CHUNK = 65_536
# Hop-by-hop headers (RFC 9110 section 7.6.1) the proxy consumes rather than forwards.
# Transfer-Encoding stays: a request body is relayed in the framing it arrived in.
_HOP_BY_HOP = frozenset(
    {
        "connection",
        "keep-alive",
        "proxy-connection",
        "proxy-authenticate",
        "proxy-authorization",
        "te",
        "trailer",
        "upgrade",
    }
)
_REASONS = {
    400: "Bad Request",
    403: "Forbidden",
    407: "Proxy Authentication Required",
    431: "Request Header Fields Too Large",
    501: "Not Implemented",
    502: "Bad Gateway",
}

Headers = list[tuple[str, str]]


class _BadMessage(Exception):
    """A request or response head the proxy cannot make sense of."""


def _loopback_address(host: str) -> str | None:
    """The IPv4 loopback address to connect to for ``host``, or None if it is not loopback."""
    if host.lower() == "localhost":
        return "127.0.0.1"
    try:
        address = ipaddress.IPv4Address(host)
    except ValueError:
        return None
    return str(address) if address in _LOOPBACK else None


def _parse_port(text: str) -> int | None:
    """A TCP port number from its decimal text, or None if it is not one."""
    if not _DIGITS.fullmatch(text) or len(text) > 5:
        return None
    port = int(text)
    return port if 0 < port < 65_536 else None


def _parse_head(head: bytes) -> tuple[str, str, str, Headers]:
    """Split a request head into method, target, version and its header fields."""
    lines = head.decode("latin-1").split("\r\n")
    while lines and not lines[0]:  # RFC 9112 section 2.2: ignore leading empty lines
        lines.pop(0)
    if not lines or any("\r" in line or "\n" in line for line in lines):
        raise _BadMessage("bare CR or LF in the head")
    parts = lines[0].split(" ")
    if len(parts) != 3 or not _TOKEN.fullmatch(parts[0]) or not parts[1]:
        raise _BadMessage(f"bad request line {lines[0]!r}")
    method, target, version = parts
    if version not in ("HTTP/1.0", "HTTP/1.1"):
        raise _BadMessage(f"unsupported version {version!r}")
    return method, target, version, _parse_fields(lines[1:])


def _parse_fields(lines: Iterable[str]) -> Headers:
    """Header fields as (name, value) pairs; names keep their case, values are stripped."""
    fields: Headers = []
    for line in lines:
        if not line:
            continue
        name, colon, value = line.partition(":")
        if not colon or not _TOKEN.fullmatch(name):  # also rejects obsolete line folding
            raise _BadMessage(f"bad header line {line!r}")
        fields.append((name, value.strip(" \t")))
    return fields


def _fold(fields: Headers) -> dict[str, str]:
    """Header fields as a dict with lower-cased names, repeated fields joined by ", "."""
    folded: dict[str, str] = {}
    for name, value in fields:
        key = name.lower()
        folded[key] = f"{folded[key]}, {value}" if key in folded else value
    return folded


def _end_to_end(fields: Headers, folded: Mapping[str, str]) -> Headers:
    """The fields minus hop-by-hop ones, including those the Connection header names."""
    named = {token.strip().lower() for token in folded.get("connection", "").split(",")}
    drop = _HOP_BY_HOP | named
    return [(name, value) for name, value in fields if name.lower() not in drop]


class LoopbackProxy:
    """An HTTP forward proxy on 127.0.0.1: absolute-form GETs (http://) and CONNECT tunnels (https://).

    Requests in absolute form (``GET http://127.0.0.1:8080/path HTTP/1.1``) are forwarded in
    origin form with ``Connection: close``, and the response is relayed until the upstream
    closes, then the client connection is closed too (one request per client connection).
    ``CONNECT 127.0.0.1:8443`` opens a tunnel that relays bytes both ways until both sides
    have closed (an end-of-stream from one side is passed on to the other).

    Only loopback targets are served (127.0.0.0/8, or ``localhost``); others get
    ``403 Forbidden`` and are never connected to. With ``require_auth="user:pass"``, a request
    without a matching ``Proxy-Authorization: Basic ...`` gets
    ``407 Proxy Authentication Required``.

    Attributes:
        url: ``"http://127.0.0.1:<port>"`` once started, ``""`` before.
        requests: ``(method, target)`` of every request received, such as
            ``("GET", "http://127.0.0.1:5555/v1/organization/costs?limit=1")`` or
            ``("CONNECT", "127.0.0.1:5556")``, including those refused.
        headers_seen: The header fields of each of those requests, names lower-cased and
            repeated fields joined by ``", "``, in the same order as ``requests``.
    """

    url: str
    requests: list[tuple[str, str]]
    headers_seen: list[dict[str, str]]

    def __init__(self, *, require_auth: str | None = None) -> None:
        """Make a proxy, not yet listening; ``require_auth`` is ``"user:password"`` or None."""
        self.url = ""
        self.requests = []
        self.headers_seen = []
        self._require_auth = require_auth
        self._server: asyncio.Server | None = None
        self._closing = False
        self._tasks: set[asyncio.Task[None]] = set()
        self._closers: set[asyncio.Task[None]] = set()
        self._writers: set[asyncio.StreamWriter] = set()
        self._errors: list[BaseException] = []

    async def start(self) -> str:
        """Listen on 127.0.0.1 on a free port and return :attr:`url`."""
        if self._server is not None or self._closing:
            raise RuntimeError("LoopbackProxy can only be started once")
        self._server = await asyncio.start_server(self._accept, "127.0.0.1", 0)
        port = self._server.sockets[0].getsockname()[1]
        self.url = f"http://127.0.0.1:{port}"
        return self.url

    async def aclose(self) -> None:
        """Stop listening, and close every open connection and tunnel.

        Raises RuntimeError if a connection handler failed unexpectedly (a bug in the proxy),
        so that it does not go unnoticed.
        """
        self._closing = True
        if self._server is not None:
            self._server.close()
        while self._tasks or self._writers:
            # Abort first: a handler's cleanup must not wait on a graceful close that a peer
            # which stopped reading would never let finish.
            for writer in list(self._writers):
                writer.transport.abort()
                self._closer(writer)
            tasks = list(self._tasks)
            for task in tasks:
                task.cancel()
            await asyncio.gather(*tasks, return_exceptions=True)
            if self._closers:
                await asyncio.wait(self._closers)  # unlike gather, never cancels them
        if self._server is not None:
            await self._server.wait_closed()
        if self._errors:
            errors, self._errors = self._errors, []
            raise RuntimeError("a LoopbackProxy connection handler failed") from errors[0]

    async def __aenter__(self) -> LoopbackProxy:
        """Start the proxy."""
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        """Close the proxy; its own errors do not mask an exception already propagating."""
        try:
            await self.aclose()
        except RuntimeError:
            if exc and exc[0] is None:
                raise

    # Bookkeeping: every task and connection is tracked, so aclose() can end them all.

    def _spawn(
        self, coro: Coroutine[Any, Any, None], into: set[asyncio.Task[None]] | None = None
    ) -> asyncio.Task[None]:
        tasks = self._tasks if into is None else into
        task = asyncio.get_running_loop().create_task(coro)
        tasks.add(task)

        def forget(task: asyncio.Task[None]) -> None:
            tasks.discard(task)
            if not task.cancelled() and (error := task.exception()) is not None:
                self._errors.append(error)

        task.add_done_callback(forget)
        return task

    def _accept(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        """Called synchronously for each new client connection."""
        if self._closing:
            writer.transport.abort()
            return
        self._writers.add(writer)
        self._spawn(self._handle(reader, writer))

    def _closer(self, writer: asyncio.StreamWriter) -> asyncio.Task[None]:
        """A task that ends once the writer's connection is closed; aclose() waits for it.

        Python 3.11's ``StreamWriter.wait_closed()`` awaits a future shared by all its
        callers, which a cancelled caller would cancel for everyone: so it is awaited in a
        task of its own, which is never cancelled, and callers wait on that behind a shield.
        """

        async def closed() -> None:
            with suppress(OSError):
                await writer.wait_closed()
            self._writers.discard(writer)

        return self._spawn(closed(), into=self._closers)

    async def _wait_closed(self, writer: asyncio.StreamWriter) -> None:
        await asyncio.shield(self._closer(writer))

    async def _connect(
        self, host: str, port: int
    ) -> tuple[asyncio.StreamReader, asyncio.StreamWriter]:
        """Open a connection to a loopback address (the proxy's only way out)."""
        if ipaddress.IPv4Address(host) not in _LOOPBACK:  # already vetted; belt and braces
            raise ValueError(f"refusing to connect to non-loopback {host!r}")
        reader, writer = await asyncio.open_connection(host, port)
        self._writers.add(writer)
        if self._closing:
            writer.transport.abort()
            raise ConnectionAbortedError("the proxy is closing")
        return reader, writer

    # Serving a client connection.

    async def _handle(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            await self._serve(reader, writer)
        except (OSError, asyncio.IncompleteReadError):
            pass  # a peer went away
        finally:
            writer.close()
            await self._wait_closed(writer)

    async def _serve(self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            head = await reader.readuntil(b"\r\n\r\n")
        except asyncio.IncompleteReadError:
            return  # closed before sending a complete request
        except asyncio.LimitOverrunError:
            await self._respond(writer, 431)
            return
        try:
            method, target, version, fields = _parse_head(head)
        except _BadMessage:
            await self._respond(writer, 400)
            return
        headers = _fold(fields)
        self.requests.append((method, target))
        self.headers_seen.append(headers)
        if not self._authorized(headers):
            await self._respond(
                writer, 407, [("Proxy-Authenticate", 'Basic realm="LoopbackProxy"')]
            )
        elif method == "CONNECT":
            await self._tunnel(reader, writer, target)
        else:
            await self._forward(reader, writer, method, target, version, fields, headers)

    def _authorized(self, headers: Mapping[str, str]) -> bool:
        if self._require_auth is None:
            return True
        scheme, _, token = headers.get("proxy-authorization", "").partition(" ")
        if scheme.lower() != "basic":
            return False
        try:
            given = base64.b64decode(token.strip(), validate=True)
        except (binascii.Error, ValueError):
            return False
        expected = [self._require_auth.encode("utf-8")]
        with suppress(UnicodeEncodeError):  # aiohttp's BasicAuth encodes as latin-1
            expected.append(self._require_auth.encode("latin-1"))
        return any(hmac.compare_digest(given, candidate) for candidate in expected)

    @staticmethod
    async def _respond(
        writer: asyncio.StreamWriter, status: int, extra: Headers | None = None
    ) -> None:
        """Answer with a short text/plain response of the proxy's own, then close."""
        reason = _REASONS[status]
        body = f"{status} {reason} (LoopbackProxy)\n".encode()
        lines = [
            f"HTTP/1.1 {status} {reason}",
            "Content-Type: text/plain; charset=utf-8",
            f"Content-Length: {len(body)}",
            "Connection: close",
            *(f"{name}: {value}" for name, value in extra or []),
        ]
        writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1") + body)
        await writer.drain()

    # CONNECT tunnels.

    async def _tunnel(
        self, reader: asyncio.StreamReader, writer: asyncio.StreamWriter, target: str
    ) -> None:
        host, colon, port_text = target.rpartition(":")
        port = _parse_port(port_text)
        if not colon or not host or port is None:
            await self._respond(writer, 400)
            return
        address = _loopback_address(host)
        if address is None:
            await self._respond(writer, 403)
            return
        try:
            up_reader, up_writer = await self._connect(address, port)
        except OSError:
            await self._respond(writer, 502)
            return
        try:
            writer.write(b"HTTP/1.1 200 Connection established\r\n\r\n")
            await writer.drain()
            pipes = [
                self._spawn(self._pipe(reader, up_writer, writer)),
                self._spawn(self._pipe(up_reader, writer, up_writer)),
            ]
            try:
                await asyncio.wait(pipes)
            finally:
                for pipe in pipes:
                    pipe.cancel()
        finally:
            up_writer.close()
            await self._wait_closed(up_writer)

    @staticmethod
    async def _pipe(
        source: asyncio.StreamReader,
        sink: asyncio.StreamWriter,
        source_writer: asyncio.StreamWriter,
    ) -> None:
        """Copy source to sink, then pass on the end of stream; on an error, drop both."""
        try:
            while data := await source.read(_CHUNK):
                sink.write(data)
                await sink.drain()
            if sink.can_write_eof() and not sink.is_closing():
                sink.write_eof()
        except OSError:
            sink.transport.abort()
            source_writer.transport.abort()

    # Absolute-form requests.

    async def _forward(
        self,
        reader: asyncio.StreamReader,
        writer: asyncio.StreamWriter,
        method: str,
        target: str,
        version: str,
        fields: Headers,
        headers: Mapping[str, str],
    ) -> None:
        url = urlsplit(target)
        try:
            port = url.port or 80
        except ValueError:
            port = 0
        if url.scheme.lower() != "http" or not url.hostname or not port:
            await self._respond(writer, 400)
            return
        address = _loopback_address(url.hostname)
        if address is None:
            await self._respond(writer, 403)
            return
        length = headers.get("content-length")
        encoding = headers.get("transfer-encoding")
        if (length is not None and (encoding is not None or not _DIGITS.fullmatch(length))) or (
            encoding is not None and encoding.lower() != "chunked"
        ):
            await self._respond(writer, 400 if length is not None else 501)
            return
        try:
            up_reader, up_writer = await self._connect(address, port)
        except OSError:
            await self._respond(writer, 502)
            return
        path = (url.path or "/") + (f"?{url.query}" if url.query else "")
        lines = [
            f"{method} {path} {version}",
            f"Host: {url.netloc.rpartition('@')[2]}",
            *(
                f"{name}: {value}"
                for name, value in _end_to_end(fields, headers)
                if name.lower() != "host"
            ),
            "Connection: close",
        ]
        body: asyncio.Task[None] | None = None
        try:
            up_writer.write(("\r\n".join(lines) + "\r\n\r\n").encode("latin-1"))
            # The body is sent alongside reading the response: the upstream may answer early,
            # or (Expect: 100-continue) only ask for the body once it has seen the head.
            if encoding is not None:
                body = self._spawn(self._send_chunked(reader, up_writer))
            elif length is not None and int(length):
                body = self._spawn(self._send_exactly(reader, up_writer, int(length)))
            else:
                await up_writer.drain()
            await self._relay_response(up_reader, writer)
        finally:
            if body is not None:
                body.cancel()
                await asyncio.gather(body, return_exceptions=True)
            up_writer.close()
            await self._wait_closed(up_writer)

    @staticmethod
    async def _send_exactly(
        reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter, length: int
    ) -> None:
        try:
            while length:
                data = await reader.readexactly(min(length, _CHUNK))
                length -= len(data)
                up_writer.write(data)
                await up_writer.drain()
        except (OSError, asyncio.IncompleteReadError):
            up_writer.transport.abort()  # a truncated body must not look complete upstream

    @staticmethod
    async def _send_chunked(reader: asyncio.StreamReader, up_writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                line = await reader.readuntil(b"\r\n")
                size_text = line[:-2].split(b";", 1)[0].strip(b" \t")
                if not _HEX.fullmatch(size_text):
                    raise _BadMessage(f"bad chunk size line {line!r}")
                size = int(size_text, 16)
                up_writer.write(line)
                if not size:
                    break
                size += 2  # the CRLF after the chunk's data
                while size:
                    data = await reader.readexactly(min(size, _CHUNK))
                    size -= len(data)
                    up_writer.write(data)
                    await up_writer.drain()
            while (trailer := await reader.readuntil(b"\r\n")) != b"\r\n":
                up_writer.write(trailer)
            up_writer.write(b"\r\n")
            await up_writer.drain()
        except (OSError, asyncio.IncompleteReadError, asyncio.LimitOverrunError, _BadMessage):
            up_writer.transport.abort()

    async def _relay_response(
        self, up_reader: asyncio.StreamReader, writer: asyncio.StreamWriter
    ) -> None:
        """Relay the upstream's response with ``Connection: close``, until the upstream closes."""
        started = False  # whether anything reached the client yet
        try:
            while True:
                head = await up_reader.readuntil(b"\r\n\r\n")
                lines = head[:-4].decode("latin-1").split("\r\n")
                status = lines[0].split(" ", 2)
                if (
                    len(status) < 2
                    or not status[0].startswith("HTTP/1.")
                    or not (len(status[1]) == 3 and status[1].isdigit())
                ):
                    raise _BadMessage(f"bad status line {lines[0]!r}")
                if not 100 <= int(status[1]) < 200 or status[1] == "101":
                    break
                writer.write(head)  # an interim response (100 Continue, 103 Early Hints)
                await writer.drain()
                started = True
            fields = _parse_fields(lines[1:])
        except (asyncio.IncompleteReadError, asyncio.LimitOverrunError, _BadMessage):
            if not started:
                await self._respond(writer, 502)
            return
        kept = _end_to_end(fields, _fold(fields))
        out = [lines[0], *(f"{name}: {value}" for name, value in kept), "Connection: close"]
        writer.write(("\r\n".join(out) + "\r\n\r\n").encode("latin-1"))
        await writer.drain()
        while data := await up_reader.read(_CHUNK):
            writer.write(data)
            await writer.drain()
