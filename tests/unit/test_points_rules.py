"""Pure earning, expiry, FEFO and calendar rules (no database)."""

from datetime import UTC, date, datetime
from decimal import Decimal

import pytest

from chalicelib import clock
from chalicelib.errors import Conflict
from chalicelib.points import rules


@pytest.mark.parametrize(
    ("amount", "service", "points"),
    [
        (100_000, "mobile", 5_000),
        (100_000, "data", 5_000),
        (100_000, "ftth", 500),
        (100_000, "tv", 500),
        (100_000, "digital", 300),
        (10, "mobile", 1),  # 0.5 rounds half-up
        (9, "mobile", 0),  # 0.45 rounds down
        (100, "ftth", 1),  # 0.5 rounds half-up
        (0, "mobile", 0),
        (1_666_667, "digital", 5_000),  # 5000.001
    ],
)
def test_base_points_rates_and_half_up_rounding(amount, service, points):
    assert rules.base_points(amount, service) == points


@pytest.mark.parametrize(
    ("base", "multiplier", "spendable"),
    [(5_000, "1.0", 5_000), (5_000, "1.1", 5_500), (5, "1.1", 6), (5, "1.5", 8), (3, "1.5", 5), (1, "1.2", 1)],
)
def test_spendable_multiplier_rounds_half_up(base, multiplier, spendable):
    assert rules.spendable_points(base, Decimal(multiplier)) == spendable


@pytest.mark.parametrize(
    ("earned", "service", "expires"),
    [
        (date(2026, 1, 31), "mobile", date(2027, 1, 31)),
        (date(2026, 2, 1), "mobile", date(2027, 2, 28)),
        (date(2027, 2, 10), "mobile", date(2028, 2, 29)),  # leap year
        (date(2026, 12, 31), "data", date(2027, 1, 31)),
        (date(2026, 1, 15), "data", date(2026, 2, 28)),
        (date(2027, 1, 15), "data", date(2027, 2, 28)),
        (date(2028, 1, 15), "data", date(2028, 2, 29)),
    ],
)
def test_expiry_end_of_month_n_plus_12_and_data_n_plus_1(earned, service, expires):
    assert rules.expiry_for(service, earned) == expires


def test_event_at_2330_utc_on_last_day_of_month_belongs_to_next_month_locally():
    instant = datetime(2026, 1, 31, 23, 30, tzinfo=UTC)
    local = clock.local_date(instant)
    assert local == date(2026, 2, 1)
    assert rules.expiry_for("mobile", local) == date(2027, 2, 28)
    assert rules.expiry_for("data", local) == date(2026, 3, 31)


def test_fefo_spends_earliest_expiring_first_and_skips_expired():
    buckets = {"2026-10-31": 100, "2026-12-31": 50, "2027-01-31": 70}
    today = date(2026, 11, 5)  # the October bucket has expired
    assert rules.spendable_balance(buckets, today) == 120
    assert rules.fefo_debit(buckets, 60, today) == {"2026-10-31": 100, "2027-01-31": 60}
    assert rules.fefo_debit(buckets, 50, today) == {"2026-10-31": 100, "2027-01-31": 70}
    with pytest.raises(Conflict) as err:
        rules.fefo_debit(buckets, 121, today)
    assert err.value.code == "INSUFFICIENT_POINTS"


def test_bucket_is_spendable_through_its_expiry_date():
    buckets = {"2026-11-30": 10}
    assert rules.spendable_balance(buckets, date(2026, 11, 30)) == 10
    assert rules.spendable_balance(buckets, date(2026, 12, 1)) == 0
    assert rules.expired(buckets, date(2026, 12, 1)) == {"2026-11-30": 10}


def test_expiring_is_sorted_by_date():
    buckets = {"2027-03-31": 1, "2026-12-31": 2, "2027-01-31": 3}
    assert rules.expiring(buckets, date(2026, 12, 1)) == [("2026-12-31", 2), ("2027-01-31", 3), ("2027-03-31", 1)]


def test_rank_window_is_twelve_calendar_months_ending_this_month():
    rank = {"2025-11": 1, "2025-12": 10, "2026-06": 100, "2026-11": 1000}
    assert rules.rank_in_window(rank, date(2026, 11, 30)) == 1110
    assert rules.rank_in_window(rank, date(2026, 12, 1)) == 1100


@pytest.mark.parametrize(
    ("activated", "today", "months"),
    [
        (date(2026, 1, 31), date(2026, 2, 28), 1),
        (date(2026, 1, 31), date(2026, 2, 27), 0),
        (date(2024, 2, 29), date(2025, 2, 28), 12),
        (date(2024, 2, 29), date(2025, 2, 27), 11),
        (date(2020, 5, 10), date(2026, 5, 9), 71),
        (date(2020, 5, 10), date(2026, 5, 10), 72),
        (date(2026, 5, 10), date(2026, 5, 1), 0),
    ],
)
def test_tenure_whole_months(activated, today, months):
    assert rules.tenure_months(activated, today) == months


