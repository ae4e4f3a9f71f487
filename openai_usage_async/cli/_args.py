"""The command line's grammar: subcommands, options, and how dates are read."""

from __future__ import annotations

import argparse
import datetime as dt
import difflib
import math
import os
import re
import sys
import time
from collections.abc import Callable, Sequence
from typing import Any, NoReturn

from .._sansio.endpoints import BUCKET_WIDTHS, ENDPOINTS
from .._version import __version__

__all__ = [
    "build_parser",
    "clock",
    "count",
    "parse_command_line",
    "parse_duration",
    "parse_time",
    "seconds",
]

_RELATIVE = re.compile(r"^(\d+)\s*([smhdw])$")
_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 7 * 86400}

TIME_HELP = (
    "YYYY-MM-DD (00:00 UTC), an ISO datetime (UTC unless it has an offset), Unix seconds, "
    "'now', or a time ago such as 7d, 24h, 90m"
)
#: What a time ago in days means for daily buckets (said in --help).
WHOLE_DAYS_HELP = (
    "with daily buckets (the default), 7d or 2w is 00:00 UTC that many days before today"
)
DAY = 86_400

#: Pins the command line's clock (Unix seconds or a date), as the emulator's --now pins
#: its own: for tests and reproducible runs. Read by the command line only.
NOW_VARIABLE = "OPENAI_USAGE_NOW"


def clock() -> float:
    """The command line's ``now``: the time, or ``$OPENAI_USAGE_NOW`` when it is set."""
    pinned = os.environ.get(NOW_VARIABLE)
    if not pinned:
        return time.time()
    return parse_time(pinned, now=time.time)


#: The last second of 9999-12-31 UTC: the latest time a date can say.
LATEST = 253_402_300_799


def parse_time(text: str, *, now: Callable[[], float] = clock, whole_days: bool = False) -> int:
    """Unix seconds from what a person types; ``ValueError`` says what is accepted.

    Times before 1970 (Unix time 0) or after 9999 are refused, and 13-digit numbers are
    said to look like milliseconds. With ``whole_days`` (daily buckets), a time ago in
    days or weeks is a midnight: ``7d`` is 00:00 UTC seven days before today, so that its
    days are whole, as ``summary --days 7`` counts them.
    """
    seconds = _parse_time(text, now, whole_days)
    if seconds < 0:
        raise ValueError(f"{text!r} is before 1970-01-01, where Unix time starts")
    if seconds > LATEST:
        value = text.strip()
        if value.isdigit() and len(value) == 13:
            raise ValueError(
                f"{text!r} looks like milliseconds; give Unix seconds ({value[:-3]}) or a date"
            )
        raise ValueError(f"{text!r} is after the year 9999; use {TIME_HELP}")
    return seconds


def _parse_time(text: str, now: Callable[[], float], whole_days: bool) -> int:
    value = text.strip()
    if value == "now":
        return int(now())
    if value.isdigit():
        return int(value)
    relative = _RELATIVE.match(value)
    if relative:
        ago = int(relative.group(1)) * _UNITS[relative.group(2)]
        if whole_days and relative.group(2) in "dw":
            return int(now()) // DAY * DAY - ago
        return int(now()) - ago
    try:
        if len(value) == 10:
            day = dt.date.fromisoformat(value)
            return int(dt.datetime(day.year, day.month, day.day, tzinfo=dt.UTC).timestamp())
        moment = dt.datetime.fromisoformat(value.replace("Z", "+00:00"))
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=dt.UTC)
        return int(moment.timestamp())
    except (ValueError, OverflowError):
        raise ValueError(f"{text!r} is not a date; use {TIME_HELP}") from None


def count(minimum: int, maximum: int | None = None) -> Callable[[str], int]:
    """An argparse ``type``: a whole number within bounds (argparse names the flag)."""

    def parse(text: str) -> int:
        try:
            value = int(text)
        except ValueError:
            raise argparse.ArgumentTypeError(f"{text!r} is not a whole number") from None
        if value < minimum:
            raise argparse.ArgumentTypeError(f"{value} is below {minimum}")
        if maximum is not None and value > maximum:
            raise argparse.ArgumentTypeError(f"{value} is above {maximum}")
        return value

    return parse


def seconds(text: str) -> float:
    """An argparse ``type``: a positive, finite number of seconds."""
    try:
        value = float(text)
    except ValueError:
        value = math.nan
    if not (math.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"{text!r} is not a positive number of seconds")
    return value


