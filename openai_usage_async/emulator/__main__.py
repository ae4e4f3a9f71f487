"""``python -m openai_usage_async.emulator``: serve the emulator in the foreground.

Prints the base URL on its first line of stdout, then serves until Ctrl-C or SIGTERM.
Exit codes: 0 stopped; 2 bad arguments; 9 cannot listen (the port is taken, or the
address is not this machine's); 130 interrupted before it served.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import errno
import logging
import re
import signal
import socket
import sys
from collections.abc import Sequence

from aiohttp import web

from .app import Emulator
from .faults import Fault
from .spend import DEFAULT_SPEND_LIMIT_USD

__all__ = [
    "EXIT_CANNOT_LISTEN",
    "ListenError",
    "add_arguments",
    "emulator_from_args",
    "main",
    "serve_forever",
]

#: The exit code when the emulator cannot listen (``openai-usage emulator`` uses it too).
EXIT_CANNOT_LISTEN = 9

log = logging.getLogger("openai_usage_async.emulator")


class ListenError(Exception):
    """The emulator cannot listen on the address: the message is one line saying why."""


def _moment(text: str) -> float:
    """``--now``: Unix seconds (with a fraction, too), or any time the command line reads."""
    if re.fullmatch(r"\d+(\.\d*)?", text.strip()):
        return float(text)
    from ..cli._args import parse_time  # the command line's dates, read the same way

    try:
        return float(parse_time(text))
    except ValueError as exc:
        raise argparse.ArgumentTypeError(str(exc)) from None


def _port(text: str) -> int:
    try:
        port = int(text)
    except ValueError:
        port = -1
    if not 0 <= port <= 65535:
        raise argparse.ArgumentTypeError(f"{text!r} is not a port (0 to 65535; 0: a free one)")
    return port


def _megabytes(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        value = -1
    if value < 0:
        raise argparse.ArgumentTypeError(f"{text!r} is not a whole number of megabytes (0 or more)")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options; the ``openai-usage emulator`` command reuses them."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument(
        "--port", type=_port, default=8089, help="port (0: a free one; default 8089)"
    )
    parser.add_argument(
        "--api-key",
        help="accept only this Bearer key (default: any non-empty admin-looking key)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic organization")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="random extra latency, up to")
    parser.add_argument(
        "--now",
        type=_moment,
        metavar="TIME",
        help="pin the clock: Unix seconds, YYYY-MM-DD, an ISO datetime (UTC unless it has an "
        "offset), or a time ago such as 30d",
    )
    parser.add_argument("--fail-first", type=int, default=0, help="fail the first N requests")
    parser.add_argument(
        "--fail-status", type=int, default=503, help="status of those failures (default 503)"
    )
    parser.add_argument("--retry-after-ms", type=int, help="retry-after-ms on those failures")
    parser.add_argument("--error-rate", type=float, default=0.0, help="fail this fraction (0..1)")
    parser.add_argument(
        "--result-key",
        choices=("results", "result"),
        default="results",
        help="how buckets name their list (the OpenAPI document says 'result')",
    )
    parser.add_argument("--unknown-tag", action="store_true", help="add an unknown result tag")
    parser.add_argument("--costs-quirk", action="store_true", help="the costs has_more quirk")
    parser.add_argument(
        "--in-progress",
        choices=("whole", "clipped"),
        default="whole",
        help="the bucket holding now: answered whole (default) or clipped at now",
    )
    parser.add_argument("--max-concurrent", type=int, help="answer 429 beyond this many in flight")
    parser.add_argument(
        "--rate-limit-retry-after-ms",
        type=int,
        default=20,
        help="retry-after-ms on those 429s (default 20)",
    )
    parser.add_argument(
        "--cache-mb",
        type=_megabytes,
        default=32,
        help="memory for settled pages, re-served (default 32; 0: no cache)",
    )
    parser.add_argument(
        "--directory-size",
        type=_directory_size,
        metavar="PROJECTS,KEYS",
        help="grow the organization directory to this many projects and API keys",
    )
    spend = parser.add_argument_group("spend limits and alerts")
    spend.add_argument(
        "--spend-limit-usd",
        type=_dollars,
        default=DEFAULT_SPEND_LIMIT_USD,
        metavar="USD",
        help=f"the organization's monthly hard spend limit (default {DEFAULT_SPEND_LIMIT_USD:g})",
    )
    spend.add_argument(
        "--no-spend-limits",
        action="store_true",
        help="no hard spend limit anywhere: the spend limit routes answer 404",
    )
    spend.add_argument(
        "--spend-limit-reached",
        action="store_true",
        help="the organization's limit is reached: usage and costs requests answer 429 "
        "organization_spend_limit_exceeded",
    )
    spend.add_argument(
        "--spend-forbidden",
        action="store_true",
        help="answer the spend limit and alert routes 403, as to a key without the scope",
    )


def _dollars(text: str) -> float:
    try:
        value = float(text.strip().removeprefix("$").replace(",", ""))
    except ValueError:
        value = -1.0
    if not 0 <= value < 1e13:
        raise argparse.ArgumentTypeError(f"{text!r} is not an amount of dollars (0 or more)")
    return value


def _directory_size(text: str) -> tuple[int, int]:
    projects, sep, keys = text.partition(",")
    try:
        if not sep:
            raise ValueError
        return int(projects), int(keys)
    except ValueError:
        raise argparse.ArgumentTypeError(
            f"expected PROJECTS,KEYS (two integers), got {text!r}"
        ) from None


def emulator_from_args(args: argparse.Namespace) -> Emulator:
    """Build an :class:`Emulator` from parsed :func:`add_arguments` options."""
    faults = []
    if args.fail_first:
        faults.append(
            Fault(
                status=args.fail_status, first=args.fail_first, retry_after_ms=args.retry_after_ms
            )
        )
    if args.error_rate:
        faults.append(Fault(status=500, rate=args.error_rate))
    return Emulator(
        api_key=args.api_key,
        seed=args.seed,
        latency_ms=args.latency_ms,
        jitter_ms=args.jitter_ms,
        now=args.now,
        faults=faults,
        result_key=args.result_key,
        unknown_tag=args.unknown_tag,
        costs_quirk=args.costs_quirk,
        in_progress=args.in_progress,
        max_concurrent=args.max_concurrent,
        rate_limit_retry_after_ms=args.rate_limit_retry_after_ms,
        cache_bytes=args.cache_mb << 20,
        directory_size=args.directory_size,
        spend_limit_usd=args.spend_limit_usd,
        spend_limits=not args.no_spend_limits,
        spend_limit_reached=args.spend_limit_reached,
        spend_forbidden=args.spend_forbidden,
    )


async def _log_response(request: web.Request, response: web.StreamResponse) -> None:
    log.info("%s %s -> %d", request.method, request.path_qs, response.status)


async def serve_forever(
    emulator: Emulator, host: str, port: int, *, quiet: bool = False, log_requests: bool = False
) -> None:
    """Start ``emulator``, print its base URL, and serve until SIGINT or SIGTERM.

    :class:`ListenError` says why it cannot listen. ``quiet`` leaves out the line on
    stderr; ``log_requests`` logs each answer (method, path, status; never a header) to
    the ``openai_usage_async.emulator`` logger.
    """
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    if log_requests:
        emulator.app.on_response_prepare.append(_log_response)
    try:
        base_url = await emulator.start(host, port)
    except OSError as exc:
        raise ListenError(_cannot_listen(host, port, exc)) from exc
    try:
        print(base_url, flush=True)
        if not quiet:
            print("serving the Usage API emulator; Ctrl-C stops it", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await emulator.aclose()


def _cannot_listen(host: str, port: int, exc: OSError) -> str:
    where = f"[{host}]:{port}" if ":" in host else f"{host}:{port}"
    if exc.errno == errno.EADDRINUSE:
        return (
            f"--port: {where} is already in use; choose another --port, or --port 0 for a free one"
        )
    why = exc.strerror or str(exc)
    if exc.errno == errno.EADDRNOTAVAIL or isinstance(exc, socket.gaierror):
        return f"--host: cannot listen on {where}: {why} (not an address of this machine)"
    return f"cannot listen on {where}: {why}"


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openai_usage_async.emulator",
        description=(
            "Serve a local emulator of the OpenAI Usage and Costs API (no key, no network)."
        ),
    )
    add_arguments(parser)
    args = parser.parse_args(argv)
    try:
        emulator = emulator_from_args(args)
    except ValueError as exc:
        parser.error(str(exc))
    try:
        asyncio.run(serve_forever(emulator, args.host, args.port))
    except ListenError as exc:
        print(f"{parser.prog}: error: {exc}", file=sys.stderr)
        return EXIT_CANNOT_LISTEN
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
