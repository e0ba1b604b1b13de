"""Tier thresholds, the tenure gate, upgrades and 12-month cycles."""

from datetime import date

import pytest

from chalicelib.points.account import Account
from chalicelib.tiers import TierState, apply_cycle_ends, next_tier, qualifying_tier, upgrade


@pytest.mark.parametrize(
    ("rank", "tenure", "tier"),
    [
        (0, 60, "potential"),
        (9_999, 60, "potential"),
        (10_000, 60, "loyal"),
        (30_000, 60, "silver"),
        (80_000, 60, "gold"),
        (150_000, 60, "diamond"),
        (150_000, 11, "loyal"),  # tenure gate
        (150_000, 12, "diamond"),
        (5_000, 3, "potential"),
    ],
)
def test_qualifying_tier(rank, tenure, tier):
    assert qualifying_tier(rank, tenure) == tier


def test_next_tier_and_points_needed():
    assert next_tier("potential", 4_000) == ("loyal", 6_000)
    assert next_tier("silver", 90_000) == ("gold", 0)
    assert next_tier("diamond", 1) == (None, None)


def test_upgrade_is_immediate_and_starts_a_cycle():
    state = upgrade(TierState(), "silver", date(2026, 3, 31))
    assert state == TierState("silver", date(2026, 3, 31), date(2027, 3, 31))
    assert upgrade(state, "loyal", date(2026, 5, 1)) is state


def test_cycle_end_can_drop_several_steps_and_restarts():
    state = TierState("diamond", date(2025, 1, 10), date(2026, 1, 10))
    assert apply_cycle_ends(state, date(2026, 1, 9), lambda d: "loyal") == state
    dropped = apply_cycle_ends(state, date(2026, 1, 10), lambda d: "loyal")
    assert dropped == TierState("loyal", date(2026, 1, 10), date(2027, 1, 10))
    assert apply_cycle_ends(state, date(2026, 1, 10), lambda d: "potential") == TierState(
        "potential", date(2026, 1, 10), None
    )


def _account(**kw):
    base = dict(
        msisdn="84961234567",
        owner_id="84961234567@2020-01-01",
        activated_on=date(2020, 1, 1),
        seq=0,
        balance=0,
        buckets={},
        rank={},
        tier=TierState(),
        next_anniversary=date(2027, 1, 1),
    )
    base.update(kw)
    return Account(**base)


def test_event_that_lifts_the_tier_earns_at_the_old_rate():
    account = _account(tier=TierState("gold", date(2026, 1, 1), date(2027, 1, 1)), rank={"2026-10": 149_000})
    updated, entry = account.earn("e1", 100_000, "mobile", date(2026, 11, 2), date(2026, 11, 2))
    assert entry.rank_points == 5_000 and entry.points == 6_000  # gold 1.2
    assert updated.tier == TierState("diamond", date(2026, 11, 2), date(2027, 11, 2))


def test_tenure_gate_caps_new_subscribers_at_loyal():
    account = _account(activated_on=date(2026, 6, 1))
    updated, _ = account.earn("e1", 4_000_000, "mobile", date(2026, 11, 2), date(2026, 11, 2))
    assert updated.tier.tier == "loyal"


def test_tenure_bonus_once_per_anniversary_as_rank_and_spendable():
    account = _account(activated_on=date(2023, 11, 20), next_anniversary=date(2026, 11, 20))
    updated, entry = account.tenure_bonus(date(2026, 11, 20))
    assert entry.entry_id == "tenure_bonus:2026-11-20" and entry.points == 3_000 and entry.rank_points == 3_000
    assert updated.next_anniversary == date(2027, 11, 20)
    again, none = updated.tenure_bonus(date(2026, 11, 21))
    assert none is None and again.balance == 3_000
    assert updated.buckets == {"2027-11-30": 3_000}


def test_review_drops_rank_points_older_than_twelve_months():
    account = _account(
        tier=TierState("silver", date(2025, 11, 1), date(2026, 11, 1)), rank={"2025-10": 40_000, "2026-10": 12_000}
    )
    assert account.rank_points(date(2026, 11, 1)) == 12_000
    assert account.review(date(2026, 11, 1)).tier.tier == "loyal"


def test_late_event_whose_points_already_expired_earns_rank_only():
    account = _account()
    # data points of January expire at the end of February; applied in March
    updated, entry = account.earn("late", 100_000, "data", date(2026, 1, 31), date(2026, 3, 5))
    assert entry.points == 0 and entry.rank_points == 5_000
    assert updated.buckets == {} and updated.balance == 0
    # nothing left to expire, so no second `expire:<date>` entry can collide with an earlier one
    assert updated.expire(date(2026, 3, 5))[1] == []


