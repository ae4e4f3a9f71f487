"""The docs hold together: the nav points at pages, links resolve, the snippets work."""

from __future__ import annotations

import pathlib
import re

import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator, Fault

ROOT = pathlib.Path(__file__).parent.parent
DOCS = ROOT / "docs"


def test_the_nav_points_at_pages() -> None:
    nav = re.findall(r":\s*([\w/.-]+\.md)\s*$", (ROOT / "mkdocs.yml").read_text(), re.M)
    assert len(nav) >= 10
    for page in nav:
        assert (DOCS / page).is_file(), page


@pytest.mark.parametrize(
    "page",
    sorted(p.relative_to(ROOT).as_posix() for p in [ROOT / "README.md", *DOCS.rglob("*.md")]),
)
def test_relative_links_resolve(page: str) -> None:
    path = ROOT / page
    for target in re.findall(r"\]\(([^)#\s]+)(?:#[^)]*)?\)", path.read_text()):
        if target.startswith(("http://", "https://")):
            continue
        assert (path.parent / target).exists(), f"{page}: {target}"


@pytest.mark.usage_emulator(now=1_763_904_000, seed=1)
async def test_the_testing_guide_snippet(usage_emulator: Emulator) -> None:
    # docs/guides/testing.md, as written there.
    usage_emulator.faults.append(Fault(status=429, retry_after_ms=5, first=2))
    async with AsyncUsageClient("sk-admin-test", base_url=usage_emulator.base_url) as client:
        buckets = await client.usage.costs.list(start_time=1_763_000_000, end_time=1_763_904_000)
    assert len(buckets) == 11
    assert usage_emulator.statistics().responses_by_status[429] == 2
