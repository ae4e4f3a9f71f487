"""Spend limits and alerts, pure: decoding, the 404-means-none rule, the argument guards,
and the 429s that are not rate limits (their error class and message)."""

from __future__ import annotations

from typing import Any

import msgspec
import pytest

from openai_usage_async import SpendAlert, SpendLimit, errors
from openai_usage_async._sansio.decode import DECODERS
from openai_usage_async._sansio.responses import (
    NOT_RATE_LIMIT_CODES,
    SPEND_LIMIT_CODES,
    decipher,
    is_rate_limit,
    status_error,
)
from openai_usage_async._sansio.spend import (
    SPEND_ALERTS_DECODER,
    check_alert_limit,
    check_order,
    decipher_limit,
    decode_limit,
    is_no_limit,
)
from openai_usage_async.models import SpendLimitEnforcement, SpendNotificationChannel

LIMIT: dict[str, Any] = {
    "object": "project.spend_limit",
    "threshold_amount": 123_456,
    "currency": "USD",
    "interval": "month",
    "enforcement": {"status": "enforcing"},
    "notification_channel": {
        "type": "email",
        "recipients": ["a@example.com", "b@example.com"],
        "subject_prefix": "[Spend]",
    },
}
ALERT: dict[str, Any] = {
    "id": "spend_alert_1",
    "object": "organization.spend_alert",
    "threshold_amount": 250_001,
    "currency": "USD",
    "interval": "month",
    "notification_channel": {"type": "email", "recipients": ["c@example.com"]},
}


def encode(value: object) -> bytes:
    return msgspec.json.encode(value)


def error(message: str, code: str | None = None) -> bytes:
    return encode({"error": {"message": message, "type": "x", "param": None, "code": code}})


# -- the models ----------------------------------------------------------------------------


def test_a_limit_decodes_every_field_and_converts_cents() -> None:
    limit = decode_limit(encode(LIMIT))
    assert limit == SpendLimit(
        object="project.spend_limit",
        threshold_amount=123_456,
        enforcement=SpendLimitEnforcement(status="enforcing"),
        notification_channel=SpendNotificationChannel(
            recipients=["a@example.com", "b@example.com"], subject_prefix="[Spend]"
        ),
    )
    assert limit.threshold_usd == 1234.56  # cents, not dollars
    assert (limit.enforcing, limit.scope, limit.project_id) == (True, "project", None)
    assert limit.to_dict() == {**LIMIT, "project_id": None}


def test_a_minimal_limit_and_an_unknown_status() -> None:
    bare = decode_limit(b'{"object": "organization.spend_limit", "threshold_amount": 5}')
    assert (bare.currency, bare.interval, bare.enforcement, bare.notification_channel) == (
        "USD",
        "month",
        None,
        None,
    )
    assert (bare.threshold_usd, bare.enforcing, bare.scope) == (0.05, False, "organization")
    # A state added upstream still decodes (the SDK types it as a plain string too).
    odd = decode_limit(encode({**LIMIT, "enforcement": {"status": "grace_period"}, "new": 1}))
    assert odd.enforcement == SpendLimitEnforcement(status="grace_period")
    assert not odd.enforcing


def test_a_body_that_is_not_a_limit() -> None:
    with pytest.raises(errors.APIResponseValidationError, match="not a spend limit") as info:
        decode_limit(b'{"object": "organization.spend_limit", "threshold_amount": "5"}')
    assert info.value.invalid_json is False  # well-formed: not retried
    with pytest.raises(errors.APIResponseValidationError, match="not valid JSON") as info:
        decode_limit(b'{"object": "organization.spend_lim')
    assert info.value.invalid_json is True  # truncated: retried like a dropped connection


def test_a_page_of_alerts() -> None:
    page = SPEND_ALERTS_DECODER.decode(
        encode(
            {
                "object": "list",
                "data": [ALERT, {**ALERT, "id": "spend_alert_2", "object": "project.spend_alert"}],
                "first_id": "spend_alert_1",
                "last_id": "spend_alert_2",
                "has_more": True,
            }
        )
    )
    first, second = page.data
    assert isinstance(first, SpendAlert)
    assert (first.id, first.threshold_usd, first.scope) == (
        "spend_alert_1",
        2500.01,
        "organization",
    )
    assert first.notification_channel == SpendNotificationChannel(recipients=["c@example.com"])
    assert (second.scope, page.last_id, page.has_more) == ("project", "spend_alert_2", True)
    with pytest.raises(errors.APIResponseValidationError, match="not a list of spend alerts"):
        SPEND_ALERTS_DECODER.decode(b'{"data": [{"id": "x"}]}')  # no object, no amount


# -- a 404 is "no limit", but not every 404 -----------------------------------------------------


