"""Pure campaign rules: lifecycle, window, eligibility, changes after launch, shard sizing."""

from datetime import date

import pytest

from chalicelib.campaigns import rules
from chalicelib.campaigns.rules import Profile
from chalicelib.config import rules as config_rules
from chalicelib.errors import Conflict, ValidationError

TODAY = date(2026, 11, 10)
MEMBER = Profile(
    tier="silver",
    tenure_months=30,
    plan="prepaid",
    province="Hà Nội",
    birthday=date(1990, 11, 5),
    segments=frozenset({"high_value"}),
)


# -- lifecycle -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("current", "action", "target"),
    [
        ("draft", "launch", "active"),
        ("active", "pause", "paused"),
        ("paused", "launch", "active"),
        ("active", "end", "ended"),
        ("paused", "end", "ended"),
    ],
)
def test_legal_transitions(current, action, target):
    assert rules.next_status(current, action) == target


@pytest.mark.parametrize(
    ("current", "action"),
    [
        ("draft", "pause"),
        ("draft", "end"),
        ("active", "launch"),
        ("paused", "pause"),
        ("ended", "launch"),
        ("ended", "pause"),
        ("ended", "end"),
        ("active", "delete"),
    ],
)
def test_illegal_transitions_are_invalid_state(current, action):
    with pytest.raises(Conflict) as caught:
        rules.next_status(current, action)
    assert caught.value.code == "INVALID_STATE"


def test_claimable_only_when_active_and_inside_the_window():
    window = ("2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z")
    assert rules.claimable("active", *window, "2026-11-01T00:00:00.000Z")
    assert rules.claimable("active", *window, "2026-11-30T23:59:59.999Z")
    assert not rules.claimable("active", *window, "2026-12-01T00:00:00.000Z")
    assert not rules.claimable("active", *window, "2026-10-31T23:59:59.999Z")
    for status in ("draft", "paused", "ended", None):
        assert not rules.claimable(status, *window, "2026-11-10T00:00:00.000Z")
    assert not rules.claimable("active", None, None, "2026-11-10T00:00:00.000Z")


# -- changes ---------------------------------------------------------------------


def test_a_draft_may_change_freely_a_launched_campaign_only_grow_and_lengthen():
    rules.check_patch("draft", 10, "2026-12-01", 5, "2026-11-15")
    for status in ("active", "paused"):
        rules.check_patch(status, 10, "2026-12-01", 10, "2026-12-01")
        rules.check_patch(status, 10, "2026-12-01", 11, "2027-01-01")
        for inventory, ends in ((9, "2026-12-01"), (10, "2026-11-30")):
            with pytest.raises(Conflict) as caught:
                rules.check_patch(status, 10, "2026-12-01", inventory, ends)
            assert caught.value.code == "INVALID_STATE"
    with pytest.raises(Conflict):
        rules.check_patch("ended", 10, "2026-12-01", 20, "2027-01-01")
    with pytest.raises(ValidationError):
        rules.check_window("2026-12-01", "2026-12-01")


# -- shards ----------------------------------------------------------------------


def test_shard_count_follows_the_expected_peak():
    per_shard = config_rules().claims_per_shard_per_second
    assert rules.shard_count(0, 10_000) == 1
    assert rules.shard_count(per_shard, 10_000) == 1
    assert rules.shard_count(per_shard + 1, 10_000) == 2
    assert rules.shard_count(5_000, 10_000) == 20  # the flash sale of DOMAIN.md
    assert rules.shard_count(10**6, 10**6) == config_rules().max_inventory_shards
    assert rules.shard_count(5_000, 3) == 3  # never more shards than vouchers


@pytest.mark.parametrize(
    ("total", "shards", "offset"), [(100, 1, 0), (100, 3, 0), (10_000, 20, 0), (7, 4, 3), (2, 5, 4)]
)
def test_split_is_even_and_exact(total, shards, offset):
    parts = rules.split(total, shards, offset)
    assert sum(parts) == total and len(parts) == shards
    assert max(parts) - min(parts) <= 1


