"""Hypothesis stateful test of the points invariants on the embedded engine, with
throttling, transaction conflicts and lost responses injected.

After every step, for every subscriber: stored balance == sum of ledger
entries == sum of buckets, never negative; the points the app shows == the
unexpired buckets; every acknowledged event is in the ledger exactly once;
rank points == base points of the trailing 12 months plus tenure bonuses;
a tier held has a 12-month cycle.
"""

from __future__ import annotations

import os
import uuid
from collections import defaultdict
from datetime import UTC, date, datetime, timedelta

import hypothesis.strategies as st
import pytest
from hypothesis.stateful import Bundle, RuleBasedStateMachine, initialize, invariant, precondition, rule
from machines import machine_settings, stateful_db  # noqa: F401  (a fixture)

from chalicelib import clock, config, jobs, store, tiers
from chalicelib.clock import add_months, month_key
from chalicelib.errors import Conflict
from chalicelib.points import rules as points_rules
from chalicelib.points import service as points
from chalicelib.store import LedgerEntry, Subscriber, schema
from chalicelib.subscribers import service as subscribers
from faults import KINDS, Faults

START = datetime(2026, 1, 10, 3, 0, tzinfo=UTC)
# activated 6 years, 2 years and 4 months before START: bonus 5,000 / 1,000 / tenure gate
ACTIVATIONS = (date(2020, 1, 20), date(2024, 1, 25), date(2025, 9, 1))
SERVICES = ("mobile", "data", "ftth", "tv", "digital")


