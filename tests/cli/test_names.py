"""Names instead of IDs on the command line: summary, fetch --names, directory, the store."""

from __future__ import annotations

import csv
import io
import json
import pathlib

import pytest

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
    named = [p for p in d.projects if p.name and p.name in projects and p.status != "archived"]
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


ADMIN_KEY_HELP = (
    "the Usage API needs an organization Admin key (sk-admin-...), which an organization "
    "owner creates at https://platform.openai.com/settings/organization/admin-keys"
)


@pytest.mark.parametrize(
    ("key", "kind"),
    [
        ("sk-proj-abc123", "a project key (sk-proj-...)"),
        ("sk-svcacct-x", "a service-account key (sk-svcacct-...)"),
    ],
)
@pytest.mark.parametrize(
    "command",
    [["summary", *SPAN], ["summary", *SPAN, "--no-names"], ["fetch", "costs", *SPAN, "--names"]],
)
def test_a_project_key_gets_one_message(
    emu: Emulator, key: str, kind: str, command: list[str]
) -> None:
    """The service refuses it everywhere (403): no note that it "may read usage" first."""
    done = run_cli(*base(emu), *command, key=key)
    assert done.returncode == 4
    assert done.stderr == (
        f"openai-usage: error: the API refused the key (403): it is {kind}; {ADMIN_KEY_HELP}\n"
    )
    assert key not in done.stderr and done.stdout == ""


def test_a_wrong_admin_key_is_told_what_the_api_needs(emu: Emulator) -> None:
    emu._api_key = "sk-admin-the-right-one"
    done = run_cli(*base(emu), "fetch", "costs", *SPAN, key="sk-admin-wrong")
    assert done.returncode == 4
    assert done.stderr.startswith("openai-usage: error: the API refused the key (401): ")
    assert "Admin key (sk-admin-...)" in done.stderr and len(done.stderr.splitlines()) == 1


def test_summary_marks_archived_projects_and_deleted_keys(emu: Emulator) -> None:
    org = emu.org
    archived = next(p for p in org.directory.projects if p.id == org.archived_project_id)
    done = run_cli(*base(emu), "summary", *SPAN, "--by", "project")
    assert done.returncode == 0, done.stderr
    projects = section(done.stdout, "Cost by project")
    assert f"{archived.name} ({archived.id[:10]}…, archived)" in projects
    assert "archived" in section(done.stdout, "Top movers by project")
    keys = section(done.stdout, "Cost by API key")
    assert f"{org.deleted_api_key_id[:10]}… (deleted key)" in keys
    assert org.deleted_api_key_id not in keys  # shortened, as named keys are
    assert done.stderr == ""


def test_a_key_whose_project_keys_could_not_be_listed_is_not_called_deleted(
    emu: Emulator,
) -> None:
    """A listing that failed (after retries) leaves its keys unnamed: said so, with a note."""
    d = emu.org.directory
    deleted = d.deleted_api_key
    project = next(
        p.id
        for p in d.projects
        if p.id != deleted.project_id and any(k.project_id == p.id for k in d.api_keys)
    )
    path = f"/organization/projects/{project}/api_keys"
    emu.listing_faults[path] = Fault(status=500)
    try:
        done = run_cli(*base(emu), "--max-retries", "0", "summary", *SPAN)
    finally:
        del emu.listing_faults[path]
    assert done.returncode == 0, done.stderr
    keys = section(done.stdout, "Cost by API key")
    unlisted = [k for k in d.api_keys if k.project_id == project]
    assert any(f"{k.id[:10]}… (its project's keys could not be listed)" in keys for k in unlisted)
    assert f"{deleted.id[:10]}… (deleted key)" in keys
    assert done.stderr == (
        f"openai-usage: note: the directory could not read the API keys of {project} "
        "(HTTP 500); what they name is left out\n"
    )


def test_a_directory_that_cannot_be_read_leaves_ids_and_a_note(emu: Emulator) -> None:
    """A directory that fails (500, after retries) costs the names, not the report."""
    emu.faults.append(Fault(status=500, endpoints=frozenset({"projects"})))
    done = run_cli(*base(emu), "--max-retries", "0", "summary", *SPAN)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        "openai-usage: note: the organization directory could not be read (HTTP 500), so "
        "IDs are shown without names\n"
    )
    keys = section(done.stdout, "Cost by API key")
    assert "deleted" not in keys and emu.org.deleted_api_key_id in keys  # IDs only


def test_summary_from_a_store_without_names_says_why(emu: Emulator, tmp_path: pathlib.Path) -> None:
    emu.faults.append(Fault(status=403, endpoints=DIRECTORY))
    store = tmp_path / "usage.db"
    synced = run_cli(*base(emu), "sync", "--store", str(store), *SPAN, "--endpoints", "costs", "-q")
    assert synced.returncode == 0, synced.stderr
    done = run_cli("summary", "--store", str(store), *SPAN, key=None)
    assert done.returncode == 0, done.stderr
    assert done.stderr == (
        f"openai-usage: note: {store} keeps no names (no sync could read the organization "
        "directory), so IDs are shown without names\n"
    )