# -- usage errors: one line ---------------------------------------------------------------

#: What a positional argument's value is, in an error.
_NOUNS = {"endpoint": "an endpoint", "command": "a command"}


class _ChoiceError(argparse.ArgumentError):
    """A value that is not among an argument's choices, said with the closest one."""

    def __init__(self, action: argparse.Action, value: object) -> None:
        choices = [str(c) for c in action.choices or ()]
        close = difflib.get_close_matches(str(value), choices, n=1)
        if action.option_strings:
            text = f"{value!r} is not one of {', '.join(choices)}"
        else:
            text = f"{value!r} is not {_NOUNS.get(action.dest, 'a choice')}"
            if not close:
                text += f": {', '.join(choices)}"
        if close:
            text += f"; did you mean {close[0]}?"
        super().__init__(action, text)
        self.positional = not action.option_strings

    def __str__(self) -> str:
        # A positional's name (ENDPOINT) adds nothing to "'x' is not an endpoint".
        return self.message if self.positional else super().__str__()


class _Parser(argparse.ArgumentParser):
    """argparse, with usage errors on one line: ``openai-usage: error: ...``, the bad value
    named, the closest choice offered, and the help to read."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.commands: dict[str, _Parser] = {}
        self.argv: Sequence[str] = ()

    def error(self, message: str) -> NoReturn:
        # A global option before the command fails here, in the main parser: the help to
        # read is still the command's, which lists the global options too.
        command = next((self.commands[a] for a in self.argv if a in self.commands), self)
        help_ = f"{command.prog} --help"
        self.exit(2, f"openai-usage: error: {_one_line(message)} (see {help_})\n")

    def _check_value(self, action: argparse.Action, value: Any) -> None:
        if action.choices is not None and value not in action.choices:
            raise _ChoiceError(action, value)


def _flag(name: str) -> str:
    """``-o/--output`` -> ``--output``: the first long spelling of an argument's names."""
    names = name.split("/")
    return next((n for n in names if n.startswith("--")), names[-1])


def _one_line(message: str) -> str:
    """argparse's message, said the way the command's own errors are (``--days: ...``)."""
    message = " ".join(message.split())
    required = re.fullmatch(r"the following arguments are required: (.+)", message)
    if required:
        names = [_flag(n) for n in required.group(1).split(", ")]
        listed = ", ".join(names[:-1]) + " and " + names[-1] if len(names) > 1 else names[0]
        return f"{listed} {'are' if len(names) > 1 else 'is'} required"
    argument = re.fullmatch(r"argument (\S+): (.+)", message)
    if not argument:
        return message
    name, text = _flag(argument.group(1)), argument.group(2)
    invalid = re.fullmatch(r"invalid (int|float) value: (.+)", text)
    if invalid:
        kind = "whole number" if invalid.group(1) == "int" else "number"
        text = f"{invalid.group(2)} is not a {kind}"
    elif text == "expected one argument":
        text = "needs a value"
    else:
        text = re.sub(
            r"not allowed with argument (\S+)",
            lambda m: f"not allowed with {_flag(m.group(1))}; give one or the other",
            text,
        )
    return f"{name}: {text}"


def _unrecognized(extras: Sequence[str], parser: _Parser) -> str:
    """The first argument no option took, and the option it may have meant."""
    first = extras[0]
    if not first.startswith("-") or first == "-":
        return f"{first!r}: an argument too many"
    name = first.split("=", 1)[0]
    # Compared without the dashes, which every option shares.
    options = {s[2:]: s for a in parser._actions for s in a.option_strings if s[:2] == "--"}
    close = difflib.get_close_matches(name.lstrip("-"), options, n=1)
    command = parser.prog.removeprefix("openai-usage").strip()
    text = f"{name}: not an option{' of ' + command if command else ''}"
    return text + (f"; did you mean {options[close[0]]}?" if close else "")


