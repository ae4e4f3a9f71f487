"""The organization directory: the names behind the IDs that usage data carries.

Theory of operation
-------------------
Usage and cost results name projects, users and API keys by ID only; the service's
admin endpoints (``/organization/projects``, ``/organization/users``, and a project's
``api_keys`` and ``service_accounts``) give them names. The emulator's directory is
drawn from the same seeded :class:`~.data.Organization` as its usage streams, so the
two agree:

* every project, user and API key of the usage streams is in the directory, and the
  owner of each such key is the user that the usage data names with it (``user_id``);
* **except on purpose**, twice, because the service does it too: one API key that
  appears in usage was deleted since (no project lists it:
  :attr:`Directory.deleted_api_key_id`), and one project that appears in usage is
  archived (listed only with ``include_archived=true``, while its own ``api_keys`` and
  ``service_accounts`` routes still answer: :attr:`Directory.archived_project_id`);
* each project also has one or two service accounts, each owning a key of its own that
  no usage stream uses (``last_used_at`` null), so keys are owned both ways;
* the fields the service added later are there, some null: a project's ``residency``
  and ``external_key_id``, a user's ``created``, ``projects``, nested ``user`` and
  flags, one key's ``spend_limit``; and one key in usage whose owner has lost access to
  its project (``owner_project_access: "inactive"``, :attr:`Directory.inactive_api_key_id`),
  which a project's ``api_keys`` list shows only when asked for ``owner_project_access``
  ``inactive`` or ``any``, as the service's membership rules hide it by default.

An archived project's ``service_accounts`` route answers 400 "project is archived", as
the OpenAPI document (2026-08-21) says; its ``api_keys`` route still lists its keys.

The directory has its own random generator, seeded from the organization's seed: the
usage streams (and every number the usage endpoints serve) are the same with or without
it. The later fields come from generators of their own (per object, or per choice), so
adding them moved nothing drawn before. ``size=(projects, api_keys)`` grows it for
benchmarks with synthetic projects that have no usage, drawn from yet another generator,
so the base directory stays the same at any size.

Lists are in the service's order, oldest first (``created_at``, ``added_at``; then
``id``), and page with ``limit`` and ``after`` (the ID of the previous page's last
object). :meth:`Directory.page` cuts the pages; it is pure, and raises
:class:`DirectoryError` for an unknown project or ``after``.
"""

from __future__ import annotations

import collections
import dataclasses
import itertools
import random
import re
from collections.abc import Callable, Collection, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any, Final, Literal, TypeVar

__all__ = [
    "DIRECTORY_ENDPOINTS",
    "Directory",
    "DirectoryApiKey",
    "DirectoryError",
    "DirectoryProject",
    "DirectoryServiceAccount",
    "DirectoryUser",
    "build_directory",
]

#: The directory's endpoint names, as the recorder and :class:`~.faults.Fault` know them.
DIRECTORY_ENDPOINTS: Final = ("projects", "users", "project_api_keys", "project_service_accounts")

_DAY: Final = 86_400
_HOUR: Final = 3_600
_ORG_CREATED: Final = 1_675_209_600  # 2023-02-01 00:00 UTC
_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyzABCDEFGHIJKLMNOPQRSTUVWXYZ0123456789"

_PROJECT_NAMES: Final = (
    "Checkout",
    "Search",
    "Support bot",
    "Recommendations",
    "Fraud review",
    "Internal tools",
    "Data pipeline",
    "Marketing copy",
    "Onboarding",
    "Analytics",
    "Docs assistant",
    "Sales assistant",
    "Mobile app",
    "Translation",
    "Trust and safety",
    "Billing",
    "Code review",
    "Knowledge base",
    "Email triage",
    "Voice agent",
    "Contract review",
    "Catalog enrichment",
    "Meeting notes",
    "Forecasting",
    "Research",
    "Localization",
    "Help center",
    "Growth experiments",
    "Ops copilot",
    "Evaluation",
)
_QUALIFIERS: Final = ("staging", "EU", "v2", "sandbox", "batch", "APAC", "eval", "legacy", "beta")
_FIRST_NAMES: Final = (
    "Maya",
    "Jonas",
    "Priya",
    "Diego",
    "Amara",
    "Lukas",
    "Hana",
    "Omar",
    "Chloe",
    "Mateo",
    "Ingrid",
    "Kwame",
    "Sofia",
    "Ravi",
    "Elena",
    "Tomás",
)
_LAST_NAMES: Final = (
    "Chen",
    "Okafor",
    "Schmidt",
    "Patel",
    "Moreau",
    "Tanaka",
    "Silva",
    "Novak",
    "Haddad",
    "Larsen",
    "Kim",
    "Rossi",
    "Nguyen",
    "Walsh",
    "Ibrahim",
    "Berg",
)
_KEY_PURPOSES: Final = ("prod", "staging", "laptop", "notebook", "CI", "backfill", "eval harness")
_ACCOUNT_ROLES: Final = ("backend", "worker", "ci", "batch", "cron", "ingest")


