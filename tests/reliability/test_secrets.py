"""The key stays secret: reprs, logs, errors, tracebacks, CLI output, files; no redirects; TLS."""

from __future__ import annotations

import logging
import pathlib
import pickle
import ssl
import traceback

import aiohttp
import pytest
import trustme
from aiohttp import web

from openai_usage_async import AsyncUsageClient, errors
from openai_usage_async._transport import Secret
from openai_usage_async.emulator import Emulator, Fault
from tests.cli.conftest import run_cli
from tests.e2e.conftest import fast_retries
from tests.helpers import DAY, NOW

SECRET = "sk-admin-TOP-SECRET-7c1e9"


async def test_the_key_appears_nowhere(
    emulator: Emulator, caplog: pytest.LogCaptureFixture, tmp_path: pathlib.Path
) -> None:
    caplog.set_level(logging.DEBUG)
    seen: list[str] = []
    emulator.faults = [Fault(status=500, first=1), Fault("drop", first=1)]
    async with AsyncUsageClient(SECRET, base_url=emulator.base_url, max_retries=3) as client:
        fast_retries(client)
        seen += [repr(client), str(client), repr(client.usage), repr(client.usage.costs)]
        seen += [repr(client._requester._key), str(client._requester._key)]
        await client.usage.costs.list(start_time=NOW - 5 * DAY, end_time=NOW)
        emulator._api_key = "sk-admin-another"
        with pytest.raises(errors.AuthenticationError) as refused:
            await client.usage.costs.get(start_time=NOW - DAY)
        seen += [str(refused.value), repr(refused.value), repr(refused.value.body)]
        seen.append("".join(traceback.format_exception(refused.value)))
    async with AsyncUsageClient(SECRET, base_url="http://127.0.0.1:9/v1", max_retries=0) as down:
        with pytest.raises(errors.APIConnectionError) as unreachable:
            await down.usage.costs.get(start_time=NOW - DAY)
        seen.append("".join(traceback.format_exception(unreachable.value)))
    seen.append(caplog.text)
    assert "-> 200" in caplog.text and "retry 1 of 3" in caplog.text  # the logs did run
    for text in seen:
        assert SECRET not in text and "TOP-SECRET" not in text


def test_the_key_is_not_in_cli_output_or_files(
    emulator_in_thread: Emulator, tmp_path: pathlib.Path
) -> None:
    base = ["--base-url", str(emulator_in_thread.base_url), "--verbose"]
    for fmt in ("csv", "jsonl", "json", "parquet", "table"):
        out = tmp_path / f"out.{fmt}"
        done = run_cli(
            *base,
            "fetch",
            "costs",
            "--start",
            str(NOW - 9 * DAY),
            "--end",
            str(NOW),
            "--format",
            fmt,
            "-o",
            str(out),
            key=SECRET,
        )
        assert done.returncode == 0, done.stderr
        assert SECRET.encode() not in out.read_bytes()
        assert SECRET not in done.stdout + done.stderr
    emulator_in_thread._api_key = "sk-admin-another"
    refused = run_cli(*base, "summary", key=SECRET)
    assert refused.returncode == 4 and "Traceback" in refused.stderr
    assert SECRET not in refused.stdout + refused.stderr


@pytest.fixture
def emulator_in_thread(usage_emulator: Emulator) -> Emulator:
    usage_emulator.now = NOW
    return usage_emulator


def test_the_key_holder() -> None:
    secret = Secret(SECRET)
    assert secret.reveal() == SECRET
    assert SECRET not in repr(secret) + str(secret) + f"{secret}"
    with pytest.raises(TypeError):
        pickle.dumps(secret)


