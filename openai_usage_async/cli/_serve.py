"""``openai-usage serve``: keep a store current and serve it (``openai_usage_async.serve``).

The command is a thin layer over :func:`openai_usage_async.serve.create_app`: it checks
its arguments (the token rules first), binds the port before anything starts (a port in
use exits 9, as ``emulator``), opens the client and the store, runs the app until SIGTERM
(exit 0) or Ctrl-C (130, as every command), and closes them after the app has stopped.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import functools
import ipaddress
import math
import os
import re
import signal
import socket
import sys
from typing import TYPE_CHECKING

import anyio
import anyio.to_thread
from aiohttp import web

from ..emulator.__main__ import _port
from ._args import TIME_HELP, parse_duration

if TYPE_CHECKING:
    from ..serve._scheduler import SyncCall

__all__ = ["TOKEN_VARIABLE", "add_arguments", "is_loopback", "parse_every", "serve"]

#: Where the token comes from when no flag gives it.
TOKEN_VARIABLE = "OPENAI_USAGE_SERVE_TOKEN"
#: The default port.
DEFAULT_PORT = 9464
#: How long open requests may take to finish once SIGTERM arrives.
SHUTDOWN_TIMEOUT_S = 3.0

_EVERY = re.compile(r"^(\d+(?:\.\d*)?|\.\d+)\s*(ms|s|m|h|d)?$")
_EVERY_UNITS = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0}

SERVE_DESCRIPTION = """\
Keep a store current (a sync at start, then every --every) and serve it on this machine:
/metrics for Prometheus, / a dashboard, /api/summary JSON for web apps, /healthz and
/livez for probes. A request reads only what the last sync left: never the API.

Binds 127.0.0.1 unless --host says otherwise; any other address needs a token
(--token-file, --token or $OPENAI_USAGE_SERVE_TOKEN) unless --insecure-no-token. With a
token, every path but /healthz and /livez needs `Authorization: Bearer TOKEN`, or HTTP
Basic with the token as the password. SIGTERM stops it (exit 0); exit 9 when the port is
taken; exit 2 for bad arguments.
"""

SERVE_EXAMPLES = """\
examples:
  openai-usage serve --start 90d          keep openai-usage.db current, on 127.0.0.1:9464
  openai-usage serve --every 1m --bucket-width 1h
  openai-usage serve --host 0.0.0.0 --token-file /etc/openai-usage/token
  curl -s localhost:9464/api/summary
"""


def parse_every(text: str) -> float:
    """Seconds from ``5m``, ``30s``, ``0.5s``, ``1h``, ``250ms`` or plain seconds (> 0)."""
    match = _EVERY.match(text.strip())
    if match is None:
        raise ValueError(f"{text!r} is not a duration; use 5m, 30s, 0.5s, 1h or seconds")
    seconds = float(match.group(1)) * _EVERY_UNITS[match.group(2) or "s"]
    if not (math.isfinite(seconds) and seconds > 0):
        raise ValueError(f"{text!r} is not a positive duration")
    return seconds


def _every_type(text: str) -> float:
    try:
        return parse_every(text)
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The ``serve`` command's own options (the global ones are added beside them)."""
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="the store: a path ending in .duckdb is DuckDB, any other SQLite "
        "(default: $OPENAI_USAGE_STORE, else openai-usage.db)",
    )
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port",
        type=_port,
        default=DEFAULT_PORT,
        help=f"port (default {DEFAULT_PORT}; 0: a free one, said on stderr)",
    )
    parser.add_argument(
        "--every",
        type=_every_type,
        default=300.0,
        metavar="DURATION",
        help="sync this often: 5m (default), 30s, 0.5s, 1h (after 3 failures in a row the "
        "period doubles, up to 8 times this)",
    )
    parser.add_argument(
        "--start", help=f"where the store starts, needed only while it lacks a table: {TIME_HELP}"
    )
    parser.add_argument(
        "--endpoints",
        default="all",
        help="all (default) or a comma-separated list; costs is always synced (the money "
        "figures come from it)",
    )
    parser.add_argument(
        "--bucket-width",
        choices=("1d", "1h"),
        default="1d",
        help="width of the usage tables (default 1d); costs is always synced at 1d",
    )
    parser.add_argument(
        "--overlap",
        default="2d",
        metavar="DURATION",
        help="how far back each sync re-fetches, as revised buckets settle (default 2d)",
    )
    tokens = parser.add_mutually_exclusive_group()
    tokens.add_argument(
        "--token",
        help=f"require this token (visible in ps: prefer --token-file or ${TOKEN_VARIABLE})",
    )
    tokens.add_argument(
        "--token-file", metavar="PATH", help="require the token in this file (its first line)"
    )
    parser.add_argument(
        "--insecure-no-token",
        action="store_true",
        help="serve on a non-loopback --host without a token (anyone who can reach it "
        "reads your spend)",
    )


def is_loopback(host: str) -> bool:
    """Whether every address ``host`` names is this machine's loopback."""
    if host.strip().lower() == "localhost":
        return True
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = socket.getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return False
    addresses = {info[4][0] for info in found}
    return bool(addresses) and all(
        ipaddress.ip_address(str(a).split("%")[0]).is_loopback for a in addresses
    )


