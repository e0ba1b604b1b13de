"""Month-end expiry fanned out, on the embedded engine: a worker killed mid-shard
(injected) leaves its last checkpoint; a duplicate first delivery of the task
finds the checkpoint taken and stops; the redelivered task resumes right after
the checkpoint and ends with exact results: one `expire` entry per subscriber,
every balance exact, the checkpoint done; another redelivery does nothing."""

from __future__ import annotations

import hashlib
import threading
from datetime import UTC, datetime

import pytest

from chalicelib import config, store
from chalicelib.jobs import checkpoint, fanout
from chalicelib.points import service as points
from chalicelib.store import LedgerEntry, Subscriber
from chalicelib.subscribers import service as subscribers
from conftest import at

pytestmark = pytest.mark.engine

SHARD = 3
DUE = "2026-12-31"
COUNT = 23
CHUNK = 5


class Killed(BaseException):
    """The worker's process dies (not an error the worker could catch)."""


class Kill:
    """A `before_key` hook: lets `after` keys start, then kills the worker (every later key too)."""

    def __init__(self, after: int) -> None:
        self.after, self.started, self._lock = after, list[str](), threading.Lock()

    def __call__(self, key: str) -> None:
        with self._lock:
            if len(self.started) >= self.after:
                raise Killed
            self.started.append(key)


def _shard(msisdn: str) -> int:
    return hashlib.sha256(msisdn.encode()).digest()[0] % config.rules().due_index_shards


def _due_subscribers() -> list[str]:
    """COUNT numbers that all land in the partition `DUE#SHARD`, each with a
    `data` bucket of 5,000 points expiring on DUE and 1,000 mobile points that
    stay: one subscriber made through the product (outside the partition), then
    copies of its item (`bench.flash_sale.copy_subscriber`, as the bench seeds)."""
    from bench.flash_sale import copy_subscriber

    at("2026-11-10T03:00:00Z")
    numbers = (f"8497{n:07d}" for n in range(10**6))
    template = next(m for m in numbers if _shard(m) != SHARD)
    subscribers.put_profile(template, {"activated_on": "2023-11-20", "plan": "postpaid"}, None)
    points.accrue("d-template", template, 100_000, "data", datetime(2026, 11, 9, tzinfo=UTC), None)
    points.accrue("m-template", template, 20_000, "mobile", datetime(2026, 11, 9, tzinfo=UTC), None)
    msisdns = sorted(m for m, _ in zip((m for m in numbers if _shard(m) == SHARD), range(COUNT), strict=False))
    copy_subscriber(store.binding.client(), config.settings().table_prefix + "subscribers", template, msisdns)
    return msisdns


def _entries(msisdn: str, entry_id: str) -> list[LedgerEntry]:
    owner = Subscriber.get(msisdn, consistent_read=True).owner_id
    return [e for e in LedgerEntry.query(owner, consistent_read=True) if e.entry_id == entry_id]


def _expire_entries(msisdn: str) -> list[LedgerEntry]:
    return _entries(msisdn, f"expire:{DUE}")


