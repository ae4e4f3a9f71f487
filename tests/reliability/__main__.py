"""``python -m tests.reliability --write``: regenerate docs/reliability.md.

The fault table comes from ``matrix.CASES`` (the parameters of ``test_fault_matrix.py``);
the soak figures from a soak run here, longer than the one in CI.
"""

from __future__ import annotations

import argparse
import asyncio
import os
import pathlib
import platform
import sys

from openai_usage_async.emulator import Emulator
from tests.helpers import NOW
from tests.reliability.matrix import render_table
from tests.reliability.soak import BOUND, SoakReport, soak

DOC = pathlib.Path(__file__).resolve().parent.parent.parent / "docs" / "reliability.md"

INTRO = """\
# Reliability

The client runs unattended in backfill jobs and inside web apps under load. This page
says what it does under each fault, and what a soak against a faulty emulator measured.
Every figure comes from the test suite's own parameters and runs, over loopback against
the bundled emulator; `python -m tests.reliability --write` regenerates this page, and
a test fails if the table below no longer matches the tests.

## What is retried

Requests are `GET`s, so retrying is safe. Retried: 408, 409, 429, 5xx, connections
refused, reset or dropped (before the headers or in the middle of the body), timeouts,
and 2xx bodies that are not JSON (truncated, garbled); `x-should-retry` overrides either
way. Not retried: the other 4xx and well-formed bodies of the wrong shape. At most
`1 + max_retries` attempts per page; the wait honours `retry-after-ms` and `retry-after`,
otherwise exponential backoff with jitter. An iterator keeps each bucket once, by its
start time, whatever the retries; a window stops as soon as its last bucket arrives.

## The fault matrix

Each fault hits the one request of a 20-day costs window, with `max_retries=2`.

"""

SOAK = """\
## Soak

{iterators:,} iterators ({rounds:,} rounds of {per_round} concurrent iterators: every
endpoint, daily over 200 days in pages of 7 and hourly grouped over 5 days, half ordered
and half as-ready) against an emulator failing about 5% of requests in every way it knows
(500, 503, 429 with `retry-after-ms`, drops before headers and mid-body, truncated and
malformed bodies) and answering after 2 to 5 ms, one client with `max_concurrency={bound}`:

| measure | value |
| --- | --- |
| duration | {seconds:.0f} s |
| requests the emulator answered | {requests:,} |
| faults injected | {faults_fired:,} |
| retries by the client | {retries:,} |
| buckets delivered | {buckets:,} |
| buckets lost | {lost} |
| buckets duplicated | {duplicated} |
| peak requests in flight at the emulator | {peak_in_flight} (bound {bound}) |
| client tasks left after the run | {tasks_left} |
| open connections after the client closed | {open_connections_after_close} |

Every iterator's buckets were compared with a fault-free run of the same query: equal,
bucket for bucket. Measured on {cores} cores, Python {python}, by
`python -m tests.reliability --write`; CI runs a shorter soak (`tests/reliability/test_soak.py`).

## Rate limits

With the emulator answering 429 beyond K concurrent requests, the client halves its
shared bound on each 429 from a request admitted under the current bound (so a burst of
429s from requests already in flight counts once) and grows it back by one after each
run of successes: it settles near K and finishes, and recovers its full concurrency when
the limit lifts (`tests/reliability/test_rate_limit.py`). Before this rule the bound
halved at most once a second, and in that second every waiting retry hit the service
again: 300 429s for 60 pages against K=3, now about 20. A 429 to a request admitted while
others of the client's were in flight is the client's own doing and does not spend
`max_retries`, so at the default settings a storm against a service that allows 1, 2 or
3 requests in flight ends with every bucket (the rows above), where counting those 429s
gave up with `RateLimitError` while the bound was still coming down.

## Cancellation, bad input, secrets, resources

- Cancelling a consumer, a timeout around `iter()`, `break`, an anyio task group being
  cancelled, and `aclose()` while iterators run: no task left, no request after, no
  unclosed-session warning (tests run with warnings as errors), and errors the caller
  should see are raised, not swallowed (`tests/e2e/test_lifecycle.py`).
- The decoder is fuzzed with random bytes and with valid pages mutated by hypothesis
  (wrong types, missing fields, huge numbers, deep nesting, invalid UTF-8): a typed page
  or `APIResponseValidationError`, nothing else. Argument validation is fuzzed the same
  way: `ValueError` naming the argument, or a valid query.
- The key never appears in a repr, a log line at any level, an exception, a traceback
  the CLI prints, or an exported file; a test greps for it. Redirects are not followed,
  so the `Authorization` header never goes to another host. TLS certificates are
  verified unless the caller passes a session that says otherwise.
- One connection pool, bounded by `max_concurrency`; every queue is a bounded memory
  stream; peak memory stays flat as an iteration grows (`tests/reliability/test_resources.py`).
"""


def render(report: SoakReport) -> str:
    table = "\n".join(render_table())
    return (
        INTRO
        + table
        + "\n\n"
        + SOAK.format(
            **vars(report),
            per_round=report.iterators // max(report.rounds, 1),
            bound=BOUND,
            cores=os.cpu_count(),
            python=platform.python_version(),
        )
    )


async def run(seconds: float) -> SoakReport:
    async with Emulator(now=NOW) as emulator:
        return await soak(emulator, seconds=seconds, max_rounds=10_000)


def main() -> int:
    parser = argparse.ArgumentParser(prog="python -m tests.reliability")
    parser.add_argument("--seconds", type=float, default=90.0, help="soak length (default 90)")
    parser.add_argument("--write", action="store_true", help="write docs/reliability.md")
    args = parser.parse_args()
    text = render(asyncio.run(run(args.seconds)))
    sys.stdout.write(text)
    if args.write:
        DOC.write_text(text)
    return 0


if __name__ == "__main__":
    sys.exit(main())
