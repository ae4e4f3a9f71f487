"""Every example script under docs/ runs and prints what it says."""

from __future__ import annotations

import pathlib
import subprocess
import sys

EXAMPLES = pathlib.Path(__file__).parent.parent / "docs" / "examples"


def run(name: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name)], capture_output=True, text=True, timeout=120
    )
    assert done.returncode == 0, done.stderr
    return done.stdout


def test_emulator_tour() -> None:
    out = run("emulator_tour.py")
    lines = out.splitlines()
    assert lines[0].startswith("30 days of costs from the emulator at http://127.0.0.1:")
    assert "(3 pages)" in lines[0]
    amounts = [float(line.rsplit("$", 1)[1].replace(",", "")) for line in lines[1:]]
    assert len(amounts) == 9
    assert amounts[:-1] == sorted(amounts[:-1], reverse=True)
    assert amounts[-1] > sum(amounts[:-1]) * 0.999 > 0
