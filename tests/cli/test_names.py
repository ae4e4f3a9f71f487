"""Names instead of IDs on the command line: summary, fetch --names, directory, the store."""

from __future__ import annotations

import csv
import io
import json
import pathlib

from openai_usage_async.emulator import Emulator, Fault
from tests.cli.conftest import run_cli
from tests.helpers import DAY, NOW

TODAY = NOW // DAY * DAY
SPAN = ["--start", str(TODAY - 14 * DAY), "--end", str(TODAY)]
DIRECTORY = frozenset({"projects", "users", "project_api_keys", "project_service_accounts"})


def base(emu: Emulator) -> list[str]:
    assert emu.base_url is not None
    return ["--base-url", emu.base_url]


def section(text: str, title: str) -> str:
    return text.split(title, 1)[1].split("\n\n", 1)[0]


def test_summary_shows_names_beside_ids(emu: Emulator) -> None:
    done = run_cli(*base(emu), "summary", *SPAN, "--by", "project")
    assert done.returncode == 0, done.stderr
    d = emu.org.directory
    projects = section(done.stdout, "Cost by project")
    named = [p for p in d.projects if p.name and p.name in projects]
    assert named, projects
    assert f"{named[0].name} ({named[0].id[:10]}…)" in projects
    users = section(done.stdout, "Top users by completion tokens")
    assert any(u.email in users for u in d.users)
    keys = section(done.stdout, "Cost by API key")
    assert any(k.name and k.name in keys for k in d.api_keys)
    movers = section(done.stdout, "Top movers by project")
    assert any(p.name and p.name in movers for p in d.projects)
    assert done.stderr == ""


def test_no_names_shows_ids_only(emu: Emulator) -> None:
    done = run_cli(*base(emu), "summary", *SPAN, "--no-names")
    assert done.returncode == 0, done.stderr
    assert not any(p.name and p.name in done.stdout for p in emu.org.directory.projects)
    assert all(e not in DIRECTORY for e in emu.statistics().requests_by_endpoint)


def test_a_key_that_may_not_read_the_directory_gets_a_note_and_ids(emu: Emulator) -> None:
    emu.faults.append(Fault(status=403, endpoints=DIRECTORY))
    done = run_cli(*base(emu), "summary", *SPAN)
    assert done.returncode == 0, done.stderr
    assert done.stderr.count("\n") == 1
    assert done.stderr.startswith("openai-usage: note: this key may read usage but not the")
    assert "Cost by project" in done.stdout
    assert not any(p.name and p.name in done.stdout for p in emu.org.directory.projects)


def test_fetch_names_adds_name_columns_in_every_format(
    emu: Emulator, tmp_path: pathlib.Path
) -> None:
    d = emu.org.directory
    names = {p.id: p.name for p in d.projects}
    fetch = [*base(emu), "fetch", "completions", *SPAN, "--group-by", "project_id,api_key_id"]
    done = run_cli(*fetch, "--names", "--format", "csv")
    assert done.returncode == 0, done.stderr
    rows = list(csv.DictReader(io.StringIO(done.stdout)))
    header = list(rows[0])
    assert header[header.index("project_id") + 1] == "project_name"
    assert header[header.index("api_key_id") + 1] == "api_key_name"
    assert all(r["project_name"] == names[r["project_id"]] for r in rows)
    gone = [r for r in rows if r["api_key_id"] == emu.org.deleted_api_key_id]
    assert all(r["api_key_name"] == "" for r in gone)
    lines = run_cli(*fetch, "--names", "--format", "jsonl").stdout.splitlines()
    assert all(
        json.loads(line)["project_name"] == names[json.loads(line)["project_id"]] for line in lines
    )
    pages = json.loads(run_cli(*fetch, "--names", "--format", "json").stdout)
    result = pages[0]["data"][0]["results"][0]
    assert result["project_name"] == names[result["project_id"]]
    table = run_cli(*fetch, "--names").stdout
    assert any(name and name in table for name in names.values())
    parquet = tmp_path / "named.parquet"
    assert run_cli(*fetch, "--names", "--format", "parquet", "-o", str(parquet)).returncode == 0
    import pyarrow.parquet as pq

    columns = pq.read_table(parquet).column_names
    assert columns[columns.index("project_id") + 1] == "project_name"
    plain = run_cli(*fetch, "--format", "csv").stdout
    assert "project_name" not in plain.splitlines()[0]


def test_the_directory_command(emu: Emulator) -> None:
    d = emu.org.directory
    table = run_cli(*base(emu), "directory")
    assert table.returncode == 0, table.stderr
    assert f"Projects ({len(d.projects)})" in table.stdout
    assert f"API keys ({len(d.api_keys)})" in table.stdout
    assert "archived" in table.stdout
    rows = list(
        csv.DictReader(io.StringIO(run_cli(*base(emu), "directory", "--format", "csv").stdout))
    )
    assert {r["id"] for r in rows if r["kind"] == "user"} == {u.id for u in d.users}
    assert {r["id"] for r in rows if r["kind"] == "api_key"} == {k.id for k in d.api_keys}
    jsonl = run_cli(*base(emu), "directory", "--format", "jsonl").stdout.splitlines()
    assert len(jsonl) == len(rows)


def test_summary_from_the_store_has_the_same_names(emu: Emulator, tmp_path: pathlib.Path) -> None:
    store = tmp_path / "usage.db"
    done = run_cli(*base(emu), "sync", "--store", str(store), *SPAN, "-q")
    assert done.returncode == 0, done.stderr
    assert "directory: " in done.stdout and "projects" in done.stdout
    online = run_cli(*base(emu), "summary", *SPAN)
    offline = run_cli("summary", "--store", str(store), *SPAN, key=None)
    assert offline.returncode == 0, offline.stderr
    assert offline.stdout == online.stdout


def test_demo_shows_names() -> None:
    done = run_cli("demo", "--days", "10", key=None)
    assert done.returncode == 0, done.stderr
    assert "(proj_" in section(done.stdout, "Cost by project")


def test_a_refused_key_is_exit_4_not_a_bug(emu: Emulator) -> None:
    emu._api_key = "sk-admin-the-right-one"
    done = run_cli(*base(emu), "summary", *SPAN)
    assert done.returncode == 4, done.stderr
    assert done.stderr.startswith("openai-usage: error: the API refused the key (401)")
