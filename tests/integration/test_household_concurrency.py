"""Five members spending from one pool at once, 20 rounds, on the embedded
engine (TARGETS.md "Households and products"): the pool never below 0, every
debit in the ledger once, the contributed batches conserved."""

from __future__ import annotations

import threading
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from integration.overlap import Spans

from chalicelib import clock
from chalicelib.errors import DiemError
from chalicelib.store import LedgerEntry, Subscriber, Voucher
from chalicelib.vouchers import service as vouchers
from conftest import OPERATOR, auth, launched_campaign

# the heavy concurrency proofs share one worker, so they never overload the machine together
pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("heavy")]

MEMBERS = [f"8497{n:07d}" for n in range(5)]
ROUNDS = 20
PRICE = 300
EARNED = 5_000  # each member's batch: 100,000 VND of mobile at 5%
NOW = datetime(2026, 11, 11, 4, tzinfo=UTC)


@pytest.fixture
def pool(engine_api):
    """A household of five, each with a 5,000-point batch in the pool and no points of their own,
    every member allowed to spend, and a campaign at 300 points (20 x 5 claims want 30,000)."""
    clock.set_now(lambda: NOW)
    api = engine_api
    for msisdn in MEMBERS:
        api.put(
            f"/v1/subscribers/{msisdn}", {"activated_on": "2025-06-01", "plan": "prepaid"}, headers=OPERATOR, expect=201
        )
    owner = auth("subscriber", MEMBERS[0])
    hid = api.post("/v1/households", headers=owner, expect=201).data["household_id"]
    for msisdn in MEMBERS[1:]:
        api.post(f"/v1/households/{hid}/invitations", {"msisdn": msisdn}, headers=owner, expect=201)
        api.post(f"/v1/households/{hid}/invitations/{msisdn}/accept", headers=auth("subscriber", msisdn), expect=200)
        api.call("PATCH", f"/v1/households/{hid}/members/{msisdn}", {"can_spend": True}, headers=owner, expect=200)
    for n, msisdn in enumerate(MEMBERS):
        event = {
            "event_id": f"bill-{n}",
            "msisdn": msisdn,
            "amount_vnd": 100_000,
            "service": "mobile",
            "occurred_at": "2026-11-10T00:00:00Z",
        }
        api.post("/v1/spend-events", event, headers=OPERATOR, expect=201)
    campaign = {
        "name": "Family data",
        "voucher": {"title": "Coffee", "value_vnd": 30_000},
        "points_price": PRICE,
        "inventory": 1_000,
        "per_subscriber_limit": 1_000,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 30,
    }
    campaign_id = launched_campaign(api, campaign, partner="Family shop")
    shown = api.get(f"/v1/households/{hid}", headers=OPERATOR, expect=200).data
    assert shown["pool_balance"] == EARNED * len(MEMBERS)
    return api, hid, campaign_id


def test_five_members_spending_from_one_pool_at_once_20_rounds(pool):
    api, hid, campaign_id = pool
    spans = Spans()
    outcomes: Counter[str] = Counter()
    overlaps = []
    for _ in range(ROUNDS):
        start = threading.Barrier(len(MEMBERS), timeout=30)
        round_spans = Spans()

        def spend(msisdn: str, start: threading.Barrier = start, round_spans: Spans = round_spans) -> str:
            start.wait()
            try:
                with spans.request(), round_spans.request():
                    return str(vouchers.claim(msisdn, campaign_id, None).status)
            except DiemError as exc:
                return exc.code

        with ThreadPoolExecutor(max_workers=len(MEMBERS)) as threads:
            outcomes.update(threads.map(spend, MEMBERS))
        overlaps.append(round_spans.max_in_flight())
    print(f"5 members x {ROUNDS} rounds: {dict(outcomes)}; most in flight per round: {overlaps}")
    spans.assert_overlapped(len(MEMBERS), "pool spends")
    assert set(outcomes) <= {"201", "INSUFFICIENT_POINTS", "SERVICE_UNAVAILABLE"}, outcomes
    wins = outcomes["201"]
    total = EARNED * len(MEMBERS)
    # the pool held 83 claims' worth: it ran dry, and never below 0
    assert wins == total // PRICE and outcomes["INSUFFICIENT_POINTS"] > 0, outcomes

    shown = api.get(f"/v1/households/{hid}", headers=OPERATOR, expect=200).data
    assert shown["pool_balance"] == total - wins * PRICE >= 0
    spent_from: Counter[str] = Counter()
    vouchers_issued = 0
    for msisdn in MEMBERS:
        item = Subscriber.get(msisdn, consistent_read=True)
        assert int(item.balance) == 0 and all(int(p) > 0 for p in item.pool.values())
        entries = list(LedgerEntry.query(item.owner_id, consistent_read=True))
        assert len(entries) == len({e.entry_id for e in entries})  # each debit once
        # every entry its own seq: two debits committed from one read would share one
        assert len({int(e.seq) for e in entries}) == len(entries), sorted(int(e.seq) for e in entries)
        spends = [e for e in entries if e.entry_id.startswith("pool_spend:")]
        spent_from[msisdn] = -sum(int(e.points) for e in spends)
        # the contributed batch is conserved: what is left and what was spent of it
        contributed = next(m["contributed_points"] for m in shown["members"] if m["msisdn"] == msisdn)
        assert contributed + spent_from[msisdn] == EARNED
        assert sum(int(e.points) for e in entries) == sum(int(p) for p in item.pool.values())
        vouchers_issued += sum(1 for _ in Voucher.by_owner.query(item.owner_id))
    assert sum(spent_from.values()) == wins * PRICE
    assert vouchers_issued == wins
