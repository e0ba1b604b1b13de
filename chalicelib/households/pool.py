"""Pure rules of a household's pool over plain data (DOMAIN.md "Households").

The pool is the members' contributed batches: contributor -> {expiry date ->
points}. A spend takes from the earliest-expiring batch of any contributor
first (FEFO across all batches; contributors in MSISDN order within a date).
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import date

from chalicelib.errors import Conflict
from chalicelib.points import rules as points_rules

Pools = Mapping[str, Mapping[str, int]]


def balance(pools: Pools, today: date) -> int:
    return sum(points_rules.spendable_balance(batches, today) for batches in pools.values())


def draw(pools: Pools, points: int, today: date) -> dict[str, int]:
    """How many points to take from each contributor (those with none left out);
    INSUFFICIENT_POINTS if the pool holds fewer than `points`."""
    if points < 0:
        raise ValueError("a draw must be positive")
    if balance(pools, today) < points:
        raise Conflict("Not enough spendable points (own and household pool).", "INSUFFICIENT_POINTS")
    batches = sorted(
        (day, contributor, amount)
        for contributor, held in pools.items()
        for day, amount in points_rules.unexpired(held, today).items()
    )
    taken: dict[str, int] = {}
    remaining = points
    for _, contributor, amount in batches:
        if remaining == 0:
            break
        take = min(amount, remaining)
        taken[contributor] = taken.get(contributor, 0) + take
        remaining -= take
    return taken


def merged(own: Mapping[str, int], returned: Mapping[str, int]) -> dict[str, int]:
    """A leaver's own buckets with their returned batches, each keeping its expiry date."""
    result = {d: int(p) for d, p in own.items() if int(p) > 0}
    for day, amount in returned.items():
        if int(amount) > 0:
            result[day] = result.get(day, 0) + int(amount)
    return result
