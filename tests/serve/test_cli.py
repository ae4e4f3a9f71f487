"""``openai-usage serve`` through a real subprocess: signals and exit codes, the token
rules, the port, and two servers on one store.

The command's clock is the machine's, so the emulator here runs on real time (no pinned
``now``) until a test pins it to compare the store with the service.
"""

from __future__ import annotations

import json
import pathlib
import signal
import socket
import time
from collections.abc import Iterator

import anyio
import pytest

from openai_usage_async import AsyncUsageClient
from openai_usage_async.cli._serve import is_loopback, parse_every
from openai_usage_async.emulator import Emulator, serve_in_thread
from openai_usage_async.store import open_store
from openai_usage_async.store._lock import holder
from openai_usage_async.store._schema import schema_for
from tests.e2e.conftest import same_clock
from tests.helpers import DAY, TEST_KEY
from tests.serve.cli import metric, run_cli, serve_env, serving
from tests.store.conftest import table_rows
from tests.store.test_exact import service_rows

TOKEN = "cli-token-51c0ffee"


@pytest.fixture(scope="module", params=["whole", "clipped"])
def live(request: pytest.FixtureRequest) -> Iterator[Emulator]:
    """The emulator on real time, on a thread of its own (both ways it answers the bucket
    in progress)."""
    with serve_in_thread(in_progress=request.param) as emu:
        yield emu


@pytest.fixture
def emu(live: Emulator) -> Iterator[Emulator]:
    live.faults.clear()
    live.latency_ms = 0
    live.now = None
    live.reset_statistics()
    yield live
    live.latency_ms = 0
    live.now = None


