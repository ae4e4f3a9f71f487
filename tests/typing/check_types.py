"""Static checks of the public types: ``mypy --strict`` runs over this file in CI.

It is never executed; each ``assert_type`` states what a user's editor should infer.
"""

from __future__ import annotations

from typing import Any, assert_type

from openai_usage_async import (
    AsyncUsageClient,
    AudioSpeechesResult,
    BucketIterator,
    CompletionsResult,
    CostsResult,
    PageIterator,
    UnknownResult,
    UsageBucket,
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
