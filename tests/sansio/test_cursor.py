"""Cursor chains: complete windows stop, guards refuse loops and missing cursors."""

from __future__ import annotations

import pytest

from openai_usage_async._sansio.cursor import Chain, plan_chains
from openai_usage_async._sansio.endpoints import ENDPOINTS
from openai_usage_async._sansio.query import validate
from openai_usage_async._sansio.windows import Window, plan_windows
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


# -- issue 9, item 1: a chain the service ends early is re-asked, then refused ----------

LATER = 1000 * DAY  # a request time long after every bucket of QUERY


def starts(buckets: list[UsageBucket[object]]) -> list[int]:
    return [b.start_time for b in buckets]


def test_has_more_false_with_past_buckets_missing_re_asks_for_the_rest() -> None:
    chain = Chain(QUERY, Window(0, 0, 7 * DAY, 7))
    chain.next_request(LATER)
    assert starts(chain.feed(page([0, DAY], False, None))) == [0, DAY]
    assert not chain.done and chain.restarts == 1
    again = dict(chain.next_request(LATER))
    assert (again["start_time"], again["end_time"]) == (str(2 * DAY), str(7 * DAY))
    assert "page" not in again
    rest = chain.feed(page([2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY], False, None))
    assert starts(rest) == [2 * DAY, 3 * DAY, 4 * DAY, 5 * DAY, 6 * DAY] and chain.done


def test_an_empty_last_page_then_nothing_again_is_a_validation_error() -> None:
    chain = Chain(QUERY, Window(0, 0, 7 * DAY, 7))
    chain.next_request(LATER)
    assert chain.feed(page([], False, None)) == [] and not chain.done
    chain.next_request(LATER)
    with pytest.raises(APIResponseValidationError, match="bucket starting at 0 twice"):
        chain.feed(page([], False, None))


def test_re_asking_keeps_going_while_it_makes_progress() -> None:
    chain = Chain(QUERY, Window(0, 0, 4 * DAY, 4))
    for start in (0, DAY, 2 * DAY, 3 * DAY):
        chain.next_request(LATER)
        assert starts(chain.feed(page([start], False, None))) == [start]
    assert chain.done and chain.restarts == 3


def test_buckets_at_or_after_the_time_of_the_request_are_not_missing() -> None:
    chain = Chain(QUERY, Window(0, 0, 7 * DAY, 7))
    chain.next_request(2 * DAY + 60)  # asked early on day 2: days 2.. are not over
    chain.feed(page([0, DAY], False, None))
    assert chain.done and chain.restarts == 0


def test_a_gap_in_a_page_is_not_skipped_over() -> None:
    chain = Chain(QUERY, Window(0, 0, 4 * DAY, 4))
    chain.next_request(LATER)
    assert starts(chain.feed(page([0, 2 * DAY, 3 * DAY], True, "c"))) == [0]
    assert dict(chain.next_request(LATER))["start_time"] == str(DAY)  # re-asked, no cursor
    assert starts(chain.feed(page([DAY, 2 * DAY, 3 * DAY], False, None))) == [DAY, 2 * DAY, 3 * DAY]
    assert chain.done


# -- issue 9, item 2: whole buckets at the range's own unaligned edges --------------------

