"""One checkpoint item per job task (`job#<job>#<run>#<partition>#<after>` in
`counters`): the last key the task finished (`cursor`), how many keys it did
and how many failed, whether it is done, and the last key of its page when the
partition went on in another task (`last_key`). Every write is conditional and
goes through the kernel: the first creates it (`attribute_not_exists`), each
next one moves the cursor only from the cursor it started from, so two workers
holding the same task (an SQS redelivery while the first still runs) never
both move it: the one that loses stops (`Superseded`), having redone only
idempotent work."""

from __future__ import annotations

from collections import Counter as Tally
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from chalicelib import clock, store
from chalicelib.errors import Conflict, DiemError
from chalicelib.idempotency import Reply
from chalicelib.store import Counter

if TYPE_CHECKING:
    from chalicelib.jobs.fanout import Task

LABEL = "checkpoint"
KEEP = timedelta(days=14)  # then TTL removes it
_DONE, _RUNNING = "done", "running"
_OK = Reply(200, {})


class Superseded(Conflict):
    """Another worker moved this task's checkpoint: it owns the task now."""

    def __init__(self) -> None:
        super().__init__("Another worker has moved this task on.", "INVALID_STATE")


@dataclass(frozen=True)
class Saved:
    cursor: str | None  # None: no key finished yet
    last_key: str | None  # None: the task runs to the partition's end
    done_keys: int
    failed: int
    done: bool


def key(task: Task) -> str:
    return f"job#{task.job}#{task.run}#{task.partition}#{task.after or ''}"


def load(task: Task) -> Saved | None:
    """The task's checkpoint, read strongly consistent (None: never written)."""
    item = store.batch_get([(Counter, key(task), None)])[(Counter, key(task), None)]
    if item is None:
        return None
    return Saved(item.cursor, item.last_key, int(item.count or 0), int(item.failed or 0), item.status == _DONE)


def _commit(op: store.Op) -> None:
    def moved(old: dict[str, Any] | None) -> DiemError:
        return Superseded()

    plan = store.Plan([op], _OK, {LABEL: moved})
    store.run(lambda _: plan)


def start(task: Task, last_key: str) -> None:
    """The task's page ends at `last_key` (the rest of the partition is another task)."""
    item = Counter(key(task), last_key=last_key, count=0, failed=0, status=_RUNNING, expires_at=clock.now() + KEEP)
    _commit(store.put(item, condition=Counter.counter_id.does_not_exist(), label=LABEL))


def advance(task: Task, saved: bool, previous: str | None, cursor: str, counts: Tally[str], done: bool) -> None:
    """Every key up to `cursor` is finished, conditional on the checkpoint still
    standing at `previous` (`saved`: the checkpoint exists)."""
    keys, failed = sum(counts.values()), counts["failed"]
    status = _DONE if done else _RUNNING
    if not saved:
        item = Counter(
            key(task), cursor=cursor, count=keys, failed=failed, status=status, expires_at=clock.now() + KEEP
        )
        _commit(store.put(item, condition=Counter.counter_id.does_not_exist(), label=LABEL))
        return
    at = Counter.cursor.does_not_exist() if previous is None else Counter.cursor == previous
    _commit(
        store.update(
            Counter,
            key(task),
            actions=[
                Counter.cursor.set(cursor),
                Counter.count.add(keys),
                Counter.failed.add(failed),
                Counter.status.set(status),
            ],
            condition=at & (Counter.status == _RUNNING),
            label=LABEL,
        )
    )