class DirectoryError(Exception):
    """A directory request the service refuses: ``status`` 400 or 404, naming ``param``."""

    def __init__(self, status: int, param: str | None, message: str) -> None:
        super().__init__(message)
        self.status = status
        self.param = param
        self.message = message


@dataclass(frozen=True, slots=True)
class DirectoryProject:
    """An ``organization.project``."""

    id: str
    name: str
    created_at: int
    archived_at: int | None = None
    residency: str | None = None
    external_key_id: str | None = None

    @property
    def status(self) -> Literal["active", "archived"]:
        return "active" if self.archived_at is None else "archived"

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "organization.project",
            "name": self.name,
            "created_at": self.created_at,
            "archived_at": self.archived_at,
            "status": self.status,
            "external_key_id": self.external_key_id,
            "residency": self.residency,
        }


@dataclass(frozen=True, slots=True)
class DirectoryUser:
    """An ``organization.user``: the list's fields that depend on the user alone (its
    ``projects`` and ``api_key_last_used_at`` come from its keys: :meth:`Directory.user_json`).
    """

    id: str
    name: str
    email: str
    role: Literal["owner", "reader"]
    added_at: int
    created: int | None = None
    is_default: bool = False
    is_scale_tier_authorized_purchaser: bool = False
    developer_persona: str | None = None
    technical_level: str | None = None
    picture: str | None = None


@dataclass(frozen=True, slots=True)
class DirectoryServiceAccount:
    """An ``organization.project.service_account`` (of ``project_id``)."""

    id: str
    project_id: str
    name: str
    role: Literal["owner", "member"]
    created_at: int

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "organization.project.service_account",
            "name": self.name,
            "role": self.role,
            "created_at": self.created_at,
        }


