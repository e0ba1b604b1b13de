"""Opaque list cursors: DynamoDB's LastEvaluatedKey, base64url JSON, checked on
the way back in so a cursor cannot reach another owner's partition."""

from __future__ import annotations

import base64
import json
from collections.abc import Callable
from typing import TYPE_CHECKING, Any, TypeVar, cast

from pynamodb.exceptions import QueryError
from pynamodb.models import Model

from chalicelib.errors import ValidationError
from chalicelib.store import pynamo

if TYPE_CHECKING:
    from pynamodb.pagination import ResultIterator

_Item = TypeVar("_Item")


def encode(last_key: dict[str, Any] | None) -> str | None:
    if not last_key:
        return None
    raw = json.dumps(last_key, sort_keys=True, separators=(",", ":")).encode()
    return base64.urlsafe_b64encode(raw).decode().rstrip("=")


def key_names(model: type[Model], index: str | None = None) -> frozenset[str]:
    """The attributes a LastEvaluatedKey of `model` (or of its `index`) has:
    the table's key and, for an index, the index's key."""
    schema = pynamo.schema_of(model)
    names = {k["AttributeName"] for k in schema["key_schema"]}
    if index is not None:
        found = [i for kind in ("global_secondary_indexes", "local_secondary_indexes") for i in schema[kind]]
        names |= {k["AttributeName"] for i in found if i["index_name"] == index for k in i["key_schema"]}
    return frozenset(names)


def decode(
    cursor: str | None, pinned: dict[str, str] | None = None, keys: frozenset[str] | None = None
) -> dict[str, Any] | None:
    """The start key of `cursor`; `pinned` attribute values must match and its
    attribute names must be exactly `keys` (else 400): an engine may answer a
    start key that does not fit the index with a 500 (moto does)."""
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
    if not valid or (keys is not None and set(key) != keys):
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
    *,
    keys: frozenset[str],
) -> dict[str, Any]:
    """Run one page of a PynamoDB query: `{"items": [...], "next_cursor": ...}`;
    `keys` are the query's key attributes (`key_names`), which a cursor must have."""
    results = query(limit=limit, last_evaluated_key=decode(cursor, pinned, keys))
    try:
        items = [render(item) for item in results]
    except QueryError as exc:
        if cursor and getattr(exc, "cause_response_code", None) == "ValidationException":
            raise ValidationError("cursor is not valid.") from None
        raise
    next_key = results.last_evaluated_key if len(items) >= limit else None
    return {"items": items, "next_cursor": encode(next_key)}
