"""Tier rules: thresholds, the tenure gate, immediate upgrades and 12-month cycles."""

from chalicelib.tiers.rules import (
    TIER_CODES,
    TierState,
    apply_cycle_ends,
    multiplier,
    next_tier,
    qualifying_tier,
    upgrade,
)

__all__ = [
    "TIER_CODES",
    "TierState",
    "apply_cycle_ends",
    "multiplier",
    "next_tier",
    "qualifying_tier",
    "upgrade",
]
