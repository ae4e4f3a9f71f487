"""``python -m openai_usage_async.emulator``: serve the emulator in the foreground.

Prints the base URL on its first line of stdout, then serves until Ctrl-C or SIGTERM.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import signal
import sys
from collections.abc import Sequence

from .app import Emulator
from .faults import Fault

__all__ = ["add_arguments", "emulator_from_args", "main", "serve_forever"]


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The emulator's options; the ``openai-usage emulator`` command reuses them."""
    parser.add_argument("--host", default="127.0.0.1", help="address to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, default=8089, help="port (0: a free one; default 8089)")
    parser.add_argument(
        "--api-key",
        help="accept only this Bearer key (default: any non-empty admin-looking key)",
    )
    parser.add_argument("--seed", type=int, default=0, help="seed of the synthetic organization")
    parser.add_argument("--latency-ms", type=float, default=0.0, help="added to every response")
    parser.add_argument("--jitter-ms", type=float, default=0.0, help="random extra latency, up to")
    parser.add_argument("--now", type=float, help="pin the clock to this Unix time")
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
    parser.add_argument("--max-concurrent", type=int, help="answer 429 beyond this many in flight")
    parser.add_argument(
        "--rate-limit-retry-after-ms",
        type=int,
        default=20,
        help="retry-after-ms on those 429s (default 20)",
    )
    parser.add_argument(
        "--cache-mb", type=int, default=32, help="memory for settled pages, re-served (default 32)"
    )
    parser.add_argument(
        "--directory-size",
        type=_directory_size,
        metavar="PROJECTS,KEYS",
        help="grow the organization directory to this many projects and API keys",
    )


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
        max_concurrent=args.max_concurrent,
        rate_limit_retry_after_ms=args.rate_limit_retry_after_ms,
        cache_bytes=args.cache_mb << 20,
        directory_size=args.directory_size,
    )


async def serve_forever(emulator: Emulator, host: str, port: int) -> None:
    """Start ``emulator``, print its base URL, and serve until SIGINT or SIGTERM."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for sig in (signal.SIGINT, signal.SIGTERM):
        with contextlib.suppress(NotImplementedError):  # not on Windows
            loop.add_signal_handler(sig, stop.set)
    base_url = await emulator.start(host, port)
    try:
        print(base_url, flush=True)
        print("serving the Usage API emulator; Ctrl-C stops it", file=sys.stderr, flush=True)
        await stop.wait()
    finally:
        await emulator.aclose()


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
    except OSError as exc:
        print(f"error: cannot listen on {args.host}:{args.port}: {exc.strerror}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        return 130
    return 0


if __name__ == "__main__":
    sys.exit(main())