def parse_command_line(argv: Sequence[str] | None = None) -> argparse.Namespace:
    """The command line, parsed; a usage error exits with code 2 after one line on stderr."""
    parser = build_parser()
    parser.argv = sys.argv[1:] if argv is None else argv
    args, extras = parser.parse_known_args(argv)
    if extras:
        command = parser.commands.get(getattr(args, "command", None) or "", parser)
        command.error(_unrecognized(extras, command))
    return args


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _global_options(parser: argparse.ArgumentParser, *, suppress: bool) -> None:
    """Options accepted before and after the subcommand (after wins)."""
    default: Callable[[object], object] = (
        (lambda _value: argparse.SUPPRESS) if suppress else (lambda value: value)
    )
    group = parser.add_argument_group("global options")
    group.add_argument(
        "--api-key",
        default=default(None),
        help="organization Admin key (default: $OPENAI_ADMIN_KEY)",
    )
    group.add_argument(
        "--base-url", default=default(None), help="default: $OPENAI_BASE_URL or the API"
    )
    group.add_argument("--organization", default=default(None), help="OpenAI-Organization header")
    group.add_argument("--project", default=default(None), help="OpenAI-Project header")
    group.add_argument(
        "--concurrency", type=count(1), default=default(8), help="requests in flight (default 8)"
    )
    group.add_argument(
        "--max-retries", type=count(0), default=default(2), help="retries per request (default 2)"
    )
    group.add_argument(
        "--timeout", type=seconds, default=default(60.0), help="seconds per attempt (default 60)"
    )
    group.add_argument(
        "-q", "--quiet", action="store_true", default=default(False), help="no progress bar"
    )
    group.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=default(False),
        help="log requests and retries; tracebacks on errors",
    )


FETCH_EXAMPLES = """\
examples:
  openai-usage fetch completions --start 2026-10-01 --end 2026-11-01 --group-by model
  openai-usage fetch costs --start 30d --group-by line_item --format csv -o costs.csv
  openai-usage fetch embeddings --start 24h --bucket-width 1m --format jsonl | head
  openai-usage fetch images --start 2026-11-01 --sizes 1024x1024 --format parquet -o images.parquet
"""

SUMMARY_EXAMPLES = """\
examples:
  openai-usage summary                      the last 30 days
  openai-usage summary --days 7 --by model
  openai-usage summary --start 2026-10-01 --end 2026-11-01 --by project
  openai-usage summary --store openai-usage.db   from a store kept by `sync`, offline
"""

SYNC_EXAMPLES = """\
examples:
  openai-usage sync --start 2026-01-01                  every endpoint, daily, into openai-usage.db
  openai-usage sync                                     later: resume, re-fetch the last 2 days
  openai-usage sync --store usage.duckdb --bucket-width 1h --endpoints completions,costs
  openai-usage summary --store openai-usage.db          the report, from the store, no request

  openai-usage sync --status                            what the store covers, per table

The store keeps one table per endpoint and width (costs_1d, completions_1h, ...). Safe to
kill and re-run; run it every few minutes from cron or a systemd timer. Two syncs of one
store take turns: the second waits for the first (--no-wait: exit 7 at once instead).
"""

BUDGET_EXAMPLES = """\
examples:
  openai-usage budget                                   live: costs, limits and alerts
  openai-usage budget --store openai-usage.db           from a store kept by `sync`
  openai-usage budget --budget 5000 --budget Checkout=800
  openai-usage budget --store usage.db --format json    for cron and CI (exit 0, 10, 11)
"""

MAIN_EXAMPLES = """\
examples:
  openai-usage demo                         the whole thing on the bundled emulator
  openai-usage summary --days 7             needs OPENAI_ADMIN_KEY (an Admin key)
  openai-usage fetch costs --start 30d --format csv -o costs.csv
  openai-usage sync --start 90d             backfill a local SQLite store, then keep it current
  openai-usage directory                    projects, users and API keys: names for the IDs
  openai-usage budget                       spend this month, forecast, limits: exit 0/10/11
  openai-usage serve                        keep a store current; Prometheus and a dashboard
  openai-usage emulator --port 8089         serve the emulator for your own code

Times are UTC; --end is exclusive. Exit codes: 0 ok, 1 unexpected error (a bug),
2 bad usage, 3 no API key, 4 key refused (401/403), 5 API error, 6 network or
timeout, 7 cannot write output (or the store is busy, or from a newer version),
8 optional dependency missing, 9 cannot listen (port taken), 10 and 11 budget:
an alert or a limit reached, 130 interrupted.
"""


