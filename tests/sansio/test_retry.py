"""The retry policy: which outcomes are retried, and exactly how long it waits."""

from __future__ import annotations

import email.utils

import pytest

from openai_usage_async._sansio.retry import RetryPolicy
from openai_usage_async.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
)

POLICY = RetryPolicy(max_retries=5)


def no_jitter() -> float:
    return 0.0


@pytest.mark.parametrize(
    ("status", "retried"),
    [
        (400, False),
        (401, False),
        (403, False),
        (404, False),
        (422, False),
        (408, True),
        (409, True),
        (429, True),
        (500, True),
        (502, True),
        (503, True),
        (504, True),
        (599, True),
    ],
)
def test_statuses(status: int, retried: bool) -> None:
    delay = POLICY.decide(0, status, {}, None, random=no_jitter)
    assert (delay is not None) is retried


def test_errors_without_a_status() -> None:
    assert POLICY.decide(0, None, {}, APIConnectionError(), random=no_jitter) == 0.5
    assert POLICY.decide(0, None, {}, APITimeoutError(), random=no_jitter) == 0.5
    garbled = APIResponseValidationError("x", invalid_json=True)
    assert POLICY.decide(0, 200, {}, garbled, random=no_jitter) == 0.5
    wrong_shape = APIResponseValidationError("x", invalid_json=False)
    assert POLICY.decide(0, 200, {}, wrong_shape, random=no_jitter) is None


def test_exponential_backoff_capped_with_jitter() -> None:
    delays = [POLICY.decide(n, 500, {}, None, random=no_jitter) for n in range(5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert RetryPolicy(max_retries=9).decide(7, 500, {}, None, random=no_jitter) == 8.0
    assert POLICY.decide(1, 500, {}, None, random=lambda: 0.999) == pytest.approx(
        1.0 * (1 - 0.24975)
    )


def test_the_budget() -> None:
    policy = RetryPolicy(max_retries=2)
    assert policy.decide(1, 500, {}, None, random=no_jitter) is not None
    assert policy.decide(2, 500, {}, None, random=no_jitter) is None
    assert RetryPolicy(max_retries=0).decide(0, 429, {}, None, random=no_jitter) is None


def test_server_hints() -> None:
    assert POLICY.decide(0, 429, {"retry-after-ms": "150"}, None, random=no_jitter) == 0.15
    assert POLICY.decide(0, 429, {"retry-after": "3"}, None, random=no_jitter) == 3.0
    both = {"retry-after-ms": "20", "retry-after": "3"}
    assert POLICY.decide(0, 429, both, None, random=no_jitter) == 0.02
    # Unreasonable hints fall back to backoff.
    assert POLICY.decide(0, 429, {"retry-after": "3600"}, None, random=no_jitter) == 0.5
    assert POLICY.decide(0, 429, {"retry-after-ms": "soon"}, None, random=no_jitter) == 0.5
    assert POLICY.decide(0, 429, {"retry-after": "-1"}, None, random=no_jitter) == 0.5


def test_http_date_retry_after() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert POLICY.decide(0, 503, {"retry-after": date}, None, random=no_jitter, now_s=now) == 7.0
    assert (
        POLICY.decide(0, 503, {"retry-after": "garbage"}, None, random=no_jitter, now_s=now) == 0.5
    )


def test_x_should_retry_overrides() -> None:
    assert POLICY.decide(0, 503, {"x-should-retry": "false"}, None, random=no_jitter) is None
    assert POLICY.decide(0, 400, {"x-should-retry": "true"}, None, random=no_jitter) == 0.5
    assert POLICY.decide(5, 400, {"x-should-retry": "true"}, None, random=no_jitter) is None
