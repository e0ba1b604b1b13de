"""The one commit protocol: every mutating use case is read -> decide -> commit.

A use case gives `run` a `decide` function that reads what it needs (one
batched read), applies its pure rules and returns a `Plan`: the labelled
writes, the reply, and what a failed condition of each label means. On a
retry, `decide` gets the items a cancellation returned (by label, as they are
now), so it may decide again from them instead of reading them again. The
kernel then

1. adds the Idempotency-Key's record to the same transaction (no read first);
2. stamps every item it writes with this attempt (`_rq = <request>.<n>`) and
   commits with a ClientRequestToken derived from the stamp;
3. resends the identical transaction when the outcome is unknown (a timeout,
   a dropped connection, a server error) or the answer says nothing about its
   items (throttled, or cancelled only by conflicts): every plan's conditions
   make an already committed copy fail, so a resend either commits once or is
   cancelled with the items as they are;
4. on a cancellation, recognises **one way** that an earlier attempt of this
   very request committed: an old item returned by the cancellation carries
   this request's stamp (then the reply is that attempt's); else answers from
   the idempotency record when the cancellation was because of it (422 for
   another payload); else asks the plan what its failed labels mean (a
   business refusal, a reply, or "stale: decide again");
5. retries stale reads, conflicts and throttling (of the commit, or of a read
   `decide` made: a timeout, a dropped connection, a server error) with fresh
   reads and jittered exponential backoff, within a time budget, then answers 503;
   a cancellation made only of conflicts or throttling may instead be sent at
   once as the plan's `retarget` of it (the same request, its contended writes
   moved to other items: a flash sale's claim moves to another inventory shard).

A refusal raised by `decide` on a keyed request reads the record once: a
replay of a request that succeeded answers as it did, even when deciding again
would refuse (the voucher it issued now counts against the limit).
"""

from __future__ import annotations

import hashlib
import logging
import random
import secrets
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from chalicelib import config, idempotency, observability
from chalicelib.errors import Conflict, DiemError, Unavailable
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.store.transact import Ambiguous, Cancelled, Op, Throttled, send, transient

log = logging.getLogger(__name__)

STAMP = "_rq"
_STAMP_NAME, _STAMP_VALUE = "#diem_rq", ":diem_rq"
# attempts with fresh reads, within a time budget (`Settings.commit_budget_seconds`,
# 6 s: well inside the API function's 10 s timeout); identical resends of one
# attempt whose outcome is unknown
MAX_ATTEMPTS = 50
MAX_RESENDS = 3
# full jitter (sleep a random time up to base x 2^attempt, capped): writers of one
# item spread out instead of colliding again in step
BACKOFF_BASE_SECONDS = 0.01
BACKOFF_CAP_SECONDS = 1.0

# what a failed condition of one label means, given the item as it was:
# a reply (answer with it), a refusal (raise it) or None (a stale read: decide again)
Meaning = Callable[[dict[str, Any] | None], Reply | DiemError | None]
# the raw items a cancellation returned, by label: the freshest state there is
Fresh = Mapping[str, dict[str, Any]]


@dataclass(frozen=True)
class Plan:
    """What one attempt of a use case wants committed, and how to read a refusal."""

    writes: Sequence[Op]
    reply: Reply
    on_failure: Mapping[str, Meaning] = field(default_factory=dict)
    # what a replay with the same Idempotency-Key answers (default: `reply`;
    # a reply carrying a secret stores it without the secret)
    stored: Reply | None = None
    # given the labels that met a conflict or throttling (and nothing else), the
    # same decision with those writes moved to other items, or None (send it again).
    # Its conditions must still make an already committed attempt of this request
    # fail (the voucher code and the balance's seq do), so it commits at most once.
    retarget: Callable[[frozenset[str]], Plan | None] | None = None


def stamp_of(item: dict[str, Any] | None) -> str:
    """The attempt stamp an item carries ('' if none)."""
    value = (item or {}).get(STAMP) or {}
    return str(value.get("S", ""))


def _stamped(op: Op, stamp: str) -> Op:
    """`op` writing `stamp` on its item too (ConditionChecks write nothing)."""
    request = {kind: dict(body) for kind, body in op.request.items()}
    if "Put" in request:
        request["Put"]["Item"] = {**request["Put"]["Item"], STAMP: {"S": stamp}}
    elif "Update" in request:
        body = request["Update"]
        expression = body["UpdateExpression"]
        assignment = f"{_STAMP_NAME} = {_STAMP_VALUE}"
        if expression.startswith("SET ") or " SET " in expression:
            at = 0 if expression.startswith("SET ") else expression.index(" SET ") + 1
            expression = f"{expression[: at + 4]}{assignment}, {expression[at + 4 :]}"
        else:
            expression = f"SET {assignment} {expression}"
        body["UpdateExpression"] = expression
        body["ExpressionAttributeNames"] = {**body.get("ExpressionAttributeNames", {}), _STAMP_NAME: STAMP}
        body["ExpressionAttributeValues"] = {**body.get("ExpressionAttributeValues", {}), _STAMP_VALUE: {"S": stamp}}
    return Op(request, op.label)


def _token(stamp: str) -> str:
    """A ClientRequestToken (<= 36 chars) per attempt: DynamoDB dedupes an SDK
    retry of a committed attempt; a later attempt (fresh reads) has its own."""
    return hashlib.sha256(stamp.encode()).hexdigest()[:36]