def build_parser() -> _Parser:
    parser = _Parser(
        prog="openai-usage",
        description="Fetch and summarize OpenAI organization usage and costs.",
        epilog=MAIN_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    parser.add_argument("--version", action="version", version=f"%(prog)s {__version__}")
    _global_options(parser, suppress=False)
    commands = parser.add_subparsers(dest="command", metavar="COMMAND", required=True)

    fetch = commands.add_parser(
        "fetch",
        help="fetch one endpoint, all pages, concurrently",
        description="Fetch every bucket of one endpoint in a time range.",
        epilog=FETCH_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    fetch.add_argument(
        "endpoint", choices=list(ENDPOINTS), metavar="ENDPOINT", help=", ".join(ENDPOINTS)
    )
    fetch.add_argument(
        "--start", required=True, help=f"start (inclusive): {TIME_HELP}; {WHOLE_DAYS_HELP}"
    )
    fetch.add_argument("--end", help="end (exclusive), same forms; default: now")
    fetch.add_argument("--bucket-width", choices=BUCKET_WIDTHS, help="1m, 1h or 1d (default 1d)")
    fetch.add_argument("--group-by", type=_csv, help="comma-separated, e.g. model,project_id")
    fetch.add_argument("--limit", type=int, help="buckets per request (default: the maximum)")
    filters = fetch.add_argument_group("filters (each endpoint accepts its own)")
    seen: set[str] = set()
    for spec in ENDPOINTS.values():
        for name, fspec in spec.filters.items():
            if name in seen:
                continue
            seen.add(name)
            flag = "--" + name.replace("_", "-")
            if fspec.kind == "bool":
                filters.add_argument(flag, action=argparse.BooleanOptionalAction, help="true/false")
            else:
                choices = f" ({', '.join(fspec.choices)})" if fspec.choices else ""
                filters.add_argument(flag, type=_csv, help=f"comma-separated{choices}")
    fetch.add_argument(
        "--format",
        choices=("table", "csv", "jsonl", "json", "parquet"),
        default="table",
        help="table (default), csv and jsonl (one row per result), json (pages), parquet",
    )
    fetch.add_argument("-o", "--output", help="write to this file (atomically) instead of stdout")
    fetch.add_argument(
        "--names",
        action="store_true",
        help="add project_name, user_email and api_key_name after their IDs (reads the "
        "organization directory)",
    )
    _global_options(fetch, suppress=True)

    summary = commands.add_parser(
        "summary",
        help="a cost and usage report",
        description="Fetch costs and usage concurrently and print a report.",
        epilog=SUMMARY_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _summary_options(summary)
    summary.add_argument(
        "--store",
        metavar="PATH",
        help="make the report from this store (see `sync`): no request, no key needed",
    )
    _global_options(summary, suppress=True)

    sync = commands.add_parser(
        "sync",
        help="backfill a local store (SQLite or DuckDB) and keep it current",
        description="Fetch every endpoint into a local database, resuming where it stopped "
        "and re-fetching the recent buckets the service may have revised.",
        epilog=SYNC_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _store_option(sync)
    sync.add_argument(
        "--endpoints",
        default="all",
        help="all (default: every endpoint with the bucket width) or a comma-separated list",
    )
    sync.add_argument("--start", help=f"needed the first time: {TIME_HELP}")
    sync.add_argument("--end", help="end (exclusive), same forms; default: now")
    sync.add_argument(
        "--bucket-width", choices=BUCKET_WIDTHS, default="1d", help="1m, 1h or 1d (default 1d)"
    )
    sync.add_argument(
        "--group-by",
        default="auto",
        help="auto (default: every group_by value; costs: all but user_id), none, or a "
        "comma-separated list",
    )
    sync.add_argument(
        "--overlap",
        default="2d",
        help="how far back each sync re-fetches, as revised buckets settle (default 2d; "
        "also 36h, 90m, or seconds)",
    )
    sync.add_argument(
        "--no-wait",
        action="store_true",
        help="when another sync holds the store, exit 7 at once (default: wait for it)",
    )
    sync.add_argument(
        "--status",
        action="store_true",
        help="print what the store covers, per table, and exit: no request, no key",
    )
    sync.add_argument(
        "--format",
        choices=("table", "json"),
        default="table",
        help="with --status: table (default) or json",
    )
    _global_options(sync, suppress=True)

    emulator = commands.add_parser(
        "emulator",
        help="run the bundled emulator in the foreground",
        description="Serve the Usage API emulator on this machine (no network); Ctrl-C stops "
        "it. Exit code 9 when it cannot listen (the port is taken).",
    )
    from ..emulator.__main__ import add_arguments

    add_arguments(emulator)
    for action in emulator._actions:
        if action.dest == "api_key":  # given before the command too: see _commands.emulator
            action.default = argparse.SUPPRESS
            action.help = (
                "accept only this Bearer key (default: $OPENAI_ADMIN_KEY if set, else any "
                "admin-looking key)"
            )
    emulator.add_argument(
        "--latency", dest="latency_ms", type=float, default=argparse.SUPPRESS, help="--latency-ms"
    )
    emulator.add_argument(
        "-q",
        "--quiet",
        action="store_true",
        default=argparse.SUPPRESS,
        help="print the base URL only (no line on stderr)",
    )
    emulator.add_argument(
        "-v",
        "--verbose",
        action="store_true",
        default=argparse.SUPPRESS,
        help="log each request on stderr (method, path, status)",
    )

    directory = commands.add_parser(
        "directory",
        help="the organization's projects, users and API keys: names for the IDs",
        description="List the organization's projects (archived ones too), users and API keys.",
    )
    directory.add_argument(
        "--format", choices=("table", "csv", "jsonl"), default="table", help="default table"
    )
    directory.add_argument("-o", "--output", help="write to this file (atomically)")
    _global_options(directory, suppress=True)

    demo = commands.add_parser(
        "demo",
        help="the summary, on the bundled emulator: no key, no network",
        description="Start the emulator on a free loopback port and run `summary` against it.",
    )
    _summary_options(demo)
    demo.add_argument(
        "--latency-ms", type=float, default=20.0, help="emulator latency (default 20)"
    )
    _global_options(demo, suppress=True)

    budget = commands.add_parser(
        "budget",
        help="this month's spend and forecast against the hard limits, alerts and budgets",
        description="Month-to-date spend, the daily rate and the month-end forecast, for the\n"
        "organization and each project, against its hard spend limits, email alerts and\n"
        "your own budgets: when each is reached (UTC months).\n\n"
        "Exit code: 0 nothing reached this month; 10 an alert crossed or reached by the\n"
        "forecast, or a budget reached by the forecast; 11 a hard limit crossed or\n"
        "reached by the forecast (whatever its state), or a budget crossed.",
        epilog=BUDGET_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    budget.add_argument(
        "--store",
        metavar="PATH",
        help="read costs, limits and alerts from this store (see `sync`): no request, no key; "
        "without it, fetch them live",
    )
    budget.add_argument(
        "--budget",
        action="append",
        metavar="[PROJECT=]USD",
        help="a budget of your own: USD for the organization, PROJECT=USD for a project (its "
        "ID or name); repeat for several",
    )
    budget.add_argument(
        "--now", metavar="TIME", help=f"pin the clock (default the machine's): {TIME_HELP}"
    )
    budget.add_argument(
        "--lookback-days",
        type=int,
        default=7,
        metavar="N",
        help="days before today the daily rate averages (default 7)",
    )
    budget.add_argument(
        "--format", choices=("table", "json"), default="table", help="table (default) or json"
    )
    _global_options(budget, suppress=True)

    from . import _serve

    serve = commands.add_parser(
        "serve",
        help="keep a store current and serve it: Prometheus metrics, a dashboard, JSON",
        description=_serve.SERVE_DESCRIPTION,
        epilog=_serve.SERVE_EXAMPLES,
        formatter_class=argparse.RawDescriptionHelpFormatter,
    )
    _serve.add_arguments(serve)
    _global_options(serve, suppress=True)
    parser.commands = dict(commands.choices)
    return parser


def _store_option(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--store",
        metavar="PATH",
        help="the store: a path ending in .duckdb is DuckDB, any other SQLite "
        "(default: $OPENAI_USAGE_STORE, else openai-usage.db)",
    )


def parse_duration(text: str) -> int:
    """Seconds from ``2d``, ``36h``, ``90m``, ``45s``, ``1w`` or plain seconds."""
    value = text.strip()
    if value.isdigit():
        return int(value)
    relative = _RELATIVE.match(value)
    if relative is None:
        raise ValueError(f"{text!r} is not a duration; use 2d, 36h, 90m or seconds")
    return int(relative.group(1)) * _UNITS[relative.group(2)]


def _summary_options(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--no-names",
        action="store_true",
        help="show IDs only: do not read the organization directory",
    )
    span = parser.add_mutually_exclusive_group()
    span.add_argument("--days", type=int, help="the last N whole days (default 30)")
    span.add_argument(
        "--start", help=f"start (inclusive): {TIME_HELP}; 7d is 00:00 UTC 7 days before today"
    )
    parser.add_argument("--end", help="end (exclusive) with --start; default: today 00:00 UTC")
    parser.add_argument(
        "--by",
        choices=("line_item", "project", "model"),
        default="line_item",
        help="what the top movers are ranked by (default line_item)",
    )
