"""Every example script under docs/ runs and prints what it says."""

from __future__ import annotations

import json
import pathlib
import subprocess
import sys

import pytest

EXAMPLES = pathlib.Path(__file__).parent.parent / "docs" / "examples"


def run(name: str, *args: str) -> str:
    done = subprocess.run(
        [sys.executable, str(EXAMPLES / name), *args], capture_output=True, text=True, timeout=120
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


def test_dashboard() -> None:
    lines = run("dashboard.py").splitlines()
    assert lines[0].startswith("Last 30 days: $")
    assert len(lines[0].split("daily ")[1]) == 30  # one bar per day
    assert lines[1] == "Top line items:" and lines[7] == "Tokens by model:"
    assert lines[-3:] == [
        "embeddings: 30 of 30 days with usage",
        "images: 30 of 30 days with usage",
        "web_search_calls: 30 of 30 days with usage",
    ]


def test_web_app() -> None:
    status, body = run("web_app.py").split(" ", 1)
    assert status == "200"
    answer = json.loads(body)
    assert len(answer["days"]) == 7
    assert answer["total_usd"] == pytest.approx(sum(d["usd"] for d in answer["days"]), abs=0.05)


def test_backfill(tmp_path: pathlib.Path) -> None:
    target = tmp_path / "minutes.jsonl"
    out = run("backfill.py", str(target))
    assert out.startswith("43,200 minute buckets, ")
    rows = [json.loads(line) for line in target.read_text().splitlines()]
    assert rows and list(rows[0])[:3] == ["start_time", "end_time", "object"]
    assert f"{len(rows):,} rows" in out and out.splitlines()[-1] == f"wrote {target}"
    starts = [r["start_time"] for r in rows]
    assert starts == sorted(starts)  # in time order
    assert [p.name for p in tmp_path.iterdir()] == ["minutes.jsonl"]  # no temporary left over
