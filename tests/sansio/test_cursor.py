"""Cursor chains: complete windows stop, guards refuse loops and missing cursors."""

from __future__ import annotations

import pytest

from openai_usage_async._sansio.cursor import Chain
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async._sansio.query import validate
from openai_usage_async._sansio.windows import Window
from openai_usage_async.errors import APIResponseValidationError
from openai_usage_async.models import UsageBucket, UsagePage

DAY = 86400
QUERY = validate(ENDPOINTS["costs"], start_time=0, end_time=10 * DAY, limit=3)


def page(starts: list[int], has_more: bool, cursor: str | None) -> UsagePage[object]:
    data = [UsageBucket(start_time=s, end_time=s + DAY, results=[]) for s in starts]
    return UsagePage(data=data, has_more=has_more, next_page=cursor)


def test_follows_cursors_and_resends_the_query_with_only_page_changed() -> None:
    chain = Chain(QUERY, Window(0, 0, 6 * DAY, 6))
    first = chain.next_request()
    assert dict(first)["end_time"] == str(6 * DAY) and "page" not in dict(first)
    assert [b.start_time for b in chain.feed(page([0, DAY, 2 * DAY], True, "c1"))] == [
        0,
        DAY,
        2 * DAY,
    ]
    second = chain.next_request()
    assert second == [*first, ("page", "c1")]
    assert not chain.done
    chain.feed(page([3 * DAY, 4 * DAY, 5 * DAY], False, None))
    assert chain.done and chain.pages == 2


def test_a_complete_window_stops_whatever_has_more_says() -> None:
    chain = Chain(QUERY, Window(0, 0, 3 * DAY, 3))
    chain.feed(page([0, DAY, 2 * DAY], True, "page_that_the_service_will_refuse"))
    assert chain.done
    with pytest.raises(RuntimeError):
        chain.next_request()


def test_duplicates_and_strays_are_dropped() -> None:
    chain = Chain(QUERY, Window(1, 3 * DAY, 6 * DAY, 3))
    assert [b.start_time for b in chain.feed(page([3 * DAY, 4 * DAY], True, "a"))] == [
        3 * DAY,
        4 * DAY,
    ]
    again = chain.feed(page([3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY], True, "b"))
    assert [b.start_time for b in again] == [5 * DAY]  # 3 and 4 were delivered; 6 is not ours
    assert chain.done


def test_has_more_without_a_cursor_while_buckets_are_missing() -> None:
    chain = Chain(QUERY, Window(0, 0, 6 * DAY, 6))
    with pytest.raises(APIResponseValidationError, match="next_page is missing"):
        chain.feed(page([0], True, None))


def test_a_cursor_seen_twice_is_a_loop() -> None:
    chain = Chain(QUERY, Window(0, 0, 6 * DAY, 6))
    chain.feed(page([0], True, "same"))
    with pytest.raises(APIResponseValidationError, match="already followed"):
        chain.feed(page([DAY], True, "same"))


def test_pages_without_progress_are_a_loop() -> None:
    chain = Chain(QUERY, Window(0, 0, 6 * DAY, 6))
    chain.feed(page([0], True, "c0"))
    chain.feed(page([], True, "c1"))
    chain.feed(page([], True, "c2"))
    with pytest.raises(APIResponseValidationError, match="no new bucket"):
        chain.feed(page([], True, "c3"))


def test_has_more_false_ends_even_with_buckets_missing() -> None:
    chain = Chain(QUERY, Window(0, 0, 6 * DAY, 6))
    chain.feed(page([0, DAY], False, None))
    assert chain.done


def test_an_open_chain_runs_until_has_more_is_false() -> None:
    open_query = validate(ENDPOINTS["costs"], start_time=0, limit=2)
    chain = Chain(open_query)
    assert "end_time" not in dict(chain.next_request())
    assert dict(chain.next_request())["limit"] == "2"
    chain.feed(page([0, DAY], True, "x"))
    assert not chain.done
    chain.feed(page([2 * DAY], False, None))
    assert chain.done


def test_a_bucket_that_ends_before_it_starts_is_refused() -> None:
    chain = Chain(QUERY, Window(0, 0, 6 * DAY, 6))
    bad = UsagePage(data=[UsageBucket(start_time=DAY, end_time=DAY, results=[])], has_more=False)
    with pytest.raises(APIResponseValidationError, match="ends before it starts"):
        chain.feed(bad)


def test_overlapping_buckets_in_one_page_are_kept_once() -> None:
    chain = Chain(QUERY, Window(0, 0, 3 * DAY, 3))
    overlapping = [
        UsageBucket(start_time=s, end_time=s + DAY, results=[]) for s in (0, DAY, DAY, 2 * DAY)
    ]
    new = chain.feed(UsagePage(data=overlapping, has_more=False))
    assert [b.start_time for b in new] == [0, DAY, 2 * DAY]
