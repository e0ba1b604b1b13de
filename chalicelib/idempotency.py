"""Retry safety for every mutating request (DOMAIN.md "Retry safety").

An `Idempotency-Key` is bound to its caller, operation and payload. Its dedupe
record (payload hash, stored response, 24 h TTL) is written by the kernel in
the same TransactWriteItems as the business write, conditional on no live
record existing; it is read only when that transaction is cancelled because
of it (the cancellation returns the old record) or when the use case refuses.
A replay returns the stored response; the same key with a different payload is
422; a duplicate racing the first is 409.
"""

from __future__ import annotations

import hashlib
import json
import re
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from chalicelib import clock
from chalicelib.config import rules
from chalicelib.errors import IdempotencyKeyReused, ValidationError

if TYPE_CHECKING:
    from chalicelib.store import IdempotencyRecord, Op

MAX_KEY_LENGTH = 255
# what a key is: printable ASCII, no space at either end (the OpenAPI document declares
# the same pattern, so a generated client or a fuzzer knows it)
KEY_PATTERN = rf"^[!-~]([ -~]{{0,{MAX_KEY_LENGTH - 2}}}[!-~])?$"
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
    if not re.fullmatch(KEY_PATTERN, key):
        raise ValidationError(f"Idempotency-Key must be 1 to {MAX_KEY_LENGTH} printable ASCII characters.")
    canonical = json.dumps(payload, sort_keys=True, separators=(",", ":"), default=str)
    return Idempotency(
        record_id=hashlib.sha256(f"{scope}\x1f{key}".encode()).hexdigest(),
        payload_hash=hashlib.sha256(canonical.encode()).hexdigest(),
    )


def _whole_second(instant: datetime) -> datetime:
    return instant.replace(microsecond=0)


def stored_reply(record: IdempotencyRecord | None, idem: Idempotency) -> Reply | None:
    """The reply a live record keeps for this key; None if there is none; 422 if the payload differs."""
    # expired exactly when `record_op` may overwrite it: the same test on whole seconds
    if record is None or (record.expires_at and record.expires_at < _whole_second(clock.now())):
        return None
    if record.payload_hash != idem.payload_hash:
        raise IdempotencyKeyReused("This Idempotency-Key was used with a different request.")
    return Reply(int(record.status_code), json.loads(record.body))


def replay(idem: Idempotency | None) -> Reply | None:
    """Read the stored reply for this key (one GetItem): only on a refusal, never on the success path."""
    if idem is None:
        return None
    from chalicelib import store

    try:
        record = store.IdempotencyRecord.get(idem.record_id, consistent_read=True)
    except store.IdempotencyRecord.DoesNotExist:
        return None
    return stored_reply(record, idem)


def from_raw(raw: dict[str, Any] | None, idem: Idempotency) -> Reply | None:
    """The stored reply of a record returned by a cancellation (ALL_OLD)."""
    from chalicelib import store

    return stored_reply(store.IdempotencyRecord.from_raw_data(raw) if raw else None, idem)


def record_op(idem: Idempotency, reply: Reply) -> Op:
    """The record's write in the business transaction: only where no live record is."""
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
