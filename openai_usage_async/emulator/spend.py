"""Hard spend limits and email spend alerts, of the organization and of its projects.

Theory of operation
-------------------
The service keeps at most one hard spend limit per organization and per project
(``GET /organization/spend_limit``, ``GET /organization/projects/{id}/spend_limit``),
and any number of spend alerts (``GET /organization/spend_alerts``, ``GET
/organization/projects/{id}/spend_alerts``). Amounts are integer cents of USD per UTC
calendar month. A limit's ``enforcement.status`` is a state, not a setting:
``"enforcing"`` while the limit is reached and the service refuses requests,
``"inactive"`` otherwise.

The emulator's are seeded from the organization's directory, with generators of their
own (nothing drawn before moves):

* the organization's limit (its amount is the emulator's ``spend_limit_usd`` option,
  ``$60,000`` by default against the roughly $45,000 a month the synthetic organization
  spends), emailed to the organization's owners;
* two active projects with limits: :attr:`Spend.enforcing_project_id` (``$1,000``:
  reached, ``"enforcing"``) and :attr:`Spend.inactive_project_id` (``$25,000``,
  ``"inactive"``, no ``notification_channel``); every other project has none (404);
* three alerts on the organization, two on the project with the inactive limit and one
  on :attr:`Spend.alert_only_project_id`, a project with alerts and no limit;
* and, in the directory, one API key with a ``spend_limit`` (see :mod:`.directory`).

States are as seeded, not derived from the emulator's costs: the enforcing project's
usage goes on. ``Emulator(spend_limit_reached=True)`` is the organization's limit
reached: ``"enforcing"``, and every usage and costs request answered 429
``organization_spend_limit_exceeded``.

Alert lists page like the directory's (``limit`` 0..100, default 20; ``after``,
``before``: an alert's ID; ``order`` ``asc``, the default, oldest first, or ``desc``).
:meth:`Spend.alerts_page` cuts the pages; it is pure and raises
:class:`~.directory.DirectoryError` for an unknown project, ``after`` or ``before``.
"""

from __future__ import annotations

import random
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any, Final, Literal

from .directory import Directory, DirectoryError

__all__ = [
    "DEFAULT_SPEND_LIMIT_USD",
    "SPEND_ENDPOINTS",
    "EmulatedSpendAlert",
    "EmulatedSpendLimit",
    "Spend",
    "build_spend",
]

#: The spend routes' endpoint names, as the recorder and :class:`~.faults.Fault` know them.
SPEND_ENDPOINTS: Final = (
    "spend_limit",
    "project_spend_limit",
    "spend_alerts",
    "project_spend_alerts",
)
#: The organization's hard limit when ``spend_limit_usd`` is not given.
DEFAULT_SPEND_LIMIT_USD: Final = 60_000.0

_ALPHABET: Final = "abcdefghijklmnopqrstuvwxyz0123456789"
_MAX_LIMIT: Final = 100
_DEFAULT_LIMIT: Final = 20


@dataclass(frozen=True, slots=True)
class EmulatedSpendLimit:
    """A hard spend limit: ``threshold_amount`` in cents, its enforcement ``status``, and
    who is emailed (``recipients`` None: no ``notification_channel`` is sent)."""

    threshold_amount: int
    status: Literal["inactive", "enforcing"] = "inactive"
    recipients: tuple[str, ...] | None = None
    subject_prefix: str | None = None

    def to_json(self, project_id: str | None = None) -> dict[str, Any]:
        out: dict[str, Any] = {
            "object": "organization.spend_limit" if project_id is None else "project.spend_limit",
            "threshold_amount": self.threshold_amount,
            "currency": "USD",
            "interval": "month",
            "enforcement": {"status": self.status},
        }
        if self.recipients is not None:
            out["notification_channel"] = _channel(self.recipients, self.subject_prefix)
        return out


@dataclass(frozen=True, slots=True)
class EmulatedSpendAlert:
    """An email spend alert of the organization (``project_id`` None) or of a project."""

    id: str
    threshold_amount: int
    recipients: tuple[str, ...]
    subject_prefix: str | None = None
    project_id: str | None = None

    def to_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "object": "organization.spend_alert"
            if self.project_id is None
            else "project.spend_alert",
            "threshold_amount": self.threshold_amount,
            "currency": "USD",
            "interval": "month",
            "notification_channel": _channel(self.recipients, self.subject_prefix),
        }


def _channel(recipients: Sequence[str], subject_prefix: str | None) -> dict[str, Any]:
    return {"type": "email", "recipients": list(recipients), "subject_prefix": subject_prefix}


