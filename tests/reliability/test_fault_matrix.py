"""Every fault the emulator can inject, once and always: retried or raised, as the table says."""

from __future__ import annotations

import pathlib

import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator, Fault
from tests.e2e.conftest import fast_retries
from tests.helpers import DAY, NOW, TEST_KEY
from tests.reliability.matrix import CASES, SCENARIOS, Case, Scenario, case_id, render_table

DOC = pathlib.Path(__file__).parent.parent.parent / "docs" / "reliability.md"
RANGE = {"start_time": NOW // DAY * DAY - 20 * DAY, "end_time": NOW // DAY * DAY}


@pytest.mark.parametrize("case", CASES, ids=case_id)
async def test_fault(emulator: Emulator, case: Case) -> None:
    async with AsyncUsageClient(TEST_KEY, base_url=emulator.base_url) as clean:
        expected = await clean.usage.costs.list(**RANGE)
    assert len(expected) == 20
    emulator.reset_statistics()
    emulator.faults = [Fault(**case.kwargs, first=None if case.persistent else 1)]
    timeout = case.timeout_s if case.timeout_s is not None else 30.0
    async with AsyncUsageClient(
        TEST_KEY, base_url=emulator.base_url, max_retries=2, timeout=timeout
    ) as client:
        fast_retries(client)
        if case.outcome is None:
            assert await client.usage.costs.list(**RANGE) == expected
        else:
            with pytest.raises(case.outcome) as info:
                await client.usage.costs.list(**RANGE)
            assert type(info.value) is case.outcome
        sent = client.statistics().requests_sent
    assert sent == case.requests
    assert emulator.statistics().requests_total >= sent  # aiohttp may re-send a dropped GET


def test_the_reliability_doc_has_the_current_table() -> None:
    text = DOC.read_text()
    table = "\n".join(render_table())
    assert table in text, "docs/reliability.md is stale: run python -m tests.reliability --write"


@pytest.mark.parametrize("row", SCENARIOS, ids=lambda row: row.fault[:40])
def test_every_scenario_row_names_a_test_that_exists(row: Scenario) -> None:
    path, _, name = row.test.partition("::")
    source = (DOC.parent.parent / path).read_text()
    assert not name or f"def {name.partition('[')[0]}(" in source
