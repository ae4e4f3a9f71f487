"""The fault matrix: one row per fault the emulator can inject, and what the client does.

These rows are the parameters of ``test_fault_matrix.py`` and the source of the table in
docs/reliability.md (``python -m tests.reliability --write`` regenerates it; a test
checks it is current). Each fault hits one window of costs (one page) with a client of
``max_retries=2``: "once" makes only the first attempt fail, "always" every attempt.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from openai_usage_async import errors


@dataclass(frozen=True)
class Case:
    fault: str  # what the table calls it
    kwargs: dict[str, Any]  # the emulator's Fault(...)
    persistent: bool  # every attempt, or only the first
    outcome: type[errors.APIError] | None  # None: retried, every bucket delivered once
    requests: int  # attempts the client makes for the page (client.statistics().requests_sent)
    timeout_s: float | None = None
    note: str = field(default="")


_STATUS = [
    ("429 with `retry-after: 0.01`", {"status": 429, "retry_after_s": 0.01}, errors.RateLimitError),
    ("429 with `retry-after-ms: 10`", {"status": 429, "retry_after_ms": 10}, errors.RateLimitError),
    ("500", {"status": 500}, errors.InternalServerError),
    ("502", {"status": 502}, errors.InternalServerError),
    ("503", {"status": 503}, errors.InternalServerError),
    ("504", {"status": 504}, errors.InternalServerError),
]
_BODIES = [
    ("truncated JSON (200)", {"kind": "truncate"}, errors.APIResponseValidationError),
    ("malformed JSON (200)", {"kind": "malformed"}, errors.APIResponseValidationError),
    ("dropped mid-body", {"kind": "drop_mid_body"}, errors.APIConnectionError),
]

CASES: list[Case] = []
for name, kwargs, error in _STATUS + _BODIES:
    CASES.append(Case(name, kwargs, False, None, 2))
    CASES.append(Case(name, kwargs, True, error, 3))
CASES += [
    Case(
        "dropped before headers",
        {"kind": "drop"},
        False,
        None,
        1,
        note="aiohttp itself re-sends an idempotent request once when the connection closes "
        "before any byte of the response: the client's one attempt succeeds, and the emulator "
        "counts two requests (six when every attempt is dropped)",
    ),
    Case("dropped before headers", {"kind": "drop"}, True, errors.APIConnectionError, 3),
    Case("slow past the timeout", {"kind": "slow", "delay_ms": 400}, False, None, 2, timeout_s=0.1),
    Case(
        "slow past the timeout",
        {"kind": "slow", "delay_ms": 400},
        True,
        errors.APITimeoutError,
        3,
        timeout_s=0.1,
    ),
    Case(
        "503 with `x-should-retry: false`",
        {"status": 503, "should_retry": False},
        True,
        errors.InternalServerError,
        1,
    ),
    Case(
        "400 with `x-should-retry: true`",
        {"status": 400, "should_retry": True},
        False,
        None,
        2,
    ),
    Case("400", {"status": 400}, True, errors.BadRequestError, 1),
    Case("401", {"status": 401}, True, errors.AuthenticationError, 1),
    Case(
        "chain ended early: `has_more: false`, no buckets",
        {"kind": "early_end", "keep": 0},
        False,
        None,
        2,
        note="the client re-asks with a fresh query from the first missing bucket",
    ),
    Case(
        "chain ended early: `has_more: false`, no buckets",
        {"kind": "early_end", "keep": 0},
        True,
        errors.APIResponseValidationError,
        2,
    ),
    Case(
        "chain ended early: `has_more: false` after 2 buckets",
        {"kind": "early_end", "keep": 2},
        True,
        None,
        10,
        note="each re-ask brings 2 more of the 20 buckets: progress, so it goes on to the end",
    ),
]


@dataclass(frozen=True)
class Scenario:
    """A row beyond one fault on one page, and the test that checks it."""

    fault: str
    hits: str
    outcome: str
    attempts: str
    buckets: str
    test: str


SCENARIOS: list[Scenario] = [
    Scenario(
        f"429 storm: the service allows {n} in flight (100 ms latency, `retry-after-ms: 50`),"
        " 4 windows at once, default settings",
        "every request past the limit",
        "429s under the client's own load do not spend `max_retries`; the bound halves and"
        " the run finishes",
        "one answered page per window; the 429s on top",
        "every bucket, exactly once",
        f"tests/reliability/test_rate_limit.py::test_a_429_storm_at_default_settings_finishes[{n}]",
    )
    for n in (1, 2, 3)
] + [
    Scenario(
        "429 to everything",
        "every attempt",
        "raises `RateLimitError` once the bound is 1 and `max_retries` is spent",
        "at most 16 uncounted + 3 per page",
        "none (the error is raised)",
        "tests/reliability/test_rate_limit.py::"
        "test_a_service_that_refuses_everything_still_ends_in_rate_limit_error",
    ),
    Scenario(
        "whole buckets at the range's unaligned edges (not clipped)",
        "every attempt",
        "the edge buckets are delivered whole, never dropped",
        "1 per window",
        "every bucket, exactly once",
        "tests/e2e/test_exactly_once.py",
    ),
    Scenario(
        "a caller's session with `raise_for_status=True`, `auto_decompress=False` or its"
        " own `Authorization` default",
        "every attempt",
        "behaves as with the client's own session: a 401 is not retried, a 503 is, and no"
        " exception (cause, context) carries the key",
        "as without them",
        "as without them",
        "tests/transport/test_transport.py::test_a_callers_session_defaults_change_nothing",
    ),
    Scenario(
        "`HTTP_PROXY` / `HTTPS_PROXY` set (and `NO_PROXY`)",
        "every attempt",
        "requests go through the proxy (CONNECT for https), or straight to hosts in"
        " `NO_PROXY`; `.netrc` never replaces the key",
        "as without a proxy",
        "every bucket, exactly once",
        "tests/transport/test_transport.py::test_http_proxy_is_honoured",
    ),
]


def case_id(case: Case) -> str:
    return f"{case.fault} ({'always' if case.persistent else 'once'})"


def render_table() -> list[str]:
    """The markdown table of docs/reliability.md, from ``CASES``."""
    lines = [
        "| fault | hits | outcome | attempts for the page | buckets |",
        "| --- | --- | --- | --- | --- |",
    ]
    notes = []
    for case in CASES:
        hits = "every attempt" if case.persistent else "the first attempt"
        if case.outcome is None:
            outcome, buckets = "retried, then succeeds", "every bucket, exactly once"
        else:
            outcome, buckets = f"raises `{case.outcome.__name__}`", "none (the error is raised)"
        mark = ""
        if case.note:
            notes.append(case.note)
            mark = f" [{len(notes)}]"
        lines.append(f"| {case.fault}{mark} | {hits} | {outcome} | {case.requests} | {buckets} |")
    for row in SCENARIOS:
        notes.append(f"checked by `{row.test}`")
        cells = [f"{row.fault} [{len(notes)}]", row.hits, row.outcome, row.attempts, row.buckets]
        lines.append("| " + " | ".join(cells) + " |")
    lines.append("")
    lines += [f"[{i}] {note}" for i, note in enumerate(notes, 1)]
    return lines
