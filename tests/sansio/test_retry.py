"""The retry policy: which outcomes are retried, and exactly how long it waits."""

from __future__ import annotations

import email.utils
from typing import Any

import msgspec
import pytest

from openai_usage_async._sansio.responses import NOT_RATE_LIMIT_CODES, status_error
from openai_usage_async._sansio.retry import RetryPolicy
from openai_usage_async.errors import (
    APIConnectionError,
    APIResponseValidationError,
    APITimeoutError,
    RateLimitError,
)

POLICY = RetryPolicy(max_retries=5)


def no_jitter() -> float:
    return 0.0


def delay(policy: RetryPolicy, *args: Any, **kwargs: Any) -> float | None:
    """The delay of the policy's decision, None when it gives up."""
    decision = policy.decide(*args, **kwargs)
    return None if decision is None else decision.delay_s


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
    wait = delay(POLICY, 0, status, {}, None, random=no_jitter)
    assert (wait is not None) is retried


def test_errors_without_a_status() -> None:
    assert delay(POLICY, 0, None, {}, APIConnectionError(), random=no_jitter) == 0.5
    assert delay(POLICY, 0, None, {}, APITimeoutError(), random=no_jitter) == 0.5
    garbled = APIResponseValidationError("x", invalid_json=True)
    assert delay(POLICY, 0, 200, {}, garbled, random=no_jitter) == 0.5
    wrong_shape = APIResponseValidationError("x", invalid_json=False)
    assert delay(POLICY, 0, 200, {}, wrong_shape, random=no_jitter) is None


def test_exponential_backoff_capped_with_jitter() -> None:
    delays = [delay(POLICY, n, 500, {}, None, random=no_jitter) for n in range(5)]
    assert delays == [0.5, 1.0, 2.0, 4.0, 8.0]
    assert delay(RetryPolicy(max_retries=9), 7, 500, {}, None, random=no_jitter) == 8.0
    assert delay(POLICY, 1, 500, {}, None, random=lambda: 0.999) == pytest.approx(
        1.0 * (1 - 0.24975)
    )


def test_the_budget() -> None:
    policy = RetryPolicy(max_retries=2)
    assert delay(policy, 1, 500, {}, None, random=no_jitter) is not None
    assert delay(policy, 2, 500, {}, None, random=no_jitter) is None
    assert delay(RetryPolicy(max_retries=0), 0, 429, {}, None, random=no_jitter) is None


def test_server_hints() -> None:
    assert delay(POLICY, 0, 429, {"retry-after-ms": "150"}, None, random=no_jitter) == 0.15
    assert delay(POLICY, 0, 429, {"retry-after": "3"}, None, random=no_jitter) == 3.0
    both = {"retry-after-ms": "20", "retry-after": "3"}
    assert delay(POLICY, 0, 429, both, None, random=no_jitter) == 0.02
    # Unreasonable hints fall back to backoff.
    assert delay(POLICY, 0, 429, {"retry-after": "3600"}, None, random=no_jitter) == 0.5
    assert delay(POLICY, 0, 429, {"retry-after-ms": "soon"}, None, random=no_jitter) == 0.5
    assert delay(POLICY, 0, 429, {"retry-after": "-1"}, None, random=no_jitter) == 0.5


def test_http_date_retry_after() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True)
    assert delay(POLICY, 0, 503, {"retry-after": date}, None, random=no_jitter, now_s=now) == 7.0
    assert (
        delay(POLICY, 0, 503, {"retry-after": "garbage"}, None, random=no_jitter, now_s=now) == 0.5
    )


def test_x_should_retry_overrides() -> None:
    assert delay(POLICY, 0, 503, {"x-should-retry": "false"}, None, random=no_jitter) is None
    assert delay(POLICY, 0, 400, {"x-should-retry": "true"}, None, random=no_jitter) == 0.5
    assert delay(POLICY, 5, 400, {"x-should-retry": "true"}, None, random=no_jitter) is None


# -- regressions (issue 9, item 11): hints read as the official SDK reads them, or better --


def test_an_http_date_without_a_zone_is_utc() -> None:
    now = 1_700_000_000.0
    date = email.utils.formatdate(now + 7, usegmt=True).replace("GMT", "-0000")
    assert POLICY.retry_after_s({"retry-after": date}, now) == 7.0


