"""``openai-usage emulator`` and ``demo``: dates, a taken port, the key, -q and -v."""

from __future__ import annotations

import contextlib
import json
import signal
import socket
import subprocess
import urllib.error
import urllib.request
from collections.abc import Iterator
from typing import Any

import pytest

from tests.cli.conftest import run_cli, start_cli
from tests.helpers import DAY, NOW, TEST_KEY


@contextlib.contextmanager
def emulator_command(
    *args: str, env_key: str | None = None
) -> Iterator[tuple[str, subprocess.Popen[str]]]:
    """``openai-usage emulator --port 0 ARGS``: its base URL; stopped (Ctrl-C) on exit."""
    proc = start_cli("emulator", "--port", "0", *args, key=env_key, text=True)
    with proc:  # closes its pipes
        try:
            assert proc.stdout is not None
            yield proc.stdout.readline().strip(), proc
        finally:
            if proc.poll() is None:
                proc.send_signal(signal.SIGINT)
            proc.wait(timeout=10)


def stop(proc: subprocess.Popen[str]) -> tuple[int, str]:
    proc.send_signal(signal.SIGINT)
    _, err = proc.communicate(timeout=10)
    return proc.returncode, err


def get(base_url: str, key: str = TEST_KEY, query: str = "") -> tuple[int, dict[str, Any]]:
    request = urllib.request.Request(
        f"{base_url}/organization/costs?start_time={NOW - 3 * DAY}{query}",
        headers={"Authorization": f"Bearer {key}"},
    )
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status, json.loads(response.read())
    except urllib.error.HTTPError as exc:
        with exc:
            return exc.code, json.loads(exc.read())


def test_now_takes_dates_like_every_other_command() -> None:
    bodies = []
    for now in ("2025-11-23T13:20:00Z", "2025-11-23T14:20:00+01:00", str(NOW)):
        with emulator_command("--now", now) as (base_url, _):
            status, body = get(base_url)  # no end_time: up to the emulator's "now"
            assert status == 200
            bodies.append(body)
    assert bodies[0] == bodies[1] == bodies[2]
    assert len(bodies[0]["data"]) == 4  # three days and the one holding "now"
    with emulator_command("--now", "2025-11-22") as (base_url, _):
        assert len(get(base_url)[1]["data"]) == 2


def test_now_refuses_what_is_not_a_date() -> None:
    done = run_cli("emulator", "--now", "yesterday", key=None)
    assert done.returncode == 2
    assert done.stderr.startswith(
        "openai-usage: error: --now: 'yesterday' is not a date; use YYYY-MM-DD"
    )
    assert done.stderr.endswith(" (see openai-usage emulator --help)\n")


def test_a_taken_port_is_one_line_and_exit_code_9() -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        done = run_cli("emulator", "--port", str(port), key=None, timeout=30)
    assert done.returncode == 9
    assert done.stderr == (
        f"openai-usage: error: --port: 127.0.0.1:{port} is already in use; choose another "
        "--port, or --port 0 for a free one\n"
    )
    assert done.stdout == ""


@pytest.mark.parametrize(
    ("args", "env_key", "source"),
    [
        (["--api-key", "sk-admin-given"], None, "given with --api-key"),
        ([], "sk-admin-given", "in $OPENAI_ADMIN_KEY"),
    ],
)
def test_a_key_given_to_the_emulator_is_the_one_it_accepts(
    args: list[str], env_key: str | None, source: str
) -> None:
    with emulator_command(*args, env_key=env_key) as (base_url, proc):
        assert get(base_url, "sk-admin-given")[0] == 200
        status, body = get(base_url, "sk-admin-other")
        assert status == 401 and body["error"]["code"] == "invalid_api_key"
        code, err = stop(proc)
    assert code == 0
    assert f"openai-usage emulator: accepting only the key {source} (any other gets 401)" in err
    assert "sk-admin-given" not in err


def test_a_key_before_the_command_counts_too() -> None:
    proc = start_cli("--api-key", "sk-admin-before", "emulator", "--port", "0", key=None, text=True)
    with proc:
        assert proc.stdout is not None
        base_url = proc.stdout.readline().strip()
        assert get(base_url, "sk-admin-before")[0] == 200
        assert get(base_url, "sk-admin-other")[0] == 401
        code, _ = stop(proc)
    assert code == 0


def test_without_a_key_any_admin_key_is_let_in_and_quiet_prints_the_url_only() -> None:
    with emulator_command("-q") as (base_url, proc):
        assert get(base_url, "sk-admin-anything")[0] == 200
        code, err = stop(proc)
    assert code == 0 and err == ""
    with emulator_command() as (base_url, proc):
        code, err = stop(proc)
    assert err == "serving the Usage API emulator; Ctrl-C stops it\n"


def test_verbose_logs_each_request_and_never_the_key() -> None:
    with emulator_command("-v", "--now", str(NOW)) as (base_url, proc):
        assert get(base_url, query="&limit=3")[0] == 200
        code, err = stop(proc)
    assert code == 0
    [line] = [line for line in err.splitlines() if "openai_usage_async.emulator" in line]
    assert line.endswith(f"GET /v1/organization/costs?start_time={NOW - 3 * DAY}&limit=3 -> 200")
    assert TEST_KEY not in err and "Using selector" not in err


def test_demo_shows_the_organization_the_emulator_serves() -> None:
    with emulator_command() as (base_url, _):
        for _ in range(2):  # once more if the day turned between the two
            served = run_cli("--base-url", base_url, "summary", "--days", "5")
            demo = run_cli("demo", "--days", "5", "--latency-ms", "0", key=None)
            if served.stdout.splitlines()[:1] == demo.stdout.splitlines()[:1]:
                break
    assert served.returncode == demo.returncode == 0, served.stderr + demo.stderr
    assert "Cost by project" in demo.stdout and "(proj_" in demo.stdout
    assert demo.stdout == served.stdout
