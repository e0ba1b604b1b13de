"""Retry safety for every mutating request (DOMAIN.md "Retry safety").

The dedupe record (key, payload hash, stored response, 24 h TTL) is written in
the same TransactWriteItems as the business write, with a ClientRequestToken
derived from the key so an SDK retry of a committed write is deduplicated by
DynamoDB as well. A replay returns the stored response; the same key with a
different payload is 422; a duplicate racing the first is 409.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib import clock
from chalicelib.config import rules
from chalicelib.errors import Conflict, IdempotencyKeyReused, ValidationError

if TYPE_CHECKING:
    from chalicelib.store import Op

MAX_KEY_LENGTH = 255
LABEL = "idempotency"


@dataclass(frozen=True)
class Reply:
    """A response to store and replay: HTTP status and JSON body."""

    status: int
    body: dict[str, Any]


@dataclass(frozen=True)
class Idempotency:
    """An `Idempotency-Key` bound to its caller, operation and payload."""

    record_id: str
    payload_hash: str


def key_for(key: str | None, scope: str, payload: Any) -> Idempotency | None:
    """Validate the header and bind it to `scope` (caller + operation) and the payload."""
    if key is None:
        return None
    key = key.strip()
    if not key or len(key) > MAX_KEY_LENGTH or not key.isprintable():
        raise ValidationError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable characters.")
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return Idempotency(
        record_id=hashlib.sha256(f"{scope}\x1f{key}".encode()).hexdigest(),
        payload_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _whole_second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


def replay(idem: Idempotency | None) -> Reply | None:
    """The stored reply for this key, None if there is none; 422 if the payload differs."""
    if idem is None:
        return None
    from chalicelib import store

    try:
        record = store.IdempotencyRecord.get(idem.record_id, consistent_read=True)
    except store.IdempotencyRecord.DoesNotExist:
        return None
    # expired exactly when `record_op` may overwrite it: the same test on whole seconds
    if record.expires_at and record.expires_at < _whole_second(clock.now()):
        return None
    if record.payload_hash != idem.payload_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
    return Reply(int(record.status_code), json.loads(record.body))


def record_op(idem: Idempotency, reply: Reply) -> Op:
    from chalicelib import store

    now = clock.now()
    # kept at least the TTL: the TTL attribute stores whole seconds, so round up
    expires_at = now + timedelta(hours=rules().idempotency_ttl_hours)
    if expires_at.microsecond:
        expires_at = _whole_second(expires_at) + timedelta(seconds=1)
    record = store.IdempotencyRecord(
        idem.record_id,
        payload_hash=idem.payload_hash,
        status_code=reply.status,
        body=json.dumps(reply.body, separators=(",", ":")),
        created_at=clock.iso(now),
        expires_at=expires_at,
    )
    # an expired record (TTL deletion lags) may be overwritten
    condition = store.IdempotencyRecord.idempotency_id.does_not_exist() | (store.IdempotencyRecord.expires_at < now)
    return store.put(record, condition=condition, label=LABEL)


def commit(ops: Sequence[Op], reply: Reply, idem: Idempotency | None, *, pinned: bool = False) -> Reply:
    """Commit the business writes with the dedupe record; on a race, answer as the winner did.

    `pinned`: the writes are conditional on a version (see `store.commit`).
    """
    from chalicelib import store

    if idem is None:
        store.commit(ops, "" if pinned else None)
        return reply
    try:
        store.commit([*ops, record_op(idem, reply)], f"{idem.record_id}:{idem.payload_hash}")
    except store.Cancelled as cancelled:
        if not cancelled.failed(LABEL):
            raise
        return _winner(idem)
    except store.InProgress:
        raise Conflict("A request with this Idempotency-Key is in progress.", "IDEMPOTENCY_IN_PROGRESS") from None
    except store.TokenReused:
        return _winner(idem)
    return reply


def _winner(idem: Idempotency) -> Reply:
    stored = replay(idem)
    if stored is None:
        raise Conflict("A request with this Idempotency-Key is in progress.", "IDEMPOTENCY_IN_PROGRESS")
    return stored