def _backoff(attempt: int) -> None:
    observability.count("DynamoDBRetries")
    time.sleep(random.uniform(0, min(BACKOFF_CAP_SECONDS, BACKOFF_BASE_SECONDS * 2**attempt)))


def _mine(cancelled: Cancelled, request: str) -> str | None:
    """The stamp of this request's attempt that an old item carries, if any."""
    for _, old in cancelled.reasons.values():
        stamp = stamp_of(old)
        if stamp.startswith(request + "."):
            return stamp
    return None


def _refused(exc: DiemError, idem: Idempotency | None) -> Reply:
    """A refusal of a keyed request: the stored reply if this key already succeeded."""
    stored = idempotency.replay(idem)
    if stored is None:
        raise exc
    observability.count("IdempotentReplays")
    return stored


def _meaning(cancelled: Cancelled, plan: Plan) -> Reply | None:
    """What the plan says its failed labels mean; None when every failure is retryable."""
    for label, meaning in plan.on_failure.items():
        if cancelled.failed(label):
            answer = meaning(cancelled.old_item(label))
            if isinstance(answer, DiemError):
                raise answer
            if answer is not None:
                return answer
    if cancelled.retryable:
        return None
    raise cancelled


def run(decide: Callable[[Fresh], Plan], idem: Idempotency | None = None, *, attempts: int = MAX_ATTEMPTS) -> Reply:
    """Decide and commit, retrying what is retryable; the reply of the attempt that committed.

    `decide(fresh)`: `fresh` is empty on the first attempt, then the old items of
    the last cancellation by label (a use case may skip re-reading them).

    A new decision follows only a definitive answer: a cancellation with a failed
    condition (whose old items show whether this request committed). A lost
    answer, a throttle or a cancellation made only of conflicts and throttles
    says nothing about our items (an SDK retry of a commit whose answer was lost
    may be the one that met it), so the identical attempt is sent again."""
    request = secrets.token_hex(10)
    replies: dict[str, Reply] = {}
    fresh: dict[str, dict[str, Any]] = {}
    in_progress = False  # the last cancellation met another writer of this key's record
    unknown = 0  # sends of the current attempt whose outcome was not known
    ops: list[Op] | None = None  # the attempt to send again, or None: decide
    stamp = ""
    deadline = time.monotonic() + config.settings().commit_budget_seconds

    def prepare(plan: Plan) -> list[Op]:
        """The attempt's writes, stamped (one stamp and token per attempt prepared)."""
        nonlocal stamp, unknown
        writes = list(plan.writes)
        if idem is not None:
            writes.append(idempotency.record_op(idem, plan.stored or plan.reply))
        stamp, unknown = f"{request}.{len(replies)}", 0
        replies[stamp] = plan.reply
        return [_stamped(op, stamp) for op in writes]

    moved = False  # the attempt about to go was retargeted to other items: no wait
    for turn in range(attempts):
        if turn and time.monotonic() > deadline:
            break
        # the first decision from a cancellation's items goes at once: they are the newest state
        if turn and not moved and (ops is not None or not fresh or turn > 1):
            _backoff(turn)
        moved = False
        if ops is None:
            try:
                plan = decide(fresh)
            except DiemError as exc:
                if idem is None:
                    raise
                try:
                    return _refused(exc, idem)
                except DiemError:
                    raise
                except Exception as read_error:  # the record's read timed out or was throttled
                    if not transient(read_error):
                        raise
                    fresh = {}
                    continue
            except Exception as exc:
                if not transient(exc):
                    raise
                fresh = {}  # a read timed out or was throttled: decide again after a backoff
                continue
            if not plan.writes and idem is None:
                return plan.reply
            ops = prepare(plan)
        try:
            send(ops, _token(stamp))
            return replies[stamp]
        except Ambiguous:
            unknown += 1
            if unknown > MAX_RESENDS:
                raise Unavailable("The outcome is unknown; please retry with the same Idempotency-Key.") from None
            continue
        except Throttled:
            continue
        except Cancelled as cancelled:
            mine = _mine(cancelled, request)
            if mine is not None:
                # an earlier attempt of this request committed; its answer was lost
                return replies[mine]
            in_progress = cancelled.code(idempotency.LABEL) == "TransactionConflict"
            if not any(code == "ConditionalCheckFailed" for code, _ in cancelled.reasons.values()):
                if not cancelled.retryable:
                    raise
                # conflicts and throttles only: the same attempt again, or moved elsewhere
                hot = frozenset(cancelled.reasons) - {idempotency.LABEL}
                again = plan.retarget(hot) if plan.retarget is not None and hot else None
                if again is not None:
                    plan, ops, moved = again, prepare(again), True
                continue
            if idem is not None and cancelled.failed(idempotency.LABEL):
                stored = idempotency.from_raw(cancelled.old_item(idempotency.LABEL), idem)
                if stored is not None:
                    observability.count("IdempotentReplays")
                    return stored
            answer = _meaning(cancelled, plan)
            if answer is not None:
                return answer
            fresh = {label: old for label, (_, old) in cancelled.reasons.items() if old is not None}
            ops = None
    log.warning("commit gave up", extra={"attempts": attempts})
    if in_progress:
        raise Conflict("A request with this Idempotency-Key is in progress.", "IDEMPOTENCY_IN_PROGRESS")
    raise Unavailable("The service is busy; please retry.")
