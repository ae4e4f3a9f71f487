"""``openai-usage``: the command line, a thin layer over the public client.

Exit codes: 0 success; 1 an unexpected error (a bug: please report it with --verbose);
2 bad usage (arguments, dates, endpoint, group_by, filters); 3 no API key; 4 the key was
refused (401/403); 5 another API error; 6 network down or timed out; 7 the output (or
the store) could not be written; 8 an optional dependency is missing; 9 the emulator
cannot listen (its port is taken); 130 interrupted (Ctrl-C).
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import logging
import os
import signal
import sys
import traceback
from collections.abc import Sequence

from .. import errors
from ..emulator.__main__ import EXIT_CANNOT_LISTEN, ListenError
from ..store._errors import StoreError
from ._args import NOW_VARIABLE, clock, parse_command_line
from ._commands import COMMANDS, NoKeyError, UsageError
from ._export import MissingExtraError, OutputError

__all__ = ["main"]

EXIT_OK = 0
EXIT_BUG = 1
EXIT_USAGE = 2
EXIT_NO_KEY = 3
EXIT_KEY_REFUSED = 4
EXIT_API = 5
EXIT_NETWORK = 6
EXIT_OUTPUT = 7
EXIT_MISSING_EXTRA = 8
EXIT_INTERRUPTED = 130


def _fail(code: int, message: str, verbose: bool) -> int:
    if verbose:
        traceback.print_exc()
    print(f"openai-usage: error: {message}", file=sys.stderr)
    return code


def main(argv: Sequence[str] | None = None) -> int:
    """Run the command line; return the exit code."""
    args = parse_command_line(argv)
    verbose = bool(getattr(args, "verbose", False))
    try:
        clock()
    except ValueError as exc:
        return _fail(EXIT_USAGE, f"${NOW_VARIABLE}: {exc}", verbose=False)
    logging.basicConfig(
        level=logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
        stream=sys.stderr,
    )
    # --verbose is about our requests and retries: other libraries (asyncio's "Using
    # selector" line, say) keep their warnings-only level.
    ours = logging.getLogger("openai_usage_async")
    ours.setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        code = asyncio.run(_run(args))
    except KeyboardInterrupt:  # before or after the event loop ran
        code = EXIT_INTERRUPTED
    if code == EXIT_INTERRUPTED:
        print("openai-usage: interrupted", file=sys.stderr)
    return code


#: Keys the Usage API refuses whatever their permissions, by their prefix.
_NOT_ADMIN_KEYS = {"sk-proj-": "a project key", "sk-svcacct-": "a service-account key"}
ADMIN_KEY_HELP = (
    "the Usage API needs an organization Admin key (sk-admin-...), which an organization "
    "owner creates at https://platform.openai.com/settings/organization/admin-keys"
)


def _key_given(args: argparse.Namespace) -> str:
    if args.command == "demo":
        return "sk-admin-demo"
    return str(getattr(args, "api_key", None) or os.environ.get("OPENAI_ADMIN_KEY") or "")


def _refused(exc: errors.APIStatusError, key: str) -> str:
    """One message for a refused key: what kind of key it is (never the key), and what the
    Usage API needs. A project key is told so, whatever the service's words."""
    said = f"the API refused the key ({exc.status_code})"
    for prefix, kind in _NOT_ADMIN_KEYS.items():
        if key.startswith(prefix):
            return f"{said}: it is {kind} ({prefix}...); {ADMIN_KEY_HELP}"
    if "admin key" in exc.message.lower():
        return f"{said}: {exc.message}"
    return f"{said}: {exc.message.rstrip('.')}; {ADMIN_KEY_HELP}"


async def _run(args: argparse.Namespace) -> int:
    """The command, with Ctrl-C cancelling it (and its requests) into exit code 130."""
    verbose = bool(getattr(args, "verbose", False))
    loop = asyncio.get_running_loop()
    task = asyncio.current_task()
    assert task is not None
    interrupted = False

    def on_sigint() -> None:
        nonlocal interrupted
        interrupted = True
        task.cancel()

    with contextlib.suppress(NotImplementedError, RuntimeError):  # no signals on Windows
        loop.add_signal_handler(signal.SIGINT, on_sigint)
    try:
        return await COMMANDS[args.command](args)
    except asyncio.CancelledError:
        if interrupted:
            return EXIT_INTERRUPTED
        raise
    except UsageError as exc:
        return _fail(EXIT_USAGE, f"{exc} (see openai-usage {args.command} --help)", verbose)
    except NoKeyError as exc:
        return _fail(EXIT_NO_KEY, str(exc), verbose)
    except MissingExtraError as exc:
        return _fail(EXIT_MISSING_EXTRA, str(exc), verbose)
    except (StoreError, OutputError) as exc:
        return _fail(EXIT_OUTPUT, str(exc), verbose)
    except ListenError as exc:
        return _fail(EXIT_CANNOT_LISTEN, str(exc), verbose)
    except (errors.AuthenticationError, errors.PermissionDeniedError) as exc:
        return _fail(EXIT_KEY_REFUSED, _refused(exc, _key_given(args)), verbose)
    except errors.APIConnectionError as exc:
        hint = (
            "check your network, or --base-url"
            if not isinstance(exc, errors.APITimeoutError)
            else "try a larger --timeout"
        )
        return _fail(EXIT_NETWORK, f"{exc.message} ({hint})", verbose)
    except (errors.APIStatusError, errors.APIResponseValidationError) as exc:
        return _fail(EXIT_API, str(exc), verbose)
    except BrokenPipeError:
        # The reader went away (`| head`): not an error. Keep Python from complaining at exit.
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        return EXIT_OK
    except OSError as exc:
        where = f"{exc.filename}: " if exc.filename else ""
        why = exc.strerror or str(exc)
        return _fail(EXIT_OUTPUT, f"cannot write the output: {where}{why}", verbose)
    except Exception as exc:  # a bug: say so plainly
        # With --verbose the traceback is already on the screen: ask for it, not a rerun.
        then = "please report it with the traceback above" if verbose else "rerun with --verbose"
        return _fail(EXIT_BUG, f"unexpected {type(exc).__name__}: {exc} ({then})", verbose)