async def test_redirects_to_another_host_never_carry_the_key() -> None:
    stolen: list[str | None] = []

    async def thief(request: web.Request) -> web.Response:
        stolen.append(request.headers.get("Authorization"))
        return web.json_response({"object": "page", "data": [], "has_more": False})

    async def redirect(request: web.Request) -> web.Response:
        raise web.HTTPTemporaryRedirect(f"http://127.0.0.2:{other_port}/v1/organization/costs")

    other = web.AppRunner(web.Application())
    other.app.router.add_get("/v1/organization/costs", thief)
    await other.setup()
    other_site = web.TCPSite(other, "127.0.0.2", 0)
    await other_site.start()
    other_port = other.addresses[0][1]
    front = web.AppRunner(web.Application())
    front.app.router.add_get("/v1/organization/costs", redirect)
    await front.setup()
    await web.TCPSite(front, "127.0.0.1", 0).start()
    try:
        base_url = f"http://127.0.0.1:{front.addresses[0][1]}/v1"
        async with AsyncUsageClient(SECRET, base_url=base_url) as client:
            with pytest.raises(errors.APIStatusError) as info:
                await client.usage.costs.get(start_time=NOW - DAY)
        assert info.value.status_code == 307
        assert stolen == []  # the other host never heard from us
    finally:
        await front.cleanup()
        await other.cleanup()


async def test_tls_is_verified_by_default_and_off_only_when_asked() -> None:
    ca = trustme.CA()
    server_context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert("127.0.0.1").configure_cert(server_context)
    emulator = Emulator(now=NOW)
    base_url = await emulator.start(ssl_context=server_context)
    try:
        assert base_url.startswith("https://127.0.0.1:")
        async with AsyncUsageClient(SECRET, base_url=base_url, max_retries=0) as client:
            with pytest.raises(errors.APIConnectionError, match="certificate"):
                await client.usage.costs.get(start_time=NOW - DAY)
        assert emulator.statistics().requests_total == 0
        trusting = ssl.create_default_context()
        ca.configure_trust(trusting)
        for ssl_setting in (trusting, False):  # trust our CA; or, explicitly, verify nothing
            connector = aiohttp.TCPConnector(ssl=ssl_setting)
            async with aiohttp.ClientSession(connector=connector) as session:
                async with AsyncUsageClient(SECRET, base_url=base_url, session=session) as client:
                    page = await client.usage.costs.get(start_time=NOW - 3 * DAY)
                    assert len(page.data) == 4
    finally:
        await emulator.aclose()


async def test_the_new_messages_never_show_a_key(emulator: Emulator) -> None:
    """The escape hatch, the key's alias, the 404 hint and the retry note leak nothing."""
    from openai_usage_async._sansio.responses import not_found_hint

    seen: list[str] = []
    with pytest.raises(ValueError) as both:
        AsyncUsageClient(SECRET, admin_api_key=SECRET)
    seen.append(str(both.value))
    hint = not_found_hint(f"http://user:{SECRET}@127.0.0.1:1")
    assert hint is not None and "http://127.0.0.1:1/v1" in hint
    seen.append(hint)
    assert emulator.base_url is not None
    root = emulator.base_url.removesuffix("/v1")
    async with AsyncUsageClient(admin_api_key=SECRET, base_url=root, max_retries=0) as client:
        for headers in ({"Authorization": f"Bearer {SECRET}"}, {"x": f"{SECRET}\r\nX: y"}):
            with pytest.raises(ValueError) as refused:
                await client.usage.costs.get(start_time=NOW - DAY, extra_headers=headers)
            seen.append(str(refused.value))
        with pytest.raises(errors.NotFoundError) as missing:
            await client.usage.costs.get(start_time=NOW - DAY, extra_query={"q": "1"})
        seen += [str(missing.value), "".join(traceback.format_exception(missing.value))]
    assert "probably needs it" in str(missing.value)
    emulator.faults = [Fault(status=500)]
    async with AsyncUsageClient(SECRET, base_url=emulator.base_url, max_retries=1) as client:
        with pytest.raises(errors.InternalServerError) as retried:
            await fast_retries(client).usage.costs.get(start_time=NOW - DAY)
        seen.append(str(retried.value))
    assert "(after 1 retry)" in str(retried.value)
    for text in seen:
        assert SECRET not in text and "TOP-SECRET" not in text
