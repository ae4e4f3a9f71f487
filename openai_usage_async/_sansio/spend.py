"""Spend limits and spend alerts: their pages, and the rule that a 404 is "no limit".

Pure, like ``organization.py``: bytes and statuses in, values or exceptions out.

``GET /organization/spend_limit`` and ``GET /organization/projects/{id}/spend_limit``
answer one object. The OpenAPI document (2026-08-21) shows only the 200; an organization
or project with no hard limit is expected to answer 404, as any missing resource does,
so :func:`decipher_limit` turns that 404 into ``None``. Not every 404 though: the one
the service gives a path it does not serve (``"Invalid URL (GET /v1/...)"``, what a base
URL without ``/v1`` gets) and a 404 that is no OpenAI error object at all (a proxy's
page) still raise ``NotFoundError``, so a wrong base URL never reads as "no limit".

``GET /organization/spend_alerts`` and ``GET /organization/projects/{id}/spend_alerts``
page like the directory's lists (``limit``, ``after``, the ``{"object": "list", ...}``
envelope), so they use its :class:`~.organization.ListCursor` and guards; ``order``
(``asc``/``desc``) is theirs alone.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final, Literal, get_args

import msgspec

from ..errors import APIResponseValidationError
from ..models import SpendAlert, SpendLimit
from .organization import MAX_LIMIT, ListDecoder
from .responses import decipher

__all__ = [
    "SPEND_ALERTS_DECODER",
    "SpendOrder",
    "check_alert_limit",
    "check_order",
    "decipher_limit",
    "decode_limit",
    "is_no_limit",
]

#: The order of a spend alerts listing (``order=``).
SpendOrder = Literal["asc", "desc"]

#: One page of spend alerts.
SPEND_ALERTS_DECODER: Final[ListDecoder[SpendAlert]] = ListDecoder(SpendAlert, "spend alerts")

_LIMIT: Final = msgspec.json.Decoder(SpendLimit)
_ANY: Final = msgspec.json.Decoder()


def decode_limit(body: bytes) -> SpendLimit:
    """A spend limit object, or ``APIResponseValidationError``."""
    try:
        return _LIMIT.decode(body)
    except msgspec.ValidationError as exc:
        raise APIResponseValidationError(f"the response is not a spend limit: {exc}") from None
    except (msgspec.DecodeError, UnicodeError, RecursionError) as exc:
        raise APIResponseValidationError(
            f"the response is not valid JSON ({exc})", invalid_json=True
        ) from None


def is_no_limit(status: int, body: bytes) -> bool:
    """Whether a response to a spend limit path says there is no limit: a 404 carrying an
    OpenAI error object, other than the one for a path the service does not serve."""
    if status != 404:
        return False
    try:
        decoded: Any = _ANY.decode(body)
    except msgspec.DecodeError:
        return False  # not the service's answer: a proxy's page, say
    error = decoded.get("error") if isinstance(decoded, dict) else None
    if not isinstance(error, dict):
        return False
    message = error.get("message")
    return not (isinstance(message, str) and message.startswith("Invalid URL"))


def decipher_limit(status: int, headers: Mapping[str, str], body: bytes) -> SpendLimit | None:
    """The spend limit of a 2xx, ``None`` for "no limit" (:func:`is_no_limit`), or the
    error class of anything else (a 403 is ``PermissionDeniedError``)."""
    if is_no_limit(status, body):
        return None
    return decipher(status, headers, body, decode_limit)


def check_alert_limit(limit: object) -> int | None:
    """``limit`` (the page size) as sent, or ``ValueError`` naming it.

    The service takes 0..100; 0 is refused here, as a page of no alerts cannot move the
    ``after`` cursor on."""
    if limit is None:
        return None
    if isinstance(limit, bool) or not isinstance(limit, int):
        raise ValueError(f"limit: expected an int, got {limit!r}")
    if limit == 0:
        raise ValueError(
            "limit: 0 gives pages without alerts, which cannot be followed; give 1..100, "
            "or leave it out for the service's default (20)"
        )
    if not 1 <= limit <= MAX_LIMIT:
        raise ValueError(f"limit: {limit} is outside 1..{MAX_LIMIT}")
    return limit


def check_order(order: object) -> str | None:
    """``order`` as sent, or ``ValueError`` naming it."""
    if order is None:
        return None
    choices = get_args(SpendOrder)
    if not isinstance(order, str) or order not in choices:
        raise ValueError(f"order: expected one of {', '.join(map(repr, choices))}, got {order!r}")
    return order