def test_repeated_growth_stays_even():
    stock = rules.split(10, 4)
    inventory = 10
    for added in (1, 1, 1, 3, 5):
        stock = [a + b for a, b in zip(stock, rules.split(added, 4, offset=inventory % 4), strict=True)]
        inventory += added
        assert sum(stock) == inventory and max(stock) - min(stock) <= 1


# -- eligibility -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("eligibility", "eligible"),
    [
        ({}, True),
        ({"min_tier": "silver"}, True),
        ({"min_tier": "gold"}, False),
        ({"min_tenure_months": 30}, True),
        ({"min_tenure_months": 31}, False),
        ({"plans": ["prepaid", "postpaid"]}, True),
        ({"plans": ["postpaid"]}, False),
        ({"provinces": ["HÀ NỘI "]}, True),
        ({"provinces": ["Đà Nẵng"]}, False),
        ({"birthday_month": True}, True),
        ({"segments": ["churn_risk", "high_value"]}, True),
        ({"segments": ["churn_risk"]}, False),
        ({"min_tier": "loyal", "plans": ["prepaid"], "segments": ["high_value"], "birthday_month": True}, True),
        ({"min_tier": "loyal", "plans": ["postpaid"], "segments": ["high_value"]}, False),
    ],
)
def test_eligibility_rules_all_must_hold(eligibility, eligible):
    assert (rules.ineligibility(eligibility, MEMBER, TODAY) is None) is eligible


def test_birthday_month_is_the_local_month_and_needs_a_birthday():
    assert rules.ineligibility({"birthday_month": True}, MEMBER, date(2026, 12, 1)) is not None
    no_birthday = Profile(tier="potential", tenure_months=0, plan="prepaid")
    assert rules.ineligibility({"birthday_month": True}, no_birthday, TODAY) is not None
    assert rules.ineligibility({"provinces": ["Hà Nội"]}, no_birthday, TODAY) is not None
    assert rules.ineligibility({"segments": ["x"]}, no_birthday, TODAY) is not None


# -- more edges, values worked out from DOMAIN.md ------------------------------------


def test_a_window_missing_either_end_is_never_claimable():
    inside = "2026-11-10T00:00:00.000Z"
    assert not rules.claimable("active", None, "2026-12-01T00:00:00.000Z", inside)
    assert not rules.claimable("active", "2026-11-01T00:00:00.000Z", None, inside)
    assert not rules.claimable("active", "", "2026-12-01T00:00:00.000Z", inside)
    assert not rules.claimable("active", "2026-11-01T00:00:00.000Z", "", inside)


def test_the_window_must_have_a_positive_length():
    rules.check_window("2026-11-01T00:00:00.000Z", "2026-11-01T00:00:00.001Z")
    for starts, ends in (("2026-12-01", "2026-12-01"), ("2026-12-02", "2026-12-01")):
        with pytest.raises(ValidationError) as caught:
            rules.check_window(starts, ends)
        assert caught.value.status == 400


def test_an_ended_campaign_cannot_change_at_all():
    for inventory, ends in ((10, "2026-12-01"), (20, "2027-01-01"), (5, "2026-11-01")):
        with pytest.raises(Conflict) as caught:
            rules.check_patch("ended", 10, "2026-12-01", inventory, ends)
        assert caught.value.code == "INVALID_STATE" and caught.value.status == 409


@pytest.mark.parametrize(
    ("peak", "inventory", "shards"),
    [
        (-10, 100, 1),  # at least one
        (1, 100, 1),
        (250, 100, 1),  # 250 claims/s per shard
        (251, 100, 2),
        (500, 100, 2),
        (501, 100, 3),
        (5_000, 19, 19),  # 20 wanted, only 19 vouchers
        (5_000, 0, 1),  # an empty campaign still has its one shard
        (64 * 250, 10**6, 64),
        (64 * 250 + 1, 10**6, 64),  # at most 64
    ],
)
def test_shard_count_arithmetic(peak, inventory, shards):
    assert rules.shard_count(peak, inventory) == shards


