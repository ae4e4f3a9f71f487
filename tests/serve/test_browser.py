"""The dashboard in a real browser: Debian's Chromium driven by Playwright (nothing is
downloaded), the page served by a tiny aiohttp app on loopback, as ``serve`` serves it:
the same bytes to every request.

The page is rendered from a store synced from the emulator, with one project renamed
as hostile as a name can be. Screenshots at 1280 and 390 px wide are kept under ``$OUT``
(when set) or the test's temporary directory, never in the repository.
"""

from __future__ import annotations

import dataclasses
import os
import pathlib
import re
from collections.abc import AsyncIterator, Iterator
from typing import Any

import anyio
import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from openai_usage_async.serve._dashboard import _usd, render_page
from openai_usage_async.serve._screenshot import (
    CHROMIUM,
    SAMPLE_NOW,
    launch,
    sample,
    sample_status,
)
from openai_usage_async.serve._snapshot import Data
from tests.serve.test_dashboard import HOSTILE

try:
    from playwright.async_api import async_playwright
except ImportError:  # a failure, not a skip: CI must never pass without the browser tests
    pytest.fail("playwright is missing: the dev extra installs it", pytrace=False)

#: The tolerance for "nothing overflows": a sub-pixel rounding, not a scrollbar.
SLACK_PX = 2


@pytest.fixture(scope="module")
def chromium() -> str:
    if not pathlib.Path(CHROMIUM).is_file():
        pytest.fail(
            f"{CHROMIUM} is missing: these tests drive Debian's Chromium, which .ci/run "
            "installs (apt-get install -y chromium); nothing is downloaded"
        )
    return CHROMIUM


@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Data:
    """A store synced from the emulator; its second project renamed with markup."""
    path = tmp_path_factory.mktemp("store") / "usage.db"
    synced = anyio.run(sample, path)
    assert len(synced.projects) > 2
    projects = list(synced.projects)
    projects[1] = dataclasses.replace(projects[1], project_name=HOSTILE)
    return dataclasses.replace(synced, projects=tuple(projects))


@pytest.fixture(scope="module")
def page_bytes(data: Data) -> bytes:
    return render_page(data, sample_status(), every_s=300, now=SAMPLE_NOW + 60)


@pytest.fixture
async def url(page_bytes: bytes) -> AsyncIterator[str]:
    """The page served at / on 127.0.0.1 (port 0); anything else is a 404."""

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=page_bytes, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/", page)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        yield str(server.make_url("/"))


@pytest.fixture
def artifacts(tmp_path: pathlib.Path) -> Iterator[pathlib.Path]:
    out = os.environ.get("OUT")
    where = pathlib.Path(out) / "dashboard" if out else tmp_path
    where.mkdir(parents=True, exist_ok=True)
    yield where


@pytest.fixture
async def browser(chromium: str) -> AsyncIterator[Any]:
    async with async_playwright() as p:
        b = await launch(p, chromium)
        try:
            yield b
        finally:
            await b.close()


class Visit:
    """One page load, with every request, dialog, console error and page error it made."""

    def __init__(self) -> None:
        self.requests: list[str] = []
        self.dialogs: list[str] = []
        self.errors: list[str] = []

    async def _dialog(self, dialog: Any) -> None:
        self.dialogs.append(dialog.message)
        await dialog.dismiss()

    async def open(self, browser: Any, url: str, **context: Any) -> Any:
        ctx = await browser.new_context(**context)
        page = await ctx.new_page()
        page.on("request", lambda r: self.requests.append(r.url))
        page.on("dialog", self._dialog)
        page.on("pageerror", lambda e: self.errors.append(str(e)))
        page.on("console", lambda m: self.errors.append(m.text) if m.type == "error" else None)
        response = await page.goto(url, wait_until="networkidle")
        assert response is not None and response.status == 200
        return page


async def facts(page: Any, data: Data) -> str:
    """What a person reads: every project with cost this month by name, and the total."""
    text: str = (await page.inner_text("body")).replace("\N{NO-BREAK SPACE}", " ")
    assert data.projects
    for row in data.projects:
        assert row.project_name, row
        assert row.project_name in text, row.project_name
        assert _usd(row.month_to_date_usd) in text
    archived = [r for r in data.projects if r.archived]
    assert archived, "the emulator has an archived project with costs"
    total = _usd(data.month_to_date_usd)
    assert await page.inner_text("#month-to-date") == total
    assert re.search(rf"Month to date\s+{re.escape(total)}", text)
    assert "reached, blocking requests" in text
    return text


