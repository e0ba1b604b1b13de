"""Exactly-once accrual and idempotency under concurrency, on the embedded engine."""

import random
import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from integration.overlap import Spans

from chalicelib import idempotency, store
from chalicelib.errors import Conflict, Unavailable
from chalicelib.points import rules as points_rules
from chalicelib.points import service as points
from chalicelib.store import LedgerEntry, Subscriber
from chalicelib.store.transact import send
from chalicelib.subscribers import service as subscribers

# the heavy concurrency proofs share one worker, so they never overload the machine together
pytestmark = pytest.mark.xdist_group("heavy")

MSISDNS = [f"8496{i:07d}" for i in range(10)]
OCCURRED = datetime(2026, 11, 9, 3, tzinfo=UTC)
REDELIVERIES = 5
DELIVERERS = 32


def test_1000_deliveries_with_20_percent_duplicates_from_32_threads(engine_tables):
    for msisdn in MSISDNS:
        subscribers.put_profile(msisdn, {"activated_on": "2026-06-01", "plan": "prepaid"}, None)
    rng = random.Random(7)
    events = [(f"ev-{n}", rng.choice(MSISDNS), rng.randrange(1_000, 500_000)) for n in range(800)]
    deliveries = events + [rng.choice(events) for _ in range(200)]
    rng.shuffle(deliveries)

    busy = Counter()
    spans = Spans()
    start = threading.Barrier(DELIVERERS, timeout=60)

    def deliver(event):
        """As the SQS consumer does: a retryable refusal (503) leaves the message to be
        delivered again, at most REDELIVERIES times; anything else is the answer."""
        event_id, msisdn, amount = event
        for _ in range(REDELIVERIES):
            try:
                with spans.request():
                    return points.accrue(event_id, msisdn, amount, "mobile", OCCURRED, None).status
            except Unavailable:
                busy[event_id] += 1
        raise AssertionError(f"{event_id} still refused after {REDELIVERIES} deliveries")

    def worker(share):
        start.wait()
        return [deliver(event) for event in share]

    with ThreadPoolExecutor(max_workers=DELIVERERS) as pool:
        shares = pool.map(worker, [deliveries[n::DELIVERERS] for n in range(DELIVERERS)])
        statuses = Counter(status for share in shares for status in share)
    print(f"deliveries answered 503 and delivered again: {sum(busy.values())}")
    spans.assert_overlapped(DELIVERERS, "1,000 deliveries")
    assert statuses[201] == 800 and statuses[200] == 200

    expected = Counter()
    for _, msisdn, amount in events:
        expected[msisdn] += points_rules.base_points(amount, "mobile")
    for msisdn in MSISDNS:
        item = Subscriber.get(msisdn, consistent_read=True)
        entries = list(LedgerEntry.query(item.owner_id, consistent_read=True))
        # potential and loyal both earn at 1.0 and the tenure gate caps them at loyal
        assert item.balance == expected[msisdn] == sum(e.points for e in entries)
        assert sum(int(v) for v in item.buckets.values()) == item.balance
        assert len(entries) == len({e.entry_id for e in entries}) == sum(1 for e in events if e[1] == msisdn)
        assert sorted(e.seq for e in entries) == list(range(1, len(entries) + 1))


def test_concurrent_requests_with_one_idempotency_key_apply_once(engine_tables):
    msisdn = MSISDNS[0]
    subscribers.put_profile(msisdn, {"activated_on": "2020-01-01", "plan": "prepaid"}, None)
    idem = idempotency.key_for("same-key", "operator:crm:POST adjustments", {"points": 100})
    spans = Spans()
    start = threading.Barrier(16, timeout=30)

    def credit(_):
        start.wait()
        try:
            with spans.request():
                replay = idempotency.replay(idem)
                return replay if replay else points.adjust(msisdn, 100, "gift", "crm", idem)
        except Conflict as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=16) as pool:
        outcomes = list(pool.map(credit, range(16)))
    spans.assert_overlapped(16, "one Idempotency-Key")
    replies = [o for o in outcomes if isinstance(o, idempotency.Reply)]
    assert {o for o in outcomes if isinstance(o, str)} <= {"IDEMPOTENCY_IN_PROGRESS"}
    assert replies and all(r == replies[0] for r in replies)
    assert Subscriber.get(msisdn, consistent_read=True).balance == 100


def test_transaction_cancellation_reasons_are_mapped_to_labels(engine_tables):
    msisdn = MSISDNS[1]
    subscribers.put_profile(msisdn, {"activated_on": "2020-01-01", "plan": "prepaid"}, None)
    stale = store.update(
        Subscriber, msisdn, actions=[Subscriber.balance.set(1)], condition=Subscriber.seq == 99, label="balance"
    )
    owner = Subscriber.get(msisdn, consistent_read=True).owner_id
    fine = store.check(
        LedgerEntry, owner, "no-such-entry", condition=LedgerEntry.entry_id.does_not_exist(), label="free"
    )
    try:
        send([fine, stale])
    except store.Cancelled as cancelled:
        assert cancelled.failed("balance") and not cancelled.failed("free")
        assert cancelled.old_item("balance")["msisdn"] == {"S": msisdn}
    else:
        raise AssertionError("the stale write committed")