UNALIGNED = validate(ENDPOINTS["costs"], start_time=DAY // 2, end_time=3 * DAY + DAY // 2)


def test_whole_buckets_at_unaligned_range_edges_are_delivered() -> None:
    [window] = plan_windows(DAY // 2, 3 * DAY + DAY // 2, DAY, 180)
    chain = Chain(UNALIGNED, window)
    chain.next_request(LATER)
    got = chain.feed(page([0, DAY, 2 * DAY, 3 * DAY], False, None))  # not clipped
    assert starts(got) == [0, DAY, 2 * DAY, 3 * DAY] and chain.done


def test_whole_edge_buckets_across_several_windows_each_arrive_once() -> None:
    windows = list(plan_windows(DAY // 2, 3 * DAY + DAY // 2, DAY, 2))
    first, last = Chain(UNALIGNED, windows[0]), Chain(UNALIGNED, windows[1])
    first.next_request(LATER)
    last.next_request(LATER)
    a = first.feed(page([0, DAY], False, None))
    b = last.feed(page([2 * DAY, 3 * DAY], False, None))
    assert starts(a + b) == [0, DAY, 2 * DAY, 3 * DAY] and first.done and last.done


def test_a_bucket_straddling_an_inner_window_edge_is_refused() -> None:
    chain = Chain(QUERY, Window(1, 3 * DAY, 6 * DAY, 3))
    bad = [UsageBucket(start_time=3 * DAY + 10, end_time=4 * DAY + 10, results=[])]
    chain.next_request(LATER)
    chain.feed(UsagePage(data=bad, has_more=False))
    chain.next_request(LATER)
    with pytest.raises(APIResponseValidationError, match="skipped the bucket starting at"):
        chain.feed(UsagePage(data=bad, has_more=False))


# -- issue 9, item 4: a range with no end --------------------------------------------------


def test_an_open_range_is_windows_up_to_the_boundary_then_a_tail() -> None:
    open_query = validate(ENDPOINTS["costs"], start_time=0, limit=3)
    now = 10 * DAY + 3600
    chains, count = plan_chains(open_query, now)
    chains = list(chains)
    assert count == len(chains) == 5  # 4 windows cover days 0..9, then the tail from day 10
    assert [c.window.start if c.window else None for c in chains] == [
        0,
        3 * DAY,
        6 * DAY,
        9 * DAY,
        None,
    ]
    assert chains[3].window is not None and chains[3].window.end == 10 * DAY
    tail = dict(chains[-1].next_request(now))
    assert tail["start_time"] == str(10 * DAY) and "end_time" not in tail


def test_a_range_starting_in_the_current_bucket_is_only_the_tail() -> None:
    open_query = validate(ENDPOINTS["costs"], start_time=10 * DAY + 60)
    chains, count = plan_chains(open_query, 10 * DAY + 3600)
    [tail] = list(chains)
    assert count == 1 and tail.window is None and tail.next_start == 10 * DAY + 60


def test_the_open_tail_ends_at_the_current_bucket_whatever_has_more_says() -> None:
    open_query = validate(ENDPOINTS["costs"], start_time=0)
    tail = Chain(open_query, start=10 * DAY)
    tail.next_request(10 * DAY + 3600)
    assert starts(tail.feed(page([10 * DAY], True, "page_the_service_will_refuse"))) == [10 * DAY]
    assert tail.done


@pytest.mark.parametrize("service_clock", [0, -120, 45])
def test_the_open_tail_ends_at_a_bucket_clipped_at_the_services_clock(service_clock: int) -> None:
    # The service may cut the bucket in progress at its own "now" (a little off ours) and
    # still say has_more with a cursor it then refuses (the costs quirk): the clipped
    # bucket is the last one.
    open_query = validate(ENDPOINTS["costs"], start_time=0)
    tail = Chain(open_query, start=10 * DAY)
    asked = 10 * DAY + 3600
    tail.next_request(asked)
    clipped = UsageBucket(start_time=10 * DAY, end_time=asked + service_clock, results=[])
    new = tail.feed(UsagePage(data=[clipped], has_more=True, next_page="page_refused"))
    assert new == [clipped]
    assert tail.done


def test_a_clipped_bucket_long_before_the_request_does_not_end_the_tail() -> None:
    open_query = validate(ENDPOINTS["costs"], start_time=0)
    tail = Chain(open_query, start=10 * DAY)
    tail.next_request(12 * DAY + 3600)
    odd = UsageBucket(start_time=10 * DAY, end_time=10 * DAY + 600, results=[])
    tail.feed(UsagePage(data=[odd], has_more=True, next_page="page_more"))
    assert not tail.done


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
