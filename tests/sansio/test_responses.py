"""Status, headers and body to a page or the right error class."""

from __future__ import annotations

import functools

import pytest

from openai_usage_async import errors
from openai_usage_async._sansio.decode import DECODERS
from openai_usage_async._sansio.responses import ADMIN_KEY_HELP, not_found_hint
from openai_usage_async._sansio.responses import decipher as decipher_with

decipher = functools.partial(decipher_with, decode=DECODERS["costs"].decode)

OK = b'{"object": "page", "data": [], "has_more": false, "next_page": null}'


@pytest.mark.parametrize(
    ("status", "cls"),
    [
        (400, errors.BadRequestError),
        (401, errors.AuthenticationError),
        (403, errors.PermissionDeniedError),
        (404, errors.NotFoundError),
        (409, errors.ConflictError),
        (422, errors.UnprocessableEntityError),
        (429, errors.RateLimitError),
        (500, errors.InternalServerError),
        (503, errors.InternalServerError),
        (418, errors.APIStatusError),
    ],
)
def test_status_classes(status: int, cls: type[errors.APIStatusError]) -> None:
    body = b'{"error": {"message": "nope", "type": "t", "param": "limit", "code": "c"}}'
    with pytest.raises(cls) as info:
        decipher(status, {"x-request-id": "req_1"}, body)
    err = info.value
    assert type(err) is cls
    assert (err.status_code, err.request_id, err.param, err.code) == (status, "req_1", "limit", "c")
    assert err.type == "t"
    assert err.body == {"message": "nope", "type": "t", "param": "limit", "code": "c"}
    assert err.message.startswith("nope")
    assert str(err).startswith(f"Error code: {status} - nope") and "req_1" in str(err)


def test_bodies_that_are_not_error_objects() -> None:
    with pytest.raises(errors.InternalServerError) as info:
        decipher(502, {}, b"<html>bad gateway</html>")
    assert info.value.body == "<html>bad gateway</html>" and info.value.request_id is None
    assert info.value.message == "<html>bad gateway</html>"
    with pytest.raises(errors.InternalServerError) as info:
        decipher(500, {}, b'{"detail": "x"}')
    assert info.value.body == {"detail": "x"} and info.value.message == "HTTP 500"
    # No error object: the service's fields are None, as in the official SDK.
    assert (info.value.type, info.value.code, info.value.param) == (None, None, None)


@pytest.mark.parametrize("status", [401, 403])
def test_auth_errors_teach_about_admin_keys(status: int) -> None:
    with pytest.raises(errors.APIStatusError) as info:
        decipher(status, {}, b'{"error": {"message": "Incorrect API key provided."}}')
    assert info.value.message == f"Incorrect API key provided. {ADMIN_KEY_HELP}"
    assert "Admin key" in str(info.value) and "admin-keys" in str(info.value)


def test_a_good_page_and_a_bad_one() -> None:
    assert decipher(200, {}, OK).data == []
    with pytest.raises(errors.APIResponseValidationError) as info:
        decipher(200, {"x-request-id": "req_9"}, b"{")
    assert (info.value.status_code, info.value.request_id) == (200, "req_9")


def test_error_fields_as_the_official_sdk_reads_them() -> None:
    body = b'{"error": {"message": "m", "type": "invalid_request_error", "code": 4001}}'
    with pytest.raises(errors.BadRequestError) as info:
        decipher(400, {}, body)
    assert (info.value.type, info.value.code, info.value.param) == (
        "invalid_request_error",
        "4001",  # a numeric code becomes its string, as the SDK's does
        None,
    )
    assert errors.APIConnectionError("down").type is None


@pytest.mark.parametrize(
    ("base_url", "hint"),
    [
        (
            "http://127.0.0.1:8000",
            "(the base URL http://127.0.0.1:8000 does not end in /v1; "
            "it probably needs it: http://127.0.0.1:8000/v1)",
        ),
        (
            "https://gateway.example/openai/",
            "(the base URL https://gateway.example/openai does not end in /v1; "
            "it probably needs it: https://gateway.example/openai/v1)",
        ),
        ("https://api.openai.com/v1", None),
        ("http://127.0.0.1:8000/v1/", None),
    ],
)
def test_a_404_hint_for_a_base_url_without_v1(base_url: str, hint: str | None) -> None:
    assert not_found_hint(base_url) == hint
