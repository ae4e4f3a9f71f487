"""Static checks of the public types: ``mypy --strict`` runs over this file in CI.

It is never executed; each ``assert_type`` states what a user's editor should infer.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from typing import Any, assert_type

import aiohttp

from openai_usage_async import (
    APIError,
    APIStatusError,
    AsyncUsageClient,
    AudioSpeechesResult,
    BucketIterator,
    CompletionsResult,
    CostsResult,
    PageIterator,
    UnknownResult,
    UsageBucket,
    UsageClient,
    UsagePage,
)


async def usage(client: AsyncUsageClient) -> None:
    it = client.usage.audio_speeches.iter(start_time=0, end_time=86_400)
    assert_type(it, BucketIterator[AudioSpeechesResult | UnknownResult])
    async for bucket in it:
        assert_type(bucket, UsageBucket[AudioSpeechesResult | UnknownResult])
        for r in bucket.results:
            if isinstance(r, AudioSpeechesResult):
                assert_type(r.characters, int)
                assert_type(r.model, str | None)
            else:
                assert_type(r, UnknownResult)
                assert_type(r.renders, Any)  # unknown results read any field

    page = await client.usage.costs.get(start_time=0, group_by=["line_item", "project_id"])
    assert_type(page, UsagePage[CostsResult | UnknownResult])
    pages = client.usage.costs.pages(start_time=0, end_time=10, ordered=False)
    assert_type(pages, PageIterator[CostsResult | UnknownResult])
    buckets = await client.usage.completions.list(start_time=0, group_by="model", batch=True)
    assert_type(buckets, list[UsageBucket[CompletionsResult | UnknownResult]])
    # costs cannot be grouped by model: the type checker says so before the API does.
    client.usage.costs.iter(start_time=0, group_by=["model"])  # type: ignore[list-item]


async def sdk_guesses(client: AsyncUsageClient) -> None:
    """Each endpoint's filters are typed: a misspelt or misplaced one is a type error."""
    completions = client.usage.completions
    await completions.get(start_time=0, models=["gpt-4o"], batch=True, project_ids="proj_1")
    completions.iter(start_time=0, modles=["gpt-4o"])  # type: ignore[call-arg]
    await completions.list(start_time=0, batch="yes")  # type: ignore[arg-type]
    client.usage.costs.pages(start_time=0, models="gpt-4o")  # type: ignore[call-arg]
    await client.usage.costs.list(start_time=0, modles=["gpt-4o"])  # type: ignore[call-arg]
    client.usage.costs.iter(start_time=0, line_items=["Image models"], api_key_ids="key_1")
    client.usage.images.iter(start_time=0, sizes=["1024x1024"], sources="image.edit")
    client.usage.images.iter(start_time=0, sizes=["1024x1023"])  # type: ignore[list-item]
    client.usage.web_search_calls.iter(start_time=0, context_levels="low")
    client.usage.vector_stores.iter(start_time=0, user_ids="user_1")  # type: ignore[call-arg]
    client.usage.file_search_calls.iter(start_time=0, vector_store_ids=["vs_1"])
    await client.usage.gather(["costs"], start_time=0, line_items="x", models="m")
    await client.usage.gather(["costs"], start_time=0, modles="m")  # type: ignore[call-arg]

    # Calling the endpoint is `get`, as the official SDK's `usage.completions(...)`.
    page = await completions(start_time=time.time() - 86400, end_time=time.time())
    assert_type(page, UsagePage[CompletionsResult | UnknownResult])
    await completions(start_time=0, modles="x")  # type: ignore[call-arg]

    # The escape hatch takes what the typed arguments do not know yet.
    await client.usage.costs.list(
        start_time=0,
        extra_query={"new_filter": ["a", "b"], "flag": True, "n": 3},
        extra_headers={"OpenAI-Beta": "usage=v2"},
    )
    await client.organization.directory(extra_headers={"X-Trace": "1"})
    await client.organization.users.list(extra_query={"new": 1})
    client.usage.costs.iter(start_time=0, extra_query={"x": object()})  # type: ignore[dict-item]

    # Models: to_dict(), never pydantic's names (which type checkers keep reporting).
    assert_type(page.to_dict(), dict[str, Any])
    assert_type(page.data[0].results[0].to_dict(), dict[str, Any])
    page.model_dump()  # type: ignore[attr-defined]

    # The errors carry the service's error fields.
    try:
        await client.usage.costs.get(start_time=0)
    except APIStatusError as exc:
        assert_type(exc.type, str | None)
        assert_type(exc.code, str | None)
        assert_type(exc.param, str | None)
    except APIError as exc:
        assert_type(exc.code, str | None)


def blocking(client: UsageClient) -> None:
    """UsageClient: the same arguments, checked the same way; values, not awaitables."""
    buckets = client.usage.audio_speeches.list(start_time=0, end_time=86_400)
    assert_type(buckets, list[UsageBucket[AudioSpeechesResult | UnknownResult]])
    for bucket in client.usage.audio_speeches.iter(start_time=0, end_time=86_400):
        assert_type(bucket, UsageBucket[AudioSpeechesResult | UnknownResult])
        for r in bucket.results:
            if isinstance(r, AudioSpeechesResult):
                assert_type(r.characters, int)
    assert_type(client.usage.costs.get(start_time=0), UsagePage[CostsResult | UnknownResult])
    assert_type(client.usage.costs(start_time=0), UsagePage[CostsResult | UnknownResult])
    with client.usage.costs.pages(start_time=0, end_time=10, ordered=False) as pages:
        for page in pages:
            assert_type(page, UsagePage[CostsResult | UnknownResult])
    iterator: Iterator[UsageBucket[CompletionsResult | UnknownResult]]
    iterator = client.usage.completions.iter(start_time=0, models="gpt-4o", batch=True)
    next(iterator)
    data = client.usage.gather({"costs": None, "images": {"sizes": "1024x1024"}}, start_time=0)
    assert_type(data, dict[str, list[UsageBucket[Any]]])

    client.usage.costs.list(start_time=0, modles=["gpt-4o"])  # type: ignore[call-arg]
    client.usage.costs.list(start_time=0, models="gpt-4o")  # type: ignore[call-arg]
    client.usage.costs.iter(start_time=0, group_by=["model"])  # type: ignore[list-item]
    client.usage.completions.get(start_time=0, batch="yes")  # type: ignore[arg-type]
    client.usage.images.pages(start_time=0, sizes=["1024x1023"])  # type: ignore[list-item]
    client.usage.vector_stores(start_time=0, user_ids="user_1")  # type: ignore[call-arg]
    client.usage.gather(["costs"], start_time=0, modles="m")  # type: ignore[call-arg]
    client.usage.costs.list(start_time=0).__await__()  # type: ignore[attr-defined]


async def constructors() -> None:
    AsyncUsageClient(admin_api_key="sk-admin-test")  # the official SDK's name for the key
    UsageClient(admin_api_key="sk-admin-test")
    async with aiohttp.ClientSession() as session:
        AsyncUsageClient(session=session)
        # Its own event loop cannot use a session of another: refused, by types too.
        UsageClient(session=session)  # type: ignore[arg-type]