@dataclass(frozen=True, slots=True)
class DirectoryApiKey:
    """An ``organization.project.api_key`` (of ``project_id``).

    ``owner_id`` is a user's ID (``owner_type="user"``; ``owner_role`` is the user's role
    in the project) or a service account's. ``used`` says whether usage streams carry
    the key; ``last_used_at`` is then a recent hour, ``idle_hours`` before the clock.
    """

    id: str
    project_id: str
    name: str
    redacted_value: str
    created_at: int
    owner_type: Literal["user", "service_account"]
    owner_id: str
    owner_role: Literal["owner", "member"]
    used: bool
    idle_hours: int = 0
    owner_project_access: Literal["active", "inactive"] = "active"
    #: ``(threshold_amount in cents, enforcement status)`` of a hard spend limit.
    spend_limit: tuple[int, Literal["inactive", "enforcing"]] | None = None

    def last_used_at(self, now: int) -> int | None:
        if not self.used:
            return None
        return max(self.created_at, (now // _HOUR - self.idle_hours) * _HOUR)


T = TypeVar("T")


@dataclass(frozen=True, slots=True)
class _Listing:
    """One list in the service's order, with each ID's position (for ``after``)."""

    items: tuple[Any, ...]
    position: Mapping[str, int] = field(init=False)

    def __post_init__(self) -> None:
        object.__setattr__(self, "position", {x.id: i for i, x in enumerate(self.items)})


def _ordered(items: Sequence[T], key: Callable[[T], tuple[int, str]]) -> _Listing:
    return _Listing(tuple(sorted(items, key=key)))


class Directory:
    """The organization's projects, users, API keys and service accounts.

    ``projects`` holds every project, the archived one included; ``api_keys`` every
    listed key (not the deleted one), project by project; ``service_accounts`` every
    service account. All are in listing order. Look-ups by ID return ``None`` for an ID
    the directory does not list, as a client's directory would.
    """

    def __init__(
        self,
        *,
        projects: Sequence[DirectoryProject],
        users: Sequence[DirectoryUser],
        api_keys: Sequence[DirectoryApiKey],
        service_accounts: Sequence[DirectoryServiceAccount],
        deleted_api_key: DirectoryApiKey,
        archived_project_id: str,
        inactive_api_key_id: str,
    ) -> None:
        self._projects = _ordered(projects, lambda p: (p.created_at, p.id))
        self._users = _ordered(users, lambda u: (u.added_at, u.id))
        keys: dict[str, list[DirectoryApiKey]] = {p.id: [] for p in projects}
        for key in api_keys:
            keys[key.project_id].append(key)
        accounts: dict[str, list[DirectoryServiceAccount]] = {p.id: [] for p in projects}
        for account in service_accounts:
            accounts[account.project_id].append(account)
        self._keys = {p: _ordered(ks, lambda k: (k.created_at, k.id)) for p, ks in keys.items()}
        self._accounts = {
            p: _ordered(accs, lambda a: (a.created_at, a.id)) for p, accs in accounts.items()
        }
        self._project_by_id: dict[str, DirectoryProject] = {p.id: p for p in projects}
        self._user_by_id: dict[str, DirectoryUser] = {u.id: u for u in users}
        self._key_by_id: dict[str, DirectoryApiKey] = {k.id: k for k in api_keys}
        self._account_by_id = {a.id: a for a in service_accounts}
        self.deleted_api_key = deleted_api_key
        #: The ID of the key that usage data carries but no project lists (deleted).
        self.deleted_api_key_id = deleted_api_key.id
        #: The ID of the archived project (listed only with ``include_archived=true``).
        self.archived_project_id = archived_project_id
        #: The ID of the key in usage whose owner lost access to its project (listed only
        #: with ``owner_project_access`` ``inactive`` or ``any``).
        self.inactive_api_key_id = inactive_api_key_id
        self._keys_of_user: dict[str, list[DirectoryApiKey]] = {u.id: [] for u in users}
        for key in api_keys:
            if key.owner_type == "user":
                self._keys_of_user[key.owner_id].append(key)

    def __repr__(self) -> str:
        return (
            f"<Directory projects={len(self.projects)} users={len(self.users)} "
            f"api_keys={len(self._key_by_id)} service_accounts={len(self._account_by_id)}>"
        )

    # -- what tests look at ------------------------------------------------------------

    @property
    def projects(self) -> tuple[DirectoryProject, ...]:
        return self._projects.items

    @property
    def users(self) -> tuple[DirectoryUser, ...]:
        return self._users.items

    @property
    def api_keys(self) -> tuple[DirectoryApiKey, ...]:
        return tuple(k for p in self.projects for k in self._keys[p.id].items)

    @property
    def service_accounts(self) -> tuple[DirectoryServiceAccount, ...]:
        return tuple(a for p in self.projects for a in self._accounts[p.id].items)

    def project(self, project_id: str) -> DirectoryProject | None:
        return self._project_by_id.get(project_id)

    def user(self, user_id: str) -> DirectoryUser | None:
        return self._user_by_id.get(user_id)

    def api_key(self, key_id: str) -> DirectoryApiKey | None:
        """A listed key (never the deleted one)."""
        return self._key_by_id.get(key_id)

    def service_account(self, account_id: str) -> DirectoryServiceAccount | None:
        return self._account_by_id.get(account_id)

    def api_keys_of(self, project_id: str) -> tuple[DirectoryApiKey, ...]:
        return self._keys[project_id].items

    def service_accounts_of(self, project_id: str) -> tuple[DirectoryServiceAccount, ...]:
        return self._accounts[project_id].items

    # -- what the routes answer -----------------------------------------------------------

    def user_json(self, user: DirectoryUser, now: int) -> dict[str, Any]:
        keys = self._keys_of_user[user.id]
        used = [t for t in (k.last_used_at(now) for k in keys) if t is not None]
        roles: dict[str, str] = {}
        for key in keys:
            if key.owner_project_access == "active":
                roles.setdefault(key.project_id, key.owner_role)
        memberships = [
            {"id": p.id, "name": p.name, "role": roles[p.id]}
            for p in self.projects
            if p.id in roles
        ]
        return {
            "id": user.id,
            "object": "organization.user",
            "name": user.name,
            "email": user.email,
            "role": user.role,
            "added_at": user.added_at,
            "created": user.created,
            "api_key_last_used_at": max(used, default=None),
            "is_default": user.is_default,
            "is_service_account": False,
            "is_scim_managed": False,
            "is_scale_tier_authorized_purchaser": user.is_scale_tier_authorized_purchaser,
            "developer_persona": user.developer_persona,
            "technical_level": user.technical_level,
            "projects": {"object": "list", "data": memberships},
            "user": {
                "id": user.id,
                "object": "user",
                "name": user.name,
                "email": user.email,
                "picture": user.picture,
                "enabled": True,
                "banned": False,
                "banned_at": None,
            },
        }

    def api_key_json(self, key: DirectoryApiKey, now: int) -> dict[str, Any]:
        owner: dict[str, Any]
        if key.owner_type == "user":
            user = self._user_by_id[key.owner_id]
            owner = {
                "type": "user",
                "user": {
                    "id": user.id,
                    "name": user.name,
                    "email": user.email,
                    "role": key.owner_role,
                    "created_at": user.added_at,
                },
            }
        else:
            account = self._account_by_id[key.owner_id]
            owner = {
                "type": "service_account",
                "service_account": {
                    "id": account.id,
                    "name": account.name,
                    "role": account.role,
                    "created_at": account.created_at,
                },
            }
        return {
            "id": key.id,
            "object": "organization.project.api_key",
            "name": key.name,
            "redacted_value": key.redacted_value,
            "created_at": key.created_at,
            "last_used_at": key.last_used_at(now),
            "expires_at": None,
            "owner_project_access": key.owner_project_access,
            "owner": owner,
            "spend_limit": None if key.spend_limit is None else _spend_limit(*key.spend_limit),
        }

    def page(
        self,
        endpoint: str,
        *,
        limit: int,
        after: str | None = None,
        project_id: str | None = None,
        include_archived: bool = False,
        emails: Collection[str] = (),
        owner_project_access: str | None = None,
        archived_error: bool = True,
        now: int = 0,
    ) -> dict[str, Any]:
        """One list page of ``endpoint`` (a name in :data:`DIRECTORY_ENDPOINTS`).

        ``after`` must be an ID of the list (of any object in it, filtered out or not).
        ``owner_project_access`` left out (None) lists the keys whose owner has access,
        as the service's membership rules do. ``archived_error``: the archived project's
        service accounts are a 400 "project is archived" (the service's documented
        answer), else listed.
        """
        keep: Callable[[Any], bool] | None = None
        render: Callable[[Any], dict[str, Any]]
        if endpoint == "projects":
            listing = self._projects
            if not include_archived:
                keep = _is_active
            render = DirectoryProject.to_json
        elif endpoint == "users":
            listing = self._users
            if emails:
                wanted = {e.lower() for e in emails}

                def keep(user: DirectoryUser) -> bool:
                    return user.email.lower() in wanted

            def render(user: DirectoryUser) -> dict[str, Any]:
                return self.user_json(user, now)

        else:
            if project_id is None or project_id not in self._keys:
                raise DirectoryError(404, "project_id", f"No such project: '{project_id}'")
            if endpoint == "project_api_keys":
                listing = self._keys[project_id]
                if owner_project_access != "any":
                    access = owner_project_access or "active"

                    def keep(key: DirectoryApiKey) -> bool:
                        return key.owner_project_access == access

                def render(key: DirectoryApiKey) -> dict[str, Any]:
                    return self.api_key_json(key, now)

            elif endpoint == "project_service_accounts":
                if archived_error and project_id == self.archived_project_id:
                    raise DirectoryError(400, None, f"Project '{project_id}' is archived.")
                listing = self._accounts[project_id]
                render = DirectoryServiceAccount.to_json
            else:
                raise ValueError(f"endpoint: {endpoint!r} is not a directory endpoint")
        start = 0
        if after is not None:
            position = listing.position.get(after)
            if position is None:
                message = f"Invalid value for 'after': no object in this list has id {after!r}."
                raise DirectoryError(400, "after", message)
            start = position + 1
        chosen: list[Any] = []
        has_more = False
        for item in itertools.islice(listing.items, start, None):
            if keep is not None and not keep(item):
                continue
            if len(chosen) == limit:
                has_more = True
                break
            chosen.append(item)
        return {
            "object": "list",
            "data": [render(x) for x in chosen],
            "first_id": chosen[0].id if chosen else None,
            "last_id": chosen[-1].id if chosen else None,
            "has_more": has_more,
        }


def _is_active(project: DirectoryProject) -> bool:
    return project.archived_at is None


def _spend_limit(threshold_amount: int, status: str) -> dict[str, Any]:
    return {
        "threshold_amount": threshold_amount,
        "currency": "USD",
        "interval": "month",
        "enforcement": {"status": status},
    }


# -- drawing the directory ------------------------------------------------------------------


def _ident(rng: random.Random, prefix: str, n: int) -> str:
    return prefix + "".join(rng.choice(_ALPHABET) for _ in range(n))


def _slug(name: str) -> str:
    return re.sub(r"[^a-z0-9]+", "-", name.lower()).strip("-")


def _project_names(rng: random.Random) -> Iterator[str]:
    """Distinct plausible names: the base list shuffled, then qualified, then numbered."""
    base = list(_PROJECT_NAMES)
    rng.shuffle(base)
    yield from base
    qualifiers = list(_QUALIFIERS)
    rng.shuffle(qualifiers)
    for qualifier in qualifiers:
        for name in base:
            yield f"{name} ({qualifier})"
    n = 2
    while True:
        for name in base:
            yield f"{name} #{n}"
        n += 1


def _redacted(rng: random.Random, prefix: str) -> str:
    return f"{prefix}{_ident(rng, '', 2)}...{_ident(rng, '', 4)}"


class _Drawer:
    """The state of one drawing: names, users, and the keys and accounts made so far."""

    def __init__(self, rng: random.Random, names: Iterator[str], users: Sequence[DirectoryUser]):
        self.rng = rng
        self.names = names
        self.users = {u.id: u for u in users}
        self.keys: list[DirectoryApiKey] = []
        self.accounts: list[DirectoryServiceAccount] = []
        self.roles: dict[tuple[str, str], Literal["owner", "member"]] = {}

    def project(self, project_id: str, created_at: int) -> DirectoryProject:
        return DirectoryProject(project_id, next(self.names), created_at)

    def role(self, project_id: str, user_id: str) -> Literal["owner", "member"]:
        key = (project_id, user_id)
        if key not in self.roles:
            admin = self.users[user_id].role == "owner"
            self.roles[key] = "owner" if admin or self.rng.random() < 0.3 else "member"
        return self.roles[key]

    def user_key(
        self, project: DirectoryProject, key_id: str, user_id: str, *, used: bool
    ) -> DirectoryApiKey:
        rng = self.rng
        user = self.users[user_id]
        first = user.name.split()[0]
        since = max(project.created_at, user.added_at)
        key = DirectoryApiKey(
            id=key_id,
            project_id=project.id,
            name=f"{first}'s {rng.choice(_KEY_PURPOSES)} key",
            redacted_value=_redacted(rng, "sk-proj-"),
            created_at=since + rng.randrange(90 * _DAY),
            owner_type="user",
            owner_id=user_id,
            owner_role=self.role(project.id, user_id),
            used=used,
            idle_hours=rng.randrange(48),
        )
        self.keys.append(key)
        return key

    def service_accounts(self, project: DirectoryProject, n: int) -> list[DirectoryServiceAccount]:
        rng = self.rng
        out = []
        for role_word in rng.sample(_ACCOUNT_ROLES, n):
            account = DirectoryServiceAccount(
                id=_ident(rng, "svc_acct_", 24),
                project_id=project.id,
                name=f"{_slug(project.name)}-{role_word}",
                role="owner" if rng.random() < 0.25 else "member",
                created_at=project.created_at + rng.randrange(60 * _DAY),
            )
            out.append(account)
        self.accounts += out
        return out

    def account_key(self, account: DirectoryServiceAccount) -> DirectoryApiKey:
        rng = self.rng
        key = DirectoryApiKey(
            id=_ident(rng, "key_", 16),
            project_id=account.project_id,
            name=f"{account.name} key",
            redacted_value=_redacted(rng, "sk-svcacct-"),
            created_at=account.created_at + rng.randrange(7 * _DAY),
            owner_type="service_account",
            owner_id=account.id,
            owner_role=account.role,
            used=False,
        )
        self.keys.append(key)
        return key


def build_directory(
    seed: int,
    *,
    projects: Sequence[str],
    users: Sequence[str],
    key_project: Mapping[str, str],
    key_owner: Mapping[str, str],
    used_keys: Collection[str],
    size: tuple[int, int] | None = None,
) -> Directory:
    """The directory of an organization whose usage streams use these IDs.

    ``projects`` and ``users`` are the organization's IDs; ``key_project`` and
    ``key_owner`` give each usage key's project and owning user; ``used_keys`` are the
    keys that some usage stream carries. ``size=(projects, api_keys)`` adds synthetic
    projects (no usage) until the directory lists exactly that many projects (archived
    one included) and API keys; ``ValueError`` when it is smaller than the base.
    """
    rng = random.Random(f"directory-{seed}")
    names = _project_names(random.Random(f"directory-names-{seed}"))
    # Distinct first names, so that "Maya's laptop key" names one person.
    firsts, lasts = rng.sample(_FIRST_NAMES, len(users)), rng.sample(_LAST_NAMES, len(users))
    people = zip(firsts, lasts, strict=True)
    joined = sorted(_ORG_CREATED + rng.randrange(400 * _DAY) for _ in users)
    joined[0] = _ORG_CREATED  # the founder
    user_objects = []
    for i, (user_id, (first, last), added_at) in enumerate(zip(users, people, joined, strict=True)):
        role: Literal["owner", "reader"] = "owner" if i == 0 or rng.random() < 0.15 else "reader"
        email = f"{first}.{last}@example.com".lower().replace("á", "a")
        user_objects.append(DirectoryUser(user_id, f"{first} {last}", email, role, added_at))
    drawer = _Drawer(rng, names, user_objects)

    project_objects: list[DirectoryProject] = []
    for project_id in projects:
        created = _ORG_CREATED + _DAY + rng.randrange(500 * _DAY)
        project = drawer.project(project_id, created)
        project_objects.append(project)
        for key_id in (k for k in key_project if key_project[k] == project_id):
            drawer.user_key(project, key_id, key_owner[key_id], used=key_id in used_keys)
        for account in drawer.service_accounts(project, rng.randint(1, 2)):
            drawer.account_key(account)
    # The archived project and the deleted key: both appear in usage data.
    used_projects = [p for p in project_objects if any(key_project[k] == p.id for k in used_keys)]
    archived = rng.choice(used_projects)
    archived_at = archived.created_at + rng.randint(120, 300) * _DAY
    project_objects[project_objects.index(archived)] = DirectoryProject(
        archived.id, archived.name, archived.created_at, archived_at
    )
    candidates = [
        k for k in drawer.keys if k.used and k.project_id != archived.id and k.owner_type == "user"
    ]
    deleted = rng.choice(candidates)
    drawer.keys.remove(deleted)

    # The later fields, from generators of their own: nothing above moves.
    later = random.Random(f"directory-later-{seed}")
    project_objects = _project_details(later, project_objects)
    user_objects = [_user_details(seed, u, founder=i == 0) for i, u in enumerate(user_objects)]
    drawer.users = {u.id: u for u in user_objects}
    inactive = _inactive_key(later, drawer.keys, archived.id)
    _spend_limited(later, drawer.keys, inactive)

    if size is not None:
        _grow(seed, drawer, project_objects, size)
    return Directory(
        projects=project_objects,
        users=user_objects,
        api_keys=drawer.keys,
        service_accounts=drawer.accounts,
        deleted_api_key=deleted,
        archived_project_id=archived.id,
        inactive_api_key_id=inactive,
    )


_PERSONAS: Final = ("engineer", "data_scientist", "product_manager", "researcher")
_LEVELS: Final = ("beginner", "intermediate", "advanced")


def _project_details(
    rng: random.Random, projects: list[DirectoryProject]
) -> list[DirectoryProject]:
    """Residency for every project but the oldest (made before the field existed); one
    project in the EU, with an encryption key of the organization's own."""
    oldest = min(projects, key=lambda p: (p.created_at, p.id))
    eu = rng.choice([p for p in projects if p is not oldest])
    out = []
    for p in projects:
        if p is oldest:
            out.append(p)
        elif p is eu:
            out.append(
                dataclasses.replace(
                    p, residency="EU_STORAGE_PROCESSING", external_key_id=_ident(rng, "ekey_", 24)
                )
            )
        else:
            out.append(dataclasses.replace(p, residency="GLOBAL"))
    return out


def _user_details(seed: int, user: DirectoryUser, *, founder: bool) -> DirectoryUser:
    rng = random.Random(f"directory-user-{seed}-{user.id}")
    created = user.added_at - rng.randrange(400 * _DAY) if rng.random() < 0.8 else None
    persona = rng.choice(_PERSONAS) if rng.random() < 0.5 else None
    level = rng.choice(_LEVELS) if rng.random() < 0.5 else None
    digest = _ident(rng, "", 32).lower()
    picture = f"https://s.gravatar.com/avatar/{digest}?s=480" if rng.random() < 0.6 else None
    return dataclasses.replace(
        user,
        created=created,
        is_default=founder,
        is_scale_tier_authorized_purchaser=founder,
        developer_persona=persona,
        technical_level=level,
        picture=picture,
    )


def _inactive_key(rng: random.Random, keys: list[DirectoryApiKey], archived_id: str) -> str:
    """Mark one key in usage as owned by someone who lost access to its project: a user
    with no other key there. Returns its ID."""
    owners = collections.Counter((k.project_id, k.owner_id) for k in keys)
    candidates = [
        k
        for k in keys
        if k.used and k.project_id != archived_id and owners[k.project_id, k.owner_id] == 1
    ]
    chosen = rng.choice(candidates)
    keys[keys.index(chosen)] = dataclasses.replace(chosen, owner_project_access="inactive")
    return chosen.id


def _spend_limited(rng: random.Random, keys: list[DirectoryApiKey], inactive: str) -> None:
    """One key with a hard spend limit ($500 a month, not reached)."""
    chosen = rng.choice([k for k in keys if k.used and k.id != inactive])
    keys[keys.index(chosen)] = dataclasses.replace(chosen, spend_limit=(50_000, "inactive"))


def _grow(
    seed: int, drawer: _Drawer, project_objects: list[DirectoryProject], size: tuple[int, int]
) -> None:
    """Add synthetic projects with keys until the directory has ``size`` of each."""
    n_projects, n_keys = size
    extra_projects = n_projects - len(project_objects)
    extra_keys = n_keys - len(drawer.keys)
    if extra_projects < 0 or extra_keys < 0:
        raise ValueError(
            f"directory_size: {size!r} is smaller than the base directory "
            f"({len(project_objects)} projects, {len(drawer.keys)} API keys)"
        )
    if extra_keys and not extra_projects:
        raise ValueError(f"directory_size: {size!r} adds API keys but no project to hold them")
    if not extra_projects:
        return
    drawer.rng = rng = random.Random(f"directory-extra-{seed}")
    user_ids = list(drawer.users)
    for j in range(extra_projects):
        created = _ORG_CREATED + _DAY + rng.randrange(900 * _DAY)
        project = drawer.project(_ident(rng, "proj_", 24), created)
        project_objects.append(project)
        n = extra_keys // extra_projects + (1 if j < extra_keys % extra_projects else 0)
        [account] = drawer.service_accounts(project, 1)
        for i in range(n):
            if i % 4 == 3:
                drawer.account_key(account)
            else:
                drawer.user_key(project, _ident(rng, "key_", 16), rng.choice(user_ids), used=False)