class PointsMachine(RuleBasedStateMachine):
    events = Bundle("events")

    def __init__(self) -> None:
        super().__init__()
        self.faults = Faults()

    @initialize()
    def fresh_tables(self) -> None:
        self.prefix = f"s{uuid.uuid4().hex[:8]}-"
        os.environ["DIEM_TABLE_PREFIX"] = self.prefix
        config.reset()
        store.bind()
        schema.create_tables(store.binding.client(), self.prefix)
        self.now = START
        clock.set_now(lambda: self.now)
        self.subs = [f"8490{n}{uuid.uuid4().int % 10**6:06d}" for n in range(len(ACTIVATIONS))]
        for msisdn, activated in zip(self.subs, ACTIVATIONS, strict=True):
            subscribers.put_profile(msisdn, {"activated_on": activated.isoformat(), "plan": "prepaid"}, None)
        self.replies: dict[str, dict] = {}
        self.acknowledged: dict[str, set[str]] = defaultdict(set)
        self.faults.install()

    def teardown(self) -> None:
        self.faults.uninstall()
        clock.set_now(None)
        if getattr(self, "prefix", None):
            schema.delete_tables(store.binding.client(), self.prefix)

    # -- rules ---------------------------------------------------------------

    @rule(
        target=events,
        who=st.integers(0, len(ACTIVATIONS) - 1),
        amount=st.integers(0, 3_000_000),
        service=st.sampled_from(SERVICES),
        days_back=st.integers(0, 400),
    )
    def spend(self, who: int, amount: int, service: str, days_back: int) -> str:
        msisdn = self.subs[who]
        event_id = f"ev-{uuid.uuid4().hex[:12]}"
        occurred = self.now - timedelta(days=days_back)
        fired = sum(self.faults.fired.values())
        try:
            reply = points.accrue(event_id, msisdn, amount, service, occurred, None)
        except Conflict as exc:
            assert exc.code == "INVALID_STATE" and clock.local_date(occurred) < ACTIVATIONS[who]
            return event_id
        # a response lost after the commit makes our own retry look like a duplicate: 200, same body
        lost_response = sum(self.faults.fired.values()) > fired
        assert reply.status == 201 or (lost_response and reply.status == 200)
        assert reply.body["earned"]["rank_points"] == points_rules.base_points(amount, service)
        self.replies[event_id] = reply.body
        self.acknowledged[msisdn].add(event_id)
        today = clock.today()
        account = points.to_account(Subscriber.get(msisdn, consistent_read=True)).effective(today)
        qualifying = tiers.qualifying_tier(account.rank_points(today), account.tenure_months(today))
        assert tiers.TIER_CODES.index(account.tier.tier) >= tiers.TIER_CODES.index(qualifying), "no immediate upgrade"
        return event_id

    @rule(event_id=events)
    def redeliver(self, event_id: str) -> None:
        if event_id not in self.replies:
            return
        body = self.replies[event_id]
        again = points.accrue(event_id, body["msisdn"], 1, "mobile", self.now, None)
        assert again.status == 200 and again.body == body

    @rule(who=st.integers(0, len(ACTIVATIONS) - 1), amount=st.integers(1, 400_000), credit=st.booleans())
    def adjust(self, who: int, amount: int, credit: bool) -> None:
        msisdn = self.subs[who]
        before = points.view(msisdn)["balance"]
        try:
            reply = points.adjust(msisdn, amount if credit else -amount, "stateful test", "tester", None)
        except Conflict as exc:
            assert exc.code == "INSUFFICIENT_POINTS" and not credit and amount > before
            assert points.view(msisdn)["balance"] == before
            return
        assert reply.status == 201
        assert points.view(msisdn)["balance"] == before + (amount if credit else -amount)

    @rule(days=st.integers(1, 120))
    def advance_clock(self, days: int) -> None:
        self.now += timedelta(days=days)

    @rule()
    def run_expiry_job(self) -> None:
        assert jobs.expire_points()["failed"] == 0

    @rule()
    def run_tenure_job(self) -> None:
        assert jobs.tenure_bonuses()["failed"] == 0

    @precondition(lambda self: clock.today().day <= 3)
    @rule()
    def run_tier_review(self) -> None:
        assert jobs.review_tiers()["failed"] == 0

    # more than two faults in a row on one call exhaust the SDK's retries: an outage, not a fault
    @precondition(lambda self: self.faults.pending < 2)
    @rule(kind=st.sampled_from(KINDS))
    def inject_fault(self, kind: str) -> None:
        self.faults.arm(kind)

    # -- invariants ----------------------------------------------------------

    @invariant()
    def books_balance(self) -> None:
        if not getattr(self, "subs", None):
            return
        today = clock.today()
        for msisdn in self.subs:
            item = Subscriber.get(msisdn, consistent_read=True)
            account = points.to_account(item)
            entries = list(LedgerEntry.query(item.owner_id, consistent_read=True))
            assert account.balance == sum(e.points for e in entries) == sum(account.buckets.values())
            assert account.balance >= 0 and all(p > 0 for p in account.buckets.values())
            assert points.view(msisdn)["balance"] == points_rules.spendable_balance(account.buckets, today)
            earned = {e.ref for e in entries if e.kind == "earn"}
            assert earned == self.acknowledged[msisdn], "an event missing or applied twice"
            assert sorted(int(e.seq) for e in entries) == sorted({int(e.seq) for e in entries})
            rank_by_month: dict[str, int] = defaultdict(int)
            for e in entries:
                if e.kind == "earn":
                    rank_by_month[e.detail.as_dict()["occurred_on"][:7]] += int(e.rank_points)
                elif e.kind == "tenure_bonus":
                    rank_by_month[e.ref[:7]] += int(e.rank_points)
            assert account.rank_points(today) == points_rules.rank_in_window(rank_by_month, today)
            state = account.effective(today).tier
            if state.tier != "potential":
                assert state.cycle_ends_on == add_months(state.since, 12)
                assert state.since <= today < state.cycle_ends_on
            assert month_key(today) >= min(rank_by_month, default="0000")


PointsMachine.TestCase.settings = machine_settings()


@pytest.mark.usefixtures("stateful_db")
def test_points_invariants():
    PointsMachine.TestCase().runTest()