class Spend:
    """The seeded spend limits and alerts (see the module docstring).

    ``organization_recipients`` are who the organization's limit emails;
    ``project_limits`` maps a project's ID to its limit (a project not in it has none);
    ``organization_alerts`` and ``project_alerts`` are in creation order (``order=asc``).
    """

    def __init__(
        self,
        *,
        directory: Directory,
        organization_recipients: Sequence[str],
        project_limits: Mapping[str, EmulatedSpendLimit],
        organization_alerts: Sequence[EmulatedSpendAlert],
        project_alerts: Mapping[str, Sequence[EmulatedSpendAlert]],
        enforcing_project_id: str,
        inactive_project_id: str,
        alert_only_project_id: str,
    ) -> None:
        self._directory = directory
        self.organization_recipients = tuple(organization_recipients)
        self.project_limits = dict(project_limits)
        self.organization_alerts = tuple(organization_alerts)
        self.project_alerts = {p: tuple(a) for p, a in project_alerts.items()}
        #: The project whose limit is reached (``"enforcing"``).
        self.enforcing_project_id = enforcing_project_id
        #: The project whose limit is not reached (``"inactive"``), with two alerts.
        self.inactive_project_id = inactive_project_id
        #: A project with one alert and no limit.
        self.alert_only_project_id = alert_only_project_id

    def __repr__(self) -> str:
        alerts = sum(len(a) for a in self.project_alerts.values())
        return (
            f"<Spend project_limits={len(self.project_limits)} "
            f"organization_alerts={len(self.organization_alerts)} project_alerts={alerts}>"
        )

    def organization_limit(
        self, usd: float | None, *, reached: bool = False
    ) -> EmulatedSpendLimit | None:
        """The organization's limit of ``usd`` dollars (None: no limit), reached or not."""
        if usd is None:
            return None
        return EmulatedSpendLimit(
            threshold_amount=round(usd * 100),
            status="enforcing" if reached else "inactive",
            recipients=self.organization_recipients,
            subject_prefix="[OpenAI spend]",
        )

    def limit_json(
        self, project_id: str | None, *, organization_usd: float | None, reached: bool = False
    ) -> dict[str, Any] | None:
        """What a spend limit route answers: the limit's JSON, or None for "no limit" (a
        404); :class:`DirectoryError` 404 for an unknown project."""
        if project_id is None:
            limit = self.organization_limit(organization_usd, reached=reached)
            return None if limit is None else limit.to_json()
        self._check_project(project_id)
        found = self.project_limits.get(project_id)
        return None if found is None else found.to_json(project_id)

    def alerts(self, project_id: str | None = None) -> tuple[EmulatedSpendAlert, ...]:
        """Every alert of the organization (None) or of a project, in creation order."""
        if project_id is None:
            return self.organization_alerts
        self._check_project(project_id)
        return self.project_alerts.get(project_id, ())

    def alerts_page(
        self,
        project_id: str | None,
        *,
        limit: int = _DEFAULT_LIMIT,
        after: str | None = None,
        before: str | None = None,
        order: Literal["asc", "desc"] = "asc",
    ) -> dict[str, Any]:
        """One page of spend alerts, in the directory's list envelope.

        ``after`` starts after that alert, ``before`` ends before it (in ``order``); a
        ``limit`` of 0 gives an empty page that says ``has_more`` when alerts remain.
        """
        items = list(self.alerts(project_id))
        if order == "desc":
            items.reverse()
        position = {a.id: i for i, a in enumerate(items)}
        start, stop = 0, len(items)
        for name, cursor in (("after", after), ("before", before)):
            if cursor is None:
                continue
            if cursor not in position:
                message = (
                    f"Invalid value for '{name}': no spend alert in this list has id {cursor!r}."
                )
                raise DirectoryError(400, name, message)
            if name == "after":
                start = position[cursor] + 1
            else:
                stop = position[cursor]
        window = items[start:stop]
        chosen = window[:limit]
        return {
            "object": "list",
            "data": [a.to_json() for a in chosen],
            "first_id": chosen[0].id if chosen else None,
            "last_id": chosen[-1].id if chosen else None,
            "has_more": len(window) > len(chosen),
        }

    def _check_project(self, project_id: str) -> None:
        if self._directory.project(project_id) is None:
            raise DirectoryError(404, "project_id", f"No such project: '{project_id}'")


def _ident(rng: random.Random, prefix: str, n: int) -> str:
    return prefix + "".join(rng.choice(_ALPHABET) for _ in range(n))


def build_spend(seed: int, directory: Directory, project_ids: Sequence[str]) -> Spend:
    """The spend limits and alerts of the organization whose directory this is;
    ``project_ids`` are the projects its usage streams use (those of ``directory_size``
    have no limits or alerts)."""
    rng = random.Random(f"spend-{seed}")
    owners = [u.email for u in directory.users if u.role == "owner"]
    everyone = [u.email for u in directory.users]
    # Active projects only: an archived project's limit would block nothing.
    active = [p for p in project_ids if (found := directory.project(p)) and not found.archived_at]
    enforcing, inactive, alert_only = rng.sample(active, 3)

    def alert(cents: int, project_id: str | None, prefix: str | None) -> EmulatedSpendAlert:
        recipients = tuple(sorted(rng.sample(everyone, rng.randint(1, 3))))
        return EmulatedSpendAlert(
            _ident(rng, "spend_alert_", 20), cents, recipients, prefix, project_id
        )

    project_limits = {
        enforcing: EmulatedSpendLimit(
            100_000, "enforcing", recipients=tuple(sorted(rng.sample(everyone, 2)))
        ),
        inactive: EmulatedSpendLimit(2_500_000, "inactive"),
    }
    organization_alerts = [
        alert(2_500_000, None, "[Spend 50%]"),
        alert(4_000_000, None, None),
        alert(5_500_000, None, "[Spend 90%]"),
    ]
    project_alerts = {
        inactive: [alert(1_000_000, inactive, None), alert(2_000_000, inactive, "[Project spend]")],
        alert_only: [alert(750_000, alert_only, None)],
    }
    return Spend(
        directory=directory,
        organization_recipients=owners,
        project_limits=project_limits,
        organization_alerts=organization_alerts,
        project_alerts=project_alerts,
        enforcing_project_id=enforcing,
        inactive_project_id=inactive,
        alert_only_project_id=alert_only,
    )
