"""The debit a product order (and a claim) makes records what it took from each
bucket; a refund gives exactly that back, each part to its original expiry
date, and a part whose date passed meanwhile expires at once (pure rules)."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.errors import Conflict
from chalicelib.points import rules
from chalicelib.points.account import Account
from chalicelib.tiers import TierState

TODAY = date(2026, 11, 10)
DAYS = ["2026-11-30", "2026-12-31", "2027-03-31", "2027-10-31"]


def account(buckets: dict[str, int]) -> Account:
    return Account(
        msisdn="84961234567",
        owner_id="84961234567@2020-01-01",
        activated_on=date(2020, 1, 1),
        seq=3,
        balance=sum(buckets.values()),
        buckets=buckets,
        rank={},
        tier=TierState("potential"),
        next_anniversary=None,
    )


def test_fefo_take_says_what_it_took():
    buckets = {"2027-10-31": 5_000, "2026-11-30": 3_000, "2026-10-31": 700}  # the October one has expired
    left, taken = rules.fefo_take(buckets, 4_000, TODAY)
    assert taken == {"2026-11-30": 3_000, "2027-10-31": 1_000}
    assert left == {"2026-10-31": 700, "2027-10-31": 4_000} == rules.fefo_debit(buckets, 4_000, TODAY)
    assert rules.fefo_take(buckets, 0, TODAY) == (buckets, {})
    with pytest.raises(Conflict):
        rules.fefo_take(buckets, 8_001, TODAY)


@given(
    st.dictionaries(st.sampled_from(DAYS), st.integers(1, 10_000), min_size=1),
    st.integers(0, 40_000),
)
def test_a_refund_restores_the_buckets_exactly(buckets, points):
    points = min(points, sum(buckets.values()))
    before = account(buckets)
    spent, entry, taken = before.take(points, TODAY, "spend:ord_1", "spend", "prd_1")
    assert entry.points == -points and sum(taken.values()) == points
    assert all(0 < p <= buckets[d] for d, p in taken.items())
    back, entries = spent.refund(taken, TODAY, "refund:ord_1", "prd_1")
    assert back.buckets == before.buckets and back.balance == before.balance
    assert [(e.entry_id, e.kind, e.points) for e in entries] == [("refund:ord_1", "refund", points)]


def test_a_refunded_part_whose_date_passed_expires_at_once():
    spent, _, taken = account({"2026-11-30": 3_000, "2027-10-31": 5_000}).take(4_000, TODAY, "s", "spend", None)
    later = date(2026, 12, 2)
    current, expired = spent.expire(later)  # nothing of November was left to expire
    assert expired == [] and current.buckets == {"2027-10-31": 4_000}
    back, entries = current.refund(taken, later, "refund:ord_1", "prd_1")
    assert back.buckets == {"2027-10-31": 5_000} and back.balance == 5_000
    assert [(e.entry_id, e.kind, e.points) for e in entries] == [
        ("refund:ord_1", "refund", 4_000),
        ("expire:2026-11-30:refund:ord_1", "expire", -3_000),
    ]
    assert entries[0].detail == {"buckets": taken}
    with pytest.raises(ValueError):
        rules.restore({}, {"2026-11-30": -1})