@pytest.mark.parametrize(
    ("years", "bonus"), [(0, 0), (1, 1_000), (2, 1_000), (3, 3_000), (4, 3_000), (5, 5_000), (9, 5_000)]
)
def test_tenure_bonus_by_years(years, bonus):
    assert rules.tenure_bonus(years) == bonus


def test_anniversary_of_29_february_falls_on_28_february_in_common_years():
    assert rules.next_anniversary(date(2024, 2, 29), date(2024, 2, 29)) == (date(2025, 2, 28), 1)
    assert rules.next_anniversary(date(2024, 2, 29), date(2027, 3, 1)) == (date(2028, 2, 29), 4)


def test_add_months_clamps_to_month_end():
    assert clock.add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)
    assert clock.add_months(date(2026, 12, 31), 2) == date(2027, 2, 28)
    assert clock.end_of_month(date(2026, 11, 23), 12) == date(2027, 11, 30)


# -- rates and rounding, worked out from DOMAIN.md's defaults --------------------------


@pytest.mark.parametrize(
    ("amount", "service", "points"),
    [
        (30, "mobile", 2),  # 1.5 -> 2
        (50, "data", 3),  # 2.5 -> 3 (half-up, not half-even)
        (70, "mobile", 4),  # 3.5 -> 4
        (29, "mobile", 1),  # 1.45 -> 1
        (300, "ftth", 2),  # 1.5 -> 2
        (500, "tv", 3),  # 2.5 -> 3
        (1_500, "digital", 5),  # 4.5 -> 5
        (1_499, "digital", 4),  # 4.497 -> 4
        (123_456, "mobile", 6_173),  # 6172.8
    ],
)
def test_every_half_point_rounds_up(amount, service, points):
    assert rules.base_points(amount, service) == points


def test_spendable_points_round_half_up_after_the_multiplier():
    # silver 1.1: 15 x 1.1 = 16.5 -> 17; 25 x 1.1 = 27.5 -> 28 (half-even would give 16 and 28)
    assert rules.spendable_points(15, Decimal("1.1")) == 17
    assert rules.spendable_points(25, Decimal("1.1")) == 28
    assert rules.spendable_points(7, Decimal("1.5")) == 11  # 10.5 -> 11
    assert rules.spendable_points(0, Decimal("1.5")) == 0


# -- buckets: good through their expiry date, FEFO, never an empty bucket ------------


def test_a_bucket_expires_the_day_after_its_expiry_date_not_on_it():
    buckets = {"2026-11-30": 7, "2026-12-31": 5}
    assert rules.expired(buckets, date(2026, 11, 30)) == {}
    assert rules.expired(buckets, date(2026, 12, 1)) == {"2026-11-30": 7}
    assert rules.expired(buckets, date(2027, 1, 1)) == {"2026-11-30": 7, "2026-12-31": 5}
    assert rules.unexpired(buckets, date(2026, 12, 31)) == {"2026-12-31": 5}


def test_empty_buckets_never_expire_count_or_show_as_expiring():
    buckets = {"2026-09-30": 0, "2026-10-31": 1, "2026-12-31": 0, "2027-01-31": 1}
    today = date(2026, 11, 5)
    assert rules.expired(buckets, today) == {"2026-10-31": 1}
    assert rules.unexpired(buckets, today) == {"2027-01-31": 1}
    assert rules.expiring(buckets, today) == [("2027-01-31", 1)]
    assert rules.spendable_balance(buckets, today) == 1


def test_a_credit_adds_to_a_bucket_of_the_same_expiry():
    buckets = rules.credit({}, 5, date(2027, 11, 30))
    buckets = rules.credit(buckets, 7, date(2027, 11, 30))
    buckets = rules.credit(buckets, 1, date(2027, 12, 31))
    assert buckets == {"2027-11-30": 12, "2027-12-31": 1}
    assert rules.spendable_balance(buckets, date(2027, 11, 1)) == 13


def test_a_credit_keeps_every_point_and_drops_empty_buckets():
    buckets = {"2027-01-31": 1, "2027-02-28": 0, "2026-10-31": 3}  # one already expired, still held
    assert rules.credit(buckets, 4, date(2027, 3, 31)) == {"2027-01-31": 1, "2026-10-31": 3, "2027-03-31": 4}


def test_fefo_takes_across_buckets_in_expiry_order():
    buckets = {"2027-03-31": 10, "2026-12-31": 1, "2027-01-31": 1}
    today = date(2026, 12, 1)
    # 2: the December point, then the January point; March untouched
    assert rules.fefo_debit(buckets, 2, today) == {"2027-03-31": 10}
    # 3: December, January, then one of March
    assert rules.fefo_debit(buckets, 3, today) == {"2027-03-31": 9}
    # 1: only December's
    assert rules.fefo_debit(buckets, 1, today) == {"2027-03-31": 10, "2027-01-31": 1}