async def test_the_page_shows_every_project_by_name_and_the_month_to_date(
    browser: Any, url: str, data: Data
) -> None:
    visit = Visit()
    page = await visit.open(browser, url)
    text = await facts(page, data)
    assert await page.title() == f"{_usd(data.month_to_date_usd)} this month · OpenAI usage"
    assert "Up to date" in text
    # The script only rewrites the "... ago" texts, from the browser's clock (days after
    # the emulator's pinned one).
    assert re.search(r"last sync \d+ days ago", text), text[:300]
    assert visit.errors == [] and visit.dialogs == []


async def test_no_request_leaves_the_origin(browser: Any, url: str) -> None:
    visit = Visit()
    page = await visit.open(browser, url)
    # Open what a person may open: the tables behind the <details>.
    for summary in await page.locator("summary").all():
        await summary.click()
    await page.wait_for_load_state("networkidle")
    assert visit.requests == [url]
    assert visit.dialogs == [] and visit.errors == []


async def test_the_same_facts_with_javascript_off(browser: Any, url: str, data: Data) -> None:
    visit = Visit()
    page = await visit.open(browser, url, java_script_enabled=False)
    text = await facts(page, data)
    assert "Costs data until 2025-11-23 13:20 UTC · last sync 2 min ago" in text
    assert visit.requests == [url] and visit.dialogs == []


# Elements wider than the window, but those inside a box that scrolls them itself.
OVERFLOWING = """() => {
  const width = document.documentElement.clientWidth;
  const scrolls = (e) => {
    for (let p = e.parentElement; p; p = p.parentElement) {
      const x = getComputedStyle(p).overflowX;
      if (x === "auto" || x === "scroll") return true;
    }
    return false;
  };
  return [...document.body.querySelectorAll("*")]
    .filter((e) => e.getBoundingClientRect().right > width + SLACK && !scrolls(e))
    .map((e) => e.tagName + "." + e.className + ": " + (e.textContent || "").slice(0, 40));
}""".replace("SLACK", str(SLACK_PX))


@pytest.mark.parametrize("width", [1280, 390])
async def test_screenshots_and_nothing_overflows(
    browser: Any, url: str, data: Data, artifacts: pathlib.Path, width: int
) -> None:
    visit = Visit()
    page = await visit.open(
        browser, url, viewport={"width": width, "height": 900}, java_script_enabled=False
    )
    await facts(page, data)
    scroll_width = await page.evaluate("document.documentElement.scrollWidth")
    assert scroll_width <= width + SLACK_PX
    assert await page.evaluate(OVERFLOWING) == []
    # Every chart is as wide as its column, and readable: its text at least 11 px.
    charts = await page.locator("svg[role=img]").all()
    assert len(charts) >= 2
    for chart in charts:
        box = await chart.bounding_box()
        assert box is not None and box["width"] > 0.8 * (width - 64) / (1 if width < 600 else 3)
    sizes = await page.evaluate(
        "[...document.querySelectorAll('svg text')].map(t => getComputedStyle(t).fontSize)"
    )
    assert sizes and min(float(s.removesuffix("px")) for s in sizes) >= 11
    # The tables fit, but the 30 days by project (behind a <details>), which scroll.
    scrolled = await page.evaluate(
        "[...document.querySelectorAll('.scroll')]"
        ".filter(s => s.scrollWidth > s.clientWidth + 1).map(s => s.getAttribute('aria-label'))"
    )
    assert set(scrolled) <= {"Daily cost table"}
    shot = artifacts / f"dashboard-{width}.png"
    await page.screenshot(path=str(shot), full_page=True)
    assert shot.stat().st_size > 10_000


async def test_before_the_first_sync_in_a_browser(browser: Any, chromium: str) -> None:
    status = dataclasses.replace(sample_status(), syncs=0, last_success_at=None, syncing=True)
    body = render_page(None, status, every_s=300, now=SAMPLE_NOW)

    async def page(request: web.Request) -> web.Response:
        return web.Response(body=body, content_type="text/html", charset="utf-8")

    app = web.Application()
    app.router.add_get("/", page)
    async with TestServer(app, host="127.0.0.1", port=0) as server:
        visit = Visit()
        url = str(server.make_url("/"))
        tab = await visit.open(browser, url, java_script_enabled=False)
        text = await tab.inner_text("body")
        assert "First sync in progress" in text
        assert visit.requests == [url]
