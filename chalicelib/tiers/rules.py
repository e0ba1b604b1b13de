"""Pure tier rules over plain data (DOMAIN.md "Tiers")."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, replace
from datetime import date
from decimal import Decimal

from chalicelib.clock import add_months
from chalicelib.config import rules

TIER_CODES: tuple[str, ...] = tuple(code for code, _, _ in rules().tiers)


def _rank(code: str) -> int:
    return TIER_CODES.index(code)


def threshold(code: str) -> int:
    return next(points for c, points, _ in rules().tiers if c == code)


def multiplier(code: str) -> Decimal:
    return Decimal(next(m for c, _, m in rules().tiers if c == code))


def qualifying_tier(rank_points: int, tenure_months: int) -> str:
    """The highest tier the rank points reach, capped by the tenure gate."""
    best = TIER_CODES[0]
    for code, needed, _ in rules().tiers:
        if rank_points >= needed:
            best = code
    if tenure_months < rules().tenure_gate_months and _rank(best) > _rank(rules().tenure_gate_max_tier):
        best = rules().tenure_gate_max_tier
    return best


def next_tier(code: str, rank_points: int) -> tuple[str | None, int | None]:
    """The tier above `code` and the rank points still needed to reach it."""
    position = _rank(code)
    if position + 1 >= len(TIER_CODES):
        return None, None
    above = TIER_CODES[position + 1]
    return above, max(threshold(above) - rank_points, 0)


@dataclass(frozen=True)
class TierState:
    tier: str = TIER_CODES[0]
    since: date | None = None
    cycle_ends_on: date | None = None


def _cycle(tier: str, start: date) -> TierState:
    if tier == TIER_CODES[0]:
        return TierState(tier, start, None)
    return TierState(tier, start, add_months(start, rules().tier_cycle_months))


def upgrade(state: TierState, qualifying: str, today: date) -> TierState:
    """Upgrade immediately when the rank points qualify; a new cycle starts today."""
    if _rank(qualifying) > _rank(state.tier):
        return _cycle(qualifying, today)
    return state


def apply_cycle_ends(state: TierState, today: date, qualifying_on: Callable[[date], str]) -> TierState:
    """At each cycle end up to `today`, the tier becomes what the trailing
    12 months justify then (possibly several steps down), and a new cycle starts."""
    while state.cycle_ends_on is not None and state.cycle_ends_on <= today:
        end = state.cycle_ends_on
        state = _cycle(qualifying_on(end), end)
    return replace(state)
