"""The three ways to start the emulator: in-loop, on a thread (the pytest fixture), a process."""

from __future__ import annotations

import argparse
import asyncio
import json
import signal
import socket
import subprocess
import sys
import urllib.error
import urllib.request

import aiohttp
import pytest

from openai_usage_async.emulator import Emulator, run_emulator, serve_in_thread
from tests.helpers import DAY, NOW, TEST_KEY


def fetch(
    base_url: str, key: str = TEST_KEY, path: str = "/organization/costs"
) -> tuple[int, dict]:
    request = urllib.request.Request(
        f"{base_url}{path}?start_time={NOW - 3 * DAY}", headers={"Authorization": f"Bearer {key}"}
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def port_of(base_url: str) -> int:
    return int(base_url.rsplit(":", 1)[1].split("/")[0])


def refused(port: int) -> bool:
    with socket.socket() as s:
        return s.connect_ex(("127.0.0.1", port)) != 0


async def test_run_emulator_yields_a_loopback_base_url(http: aiohttp.ClientSession) -> None:
    async with run_emulator(now=NOW, seed=4) as base_url:
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        async with http.get(
            base_url + "/organization/costs", params={"start_time": NOW - DAY}
        ) as r:
            assert r.status == 200
            assert (await r.json())["object"] == "page"
    assert refused(port_of(base_url))


async def test_run_emulator_with_an_instance_keeps_the_handle(http: aiohttp.ClientSession) -> None:
    emu = Emulator(now=NOW)
    async with run_emulator(emu) as base_url:
        assert emu.base_url == base_url
        async with http.get(
            base_url + "/organization/costs", params={"start_time": NOW - DAY}
        ) as r:
            await r.read()
    assert emu.statistics().requests_by_endpoint == {"costs": 1}
    with pytest.raises(TypeError, match="not both"):
        async with run_emulator(emu, seed=3):
            pass


async def test_two_emulators_get_two_ports() -> None:
    async with run_emulator() as first, run_emulator() as second:
        assert port_of(first) != port_of(second)


async def test_a_port_in_use_is_an_error() -> None:
    async with run_emulator() as base_url:
        with pytest.raises(OSError):
            async with run_emulator(port=port_of(base_url)):
                pass


def test_serve_in_thread_answers_synchronous_code() -> None:
    with serve_in_thread(now=NOW, api_key=TEST_KEY) as emu:
        assert emu.base_url is not None
        status, body = fetch(emu.base_url)
        assert status == 200 and body["data"]
        status, body = fetch(emu.base_url, key="sk-admin-other")
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        assert emu.statistics().responses_by_status == {200: 1, 401: 1}
    assert refused(port_of(emu.base_url))


def test_serve_in_thread_reports_a_failure_to_start() -> None:
    with serve_in_thread() as emu:
        assert emu.base_url is not None
        with pytest.raises(OSError), serve_in_thread(port=port_of(emu.base_url)):
            pass


async def test_serve_in_thread_keeps_answering_while_our_loop_works() -> None:
    with serve_in_thread(now=NOW) as emu:
        assert emu.base_url is not None
        async with aiohttp.ClientSession(headers={"Authorization": f"Bearer {TEST_KEY}"}) as http:
            results = await asyncio.gather(
                *(
                    http.get(emu.base_url + "/organization/costs", params={"start_time": NOW - DAY})
                    for _ in range(5)
                )
            )
            assert [r.status for r in results] == [200] * 5
            for r in results:
                r.release()


def test_the_pytest_fixture_in_a_users_suite(pytester: pytest.Pytester) -> None:
    pytester.makeconftest('pytest_plugins = ["openai_usage_async.emulator.pytest_plugin"]\n')
    pytester.makepyfile(
        test_user=f"""
import json, urllib.request
import pytest

def get(url, key):
    req = urllib.request.Request(url + "/organization/usage/embeddings?start_time={NOW - DAY}",
                                 headers={{"Authorization": "Bearer " + key}})
    with urllib.request.urlopen(req) as r:
        return json.loads(r.read())

def test_url(usage_emulator_url):
    assert usage_emulator_url.startswith("http://127.0.0.1:")
    assert get(usage_emulator_url, "sk-admin-a")["object"] == "page"

@pytest.mark.usage_emulator(now={NOW}, seed=5, result_key="result")
def test_options(usage_emulator):
    page = get(usage_emulator.base_url, "sk-admin-b")
    assert "result" in page["data"][0]
    assert usage_emulator.seed == 5
    assert usage_emulator.statistics().requests_total == 1
"""
    )
    result = pytester.runpytest_subprocess("-p", "no:cacheprovider")
    result.assert_outcomes(passed=2)


def test_python_dash_m_emulator() -> None:
    secret = "sk-admin-cli-secret-123"
    proc = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "openai_usage_async.emulator",
            "--port",
            "0",
            "--api-key",
            secret,
            "--now",
            str(NOW),
            "--fail-first",
            "1",
            "--fail-status",
            "503",
        ],
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )
    try:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert base_url.startswith("http://127.0.0.1:") and base_url.endswith("/v1")
        assert fetch(base_url, secret)[0] == 503  # --fail-first 1
        assert fetch(base_url, "sk-admin-wrong")[0] == 401
        status, body = fetch(base_url, secret)
        assert status == 200 and body["object"] == "page"
    finally:
        proc.send_signal(signal.SIGINT)
        out, err = proc.communicate(timeout=10)
    assert proc.returncode == 0
    assert secret not in out + err


def test_python_dash_m_emulator_reports_a_busy_port() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = subprocess.run(
            [sys.executable, "-m", "openai_usage_async.emulator", "--port", str(port)],
            capture_output=True,
            text=True,
            timeout=30,
        )
    assert done.returncode == 9
    assert done.stderr == (
        f"python -m openai_usage_async.emulator: error: --port: 127.0.0.1:{port} is already "
        "in use; choose another --port, or --port 0 for a free one\n"
    )


def test_python_dash_m_emulator_takes_dates_for_now() -> None:
    from openai_usage_async.emulator.__main__ import add_arguments, emulator_from_args

    parser = argparse.ArgumentParser()
    add_arguments(parser)
    for text in ("2025-11-23T13:20:00Z", "2025-11-23T15:20:00+02:00", str(NOW), f"{NOW}.0"):
        assert emulator_from_args(parser.parse_args(["--now", text])).now == NOW
    assert emulator_from_args(parser.parse_args(["--now", "2025-11-23"])).now == NOW // DAY * DAY


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--port", "70000"], "argument --port: '70000' is not a port (0 to 65535"),
        (["--cache-mb", "-1"], "argument --cache-mb: '-1' is not a whole number of megabytes"),
        (["--now", "soon"], "argument --now: 'soon' is not a date"),
    ],
)
def test_python_dash_m_emulator_refuses_bad_options(args: list[str], message: str) -> None:
    done = subprocess.run(
        [sys.executable, "-m", "openai_usage_async.emulator", *args],
        capture_output=True,
        text=True,
        timeout=30,
    )
    assert done.returncode == 2
    assert message in done.stderr and "Traceback" not in done.stderr
