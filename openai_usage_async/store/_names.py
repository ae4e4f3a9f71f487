"""The names and limits a sync keeps beside the usage: the directory, spend limits, alerts.

They are snapshots, replaced whole by each sync that can read them, never broken by a
failure to: a key without the scope (403), a service failing, or one project's listing
failing leaves what the store holds as it was, and the usage sync goes on.

- ``projects``, ``users``, ``api_keys``: the organization directory.
- ``spend_limits``: one row per hard limit: the organization's, each project's, each API
  key's (``scope`` ``organization`` | ``project`` | ``api_key``; ``project_id`` is an API
  key's project), in dollars, with its ``enforcement`` state (``enforcing`` while the
  limit is reached) and when it was read (``fetched_at``).
- ``spend_alerts``: one row per email alert (``scope``, ``project_id``, ``id``,
  ``threshold_usd``, ``recipients`` as a JSON list, ``fetched_at``).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import anyio
import msgspec

from .. import errors
from .._fanout import first_error
from ..models import Directory, SpendAlert, SpendLimit
from ._backend import DirectoryTable, SQLBackend
from ._schema import Kind

if TYPE_CHECKING:
    from .._client import AsyncUsageClient

__all__ = ["Names", "directory_tables", "refresh_names", "spend_tables"]

log = logging.getLogger("openai_usage_async.store")

_TEXT: Kind = "text"
_INTEGER: Kind = "integer"
_REAL: Kind = "real"

SPEND_LIMIT_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("scope", _TEXT),
    ("project_id", _TEXT),
    ("api_key_id", _TEXT),
    ("threshold_usd", _REAL),
    ("enforcement", _TEXT),
    ("fetched_at", _INTEGER),
)
SPEND_ALERT_COLUMNS: tuple[tuple[str, Kind], ...] = (
    ("scope", _TEXT),
    ("project_id", _TEXT),
    ("id", _TEXT),
    ("threshold_usd", _REAL),
    ("recipients", _TEXT),
    ("fetched_at", _INTEGER),
)


@dataclass
class Names:
    """What refreshing the names did: rows written, and why some were not."""

    directory: dict[str, int] | None = None  # None: not read, the tables left as they were
    spend: dict[str, int] | None = None
    directory_note: str | None = None
    spend_note: str | None = None


def _short(exc: BaseException) -> str:
    status = getattr(exc, "status_code", None)
    return f"HTTP {status}" if status is not None else type(exc).__name__


async def refresh_names(
    client: AsyncUsageClient,
    run: Callable[..., Any],
    db: SQLBackend,
    now: Callable[[], float],
) -> Names:
    """Read the directory, then the spend limits and alerts, and replace their tables
    (``run`` runs a function on the writer thread). Never raises an API error."""
    out = Names()
    found: Directory | None = None
    try:
        found = await client.organization.directory()
    except (errors.PermissionDeniedError, errors.NotFoundError):
        out.directory_note = "not readable with this key; names not refreshed"
    except errors.APIError as exc:
        log.warning("the directory could not be read; the names stay as stored: %s", exc)
        out.directory_note = f"could not be read ({_short(exc)}); names not refreshed"
    if found is not None:
        tables = directory_tables(found)
        kept = {s.project_id for s in found.skipped if s.listing == "api_keys"}
        await run(_replace_directory, db, tables, kept)
        out.directory = {t.name: len(t.rows) for t in tables}
        unexpected = [s for s in found.skipped if not s.expected]
        if unexpected:
            which = ", ".join(f"{s.listing} of {s.project_id}" for s in unexpected)
            out.directory_note = f"{len(unexpected)} listing(s) could not be read ({which})"
    try:
        limits, alerts = await _read_spend(client, found)
    except (errors.PermissionDeniedError, errors.NotFoundError):
        out.spend_note = "not readable with this key; limits and alerts kept as stored"
        return out
    except errors.APIError as exc:
        log.warning("spend limits could not be read; the stored ones stay: %s", exc)
        out.spend_note = f"could not be read ({_short(exc)}); kept as stored"
        return out
    if limits is None:
        out.spend_note = "the directory could not be read; limits and alerts kept as stored"
        return out
    tables = spend_tables(limits, alerts, found, int(now()))
    await run(db.replace_tables, tables)
    out.spend = {t.name: len(t.rows) for t in tables}
    return out


async def _read_spend(
    client: AsyncUsageClient, found: Directory | None
) -> tuple[list[SpendLimit] | None, list[SpendAlert]]:
    """Every limit and alert, or (None, []) when the projects are not known (without the
    directory, a project's limit could not be told from its absence)."""
    org = client.organization
    limits: list[SpendLimit] = []
    alerts: list[SpendAlert] = []

    async def org_limit() -> None:
        limit = await org.spend_limit.get()
        if limit is not None:
            limits.append(limit)

    async def org_alerts() -> None:
        alerts.extend(await org.spend_alerts.list())

    async def project(project_id: str) -> None:
        limit = await org.projects.spend_limit.get(project_id)
        if limit is not None:
            limits.append(limit)
        alerts.extend(await org.projects.spend_alerts.list(project_id))

    if found is None:
        return None, []
    try:
        async with anyio.create_task_group() as tg:
            tg.start_soon(org_limit)
            tg.start_soon(org_alerts)
            for p in found.projects:
                if p.status != "archived":  # an archived project spends nothing
                    tg.start_soon(project, p.id)
    except BaseExceptionGroup as group:
        raise first_error(group) from None
    return limits, alerts


def spend_tables(
    limits: list[SpendLimit], alerts: list[SpendAlert], found: Directory | None, fetched_at: int
) -> list[DirectoryTable]:
    """The limits (the API keys' from the directory) and alerts as the store's tables."""
    rows: list[tuple[Any, ...]] = []
    for limit in sorted(limits, key=lambda x: (x.scope != "organization", x.project_id or "")):
        state = limit.enforcement.status if limit.enforcement is not None else None
        rows.append((limit.scope, limit.project_id, None, limit.threshold_usd, state, fetched_at))
    for key in found.api_keys if found is not None else []:
        if key.spend_limit is not None:
            s = key.spend_limit
            state = s.enforcement.status if s.enforcement is not None else None
            rows.append(("api_key", key.project_id, key.id, s.threshold_usd, state, fetched_at))
    encode = msgspec.json.encode
    alert_rows = [
        (
            a.scope,
            a.project_id,
            a.id,
            a.threshold_usd,
            encode(a.notification_channel.recipients if a.notification_channel else []).decode(),
            fetched_at,
        )
        for a in sorted(alerts, key=lambda x: (x.scope != "organization", x.project_id or "", x.id))
    ]
    return [
        DirectoryTable("spend_limits", SPEND_LIMIT_COLUMNS, rows),
        DirectoryTable("spend_alerts", SPEND_ALERT_COLUMNS, alert_rows),
    ]


def _replace_directory(db: SQLBackend, tables: list[DirectoryTable], kept: set[str]) -> None:
    """Replace the directory tables; a project whose keys could not be listed keeps the
    key names stored for it."""
    keys = next(t for t in tables if t.name == "api_keys")
    names = [n for n, _ in keys.columns]
    if kept and [n for n, _ in db.columns("api_keys")] == names:
        marks = ", ".join("?" * len(kept))
        keys.rows += db.execute(
            f"SELECT {', '.join(names)} FROM api_keys WHERE project_id IN ({marks})",
            sorted(kept),
        )
    db.replace_tables(tables)


def directory_tables(found: Directory) -> list[DirectoryTable]:
    """The directory as the store's ``projects``, ``users`` and ``api_keys`` tables."""
    projects = [(p.id, p.name, p.status, p.created_at, p.archived_at) for p in found.projects]
    users = [(u.id, u.name, u.email, u.role, u.added_at) for u in found.users]
    keys = []
    for k in found.api_keys:
        owner = k.owner
        who: Any = (owner.user or owner.service_account) if owner is not None else None
        keys.append(
            (
                k.id,
                k.project_id,
                k.name,
                k.redacted_value,
                k.created_at,
                k.last_used_at,
                k.expires_at,
                owner.type if owner is not None else None,
                who.id if who is not None else None,
                who.name if who is not None else None,
                getattr(who, "email", None),
            )
        )
    text, integer = _TEXT, _INTEGER
    return [
        DirectoryTable(
            "projects",
            (
                ("id", text),
                ("name", text),
                ("status", text),
                ("created_at", integer),
                ("archived_at", integer),
            ),
            projects,
        ),
        DirectoryTable(
            "users",
            (("id", text), ("name", text), ("email", text), ("role", text), ("added_at", integer)),
            users,
        ),
        DirectoryTable(
            "api_keys",
            (
                ("id", text),
                ("project_id", text),
                ("name", text),
                ("redacted_value", text),
                ("created_at", integer),
                ("last_used_at", integer),
                ("expires_at", integer),
                ("owner_type", text),
                ("owner_id", text),
                ("owner_name", text),
                ("owner_email", text),
            ),
            keys,
        ),
    ]