def _token(args: argparse.Namespace) -> str | None:
    """The token from --token, --token-file or the environment (in that order)."""
    from ._commands import UsageError

    if args.token_file:
        try:
            with open(args.token_file, encoding="utf-8") as f:
                token = f.readline().strip()
        except (OSError, UnicodeDecodeError) as exc:
            why = getattr(exc, "strerror", None) or str(exc)
            raise UsageError(f"--token-file: cannot read {args.token_file}: {why}") from None
        if not token:
            raise UsageError(f"--token-file: {args.token_file} holds no token (its first line)")
        flag = "--token-file"
    elif args.token is not None:
        token, flag = args.token.strip(), "--token"
        if not token:
            raise UsageError("--token: empty; give a token, or leave the flag out")
    else:
        token, flag = os.environ.get(TOKEN_VARIABLE, "").strip(), f"${TOKEN_VARIABLE}"
        if not token:
            return None
    if any(c.isspace() for c in token):
        raise UsageError(f"{flag}: the token contains whitespace; check how it was pasted")
    return token


def _listen(host: str, port: int) -> socket.socket:
    """A listening socket, bound before anything starts: a port in use fails first."""
    from ..emulator.__main__ import ListenError, _cannot_listen

    try:
        family = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM, flags=socket.AI_PASSIVE)[
            0
        ][0]
        return socket.create_server((host, port), family=family)
    except OSError as exc:
        raise ListenError(_cannot_listen(host, port, exc)) from exc


def _missing_tables(path: str, calls: tuple[SyncCall, ...]) -> list[str]:
    """The tables serve syncs that the store at ``path`` lacks (all, for no store)."""
    from ..store._read import Reader

    wanted = [t for c in calls for t in c.tables]
    if not os.path.exists(path) or os.path.getsize(path) == 0:
        return wanted
    with Reader(path) as reader:
        return [t for t in wanted if t not in reader.registry]


async def serve(args: argparse.Namespace) -> int:
    """``openai-usage serve``: see :data:`SERVE_DESCRIPTION`."""
    from ._commands import (
        UsageError,
        _in_flags,
        _time,
        check_store,
        make_client,
        store_path,
    )
    from ._export import MissingExtraError

    token = _token(args)
    if token is None and not args.insecure_no_token and not is_loopback(args.host):
        raise UsageError(
            f"--host: {args.host} is not a loopback address, and anyone who reaches it would "
            f"read your spend: give a token (--token-file PATH, --token or "
            f"${TOKEN_VARIABLE}), or --insecure-no-token to serve without one"
        )
    try:
        from ..serve import create_app
        from ..serve._scheduler import plan_calls
        from ..store import open_store
    except ImportError as exc:
        raise MissingExtraError(
            f"openai-usage serve needs the serve extra: pip install 'openai_usage_async[serve]' "
            f"({exc})"
        ) from None
    endpoints: str | list[str] = "all"
    if args.endpoints.strip() != "all":
        endpoints = [e.strip() for e in args.endpoints.split(",") if e.strip()]
    try:
        calls = plan_calls(endpoints, args.bucket_width)
    except ValueError as exc:
        raise UsageError(_in_flags(str(exc))) from None
    try:
        overlap = parse_duration(args.overlap)
    except ValueError as exc:
        raise UsageError(f"--overlap: {exc}") from None
    start = _time("--start", args.start) if args.start else None
    path = store_path(args)
    await anyio.to_thread.run_sync(functools.partial(check_store, path, write=True))
    if start is None:
        missing = await anyio.to_thread.run_sync(_missing_tables, path, calls)
        if missing:
            shown = ", ".join(missing[:4]) + (
                f" and {len(missing) - 4} more" if missing[4:] else ""
            )
            raise UsageError(
                f"--start: needed, as {path} has no {shown} yet: give where the first sync "
                "starts (e.g. --start 90d)"
            )
    sock = _listen(args.host, args.port)
    with sock:
        try:
            store = open_store(path)
        except ImportError as exc:
            raise MissingExtraError(str(exc)) from None
        async with make_client(args) as client, store:
            try:
                app = create_app(
                    client,
                    store,
                    every=args.every,
                    endpoints=endpoints,
                    bucket_width=args.bucket_width,
                    start_time=start,
                    overlap=overlap,
                    token=token,
                )
            except ValueError as exc:
                raise UsageError(_in_flags(str(exc))) from None
            code = await _run_app(app, sock, args, path, token is not None)
    return code


async def _run_app(
    app: web.Application, sock: socket.socket, args: argparse.Namespace, path: str, token: bool
) -> int:
    runner = web.AppRunner(app, shutdown_timeout=SHUTDOWN_TIMEOUT_S)
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on Windows
        loop.add_signal_handler(signal.SIGTERM, stop.set)
    try:
        await runner.setup()  # starts the sync loop
        await web.SockSite(runner, sock).start()
        host, port = sock.getsockname()[:2]
        where = f"[{host}]" if ":" in str(host) else str(host)
        every = f"{args.every:g}s" if args.every < 60 else f"{args.every / 60:g}m"
        print(
            f"openai-usage serve: serving http://{where}:{port}/ (/metrics, /api/summary, "
            f"/healthz), syncing {path} every {every}"
            f"{'; a token is required' if token else ''}; SIGTERM or Ctrl-C stops it",
            file=sys.stderr,
            flush=True,
        )
        await stop.wait()
    finally:
        with anyio.CancelScope(shield=True):
            await runner.cleanup()  # stops the sync loop, then closes the connections
        with contextlib.suppress(NotImplementedError, RuntimeError):
            loop.remove_signal_handler(signal.SIGTERM)
    return 0
