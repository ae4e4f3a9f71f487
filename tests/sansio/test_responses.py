"""Status, headers and body to a page or the right error class."""

from __future__ import annotations

import functools

import pytest

from openai_usage_async import errors
from openai_usage_async._sansio.decode import DECODERS
from openai_usage_async._sansio.responses import ADMIN_KEY_HELP
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
