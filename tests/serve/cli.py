"""``openai-usage serve`` as users run it: a subprocess, its stderr in a file, HTTP over
loopback. Shared by the command's tests, the Prometheus test and the soak."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

from tests.helpers import TEST_KEY

SERVING = re.compile(r"openai-usage serve: serving (http://\S+?)/ ")


def serve_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("OPENAI_")}
    env["OPENAI_ADMIN_KEY"] = TEST_KEY
    env.update(extra)
    return env


@dataclass
class Served:
    """A running ``openai-usage serve``: its process, its stderr file and its URL."""

    process: subprocess.Popen[bytes]
    stderr: pathlib.Path
    url: str = ""

    def text(self) -> str:
        return self.stderr.read_text(errors="replace")

    def wait_serving(self, timeout_s: float = 60) -> str:
        """Wait for the line that says where it serves; return the base URL."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            found = SERVING.search(self.text())
            if found:
                self.url = found.group(1)
                return self.url
            if self.process.poll() is not None:
                raise AssertionError(f"serve exited {self.process.returncode}:\n{self.text()}")
            time.sleep(0.02)
        raise AssertionError(f"serve said nothing in {timeout_s}s:\n{self.text()}")

    def get(self, path: str, token: str | None = None, timeout_s: float = 10) -> tuple[int, str]:
        """GET a path; (status, body)."""
        request = urllib.request.Request(self.url + path)
        if token is not None:
            request.add_header("Authorization", f"Bearer {token}")
        try:
            with urllib.request.urlopen(request, timeout=timeout_s) as response:
                return response.status, response.read().decode()
        except urllib.error.HTTPError as exc:
            return exc.code, exc.read().decode()

    def until(self, path: str, want: int, token: str | None = None, timeout_s: float = 60) -> str:
        """Poll a path until it answers ``want``; its body."""
        deadline = time.monotonic() + timeout_s
        seen: tuple[int, str] = (0, "")
        while time.monotonic() < deadline:
            seen = self.get(path, token)
            if seen[0] == want:
                return seen[1]
            assert self.process.poll() is None, f"serve exited:\n{self.text()}"
            time.sleep(0.02)
        raise AssertionError(f"{path}: {seen} after {timeout_s}s, not {want}\n{self.text()}")

    def stop(self, sig: int = signal.SIGTERM, timeout_s: float = 10) -> tuple[int, float]:
        """Send ``sig``; (exit code, seconds it took to exit)."""
        began = time.monotonic()
        self.process.send_signal(sig)
        code = self.process.wait(timeout=timeout_s)
        return code, time.monotonic() - began


def start_serve(*args: str, stderr: pathlib.Path, env: dict[str, str] | None = None) -> Served:
    with open(stderr, "wb") as err:
        process = subprocess.Popen(
            [sys.executable, "-m", "openai_usage_async", "serve", *args],
            stdout=subprocess.DEVNULL,
            stderr=err,
            env=env if env is not None else serve_env(),
        )
    return Served(process, stderr)


@contextlib.contextmanager
def serving(
    *args: str, stderr: pathlib.Path, env: dict[str, str] | None = None
) -> Iterator[Served]:
    """A running ``serve`` (waited for), killed at the end if it still runs."""
    served = start_serve(*args, stderr=stderr, env=env)
    try:
        served.wait_serving()
        yield served
    finally:
        if served.process.poll() is None:
            served.process.kill()
            served.process.wait(timeout=30)


def run_cli(
    *args: str, env: dict[str, str] | None = None, timeout_s: float = 120
) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "openai_usage_async", *args],
        capture_output=True,
        text=True,
        timeout=timeout_s,
        env=env if env is not None else serve_env(),
    )


def metric(body: str, name: str, labels: Sequence[str] = ()) -> float:
    """One sample's value from a text exposition (the first that has ``labels``)."""
    for line in body.splitlines():
        if line.startswith((name + "{", name + " ")):
            if all(label in line for label in labels):
                return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels}")
