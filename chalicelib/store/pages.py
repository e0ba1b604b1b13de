"""Opaque list cursors: DynamoDB's LastEvaluatedKey, base64url JSON, checked on
the way back in so a cursor cannot reach another owner's partition."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pynamodb.exceptions import QueryError

from chalicelib.errors import ValidationError

if TYPE_CHECKING:
    from pynamodb.pagination import ResultIterator

_Item = TypeVar("_Item")


def encode(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def decode(cursor: str | None, pinned: dict[str, str] | None = None) -> dict[str, Any] | None:
    """The start key of `cursor`; `pinned` attribute values must match (else 400)."""
    if not cursor:
        return None
    try:
        padded = cursor + "=" * (-len(cursor) % 4)
        key = json.loads(base64.urlsafe_b64decode(padded.encode()))
        valid = (
            isinstance(key, dict)
            and 0 < len(key) <= 4
            and all(
                isinstance(name, str)
                and isinstance(value, dict)
                and len(value) == 1
                and next(iter(value)) in ("S", "N")
                and isinstance(next(iter(value.values())), str)
                for name, value in key.items()
            )
        )
    except (ValueError, TypeError, UnicodeDecodeError):
        valid = False
    if not valid:
        raise ValidationError("cursor is not valid.")
    for name, expected in (pinned or {}).items():
        if key.get(name, {}).get("S") != expected:
            raise ValidationError("cursor is not valid.")
    return cast("dict[str, Any]", key)  # json.loads gives Any; checked to be a key above


def page(
    query: Callable[..., ResultIterator[_Item]],
    limit: int,
    cursor: str | None,
    pinned: dict[str, str],
    render: Callable[[_Item], object],
) -> dict[str, Any]:
    """Run one page of a PynamoDB query: `{"items": [...], "next_cursor": ...}`."""
    results = query(limit=limit, last_evaluated_key=decode(cursor, pinned))
    try:
        items = [render(item) for item in results]
    except QueryError as exc:
        if cursor and getattr(exc, "cause_response_code", None) == "ValidationException":
            raise ValidationError("cursor is not valid.") from None
        raise
    next_key = results.last_evaluated_key if len(items) >= limit else None
    return {"items": items, "next_cursor": encode(next_key)}
