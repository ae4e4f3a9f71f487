"""``extra_query`` / ``extra_headers`` over a fake sender: exact pairs and headers, every page.

The fake records every header (the emulator keeps only a few), so this is where a custom
header, a replaced default and the untouchable ``Authorization`` are checked.
"""

from __future__ import annotations

from collections.abc import AsyncIterator

import pytest

from openai_usage_async import AsyncUsageClient
from tests.transport.fakes import FakeSender, response

BASE = "http://api.test/v1"
KEY = "sk-admin-SECRET-extras-0123"
DAY = 86_400

EXTRA_QUERY = {"new_filter": ["a", "b"], "beta": True}
EXTRA_PAIRS = [("new_filter[]", "a"), ("new_filter[]", "b"), ("beta", "true")]
EXTRA_HEADERS = {"X-Trace": "t-1", "user-agent": "mine/1.0", "OpenAI-Project": "proj_call"}


def bucket(day: int) -> dict[str, object]:
    return {
        "object": "bucket",
        "start_time": day * DAY,
        "end_time": (day + 1) * DAY,
        "results": [],
    }


def page(days: range, next_page: str | None = None) -> dict[str, object]:
    return {
        "object": "page",
        "data": [bucket(d) for d in days],
        "has_more": next_page is not None,
        "next_page": next_page,
    }


@pytest.fixture
async def client() -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(KEY, base_url=BASE, project="proj_client") as c:
        c._requester.clock = lambda: 100 * DAY
        yield c


def script(client: AsyncUsageClient, *bodies: dict[str, object]) -> FakeSender:
    sender = FakeSender([response(body=b) for b in bodies])
    client._requester.sender = sender
    return sender


async def test_every_page_of_a_cursor_chain_sends_the_extras(client: AsyncUsageClient) -> None:
    sender = script(client, page(range(1), next_page="cursor_1"), page(range(1, 3)))
    buckets = await client.usage.costs.list(
        start_time=0,
        end_time=3 * DAY,
        limit=3,
        extra_query=EXTRA_QUERY,
        extra_headers=EXTRA_HEADERS,
    )
    assert [b.start_time for b in buckets] == [0, DAY, 2 * DAY]
    first, second = sender.sent
    base = [("start_time", "0"), ("end_time", str(3 * DAY)), ("bucket_width", "1d")]
    assert first.query == [*base, ("limit", "3"), *EXTRA_PAIRS]
    # The follow-up resends the query with only `page` added, the extras included.
    assert second.query == [*base, ("limit", "3"), *EXTRA_PAIRS, ("page", "cursor_1")]
    for sent in sender.sent:
        assert sent.headers["X-Trace"] == "t-1"
        assert sent.headers["OpenAI-Project"] == "proj_call"  # replaces the client's
        # Replaced whatever the case: one User-Agent, the caller's.
        agents = [v for k, v in sent.headers.items() if k.lower() == "user-agent"]
        assert agents == ["mine/1.0"]
        assert sent.headers["Authorization"] == f"Bearer {KEY}"
        assert [k for k in sent.headers if k.lower() == "authorization"] == ["Authorization"]


async def test_every_window_sends_the_extras(client: AsyncUsageClient) -> None:
    sender = script(client, page(range(2)), page(range(2, 4)), page(range(4, 5)))
    pages = client.usage.costs.pages(
        start_time=0,
        end_time=5 * DAY,
        limit=2,
        extra_query={"tags[]": "x"},
        extra_headers={"X-Trace": "t-2"},
    )
    async with pages:
        got = [p async for p in pages]
    assert len(got) == 3 and len(sender.sent) == 3
    assert sorted(dict(s.query)["start_time"] for s in sender.sent) == ["0", "172800", "345600"]
    for sent in sender.sent:
        assert sent.query[-1] == ("tags[]", "x")
        assert sent.headers["X-Trace"] == "t-2"
        assert sent.headers["OpenAI-Project"] == "proj_client"  # not replaced this time


async def test_without_extras_nothing_changes(client: AsyncUsageClient) -> None:
    sender = script(client, page(range(1)))
    await client.usage.costs(start_time=0, end_time=DAY)
    [sent] = sender.sent
    assert sent.query == [("start_time", "0"), ("end_time", str(DAY)), ("bucket_width", "1d")]
    assert "X-Trace" not in sent.headers and sent.headers["OpenAI-Project"] == "proj_client"


async def test_the_directory_sends_the_extras_on_every_page(client: AsyncUsageClient) -> None:
    def projects(ids: list[str], more: bool) -> dict[str, object]:
        return {
            "object": "list",
            "data": [{"id": i, "object": "organization.project", "name": i} for i in ids],
            "first_id": ids[0],
            "last_id": ids[-1],
            "has_more": more,
        }

    sender = FakeSender(
        [response(body=projects(["p1"], True)), response(body=projects(["p2"], False))]
    )
    client._requester.sender = sender
    got = await client.organization.projects.list(
        limit=1, extra_query={"new_flag": "1"}, extra_headers={"X-Trace": "t-3"}
    )
    assert [p.id for p in got] == ["p1", "p2"]
    assert [s.query for s in sender.sent] == [
        [("limit", "1"), ("new_flag", "1")],
        [("limit", "1"), ("new_flag", "1"), ("after", "p1")],
    ]
    assert all(s.headers["X-Trace"] == "t-3" for s in sender.sent)


@pytest.mark.parametrize(
    ("call", "starts"),
    [
        ({"extra_headers": {"Authorization": "Bearer sk-admin-other"}}, "extra_headers: "),
        ({"extra_query": {"after": "x"}}, "extra_query: 'after' is set by the client"),
        ({"extra_query": {"limit": 3}}, "extra_query: 'limit' is set by the client"),
    ],
)
async def test_directory_refusals_come_before_any_request(
    client: AsyncUsageClient, call: dict[str, object], starts: str
) -> None:
    sender = script(client)
    with pytest.raises(ValueError) as info:
        client.organization.users.iter(**call)  # type: ignore[arg-type]
    assert str(info.value).startswith(starts)
    with pytest.raises(ValueError):
        await client.organization.directory(**call)  # type: ignore[arg-type]
    assert sender.sent == [] and "sk-admin-other" not in str(info.value)