def test_a_worker_killed_mid_shard_resumes_from_its_checkpoint_and_applies_nothing_twice(
    engine_tables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(fanout, "CHUNK", CHUNK)
    msisdns = _due_subscribers()
    at("2027-01-01T01:00:00Z")
    task = fanout.Task("expire_points", f"{DUE}#{SHARD}", "run-1", "2027-01-01T01:00:00.000Z")
    assert task in fanout.plan("expire_points", datetime(2027, 1, 1).date(), "run-1")

    # the first worker dies in its third chunk, after 12 keys: checkpoint at the 10th
    kill = Kill(after=12)
    with pytest.raises(Killed):
        fanout.work(task, fresh=True, before_key=kill)
    started = kill.started
    saved = checkpoint.load(task)
    assert saved is not None and not saved.done
    assert (saved.cursor, saved.done_keys) == (msisdns[2 * CHUNK - 1], 2 * CHUNK)
    assert sorted(started) == sorted(msisdns[:10] + [m for m in started if m in msisdns[10:15]])
    assert sum(len(_expire_entries(m)) for m in msisdns) == 12

    # a duplicate first delivery (SQS is at least once) works a chunk of what is still due
    # from the start of the partition, then finds the checkpoint taken and stops
    duplicate: list[str] = []
    second = fanout.work(task, fresh=True, before_key=duplicate.append)
    assert second.superseded and not second.counts and len(duplicate) == CHUNK
    assert checkpoint.load(task) == saved
    assert sum(len(_expire_entries(m)) for m in msisdns) == 12 + CHUNK

    # the redelivered task resumes right after the checkpoint (the index has lost
    # the keys done since: their sparse key moved on to their next expiry)
    seen: list[str] = []
    resumed = fanout.work(task, fresh=False, before_key=seen.append)
    assert resumed.finished and resumed.started_after == msisdns[2 * CHUNK - 1]
    assert min(seen) > saved.cursor and set(seen) == set(msisdns[2 * CHUNK :]) - set(started) - set(duplicate)
    assert resumed.counts == {"done": len(seen)}
    final = checkpoint.load(task)
    assert final is not None and final.done and final.cursor == max(seen) and final.done_keys == 10 + len(seen)

    # exact: one expire entry each (and the 2026-11-20 tenure bonus the run caught up, once),
    # every balance the 1,000 mobile points plus the 3,000 bonus, the partition empty
    for msisdn in msisdns:
        (entry,) = _expire_entries(msisdn)
        assert entry.points == -5_000 and entry.balance_after == 1_000
        assert len(_entries(msisdn, "tenure_bonus:2026-11-20")) == 1
        assert Subscriber.get(msisdn, consistent_read=True).balance == 1_000 + 3_000
    assert list(Subscriber.expiry_due_index.query(task.partition)) == []

    # a redelivery after the end does nothing at all
    again = fanout.work(task, fresh=False, before_key=lambda key: pytest.fail(f"worked {key} again"))
    assert again.finished and not again.counts


def test_a_long_partition_is_worked_as_page_tasks_each_resuming_within_its_page(
    engine_tables: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Pages of 10 keys: the first task hands the rest of the partition to a new
    task before working its page; killed, then redelivered, it finishes its own
    page only (and queues the next again: the copy is turned away by the next
    page's checkpoint). A scheduled run then works what is left."""
    monkeypatch.setattr(fanout, "CHUNK", CHUNK)
    monkeypatch.setattr(fanout, "PAGE", 2 * CHUNK)
    msisdns = _due_subscribers()
    at("2027-01-01T01:00:00Z")
    first = fanout.Task("expire_points", f"{DUE}#{SHARD}", "run-2", "2027-01-01T01:00:00.000Z")
    spawned: list[fanout.Task] = []
    kill = Kill(after=3)
    with pytest.raises(Killed):
        fanout.work(first, fresh=True, spawn=spawned.append, before_key=kill)
    started = kill.started
    (second,) = spawned
    assert second.after == msisdns[9] and second.partition == first.partition
    saved = checkpoint.load(first)
    assert saved is not None and (saved.cursor, saved.last_key, saved.done) == (None, msisdns[9], False)

    seen: list[str] = []
    resumed = fanout.work(first, fresh=False, spawn=spawned.append, before_key=seen.append)
    assert resumed.finished
    assert set(seen) == set(msisdns[:10]) - set(started) and max(seen) <= msisdns[9]  # its own page only
    assert sum(len(_expire_entries(m)) for m in msisdns) == 10
    # it queued the next page again (it cannot know the first queueing happened): two copies of
    # the next task. One starts (and dies after a key); the other finds its page's checkpoint and stops
    assert spawned == [second, second]
    third: list[fanout.Task] = []
    with pytest.raises(Killed):
        fanout.work(spawned[1], fresh=True, spawn=third.append, before_key=Kill(after=1))
    copy = fanout.work(spawned[0], fresh=True, spawn=third.append, before_key=lambda key: pytest.fail(key))
    assert copy.superseded and [t.after for t in third] == [msisdns[19]]
    again = fanout.work(spawned[1], fresh=False, spawn=third.append)  # redelivered: finishes its page
    assert again.finished and sum(len(_expire_entries(m)) for m in msisdns) == 20

    # the rest (the third page's task is left unworked), as a scheduled run works it: the last
    # 3 keys and the template subscriber, due in its own partition; each once
    summary = fanout.run_schedule("expire_points", datetime(2027, 1, 1).date(), run="run-3")
    assert summary["subscribers"] == COUNT - 20 + 1 and summary["failed"] == 0
    for msisdn in msisdns:
        assert len(_expire_entries(msisdn)) == 1
        assert Subscriber.get(msisdn, consistent_read=True).balance == 1_000 + 3_000
