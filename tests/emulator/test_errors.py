"""Each invalid request gets the service's status and an OpenAI-style error body."""

from __future__ import annotations

import json

import aiohttp
import pytest

from openai_usage_async.emulator import Emulator
from tests.helpers import DAY, NOW, TEST_KEY, get_json, url

START = str(NOW - 10 * DAY)

# (endpoint, query, param named in the error)
BAD_QUERIES = [
    ("completions", [], "start_time"),
    ("completions", [("start_time", "yesterday")], "start_time"),
    ("completions", [("start_time", "-5")], "start_time"),
    ("completions", [("start_time", START), ("start_time", START)], "start_time"),
    ("completions", [("start_time", START), ("end_time", START)], "end_time"),
    ("completions", [("start_time", START), ("end_time", "12.5")], "end_time"),
    ("completions", [("start_time", START), ("bucket_width", "2h")], "bucket_width"),
    ("costs", [("start_time", START), ("bucket_width", "1h")], "bucket_width"),
    ("completions", [("start_time", START), ("limit", "0")], "limit"),
    ("completions", [("start_time", START), ("limit", "32")], "limit"),
    ("completions", [("start_time", START), ("bucket_width", "1h"), ("limit", "169")], "limit"),
    ("completions", [("start_time", START), ("bucket_width", "1m"), ("limit", "1441")], "limit"),
    ("costs", [("start_time", START), ("limit", "181")], "limit"),
    ("completions", [("start_time", START), ("group_by", "size")], "group_by"),
    ("costs", [("start_time", START), ("group_by[]", "model")], "group_by"),
    ("vector_stores", [("start_time", START), ("group_by", "user_id")], "group_by"),
    ("completions", [("start_time", START), ("foo", "1")], "foo"),
    ("costs", [("start_time", START), ("models[]", "gpt-4o")], "models"),
    ("images", [("start_time", START), ("sizes[]", "640x480")], "sizes"),
    ("web_search_calls", [("start_time", START), ("context_levels", "max")], "context_levels"),
    ("completions", [("start_time", START), ("batch", "yes")], "batch"),
    ("completions", [("start_time", START), ("page", "garbage")], "page"),
    ("completions", [("start_time", START), ("page", "page_AAAA")], "page"),
]


@pytest.mark.parametrize(("endpoint", "query", "param"), BAD_QUERIES)
async def test_invalid_query_is_a_400_naming_the_parameter(
    emulator: Emulator, http: aiohttp.ClientSession, endpoint: str, query, param: str
) -> None:
    async with http.get(url(emulator, endpoint), params=query) as response:
        body = json.loads(await response.read())
        assert response.status == 400
        assert response.headers["x-request-id"].startswith("req_")
        assert response.content_type == "application/json"
    assert set(body["error"]) == {"message", "type", "param", "code"}
    assert body["error"]["param"] == param
    assert body["error"]["type"] == "invalid_request_error"
    assert body["error"]["message"]


async def test_valid_edges_are_accepted(emulator: Emulator, http: aiohttp.ClientSession) -> None:
    for endpoint, query in [
        ("costs", [("start_time", START), ("limit", "180")]),
        ("completions", [("start_time", START), ("bucket_width", "1m"), ("limit", "1440")]),
        ("completions", [("start_time", START), ("batch", "false"), ("models[]", "gpt-x")]),
        ("images", [("start_time", START), ("sizes", "1024x1024"), ("sources", "image.edit")]),
    ]:
        status, body = await get_json(http, emulator, endpoint, query)
        assert status == 200, body
        assert body["object"] == "page"


async def test_a_tampered_cursor_is_refused(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    query = [("start_time", START), ("limit", "2")]
    _, first = await get_json(http, emulator, "completions", query)
    cursor = first["next_page"]
    flipped = cursor[:-3] + ("A" if cursor[-3] != "A" else "B") + cursor[-2:]
    status, body = await get_json(http, emulator, "completions", [*query, ("page", flipped)])
    assert status == 400 and body["error"]["message"] == "The page token is invalid"
    status, body = await get_json(http, emulator, "completions", [*query, ("page", cursor)])
    assert status == 200 and body["data"][0]["start_time"] == first["data"][-1]["end_time"]


@pytest.mark.parametrize(
    ("authorization", "status", "code"),
    [
        (None, 401, None),
        ("Basic abc", 401, None),
        ("Bearer ", 401, None),
        ("Bearer sk-proj-abcdef", 403, "insufficient_permissions"),
        ("Bearer sk-svcacct-abcdef", 403, "insufficient_permissions"),
    ],
)
async def test_auth_without_a_configured_key(
    emulator: Emulator, authorization: str | None, status: int, code: str | None
) -> None:
    headers = {"Authorization": authorization} if authorization is not None else {}
    async with aiohttp.ClientSession() as session:
        async with session.get(
            url(emulator, "costs"), params={"start_time": START}, headers=headers
        ) as response:
            body = json.loads(await response.read())
            assert response.status == status
            assert response.headers["x-request-id"].startswith("req_")
    assert body["error"]["code"] == code
    if status == 403:
        assert "Admin key" in body["error"]["message"]


async def test_a_configured_key_is_the_only_key() -> None:
    secret = "sk-admin-the-one-and-only-key"
    async with Emulator(api_key=secret, now=NOW) as emu, aiohttp.ClientSession() as session:
        for key, status in [(secret, 200), (TEST_KEY, 401), (secret + "x", 401)]:
            async with session.get(
                url(emu, "costs"),
                params={"start_time": START},
                headers={"Authorization": f"Bearer {key}"},
            ) as response:
                text = await response.text()
                assert response.status == status
                if status == 401:
                    assert json.loads(text)["error"]["code"] == "invalid_api_key"
                    assert key not in text and secret not in text
    assert secret not in repr(emu)


async def test_unknown_path_and_wrong_method(
    emulator: Emulator, http: aiohttp.ClientSession
) -> None:
    assert emulator.base_url is not None
    async with http.get(emulator.base_url + "/organization/usage/teleports") as response:
        body = json.loads(await response.read())
        assert response.status == 404
        assert response.headers["x-request-id"].startswith("req_")
    assert body["error"]["message"] == "Invalid URL (GET /v1/organization/usage/teleports)"
    async with http.post(url(emulator, "costs"), params={"start_time": START}) as response:
        body = json.loads(await response.read())
        assert response.status == 405
        assert response.headers["x-request-id"].startswith("req_")
    assert "use GET" in body["error"]["message"]
    assert emulator.statistics().responses_by_status == {404: 1, 405: 1}