def test_retry_after_zero_uses_the_normal_backoff() -> None:
    assert POLICY.retry_after_s({"retry-after": "0"}, None) is None
    assert POLICY.retry_after_s({"retry-after-ms": "0"}, None) is None
    assert delay(POLICY, 1, 503, {"retry-after": "0"}, None, random=no_jitter) == 1.0


@pytest.mark.parametrize("bad_ms", ["NaN", "nan", "-5", "inf", "99999999", "soon"])
def test_an_unreasonable_retry_after_ms_does_not_hide_a_valid_retry_after(bad_ms: str) -> None:
    headers = {"retry-after-ms": bad_ms, "retry-after": "2"}
    assert POLICY.retry_after_s(headers, None) == 2.0


@pytest.mark.parametrize(
    ("no", "yes"), [("False", "True"), ("FALSE", "TRUE"), (" false ", " true ")]
)
def test_x_should_retry_is_compared_case_insensitively(no: str, yes: str) -> None:
    assert POLICY.should_retry(503, {"x-should-retry": no}, None) is False
    assert POLICY.should_retry(400, {"x-should-retry": yes}, None) is True


# -- regressions (issue 9, item 7): 429s the client's own concurrency caused --


def test_a_429_under_our_own_load_does_not_spend_the_budget() -> None:
    policy = RetryPolicy(max_retries=2)
    decision = policy.decide(2, 429, {"retry-after-ms": "50"}, None, random=no_jitter, in_flight=4)
    assert decision is not None and decision.counted is False and decision.delay_s == 0.05


def test_a_429_to_a_lone_request_counts_and_the_budget_ends_it() -> None:
    policy = RetryPolicy(max_retries=2)
    first = policy.decide(0, 429, {}, None, random=no_jitter, in_flight=1)
    assert first is not None and first.counted is True
    assert policy.decide(2, 429, {}, None, random=no_jitter, in_flight=1) is None


def test_uncounted_429_retries_are_themselves_bounded() -> None:
    policy = RetryPolicy(max_retries=2, max_throttle_retries=3)
    kwargs: dict[str, Any] = {"random": no_jitter, "in_flight": 8}
    assert policy.decide(2, 429, {}, None, throttle_retries_done=2, **kwargs) is not None
    assert policy.decide(2, 429, {}, None, throttle_retries_done=3, **kwargs) is None
    # Other statuses never get the exemption.
    assert policy.decide(2, 503, {}, None, **kwargs) is None
    # x-should-retry: false still wins.
    assert policy.decide(0, 429, {"x-should-retry": "false"}, None, **kwargs) is None


# -- 429s that are not rate limits (issue 19) ---------------------------------------------

NO_RETRY_CODES = sorted(NOT_RATE_LIMIT_CODES)


def quota_error(code: str | None) -> RateLimitError:
    body = msgspec.json.encode({"error": {"message": "m", "type": "t", "code": code}})
    error = status_error(429, None, body)
    assert isinstance(error, RateLimitError)
    return error


@pytest.mark.parametrize("code", NO_RETRY_CODES)
def test_a_429_that_is_not_a_rate_limit_is_never_retried(code: str) -> None:
    error = quota_error(code)
    policy = RetryPolicy(max_retries=5)
    assert policy.should_retry(429, {}, error) is False
    # Not with budget left, not under our own load, not even when the server says so.
    for headers in ({}, {"retry-after-ms": "10"}, {"x-should-retry": "true"}):
        for in_flight in (1, 8):
            assert (
                policy.decide(0, 429, headers, error, random=no_jitter, in_flight=in_flight) is None
            )


def test_the_no_retry_codes_are_the_ones_api_md_lists() -> None:
    assert set(NO_RETRY_CODES) == {
        "organization_spend_limit_exceeded",
        "project_spend_limit_exceeded",
        "insufficient_quota",
        "billing_not_active",
        "credit_balance_exhausted",
        "usage_limit_exceeded",
        "organization_usage_limit_exceeded",
    }


@pytest.mark.parametrize("code", ["rate_limit_exceeded", None])
def test_a_rate_limit_429_is_still_retried(code: str | None) -> None:
    error = quota_error(code)
    decision = POLICY.decide(0, 429, {"retry-after-ms": "40"}, error, random=no_jitter)
    assert decision is not None and decision.delay_s == 0.04 and decision.counted
    under_load = POLICY.decide(5, 429, {}, error, random=no_jitter, in_flight=3)
    assert under_load is not None and not under_load.counted
