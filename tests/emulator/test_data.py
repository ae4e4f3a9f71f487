"""The synthetic organization adds up: pure checks on the data model, no network."""

from __future__ import annotations

import itertools
from collections import defaultdict
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from openai_usage_async._sansio.endpoints import ENDPOINTS, WIDTH_SECONDS
from openai_usage_async.emulator import Organization
from openai_usage_async.emulator.app import bucket_bounds
from openai_usage_async.emulator.data import METRICS, TEXT_PRICES
from tests.helpers import DAY, HOUR, NOW

ORG = Organization(3, clock=lambda: NOW)
SPECS = list(ENDPOINTS.values())


def totals(results: list[dict[str, Any]], endpoint: str) -> dict[str, float]:
    """Sum each metric over results (costs: amount value and quantity)."""
    out: dict[str, float] = defaultdict(float)
    for r in results:
        if endpoint == "costs":
            out["amount"] += r["amount"]["value"]
            out["quantity"] += r["quantity"] or 0
        else:
            for m in METRICS[endpoint]:
                out[m] += r[m]
    return dict(out)


def one(endpoint: str, start: int, end: int, group_by: tuple[str, ...] = (), **filters: Any):
    [bucket] = ORG.buckets(ENDPOINTS[endpoint], [(start, end)], group_by, filters)
    return bucket["results"]


def approx_equal(a: dict[str, float], b: dict[str, float]) -> bool:
    keys = set(a) | set(b)
    return all(a.get(k, 0) == pytest.approx(b.get(k, 0), rel=1e-9, abs=1e-9) for k in keys)


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_every_group_by_sums_to_the_total(spec) -> None:
    start, end = NOW - 9 * DAY, NOW - 2 * DAY
    total = totals(one(spec.name, start, end), spec.name)
    assert total[METRICS[spec.name][0]] > 0  # the endpoint's main measure
    combos = [(g,) for g in spec.group_by] + [tuple(spec.group_by)]
    combos += list(itertools.combinations(spec.group_by, 2))[:6]
    for group_by in combos:
        results = one(spec.name, start, end, group_by)
        keys = [tuple(r[g] for g in group_by) for r in results]
        assert len(keys) == len(set(keys)), f"duplicate groups for {group_by}"
        grouped = totals(results, spec.name)
        if spec.name == "costs":  # quantity is only reported per line item
            grouped.pop("quantity", None)
            compare = {"amount": total["amount"]}
        else:
            compare = total
        assert approx_equal(grouped, compare), group_by


@pytest.mark.parametrize("spec", SPECS, ids=lambda s: s.name)
def test_filters_restrict_exactly(spec) -> None:
    start, end = NOW - 5 * DAY, NOW - 1 * DAY
    for name, fspec in spec.filters.items():
        by_value: dict[Any, dict[str, float]] = {}
        group = fspec.field
        for r in one(spec.name, start, end, (group,)):
            by_value[r[group]] = totals([r], spec.name)
        present = [v for v in by_value if v is not None]
        assert present, (spec.name, name)
        chosen = present[:2]
        value: Any = chosen[0] if fspec.kind == "bool" else chosen
        filtered = totals(one(spec.name, start, end, **{name: value}), spec.name)
        expected: dict[str, float] = defaultdict(float)
        for v in [chosen[0]] if fspec.kind == "bool" else chosen:
            for k, x in by_value[v].items():
                expected[k] += x
        filtered.pop("quantity", None)
        expected.pop("quantity", None)
        assert approx_equal(filtered, dict(expected)), (spec.name, name)
        everything = totals(one(spec.name, start, end), spec.name)
        assert filtered != everything or len(present) <= len(chosen)


@settings(max_examples=60, deadline=None)
@given(
    endpoint=st.sampled_from([s.name for s in SPECS if s.name != "costs"]),
    start=st.integers(NOW - 60 * DAY, NOW - 2 * DAY),
    cuts=st.lists(st.integers(1, 2 * DAY), min_size=1, max_size=6),
)
def test_any_split_of_a_range_adds_up(endpoint: str, start: int, cuts: list[int]) -> None:
    points = sorted({start + c for c in cuts})
    end = points[-1]
    whole = totals(one(endpoint, start, end), endpoint)
    parts: dict[str, float] = defaultdict(float)
    for a, b in zip([start, *points], points, strict=False):
        for k, v in totals(one(endpoint, a, b), endpoint).items():
            parts[k] += v
    assert approx_equal(dict(parts), whole)


@pytest.mark.parametrize("endpoint", ["completions", "images", "vector_stores"])
def test_a_day_is_its_hours_and_its_minutes(endpoint: str) -> None:
    spec = ENDPOINTS[endpoint]
    day = NOW // DAY * DAY - 10 * DAY
    daily = ORG.buckets(spec, bucket_bounds(day, day + DAY, DAY, 1), ("project_id",))
    for width in ("1h", "1m"):
        w = WIDTH_SECONDS[width]
        small = ORG.buckets(spec, bucket_bounds(day, day + DAY, w, 1440), ("project_id",))
        assert len(small) == DAY // w
        summed = totals([r for b in small for r in b["results"]], endpoint)
        assert summed == totals(daily[0]["results"], endpoint)