# -- thresholds, the tenure gate, next tier, cycles: values from DOMAIN.md's table ---------


@pytest.mark.parametrize(
    ("reached", "missed_by_one"),
    [
        (("potential", 0), None),
        (("loyal", 10_000), "potential"),
        (("silver", 30_000), "loyal"),
        (("gold", 80_000), "silver"),
        (("diamond", 150_000), "gold"),
    ],
)
def test_each_threshold_is_reached_exactly_and_missed_by_one(reached, missed_by_one):
    tier, needed = reached
    assert qualifying_tier(needed, 12) == tier
    if missed_by_one:
        assert qualifying_tier(needed - 1, 12) == missed_by_one


def test_no_or_net_negative_rank_points_is_potential():
    assert qualifying_tier(0, 0) == "potential"
    assert qualifying_tier(-500, 60) == "potential"


@pytest.mark.parametrize("rank", [10_000, 30_000, 80_000, 150_000, 10**9])
def test_tenure_gate_under_twelve_months_holds_at_most_loyal(rank):
    assert qualifying_tier(rank, 0) == "loyal"
    assert qualifying_tier(rank, 11) == "loyal"
    assert qualifying_tier(9_999, 11) == "potential"  # the gate caps, it never lifts


def test_at_twelve_months_the_gate_opens():
    assert qualifying_tier(30_000, 12) == "silver"
    assert qualifying_tier(80_000, 13) == "gold"


@pytest.mark.parametrize(
    ("tier", "rank", "above", "still_needed"),
    [
        ("potential", 0, "loyal", 10_000),
        ("loyal", 12_000, "silver", 18_000),
        ("silver", 79_999, "gold", 1),
        ("gold", 100_000, "diamond", 50_000),
        ("gold", 200_000, "diamond", 0),  # held below what the points justify (tenure gate, cycle)
        ("diamond", 0, None, None),
    ],
)
def test_next_tier_and_the_rank_points_still_needed(tier, rank, above, still_needed):
    assert next_tier(tier, rank) == (above, still_needed)


def test_requalifying_for_the_tier_held_keeps_its_cycle():
    state = TierState("silver", date(2026, 3, 31), date(2027, 3, 31))
    assert upgrade(state, "silver", date(2026, 9, 1)) == state
    assert upgrade(state, "potential", date(2026, 9, 1)) == state  # never a drop mid-cycle


def test_an_upgrade_can_skip_tiers_and_potential_has_no_cycle():
    start = TierState()
    assert start == TierState("potential", None, None)
    assert upgrade(start, "potential", date(2026, 1, 5)) == start
    assert upgrade(start, "gold", date(2026, 1, 31)) == TierState("gold", date(2026, 1, 31), date(2027, 1, 31))
    leap = upgrade(TierState("loyal", date(2023, 3, 1), date(2024, 3, 1)), "silver", date(2024, 2, 29))
    assert leap.cycle_ends_on == date(2025, 2, 28)


def test_cycles_missed_by_the_review_are_applied_in_turn():
    # gold from 2024-02-10; no review ran for two years: at each cycle end the tier is what
    # the trailing 12 months justified then
    state = TierState("gold", date(2024, 2, 10), date(2025, 2, 10))
    justified = {date(2025, 2, 10): "silver", date(2026, 2, 10): "loyal"}
    asked = []

    def qualifying_on(day):
        asked.append(day)
        return justified[day]

    assert apply_cycle_ends(state, date(2026, 3, 1), qualifying_on) == TierState(
        "loyal", date(2026, 2, 10), date(2027, 2, 10)
    )
    assert asked == [date(2025, 2, 10), date(2026, 2, 10)]


def test_a_cycle_end_may_keep_the_tier_for_a_new_cycle_and_potential_stops_the_cycles():
    state = TierState("silver", date(2025, 6, 1), date(2026, 6, 1))
    kept = apply_cycle_ends(state, date(2026, 6, 1), lambda d: "silver")
    assert kept == TierState("silver", date(2026, 6, 1), date(2027, 6, 1))
    dropped = apply_cycle_ends(state, date(2030, 1, 1), lambda d: "potential")
    assert dropped == TierState("potential", date(2026, 6, 1), None)
    assert apply_cycle_ends(TierState(), date(2030, 1, 1), lambda d: "diamond") == TierState()