def test_the_404_of_a_missing_limit_is_none() -> None:
    assert is_no_limit(404, error("No hard spend limit is set for this organization."))
    assert decipher_limit(404, {}, error("not found")) is None
    assert decipher_limit(200, {}, encode(LIMIT)) == decode_limit(encode(LIMIT))


@pytest.mark.parametrize(
    "body",
    [
        error("Invalid URL (GET /organization/spend_limit)"),  # a base URL without /v1
        b"<html><body>404 Not Found</body></html>",  # a proxy's page
        b'{"detail": "not found"}',  # JSON, but no OpenAI error object
        b"",
    ],
)
def test_a_404_that_is_not_the_services_no_limit_raises(body: bytes) -> None:
    assert not is_no_limit(404, body)
    with pytest.raises(errors.NotFoundError):
        decipher_limit(404, {"x-request-id": "req_9"}, body)


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (403, errors.PermissionDeniedError),
        (401, errors.AuthenticationError),
        (500, errors.InternalServerError),
    ],
)
def test_other_statuses_raise_their_class(status: int, cls: type[errors.APIStatusError]) -> None:
    assert not is_no_limit(status, error("nope"))
    with pytest.raises(cls) as info:
        decipher_limit(status, {}, error("nope"))
    assert type(info.value) is cls and info.value.status_code == status


# -- the argument guards -------------------------------------------------------------------------


def test_check_alert_limit() -> None:
    assert [check_alert_limit(v) for v in (None, 1, 20, 100)] == [None, 1, 20, 100]
    with pytest.raises(ValueError, match=r"^limit: 0 gives pages without alerts"):
        check_alert_limit(0)
    for bad in (101, -1):
        with pytest.raises(ValueError, match=rf"^limit: {bad} is outside 1\.\.100$"):
            check_alert_limit(bad)
    for bad_type in (True, "5", 2.0):
        with pytest.raises(ValueError, match=r"^limit: expected an int"):
            check_alert_limit(bad_type)


def test_check_order() -> None:
    assert [check_order(v) for v in (None, "asc", "desc")] == [None, "asc", "desc"]
    for bad in ("ASC", "ascending", "", 1):
        with pytest.raises(ValueError, match=r"^order: expected one of 'asc', 'desc', got "):
            check_order(bad)


# -- 429s that are not rate limits ------------------------------------------------------------


@pytest.mark.parametrize(
    ("code", "scope"),
    [
        ("organization_spend_limit_exceeded", "organization"),
        ("project_spend_limit_exceeded", "project"),
    ],
)
def test_the_spend_429_is_its_own_class_and_says_what_happened(code: str, scope: str) -> None:
    with pytest.raises(errors.SpendLimitExceededError) as info:
        decipher(
            429, {"x-request-id": "req_1"}, error("Limit hit.", code), DECODERS["costs"].decode
        )
    exc = info.value
    assert isinstance(exc, errors.RateLimitError)  # existing handlers still catch it
    assert (exc.status_code, exc.code, exc.scope, exc.request_id) == (429, code, scope, "req_1")
    assert exc.message.startswith(f"A hard spend limit was reached: the {scope}'s monthly limit")
    assert "not a rate limit" in exc.message and "retrying will not help" in exc.message
    assert "until the limit is raised or the month ends" in exc.message
    assert exc.message.endswith("It said: Limit hit.")
    assert not is_rate_limit(exc)


@pytest.mark.parametrize("code", sorted(NOT_RATE_LIMIT_CODES - set(SPEND_LIMIT_CODES)))
def test_the_other_429s_no_wait_fixes_stay_rate_limit_errors(code: str) -> None:
    exc = status_error(429, None, error("Quota.", code))
    assert type(exc) is errors.RateLimitError
    assert exc.message == (
        f"Quota. ({code}: not a rate limit but a billing or quota state; retrying will not "
        "help until it is resolved)"
    )
    assert not is_rate_limit(exc)


@pytest.mark.parametrize("code", ["rate_limit_exceeded", None, "tokens", 42])
def test_a_real_rate_limit_is_unchanged(code: object) -> None:
    body = encode({"error": {"message": "Slow down.", "type": "requests", "code": code}})
    exc = status_error(429, None, body)
    assert type(exc) is errors.RateLimitError and exc.message == "Slow down."
    assert is_rate_limit(exc)


def test_a_spend_code_on_another_status_is_not_a_spend_error() -> None:
    exc = status_error(400, None, error("Odd.", "organization_spend_limit_exceeded"))
    assert type(exc) is errors.BadRequestError and exc.message == "Odd."
    assert not is_rate_limit(exc)
    assert not is_rate_limit(None)
    # A code of another type (a list) does not break the classification.
    weird = encode({"error": {"message": "w", "code": ["insufficient_quota"]}})
    assert type(status_error(429, None, weird)) is errors.RateLimitError