@pytest.mark.parametrize(
    ("total", "shards", "offset", "parts"),
    [
        (10, 4, 0, [3, 3, 2, 2]),  # 2 each, the remainder 2 to shards 0 and 1
        (10, 4, 2, [2, 2, 3, 3]),  # the remainder from shard 2 on
        (7, 4, 3, [2, 2, 1, 2]),  # 1 each, the remainder 3 to shards 3, 0, 1 (wrapping)
        (3, 5, 4, [1, 1, 0, 0, 1]),
        (8, 4, 1, [2, 2, 2, 2]),  # no remainder, the offset does not matter
        (0, 3, 0, [0, 0, 0]),
        (5, 1, 0, [5]),
    ],
)
def test_split_gives_the_remainder_from_the_offset_on(total, shards, offset, parts):
    assert rules.split(total, shards, offset) == parts


# -- eligibility: each rule on its own edge, and its reason names it -----------------------


@pytest.mark.parametrize(
    ("eligibility", "names"),
    [
        ({"min_tier": "gold"}, "gold"),
        ({"min_tier": "diamond"}, "diamond"),
        ({"min_tenure_months": 31}, "31"),
        ({"plans": ["postpaid"]}, "plan"),
        ({"provinces": ["Đà Nẵng"]}, "province"),
        ({"segments": ["churn_risk"]}, "segment"),
    ],
)
def test_a_refusal_says_which_rule_failed(eligibility, names):
    reason = rules.ineligibility(eligibility, MEMBER, TODAY)
    assert isinstance(reason, str) and names in reason


def test_the_birthday_refusal_names_the_birthday_month():
    reason = rules.ineligibility({"birthday_month": True}, MEMBER, date(2026, 12, 1))
    assert "birthday month" in reason


@pytest.mark.parametrize(
    ("tier", "eligible"), [("potential", False), ("loyal", False), ("silver", True), ("gold", True), ("diamond", True)]
)
def test_min_tier_is_that_tier_or_above(tier, eligible):
    profile = Profile(tier=tier, tenure_months=24, plan="postpaid")
    assert (rules.ineligibility({"min_tier": "silver"}, profile, TODAY) is None) is eligible


def test_min_tenure_is_whole_months_inclusive():
    assert rules.ineligibility({"min_tenure_months": 30}, MEMBER, TODAY) is None
    assert rules.ineligibility({"min_tenure_months": "30"}, MEMBER, TODAY) is None
    assert rules.ineligibility({"min_tenure_months": "31"}, MEMBER, TODAY) is not None
    assert rules.ineligibility({"min_tenure_months": 0}, Profile("potential", 0, "prepaid"), TODAY) is None


def test_provinces_and_segments_ignore_case_and_blanks_on_both_sides():
    member = Profile("loyal", 5, "prepaid", province="  ĐÀ NẴNG ", segments=frozenset({" High_Value "}))
    assert rules.ineligibility({"provinces": ["đà nẵng"]}, member, TODAY) is None
    assert rules.ineligibility({"segments": ["HIGH_VALUE"]}, member, TODAY) is None
    assert rules.ineligibility({"segments": ["high"]}, member, TODAY) is not None  # whole tags only
    assert rules.ineligibility({"provinces": ["Hà Nội", "Đà Nẵng"]}, member, TODAY) is None


def test_birthday_month_holds_all_month_long():
    for day in (date(2026, 11, 1), date(2026, 11, 30), date(2027, 11, 15)):
        assert rules.ineligibility({"birthday_month": True}, MEMBER, day) is None
    assert rules.ineligibility({"birthday_month": True}, MEMBER, date(2026, 10, 31)) is not None
    assert rules.ineligibility({"birthday_month": False}, MEMBER, date(2026, 10, 31)) is None


def test_when_several_rules_fail_the_reason_names_one_of_them():
    newcomer = Profile("potential", 1, "postpaid")
    reason = rules.ineligibility({"min_tier": "loyal", "plans": ["prepaid"]}, newcomer, TODAY)
    assert "loyal" in reason or "plan" in reason
    reason = rules.ineligibility({"min_tenure_months": 12, "segments": ["x"]}, newcomer, TODAY)
    assert "12" in reason or "segment" in reason
