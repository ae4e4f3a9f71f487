"""The dlt source: pipelines into DuckDB against the emulator on 127.0.0.1."""

from __future__ import annotations

import pathlib
import subprocess
import sys
from collections.abc import Iterator
from typing import Any

import dlt
import duckdb
import pytest

from openai_usage_async import UsageClient, errors
from openai_usage_async.dlt import usage_source
from openai_usage_async.emulator import Emulator, Fault, serve_in_thread
from openai_usage_async.store._schema import schema_for
from openai_usage_async.store._sync import _auto_group_by
from tests.e2e.conftest import fast_retries, same_clock
from tests.helpers import DAY, NOW, TEST_KEY

T0 = NOW - 10 * DAY
START = T0 - T0 % DAY
ENDPOINTS = ["costs", "completions", "embeddings"]


@pytest.fixture(autouse=True)
def _dlt_in_tmp(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """No telemetry, no config from the developer's machine, every file under tmp_path."""
    monkeypatch.setenv("RUNTIME__DLTHUB_TELEMETRY", "false")
    monkeypatch.setenv("DLT_DATA_DIR", str(tmp_path / "dlt-data"))
    monkeypatch.delenv("OPENAI_ADMIN_KEY", raising=False)
    monkeypatch.delenv("OPENAI_BASE_URL", raising=False)
    monkeypatch.chdir(tmp_path)


@pytest.fixture
def emulator() -> Iterator[Emulator]:
    """One of its own: these tests move its clock and revise its data."""
    with serve_in_thread(now=NOW) as emu:
        yield emu


@pytest.fixture
def client(emulator: Emulator) -> Iterator[UsageClient]:
    with UsageClient(TEST_KEY, base_url=emulator.base_url, max_concurrency=4) as c:
        same_clock(fast_retries(c._async, max_retries=8), emulator)
        yield c


def cause(exc: BaseException) -> BaseException:
    """The error under dlt's wrapping (PipelineStepFailed, ResourceExtractionError)."""
    while exc.__cause__ is not None:
        exc = exc.__cause__
    return exc


def pipeline(tmp_path: pathlib.Path) -> Any:
    return dlt.pipeline(
        "usage_test",
        destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
        dataset_name="usage",
        pipelines_dir=str(tmp_path / "pipelines"),
    )


def table(tmp_path: pathlib.Path, name: str) -> list[tuple[Any, ...]]:
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        columns = [c.name for c in schema_for(name.rsplit("_", 1)[0], "1d").columns]
        rows = db.sql(f"SELECT {', '.join(columns)} FROM usage.{name}").fetchall()
    return sorted(rows, key=repr)


def expected(client: UsageClient, endpoint: str, end: int) -> list[tuple[Any, ...]]:
    """The rows the store's schema makes of a fresh list() of the whole range."""
    buckets = getattr(client.usage, endpoint).list(
        start_time=START, end_time=end, bucket_width="1d", group_by=_auto_group_by(endpoint)
    )
    return sorted(schema_for(endpoint, "1d").rows(buckets), key=repr)


def test_two_runs_equal_the_service_and_replace_revised_buckets(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    p = pipeline(tmp_path)
    p.run(usage_source(ENDPOINTS, start_time=T0, client=client))
    first = {e: table(tmp_path, f"{e}_1d") for e in ENDPOINTS}
    for e in ENDPOINTS:
        assert first[e] == expected(client, e, NOW)
        assert len(first[e]) > 0

    later = NOW + DAY + 3600
    emulator.now = later
    emulator.revise()
    emulator.reset_statistics()
    p.run(usage_source(ENDPOINTS, start_time=T0, client=client))
    stats = emulator.statistics()
    for e in ENDPOINTS:
        got = table(tmp_path, f"{e}_1d")
        want = expected(client, e, later)
        assert got == want  # counts, values and sums: the service's, no duplicates
        keys = [r[:-1] for r in got]
        assert len(set(map(repr, keys))) == len(keys)
        # Rows changed only in the overlap (2 days before the first run's end) and later;
        # the first run's rows of the bucket that has grown since are gone, not kept.
        overlap_start = NOW - 2 * DAY - (NOW - 2 * DAY) % DAY
        changed = set(got) ^ set(first[e])
        assert changed and min(r[0] for r in changed) >= overlap_start
        assert any(r[0] == NOW - NOW % DAY for r in set(first[e]) - set(got))
        # Settled buckets were not fetched again: one request per endpoint's window.
        assert stats.requests_by_endpoint[e] == 1
    costs = table(tmp_path, "costs_1d")
    total = sum(r[schema_for("costs", "1d").column_names.index("amount_value")] or 0 for r in costs)
    service = sum(
        (result.amount.value or 0)
        for b in client.usage.costs.list(start_time=START, end_time=later)
        for result in b.results
    )
    assert total == pytest.approx(service)


def test_the_directory_is_three_tables_replaced_each_run(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    p = pipeline(tmp_path)
    p.run(usage_source(["costs"], start_time=T0, client=client))
    p.run(usage_source(["costs"], start_time=T0, client=client))
    directory = client.organization.directory()
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        projects = dict(db.sql("SELECT id, name FROM usage.projects").fetchall())
        users = dict(db.sql("SELECT id, email FROM usage.users").fetchall())
        keys = dict(db.sql("SELECT id, name FROM usage.api_keys").fetchall())
        named = db.execute(
            "SELECT count(*) FROM usage.costs_1d c JOIN usage.projects p ON c.project_id = p.id"
        ).fetchone()
    assert projects == {x.id: x.name for x in directory.projects}
    assert users == {u.id: u.email for u in directory.users}
    assert keys == {k.id: k.name for k in directory.api_keys}
    assert named is not None and named[0] > 0  # usage joins to names in SQL


def test_a_key_that_may_not_read_the_directory_loads_usage_alone(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    emulator.faults.append(Fault(status=403, endpoints=frozenset({"projects"})))
    p = pipeline(tmp_path)
    p.run(usage_source(["costs"], start_time=T0, client=client))
    assert table(tmp_path, "costs_1d") == expected(client, "costs", NOW)
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        tables = {r[0] for r in db.sql("SELECT table_name FROM duckdb_tables()").fetchall()}
    assert "costs_1d" in tables and "projects" not in tables


def test_a_failed_run_commits_no_state_and_the_next_run_completes(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    p = pipeline(tmp_path)
    emulator.faults.append(Fault(status=400, first=1, endpoints=frozenset({"completions"})))
    with pytest.raises(Exception) as failed:
        p.run(usage_source(["costs", "completions"], start_time=T0, client=client))
    assert isinstance(cause(failed.value), errors.BadRequestError)
    emulator.faults.clear()
    p.run(usage_source(["costs", "completions"], start_time=T0, client=client))
    for e in ("costs", "completions"):
        assert table(tmp_path, f"{e}_1d") == expected(client, e, NOW)


def test_a_resource_keeps_its_grouping(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    p = pipeline(tmp_path)
    p.run(usage_source(["costs"], start_time=T0, group_by=["project_id"], client=client))
    emulator.reset_statistics()
    with pytest.raises(Exception) as failed:
        p.run(usage_source(["costs"], start_time=T0, client=client))
    refused = cause(failed.value)
    assert isinstance(refused, ValueError)
    assert str(refused).startswith("group_by: costs_1d was loaded grouped by project_id;")
    assert emulator.statistics().requests_by_endpoint.get("costs", 0) == 0


def test_the_key_comes_from_dlt_secrets_and_is_written_nowhere(tmp_path: pathlib.Path) -> None:
    """As a user runs it: a script beside ``.dlt/secrets.toml``, no key in the code."""
    key = "sk-admin-from-dlt-secrets-4242"
    secrets = tmp_path / ".dlt" / "secrets.toml"
    secrets.parent.mkdir()
    secrets.write_text(f'[sources.openai_usage]\napi_key = "{key}"\n')
    script = (
        "import dlt, sys\n"
        "from openai_usage_async.dlt import usage_source\n"
        "pipeline = dlt.pipeline('usage', destination=dlt.destinations.duckdb('warehouse.duckdb'),"
        " dataset_name='usage', pipelines_dir='pipelines')\n"
        "pipeline.run(usage_source(['costs'], start_time=int(sys.argv[1]), base_url=sys.argv[2]))\n"
    )
    with serve_in_thread(now=NOW, api_key=key) as emu:
        subprocess.run(
            [sys.executable, "-c", script, str(NOW - 3 * DAY), str(emu.base_url)],
            cwd=tmp_path,
            check=True,
            capture_output=True,
        )
        statuses = emu.statistics().responses_by_status
    assert statuses.get(200, 0) > 0 and statuses.get(401, 0) == 0
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        counted = db.execute("SELECT count(*) FROM usage.costs_1d").fetchone()
    assert counted is not None and counted[0] > 0
    written = [f for f in tmp_path.rglob("*") if f.is_file() and f != secrets]
    assert len(written) > 3
    assert not [f for f in written if key.encode() in f.read_bytes()]


@pytest.mark.parametrize(
    ("arguments", "match"),
    [
        ({"endpoints": ["teleports"]}, r"^endpoints: unknown endpoint 'teleports'"),
        ({"endpoints": "costs"}, r"^endpoints: expected 'all' or a list"),
        ({"bucket_width": "1w"}, r"^bucket_width: '1w'"),
        ({"endpoints": ["costs"], "bucket_width": "1h"}, r"^bucket_width: '1h' is not supported"),
        ({"group_by": ["size"], "endpoints": ["costs"]}, r"^group_by: 'size'"),
        ({"overlap": "2d"}, r"^overlap: expected a timedelta"),
        ({"start_time": "yesterday"}, r"^start_time: "),
        ({"client": "not a client"}, r"^client: expected a UsageClient"),
        ({"api_key": None}, r"^api_key: no key given"),
    ],
)
def test_bad_arguments_are_refused_when_the_source_is_made(
    emulator: Emulator, arguments: dict[str, Any], match: str
) -> None:
    given = {"start_time": T0, "api_key": TEST_KEY, "base_url": emulator.base_url} | arguments
    with pytest.raises(ValueError, match=match):
        usage_source(**given)
    assert emulator.statistics().requests_total == 0


def test_without_dlt_the_import_names_the_extra() -> None:
    code = (
        "import sys; sys.modules['dlt'] = None\n"
        "try:\n    import openai_usage_async.dlt\n"
        "except ImportError as e:\n    print(e)\n"
    )
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert "pip install 'openai_usage_async[dlt]'" in out.stdout


def test_a_fresh_runner_restores_the_state_from_the_destination(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    """An orchestrator's container has no pipeline directory: the next run is incremental."""
    pipeline(tmp_path).run(usage_source(["costs"], start_time=T0, client=client))
    emulator.reset_statistics()
    elsewhere = dlt.pipeline(
        "usage_test",
        destination=dlt.destinations.duckdb(str(tmp_path / "warehouse.duckdb")),
        dataset_name="usage",
        pipelines_dir=str(tmp_path / "another-runner"),
    )
    elsewhere.run(usage_source(["costs"], start_time=T0, client=client))
    assert emulator.statistics().requests_by_endpoint["costs"] == 1  # the overlap alone
    assert table(tmp_path, "costs_1d") == expected(client, "costs", NOW)


def test_an_earlier_start_time_later_loads_the_earlier_range_too(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    p = pipeline(tmp_path)
    p.run(usage_source(["costs"], start_time=NOW - 3 * DAY, client=client))
    p.run(usage_source(["costs"], start_time=T0, client=client))
    assert table(tmp_path, "costs_1d") == expected(client, "costs", NOW)
    emulator.reset_statistics()
    p.run(usage_source(["costs"], start_time=T0, client=client))  # now incremental again
    assert emulator.statistics().requests_by_endpoint["costs"] == 1


DIRECTORY_ENDPOINTS = frozenset(
    {"projects", "users", "project_api_keys", "project_service_accounts"}
)


def directory_tables(tmp_path: pathlib.Path) -> dict[str, list[tuple[Any, ...]]]:
    """The rows of the three directory tables, without dlt's own columns."""
    out = {}
    with duckdb.connect(str(tmp_path / "warehouse.duckdb"), read_only=True) as db:
        for name in ("projects", "users", "api_keys"):
            columns = [
                c for c in db.sql(f"SELECT * FROM usage.{name}").columns if not c.startswith("_dlt")
            ]
            rows = db.sql(f"SELECT {', '.join(columns)} FROM usage.{name}").fetchall()
            out[name] = sorted(rows, key=repr)
    return out


def test_a_directory_that_cannot_be_read_leaves_the_tables_as_they_were(
    tmp_path: pathlib.Path, emulator: Emulator, client: UsageClient
) -> None:
    p = pipeline(tmp_path)
    p.run(usage_source(["costs"], start_time=T0, client=client))
    loaded = directory_tables(tmp_path)
    assert all(loaded.values())
    emulator.faults.append(Fault(status=403, endpoints=DIRECTORY_ENDPOINTS))
    emulator.now = NOW + DAY
    p.run(usage_source(["costs"], start_time=T0, client=client))
    assert directory_tables(tmp_path) == loaded  # not emptied by a replace with no rows
    assert table(tmp_path, "costs_1d") == expected(client, "costs", NOW + DAY)  # usage went on
    # A directory that fails otherwise (a 5xx after the retries) keeps them too.
    emulator.faults[:] = [Fault(status=500, endpoints=frozenset({"users"}))]
    p.run(usage_source(["costs"], start_time=T0, client=client))
    assert directory_tables(tmp_path) == loaded
    # One project's keys failing keeps the api_keys table whole, as it was.
    project = emulator.org.directory.projects[1].id
    path = f"/organization/projects/{project}/api_keys"
    emulator.faults.clear()
    emulator.listing_faults[path] = Fault(status=500)
    p.run(usage_source(["costs"], start_time=T0, client=client))
    assert directory_tables(tmp_path)["api_keys"] == loaded["api_keys"]
    # And once it can be read again, they are replaced as before (the keys' last use moved).
    emulator.listing_faults.clear()
    p.run(usage_source(["costs"], start_time=T0, client=client))
    now = directory_tables(tmp_path)
    assert now["api_keys"] != loaded["api_keys"]
    directory = client.organization.directory()
    assert [r[0] for r in now["api_keys"]] == sorted(k.id for k in directory.api_keys)
    assert now["projects"] == loaded["projects"] and now["users"] == loaded["users"]