def test_result_identities_hold_in_every_bucket() -> None:
    spec = ENDPOINTS["completions"]
    bounds = bucket_bounds(NOW - 3 * DAY, NOW, HOUR, 168)
    for bucket in ORG.buckets(spec, bounds, ("model", "project_id")):
        for r in bucket["results"]:
            cache_write = r["input_cache_write_tokens"]
            assert (
                r["input_tokens"]
                == r["input_cached_tokens"] + r["input_uncached_tokens"] + cache_write
            )
            assert r["input_uncached_tokens"] == (
                r["input_text_tokens"] + r["input_audio_tokens"] + r["input_image_tokens"]
            )
            assert r["input_cached_tokens"] == (
                r["input_cached_text_tokens"]
                + r["input_cached_audio_tokens"]
                + r["input_cached_image_tokens"]
            )
            assert (
                cache_write == r["input_cache_write_30m_tokens"] + r["input_cache_write_12h_tokens"]
            )
            assert r["output_tokens"] == (
                r["output_text_tokens"] + r["output_audio_tokens"] + r["output_image_tokens"]
            )
            assert r["num_model_requests"] > 0


def test_costs_agree_with_usage() -> None:
    day = NOW // DAY * DAY - 4 * DAY
    usage = {r["model"]: r for r in one("completions", day, day + DAY, ("model",))}
    costs = {r["line_item"]: r for r in one("costs", day, day + DAY, ("line_item",))}
    assert usage
    for model, r in usage.items():
        p_in, p_cached, p_out = TEXT_PRICES[model]
        plain, cached, out = (
            costs[f"{model}, input"],
            costs[f"{model}, cached input"],
            costs[f"{model}, output"],
        )
        assert plain["quantity"] + cached["quantity"] == r["input_tokens"]
        assert cached["quantity"] == r["input_cached_tokens"]
        assert out["quantity"] == r["output_tokens"]
        assert plain["quantity_unit"] == "tokens"
        assert out["amount"]["value"] == pytest.approx(r["output_tokens"] * p_out / 1e6)
        assert plain["amount"]["value"] == pytest.approx(plain["quantity"] * p_in / 1e6)
        assert cached["amount"]["value"] == pytest.approx(cached["quantity"] * p_cached / 1e6)
    speeches = {r["model"]: r for r in one("audio_speeches", day, day + DAY, ("model",))}
    for model, r in speeches.items():
        assert costs[f"{model}, characters"]["quantity"] == r["characters"]
        assert costs[f"{model}, characters"]["quantity_unit"] == "characters"
    # Without line_item grouping the amount is there and quantity is not.
    [ungrouped] = one("costs", day, day + DAY)
    assert ungrouped["quantity"] is None and ungrouped["line_item"] is None
    assert ungrouped["amount"]["value"] == pytest.approx(
        sum(c["amount"]["value"] for c in costs.values())
    )
    assert ungrouped["amount"]["currency"] == "usd"


def test_usage_varies_by_hour_and_weekday_with_quiet_periods() -> None:
    spec = ENDPOINTS["completions"]
    start = NOW // DAY * DAY - 120 * DAY
    daily = ORG.buckets(spec, bucket_bounds(start, start + 119 * DAY, DAY, 119))
    requests = [b["results"][0]["num_model_requests"] if b["results"] else 0 for b in daily]
    assert 0 in requests, "no quiet day in 119 days"
    weekday = [
        n
        for b, n in zip(daily, requests, strict=True)
        if n and (b["start_time"] // DAY + 3) % 7 < 5
    ]
    weekend = [
        n
        for b, n in zip(daily, requests, strict=True)
        if n and (b["start_time"] // DAY + 3) % 7 >= 5
    ]
    assert sum(weekend) / len(weekend) < 0.8 * sum(weekday) / len(weekday)
    hourly = ORG.buckets(spec, bucket_bounds(start + 2 * DAY, start + 3 * DAY, HOUR, 24))
    per_hour = [b["results"][0]["num_model_requests"] if b["results"] else 0 for b in hourly]
    assert max(per_hour) > 2 * min(per_hour)


def test_models_appear_when_launched() -> None:
    # gpt-5 launched on 2025-08-07: no usage grouped under it before, some after.
    before = one("completions", 1754524800 - 30 * DAY, 1754524800, ("model",))
    after = one("completions", 1754524800, 1754524800 + 30 * DAY, ("model",))
    assert "gpt-5-2025-08-07" not in {r["model"] for r in before}
    assert "gpt-5-2025-08-07" in {r["model"] for r in after}