def start_of(days_ago: int) -> int:
    return (int(time.time()) // DAY - days_ago) * DAY


def base(emu: Emulator, path: pathlib.Path, every: str = "0.2s", days: int = 5) -> list[str]:
    assert emu.base_url is not None
    return [
        "--store",
        str(path),
        "--port",
        "0",
        "--every",
        every,
        "--start",
        str(start_of(days)),
        "--base-url",
        emu.base_url,
        "--max-retries",
        "4",
    ]


def wait_in_flight(emu: Emulator, timeout_s: float = 30) -> None:
    deadline = time.monotonic() + timeout_s
    while not emu.statistics().in_flight:
        assert time.monotonic() < deadline, "no request in flight"
        time.sleep(0.005)


async def _matches_the_service(emu: Emulator, path: pathlib.Path, start: int) -> None:
    assert emu.base_url is not None
    async with (
        AsyncUsageClient(TEST_KEY, base_url=emu.base_url) as client,
        open_store(path) as store,
    ):
        same_clock(client, emu)
        for name in ("costs", "completions", "embeddings"):
            schema = schema_for(name, "1d")
            stored = await table_rows(store, schema)
            assert stored, name
            # Up to where the last sync asked (its own clock, after the emulator's).
            end = max(row[1] for row in stored)
            assert stored == await service_rows(client, name, start, end), name


def test_sigterm_mid_sync_exits_0_within_10s_and_the_store_is_intact(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "usage.db"
    with serving(*base(emu, path), stderr=tmp_path / "err") as served:
        served.until("/healthz", 200)
        emu.latency_ms = 400  # the next sync's requests hang: SIGTERM lands mid-sync
        wait_in_flight(emu)
        code, took = served.stop(signal.SIGTERM)
        text = served.text()
    assert code == 0, text
    assert took < 10
    assert "Traceback" not in text
    emu.latency_ms = 0
    status = run_cli("sync", "--status", "--store", str(path), "--format", "json")
    assert status.returncode == 0, status.stderr
    tables = {t["table"] for t in json.loads(status.stdout)["tables"]}
    assert {"costs_1d", "completions_1d"} <= tables
    # A plain sync after it, against the service at one pinned moment: the service's rows.
    emu.now = float(int(time.time()) - 2)  # whole seconds, before the CLI's clock
    done = run_cli("sync", "--store", str(path), "--base-url", emu.base_url or "")
    assert done.returncode == 0, done.stderr
    anyio.run(_matches_the_service, emu, path, start_of(5))


def test_ctrl_c_exits_130(emu: Emulator, tmp_path: pathlib.Path) -> None:
    path = tmp_path / "usage.db"
    with serving(*base(emu, path), stderr=tmp_path / "err") as served:
        served.until("/healthz", 200)
        code, took = served.stop(signal.SIGINT)
        text = served.text()
    assert code == 130, text
    assert took < 10
    assert "openai-usage: interrupted" in text
    assert run_cli("sync", "--status", "--store", str(path)).returncode == 0


def test_a_port_in_use_exits_9(tmp_path: pathlib.Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        done = run_cli(
            "serve",
            "--store",
            str(tmp_path / "usage.db"),
            "--start",
            "3d",
            "--port",
            str(port),
            "--base-url",
            "http://127.0.0.1:9/v1",
        )
    assert done.returncode == 9, done.stderr
    assert f"127.0.0.1:{port} is already in use" in done.stderr
    assert len(done.stderr.strip().splitlines()) == 1


def test_a_non_loopback_address_needs_a_token(tmp_path: pathlib.Path) -> None:
    done = run_cli("serve", "--store", str(tmp_path / "u.db"), "--start", "3d", "--host", "0.0.0.0")
    assert done.returncode == 2
    (line,) = done.stderr.strip().splitlines()
    for flag in (
        "--host",
        "--token-file",
        "--token",
        "$OPENAI_USAGE_SERVE_TOKEN",
        "--insecure-no-token",
    ):
        assert flag in line
    assert not (tmp_path / "u.db").exists()  # refused before anything was made
    both = run_cli("serve", "--token", "a", "--token-file", str(tmp_path / "t"))
    assert both.returncode == 2 and "--token-file: not allowed with --token" in both.stderr
    empty = tmp_path / "empty"
    empty.write_text("\n")
    done = run_cli("serve", "--token-file", str(empty), "--start", "1d")
    assert done.returncode == 2 and "holds no token" in done.stderr


def test_the_start_is_needed_for_an_empty_store(tmp_path: pathlib.Path) -> None:
    done = run_cli("serve", "--store", str(tmp_path / "u.db"))
    assert done.returncode == 2
    assert "--start: needed" in done.stderr and "costs_1d" in done.stderr
    assert run_cli("serve", "--every", "0", "--start", "1d").returncode == 2
    assert run_cli("serve", "--endpoints", "nope", "--start", "1d").returncode == 2


@pytest.mark.parametrize("source", ["file", "environment"])
def test_the_token_from_a_file_or_the_environment(
    source: str, emu: Emulator, tmp_path: pathlib.Path
) -> None:
    args = base(emu, tmp_path / "usage.db")
    env = serve_env()
    if source == "file":
        token_file = tmp_path / "token"
        token_file.write_text(TOKEN + "\n")
        args += ["--token-file", str(token_file)]
    else:
        env["OPENAI_USAGE_SERVE_TOKEN"] = TOKEN
    # With a token, any address may be served: here all of them, asked on loopback.
    with serving(*args, "--host", "0.0.0.0", stderr=tmp_path / "err", env=env) as served:
        served.url = served.url.replace("0.0.0.0", "127.0.0.1")
        served.until("/healthz", 200)
        assert served.get("/metrics")[0] == 401
        assert served.get("/api/summary", token="wrong")[0] == 401
        code, body = served.get("/metrics", token=TOKEN)
        assert code == 200 and metric(body, "openai_usage_up") == 1
        assert served.get("/api/summary", token=TOKEN)[0] == 200
        assert served.get("/livez")[0] == 200
        text = served.text()
        served.stop()
    assert "a token is required" in text
    assert TOKEN not in text and TEST_KEY not in text


def test_insecure_no_token_serves_everything_to_anyone(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    args = [*base(emu, tmp_path / "usage.db"), "--host", "0.0.0.0", "--insecure-no-token"]
    with serving(*args, stderr=tmp_path / "err") as served:
        served.url = served.url.replace("0.0.0.0", "127.0.0.1")
        served.until("/healthz", 200)
        assert served.get("/metrics")[0] == 200
        assert served.stop()[0] == 0


def test_a_second_serve_on_the_same_store_waits_for_the_first(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    path = tmp_path / "usage.db"
    # The first server's first sync is slow: every answer takes a second.
    emu.latency_ms = 1000
    with serving(*base(emu, path, every="1s"), stderr=tmp_path / "a") as first:
        deadline = time.monotonic() + 30
        while holder(str(path)) != first.process.pid:  # it holds the store now
            assert time.monotonic() < deadline, first.text()
            time.sleep(0.01)
        with serving(*base(emu, path, every="1s"), stderr=tmp_path / "b") as second:
            deadline = time.monotonic() + 30
            while True:
                code, reason = second.get("/healthz")
                if "waiting for" in reason:
                    break
                assert time.monotonic() < deadline, (code, reason, second.text())
                time.sleep(0.02)
            assert code == 503
            assert reason.startswith("first sync in progress (waiting for process ")
            assert str(first.process.pid) in reason
            assert f"process {first.process.pid} is syncing this store; waiting" in second.text()
            _, body = second.get("/metrics")
            assert metric(body, "openai_usage_up") == 0
            emu.latency_ms = 0  # the first finishes; then the second syncs in its turn
            first.until("/healthz", 200)
            second.until("/healthz", 200)
            assert second.stop()[0] == 0
        assert first.stop()[0] == 0


def test_durations_for_every() -> None:
    assert [parse_every(t) for t in ("5m", "30s", "0.5s", "250ms", "1h", "10", ".5s")] == [
        300,
        30,
        0.5,
        0.25,
        3600,
        10,
        0.5,
    ]
    for bad in ("", "x", "0", "0s", "-1s", "5 minutes", "1e3"):
        with pytest.raises(ValueError):
            parse_every(bad)


def test_loopback_addresses() -> None:
    assert all(is_loopback(h) for h in ("127.0.0.1", "127.8.9.10", "::1", "[::1]", "localhost"))
    assert not any(is_loopback(h) for h in ("0.0.0.0", "::", "", "192.0.2.1", "203.0.113.5"))


def test_without_the_serve_extra_the_error_names_it(tmp_path: pathlib.Path) -> None:
    shadow = tmp_path / "shadow" / "prometheus_client"
    shadow.mkdir(parents=True)
    (shadow / "__init__.py").write_text("raise ImportError('No module named prometheus_client')\n")
    env = {**serve_env(), "PYTHONPATH": str(shadow.parent)}
    done = run_cli("serve", "--store", str(tmp_path / "u.db"), "--start", "1d", env=env)
    assert done.returncode == 8, done.stderr
    assert done.stderr.startswith("openai-usage: error: ")
    assert "openai_usage_async[serve]" in done.stderr
    assert not (tmp_path / "u.db").exists()
