"""Static checks of the spend surface: ``mypy --strict`` runs over this file in CI.

It is never executed; each ``assert_type`` states what a user's editor should infer.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from typing import Literal, assert_type

from openai_usage_async import (
    AsyncUsageClient,
    RateLimitError,
    SpendAlert,
    SpendLimit,
    SpendLimitExceededError,
)
from openai_usage_async.models import SpendLimitEnforcement, SpendNotificationChannel


async def spend(client: AsyncUsageClient) -> None:
    limit = await client.organization.spend_limit.get()
    assert_type(limit, SpendLimit | None)
    if limit is not None:
        assert_type(limit.threshold_amount, int)  # cents
        assert_type(limit.threshold_usd, float)
        assert_type(limit.enforcement, SpendLimitEnforcement | None)
        assert_type(limit.enforcing, bool)
        assert_type(limit.notification_channel, SpendNotificationChannel | None)
        assert_type(limit.scope, Literal["organization", "project"])
    plimit = await client.organization.projects.spend_limit.get("proj_abc")
    assert_type(plimit, SpendLimit | None)
    alerts = await client.organization.spend_alerts.list(order="desc", limit=10)
    assert_type(alerts, list[SpendAlert])
    it = client.organization.projects.spend_alerts.iter("proj_abc")
    assert_type(it, AsyncIterator[SpendAlert])
    async for alert in it:
        assert_type(alert.project_id, str | None)
        assert_type(alert.threshold_usd, float)


def errors(exc: SpendLimitExceededError) -> None:
    assert_type(exc.scope, Literal["organization", "project"])
    rate_limited: RateLimitError = exc  # a subclass: existing handlers catch it
    assert_type(rate_limited.code, str | None)
