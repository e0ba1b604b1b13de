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
