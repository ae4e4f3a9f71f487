"""Regenerate the README's picture of the dashboard::

    python -m openai_usage_async.serve._screenshot docs/dashboard.png

It runs the bundled emulator at a pinned clock (2025-11-23 13:20 UTC), syncs a temporary
store from it, computes the snapshot ``serve`` computes after a sync, renders the page
and photographs it in Chromium, with JavaScript off, from the top down to the end of the
daily chart (``--full-page``: all of it). The same data gives the same picture.

It drives Debian's Chromium (``/usr/bin/chromium``, or ``--chromium PATH``) through
Playwright, which the ``dev`` extra installs; no browser is downloaded. The browser tests
(``tests/serve/test_browser.py``) launch it the same way, with :func:`launch`.
"""

from __future__ import annotations

import argparse
import asyncio
import pathlib
import sys
import tempfile
from typing import TYPE_CHECKING

from .._client import AsyncUsageClient
from ..emulator import Emulator
from ..store import open_store
from ..store._read import Reader
from ._dashboard import render_page
from ._snapshot import Data, Status, compute

if TYPE_CHECKING:
    from playwright.async_api import Browser, FloatRect, Playwright

__all__ = [
    "CHROMIUM",
    "CHROMIUM_ARGS",
    "SAMPLE_NOW",
    "launch",
    "main",
    "require_chromium",
    "sample",
    "sample_status",
    "screenshot",
]

#: Debian's Chromium (``apt-get install chromium``): never a downloaded one.
CHROMIUM = "/usr/bin/chromium"
#: Headless, and quiet: no first-run pages, no update or sync traffic of its own, so a
#: test that records every request sees only the page's. ``--no-sandbox``: CI runs as root.
CHROMIUM_ARGS = (
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
)
#: The emulator's clock for the picture: 2025-11-23 13:20 UTC (the tests' NOW).
SAMPLE_NOW = 1_763_904_000
_DAY = 86_400


def require_chromium(executable: str = CHROMIUM) -> None:
    """Raise ``FileNotFoundError`` saying how to install the browser when it is missing."""
    if not pathlib.Path(executable).is_file():
        raise FileNotFoundError(
            f"chromium: {executable} is missing; install Debian's package "
            "(apt-get install -y chromium; .ci/run does) or pass its path"
        )


async def launch(playwright: Playwright, executable: str = CHROMIUM) -> Browser:
    """Chromium from ``executable`` with :data:`CHROMIUM_ARGS`. Playwright gives each
    launch a fresh temporary profile (user-data dir) and removes it on close."""
    require_chromium(executable)
    return await playwright.chromium.launch(
        executable_path=executable, args=list(CHROMIUM_ARGS), headless=True
    )


async def sample(store_path: pathlib.Path, *, now: int = SAMPLE_NOW, days: int = 60) -> Data:
    """The snapshot of a store synced from the emulator (every endpoint, the directory,
    limits and alerts) over the ``days`` before ``now``."""
    async with Emulator(now=now) as emulator:
        assert emulator.base_url is not None
        async with (
            AsyncUsageClient("sk-admin-sample", base_url=emulator.base_url) as client,
            open_store(store_path) as store,
        ):
            await store.sync(client, start_time=now - days * _DAY, end_time=now)
    with Reader(str(store_path)) as reader:
        tables = [c.table for c in reader.coverage() if c.table != "costs_1d"]
        return compute(reader, now=now, usage_tables=tables)


def sample_status(now: int = SAMPLE_NOW) -> Status:
    """A sync loop an hour old, up, its last sync a minute before ``now``."""
    return Status(
        started_at=now - 3600,
        every_s=300,
        period_s=300,
        syncing=False,
        syncs=13,
        failures_total=0,
        consecutive_failures=0,
        last_success_at=now - 60,
        last_duration_s=0.4,
        last_error=None,
    )


async def screenshot(
    out: pathlib.Path, *, width: int = 1280, full_page: bool = False, chromium: str = CHROMIUM
) -> None:
    """Write the picture of the sample page to ``out`` (PNG)."""
    from playwright.async_api import async_playwright

    require_chromium(chromium)
    with tempfile.TemporaryDirectory() as tmp:
        data = await sample(pathlib.Path(tmp) / "usage.db")
    page_bytes = render_page(data, sample_status(), every_s=300, now=SAMPLE_NOW)
    async with async_playwright() as playwright:
        browser = await launch(playwright, chromium)
        try:
            context = await browser.new_context(
                viewport={"width": width, "height": 900}, java_script_enabled=False
            )
            page = await context.new_page()
            await page.set_content(page_bytes.decode("utf-8"))
            if full_page:
                await page.screenshot(path=str(out), full_page=True)
            else:
                box = await page.locator("section[aria-labelledby=daily] svg").bounding_box()
                assert box is not None
                bottom = box["y"] + box["height"] + 24
                clip: FloatRect = {"x": 0, "y": 0, "width": width, "height": bottom}
                await page.screenshot(path=str(out), clip=clip, full_page=True)
        finally:
            await browser.close()


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(
        prog="python -m openai_usage_async.serve._screenshot",
        description="Photograph the dashboard of a store synced from the emulator.",
    )
    parser.add_argument("out", type=pathlib.Path, help="the PNG to write (docs/dashboard.png)")
    parser.add_argument("--width", type=int, default=1280, help="the window's width in px")
    parser.add_argument("--full-page", action="store_true", help="the whole page, not its top")
    parser.add_argument("--chromium", default=CHROMIUM, help=f"the browser (default {CHROMIUM})")
    args = parser.parse_args(argv)
    try:
        asyncio.run(
            screenshot(args.out, width=args.width, full_page=args.full_page, chromium=args.chromium)
        )
    except (FileNotFoundError, ImportError) as exc:
        print(f"openai_usage_async.serve._screenshot: {exc}", file=sys.stderr)
        return 1
    print(args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