def test_fefo_may_take_the_whole_balance_but_never_more():
    buckets = {"2026-12-31": 4, "2027-01-31": 6}
    today = date(2026, 12, 31)
    assert rules.fefo_debit(buckets, 10, today) == {}
    with pytest.raises(Conflict) as err:
        rules.fefo_debit(buckets, 11, today)
    assert err.value.code == "INSUFFICIENT_POINTS" and err.value.status == 409
    # on the last day of December the December points still count; the next day they do not
    with pytest.raises(Conflict):
        rules.fefo_debit(buckets, 10, date(2027, 1, 1))


def test_fefo_leaves_expired_and_unspent_buckets_whole():
    buckets = {"2026-10-31": 1, "2026-12-31": 5, "2027-06-30": 1, "2027-01-31": 0}
    # the expired October point is not spent (the expiry job takes it), the June point is not reached
    assert rules.fefo_debit(buckets, 5, date(2026, 11, 1)) == {"2026-10-31": 1, "2027-06-30": 1}


def test_a_debit_of_nothing_changes_nothing_and_a_negative_debit_is_refused():
    buckets = {"2026-12-31": 1, "2027-01-31": 2}
    assert rules.fefo_debit(buckets, 0, date(2026, 12, 1)) == buckets
    assert rules.fefo_debit({}, 0, date(2026, 12, 1)) == {}
    with pytest.raises(ValueError):
        rules.fefo_debit(buckets, -1, date(2026, 12, 1))


# -- rank points: a window of 12 calendar months, pruning keeps what a review needs ---


def test_rank_window_counts_exactly_twelve_months_at_any_day_of_the_month():
    rank = {f"{y}-{m:02d}": 1 for y in (2025, 2026) for m in range(1, 13)}
    for day in (1, 15, 28, 31):
        assert rules.rank_in_window(rank, date(2026, 12, day)) == 12
    assert rules.rank_in_window(rank, date(2026, 6, 30)) == 12  # 2025-07 .. 2026-06
    assert rules.rank_in_window({"2025-07": 5, "2025-06": 100}, date(2026, 6, 1)) == 5
    assert rules.rank_in_window({}, date(2026, 6, 1)) == 0


def test_pruning_keeps_two_windows_and_drops_older_and_empty_months():
    as_of = date(2026, 11, 17)
    rank = {"2024-11": 100, "2024-12": 10, "2025-11": 3, "2026-11": 1, "2026-10": 0, "2023-01": 5}
    # 24 months kept, 2024-12 .. 2026-11: a cycle that ended a year ago still has its window
    assert rules.prune_rank(rank, as_of) == {"2024-12": 10, "2025-11": 3, "2026-11": 1}
    assert rules.prune_rank({"2025-01": 2}, date(2026, 12, 31)) == {"2025-01": 2}
    assert rules.prune_rank({"2024-12": 2}, date(2026, 12, 1)) == {}


def test_pruning_never_changes_a_window_ending_in_the_last_twelve_months():
    months = [f"{y}-{m:02d}" for y in range(2022, 2027) for m in range(1, 13)]
    rank = {key: n + 1 for n, key in enumerate(months) if key <= "2026-08"}  # five years up to August
    as_of = date(2026, 8, 10)
    pruned = rules.prune_rank(rank, as_of)
    for back in range(12):
        day = clock.add_months(as_of, -back)
        assert rules.rank_in_window(pruned, day) == rules.rank_in_window(rank, day)
    assert len(pruned) == 24


# -- tenure bonus bands and anniversaries -------------------------------------------


def test_the_bonus_follows_the_bands_one_to_three_three_to_five_and_five_plus():
    assert [rules.tenure_bonus(y) for y in range(0, 8)] == [0, 1_000, 1_000, 3_000, 3_000, 5_000, 5_000, 5_000]
    assert rules.tenure_bonus(30) == 5_000


@pytest.mark.parametrize(
    ("activated", "after", "anniversary", "years"),
    [
        (date(2020, 5, 10), date(2020, 5, 10), date(2021, 5, 10), 1),
        (date(2020, 5, 10), date(2026, 5, 9), date(2026, 5, 10), 6),
        (date(2020, 5, 10), date(2026, 5, 10), date(2027, 5, 10), 7),  # strictly after
        (date(2020, 5, 10), date(2026, 12, 31), date(2027, 5, 10), 7),
        (date(2020, 5, 10), date(2019, 1, 1), date(2021, 5, 10), 1),  # never the 0th
        (date(2024, 2, 29), date(2025, 2, 27), date(2025, 2, 28), 1),
        (date(2024, 2, 29), date(2025, 2, 28), date(2026, 2, 28), 2),
        (date(2024, 2, 29), date(2027, 12, 1), date(2028, 2, 29), 4),  # a leap year again
        (date(2023, 12, 31), date(2024, 1, 1), date(2024, 12, 31), 1),
    ],
)
def test_next_anniversary_is_strictly_after_and_counts_years(activated, after, anniversary, years):
    assert rules.next_anniversary(activated, after) == (anniversary, years)
