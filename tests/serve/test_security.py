"""The token rules, and the admin key never served: in no page, metric, header or log."""

from __future__ import annotations

import base64
import logging
import pathlib
from collections.abc import AsyncIterator

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator, Fault
from openai_usage_async.serve._app import STATE, _authorized
from openai_usage_async.store import Store
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import NOW
from tests.serve.conftest import first_sync, serving, status, until

TOKEN = "serve-token-7f3a9c41e2b8"
#: An admin key that no text may hold: the emulator accepts any admin-looking key.
ADMIN_KEY = "sk-admin-NEVER-SHOWN-4b1d9e77c0a2f5"
ROUTES = ("/", "/metrics", "/api/summary", "/healthz", "/livez")


@pytest.fixture
async def emulator() -> AsyncIterator[Emulator]:
    """One emulator for these tests: they are about HTTP, not about how buckets come."""
    async with Emulator(now=NOW) as emu:
        yield emu


@pytest.fixture
async def client(emulator: Emulator) -> AsyncIterator[AsyncUsageClient]:
    async with AsyncUsageClient(ADMIN_KEY, base_url=emulator.base_url, max_concurrency=4) as c:
        yield same_clock(fast_retries(c, max_retries=1), emulator)


def basic(user: str, password: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{password}".encode()).decode()


async def test_without_a_token_every_route_answers(client: AsyncUsageClient, store: Store) -> None:
    async with serving(client, store) as (http, app):
        await first_sync(app)
        for path in ROUTES:
            assert (await http.get(path)).status == 200, path


async def test_with_a_token_every_route_but_the_probes_needs_it(
    client: AsyncUsageClient, store: Store
) -> None:
    async with serving(client, store, token=TOKEN) as (http, app):
        await first_sync(app)
        refused = [
            {},
            {"Authorization": f"Bearer {TOKEN}x"},
            {"Authorization": f"Bearer {TOKEN[:-1]}"},
            {"Authorization": "Bearer "},
            {"Authorization": TOKEN},
            {"Authorization": basic("admin", "wrong")},
            {"Authorization": basic(TOKEN, "")},  # the token as the user name is not it
            {"Authorization": "Basic !!!not-base64"},
            {"Authorization": "Basic " + base64.b64encode(TOKEN.encode()).decode()},  # no colon
        ]
        for path in ("/", "/metrics", "/api/summary", "/no-such-page"):
            for headers in refused:
                response = await http.get(path, headers=headers)
                assert response.status == 401, (path, headers)
                assert response.headers["WWW-Authenticate"] == 'Basic realm="openai-usage"'
                assert TOKEN not in await response.text()
            for headers in (
                {"Authorization": f"Bearer {TOKEN}"},
                {"Authorization": f"bearer {TOKEN}"},
                {"Authorization": basic("anyone", TOKEN)},  # what a browser's login box sends
                {"Authorization": basic("", TOKEN)},
            ):
                response = await http.get(path, headers=headers)
                assert response.status == (404 if path == "/no-such-page" else 200), path
        for path in ("/healthz", "/livez"):  # probes: open, and they show no number
            response = await http.get(path)
            assert response.status == 200, (path, await response.text())


def test_the_comparison_reads_bearer_and_basic() -> None:
    assert _authorized(f"Bearer {TOKEN}", TOKEN)
    assert _authorized(basic("u", TOKEN), TOKEN)
    assert _authorized(basic("u", "v:x"), "v:x")  # the user ends at the first colon
    assert not _authorized("Digest abc", TOKEN)
    assert not _authorized("Basic " + base64.b64encode(b"\xff:\xfe").decode(), TOKEN)


async def everything_served(
    http: TestClient[web.Request, web.Application],
) -> list[str]:
    """Every body and header of every route, with and without the token, as text."""
    seen = []
    for path in (*ROUTES, "/no-such-page"):
        for headers in (
            {},
            {"Authorization": f"Bearer {TOKEN}"},
            {"Authorization": f"Bearer {TOKEN}", "Accept": "application/openmetrics-text"},
        ):
            response = await http.get(path, headers=headers)
            seen.append(await response.text())
            seen.extend(f"{k}: {v}" for k, v in response.headers.items())
    return seen


async def test_the_admin_key_is_never_served_nor_logged(
    emulator: Emulator,
    client: AsyncUsageClient,
    store: Store,
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    async with serving(client, store, token=TOKEN) as (http, app):
        await first_sync(app)
        seen += await everything_served(http)
        # Failures: the errors reach the page, /healthz and the log; the key must not.
        for fault in (Fault(status=500), Fault(kind="drop"), Fault(status=401)):
            emulator.faults[:] = [fault]
            await failed_once_more(app)
            seen += await everything_served(http)
        emulator.faults.clear()
        emulator._api_key = "sk-admin-another-key"  # the key is refused: 401 from the service
        await failed_once_more(app)
        seen += await everything_served(http)
        assert "AuthenticationError" in (status(app).last_error or "")
    text = "\n".join(seen)
    assert "last sync failed" in text  # the errors were there to see
    for secret in (ADMIN_KEY, ADMIN_KEY[len("sk-admin-") :]):
        assert secret not in text
        assert secret not in caplog.text
        for record in caplog.records:
            assert secret not in record.getMessage()
    assert TOKEN not in text and TOKEN not in caplog.text
    assert caplog.records  # the failures were logged


async def failed_once_more(app: web.Application) -> None:
    """Wait for one more failed sync, and for what it rendered."""
    failures = status(app).failures_total

    def rendered() -> bool:
        current = app[STATE].current
        return current is not None and current.status.failures_total > failures

    await until(rendered)


async def test_error_texts_lose_the_key_and_the_token(
    client: AsyncUsageClient, store: Store, tmp_path: pathlib.Path
) -> None:
    async with serving(client, store, token=TOKEN, every=3600) as (_, app):
        scheduler = app[STATE].scheduler
        said = scheduler._describe(ValueError(f"bad header Bearer {ADMIN_KEY} and {TOKEN}"))
    assert said == "ValueError: bad header Bearer <redacted> and <redacted>"
