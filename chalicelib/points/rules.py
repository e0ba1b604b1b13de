"""Pure earning, expiry and FEFO rules over plain data (DOMAIN.md "Earning")."""

from __future__ import annotations

import functools
from collections.abc import Mapping
from datetime import date
from decimal import ROUND_HALF_UP, Decimal

from chalicelib.clock import add_months, end_of_month, month_key, whole_months_between
from chalicelib.config import rules
from chalicelib.errors import Conflict


def round_half_up(value: Decimal) -> int:
    return int(value.quantize(Decimal(1), rounding=ROUND_HALF_UP))


def base_points(amount_vnd: int, service: str) -> int:
    """Rank points of a paid amount: amount x rate(service), rounded half-up."""
    rate = Decimal(rules().earn_rates_percent[service]) / 100
    return round_half_up(Decimal(amount_vnd) * rate)


def spendable_points(base: int, multiplier: Decimal) -> int:
    return round_half_up(Decimal(base) * multiplier)


def expiry_for(service: str | None, earned_on: date) -> date:
    """End of month N+12 (N = month earned); `data` points end of month N+1."""
    r = rules()
    months = r.short_expiry_months if service in r.short_expiry_services else r.spendable_expiry_months
    return end_of_month(earned_on, months)


Buckets = Mapping[str, int]


def unexpired(buckets: Buckets, today: date) -> dict[str, int]:
    """Buckets still spendable today (a bucket is good through its expiry date)."""
    key = today.isoformat()
    return {d: int(p) for d, p in buckets.items() if d >= key and int(p) > 0}


def expired(buckets: Buckets, today: date) -> dict[str, int]:
    key = today.isoformat()
    return {d: int(p) for d, p in buckets.items() if d < key and int(p) > 0}


def spendable_balance(buckets: Buckets, today: date) -> int:
    return sum(unexpired(buckets, today).values())


def expiring(buckets: Buckets, today: date) -> list[tuple[str, int]]:
    return sorted(unexpired(buckets, today).items())


def credit(buckets: Buckets, points: int, expires_on: date) -> dict[str, int]:
    result = {d: int(p) for d, p in buckets.items() if int(p) > 0}
    key = expires_on.isoformat()
    result[key] = result.get(key, 0) + points
    return result


def fefo_debit(buckets: Buckets, points: int, today: date) -> dict[str, int]:
    """Take `points` from the earliest-expiring unexpired buckets first."""
    return fefo_take(buckets, points, today)[0]


def fefo_take(buckets: Buckets, points: int, today: date) -> tuple[dict[str, int], dict[str, int]]:
    """`fefo_debit`, and the points it took from each bucket (by expiry date):
    what a refund gives back, each part with its original expiry."""
    if points < 0:
        raise ValueError("debit must be positive")
    if spendable_balance(buckets, today) < points:
        raise Conflict("Not enough spendable points.", "INSUFFICIENT_POINTS")
    result = {d: int(p) for d, p in buckets.items() if int(p) > 0}
    taken: dict[str, int] = {}
    remaining = points
    for day in sorted(unexpired(buckets, today)):
        if remaining == 0:
            break
        take = min(result[day], remaining)
        result[day] -= take
        remaining -= take
        taken[day] = take
        if result[day] == 0:
            del result[day]
    return result, taken


def restore(buckets: Buckets, taken: Buckets) -> dict[str, int]:
    """`buckets` with what a debit took (`fefo_take`) given back to the same expiry dates."""
    result = {d: int(p) for d, p in buckets.items() if int(p) > 0}
    for day, points in taken.items():
        if int(points) < 0:
            raise ValueError("a restored part must not be negative")
        if int(points):
            result[day] = result.get(day, 0) + int(points)
    return result


def rank_in_window(rank_by_month: Mapping[str, int], as_of: date) -> int:
    """Rank points of the 12 calendar months ending with `as_of`'s month."""
    window = _months_ending(as_of.replace(day=1), rules().rank_window_months)
    return sum(int(p) for m, p in rank_by_month.items() if m in window)


@functools.lru_cache(maxsize=32)
def _months_ending(first_day: date, months: int) -> frozenset[str]:
    """The keys of the `months` calendar months ending with `first_day`'s (every points read asks)."""
    return frozenset(month_key(add_months(first_day, -i)) for i in range(months))


def prune_rank(rank_by_month: Mapping[str, int], as_of: date) -> dict[str, int]:
    """Keep two windows of months: enough to re-evaluate a cycle that ended a year ago."""
    oldest = month_key(add_months(as_of.replace(day=1), -2 * rules().rank_window_months + 1))
    return {m: int(p) for m, p in rank_by_month.items() if m >= oldest and int(p) != 0}


def tenure_months(activated_on: date, today: date) -> int:
    return whole_months_between(activated_on, today)


def tenure_bonus(years: int) -> int:
    """Bonus points on the `years`-th anniversary (0 before the first)."""
    for min_years, bonus in rules().tenure_bonus:
        if years >= min_years:
            return bonus
    return 0


def next_anniversary(activated_on: date, after: date) -> tuple[date, int]:
    """The first anniversary strictly after `after`, and which one it is (29 Feb -> 28 Feb)."""
    years = max(after.year - activated_on.year, 1)
    while True:
        day = add_months(activated_on, 12 * years)
        if day > after:
            return day, years
        years += 1
