"""A real Prometheus server scrapes ``serve``; ``promtool`` checks the exposition and the
example configuration the docs ship.

Debian's ``prometheus`` package provides both binaries; ``.ci/run`` installs it. Without
them these tests fail (never skip): a monitoring feature whose monitoring is untested
would be untested.
"""

from __future__ import annotations

import contextlib
import pathlib
import shutil
import socket
import subprocess
from collections.abc import AsyncIterator, Iterator
from typing import Any

import aiohttp
import anyio
import pytest
from aiohttp import web

from openai_usage_async import AsyncUsageClient
from openai_usage_async.emulator import Emulator
from openai_usage_async.serve import create_app
from openai_usage_async.store import Store
from tests.serve.conftest import T0, first_sync, month_costs, project_names

ROOT = pathlib.Path(__file__).parent.parent.parent
EXAMPLES = ROOT / "docs" / "examples" / "prometheus"
TOKEN = "prometheus-test-token-0d5e"


def binary(name: str) -> str:
    found = shutil.which(name)
    if found is None:
        pytest.fail(
            f"{name} is not installed: these tests need Debian's `prometheus` package "
            "(.ci/run installs it: apt-get install -y prometheus)"
        )
    return found


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@contextlib.asynccontextmanager
async def listening(app: web.Application) -> AsyncIterator[str]:
    """The app on a real loopback port (Prometheus is another process); its base URL."""
    runner = web.AppRunner(app, shutdown_timeout=1)
    await runner.setup()
    try:
        site = web.TCPSite(runner, "127.0.0.1", 0)
        await site.start()
        (address,) = runner.addresses
        yield f"127.0.0.1:{address[1]}"
    finally:
        await runner.cleanup()


def config(tmp_path: pathlib.Path, target: str) -> pathlib.Path:
    """The docs' example configuration, pointed at the test's server and token file, its
    scrapes and rules every second."""
    token = tmp_path / "token"
    token.write_text(TOKEN + "\n")
    shutil.copy(EXAMPLES / "alerts.yml", tmp_path / "alerts.yml")
    text = (EXAMPLES / "prometheus.yml").read_text()
    for old, new in (
        ("/etc/prometheus/openai-usage.token", str(token)),
        ('"127.0.0.1:9464"', f'"{target}"'),
        ("scrape_interval: 1m", "scrape_interval: 1s"),
        ("evaluation_interval: 1m", "evaluation_interval: 1s"),
    ):
        assert old in text, old
        text = text.replace(old, new)
    path = tmp_path / "prometheus.yml"
    path.write_text(text)
    return path


@contextlib.contextmanager
def prometheus(cfg: pathlib.Path, tmp_path: pathlib.Path) -> Iterator[str]:
    """Prometheus on a free loopback port, its data in a temporary directory; its URL."""
    port = free_port()
    log = tmp_path / "prometheus.log"
    with open(log, "wb") as out:
        process = subprocess.Popen(
            [
                binary("prometheus"),
                f"--config.file={cfg}",
                f"--storage.tsdb.path={tmp_path / 'data'}",
                f"--web.listen-address=127.0.0.1:{port}",
            ],
            stdout=out,
            stderr=subprocess.STDOUT,
        )
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        process.terminate()
        try:
            process.wait(timeout=20)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()
        assert process.returncode in (0, -15), log.read_text()[-3000:]


async def query(http: aiohttp.ClientSession, url: str, promql: str) -> list[dict[str, Any]]:
    """An instant query's result vector ([] until there is data, or while starting)."""
    try:
        async with http.get(f"{url}/api/v1/query", params={"query": promql}) as response:
            if response.status != 200:
                return []
            body = await response.json()
    except aiohttp.ClientConnectionError:
        return []
    result: list[dict[str, Any]] = body["data"]["result"]
    return result


async def until_result(
    http: aiohttp.ClientSession, url: str, promql: str, timeout_s: float = 90
) -> list[dict[str, Any]]:
    with anyio.fail_after(timeout_s):
        while True:
            result = await query(http, url, promql)
            if result:
                return result
            await anyio.sleep(0.25)


async def test_prometheus_scrapes_the_months_cost_and_evaluates_the_example_rules(
    emulator: Emulator, client: AsyncUsageClient, store: Store, tmp_path: pathlib.Path
) -> None:
    binary("prometheus")
    app = create_app(client, store, every=0.5, start_time=T0, token=TOKEN)
    async with listening(app) as target:
        with prometheus(config(tmp_path, target), tmp_path) as url:
            await first_sync(app)
            async with aiohttp.ClientSession() as http:
                by_project = await until_result(http, url, "openai_usage_month_cost_usd")
                total = await until_result(http, url, "sum(openai_usage_month_cost_usd)")
                up = await until_result(http, url, 'up{job="openai-usage"}')
                synced = await until_result(http, url, "openai_usage_up == 1")
                # The example rules load and match these labels: the project whose
                # forecast is past its limit is pending (for: 1h) or firing.
                alerts = await until_result(
                    http, url, 'ALERTS{alertname="OpenAIUsageForecastAboveProjectLimit"}'
                )
    truth = await month_costs(client)
    assert float(total[0]["value"][1]) == pytest.approx(sum(truth.values()))
    got = {r["metric"]["project_id"]: float(r["value"][1]) for r in by_project}
    assert {k: v for k, v in got.items() if v} == pytest.approx(
        {k: v for k, v in truth.items() if v}
    )
    names = project_names(emulator)
    for r in by_project:
        assert r["metric"]["project_name"] == names.get(r["metric"]["project_id"], "")
        assert r["metric"]["organization"] == "acme"  # the example's target label
    assert up[0]["value"][1] == "1" and synced
    assert {a["metric"]["project_id"] for a in alerts} == {emulator.spend.enforcing_project_id}


async def test_promtool_finds_the_exposition_clean(client: AsyncUsageClient, store: Store) -> None:
    promtool = binary("promtool")
    app = create_app(client, store, every=3600, start_time=T0)
    async with listening(app) as target, aiohttp.ClientSession() as http:
        await first_sync(app)
        async with http.get(f"http://{target}/metrics") as response:
            body = await response.read()
    with anyio.fail_after(60):
        done = await anyio.run_process([promtool, "check", "metrics"], input=body, check=False)
    assert done.returncode == 0, done.stdout.decode() + done.stderr.decode()
    assert not done.stdout.strip() and not done.stderr.strip()  # no lint warning either
    assert b"openai_usage_cost_usd_total{" in body


def test_promtool_accepts_the_example_config_and_rules(tmp_path: pathlib.Path) -> None:
    promtool = binary("promtool")
    rules = subprocess.run(
        [promtool, "check", "rules", str(EXAMPLES / "alerts.yml")],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert rules.returncode == 0, rules.stdout + rules.stderr
    assert "SUCCESS: 4 rules found" in rules.stdout
    # The token file must exist for promtool: the example's, in a temporary directory.
    cfg = config(tmp_path, "127.0.0.1:9464")
    checked = subprocess.run(
        [promtool, "check", "config", str(cfg)], capture_output=True, text=True, timeout=60
    )
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "SUCCESS" in checked.stdout + checked.stderr
