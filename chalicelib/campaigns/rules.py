"""Pure campaign rules (DOMAIN.md "Campaigns"): lifecycle, the claim window,
eligibility, changes allowed after launch, and inventory shard sizing."""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import date
from typing import Any

from chalicelib.config import rules
from chalicelib.errors import Conflict, ValidationError
from chalicelib.tiers import TIER_CODES

STATUSES = ("draft", "active", "paused", "ended")
# action -> {from status: to status}; anything else is INVALID_STATE
TRANSITIONS: dict[str, dict[str, str]] = {
    "launch": {"draft": "active", "paused": "active"},
    "pause": {"active": "paused"},
    "end": {"active": "ended", "paused": "ended"},
}
LAUNCHED = ("active", "paused")


def next_status(current: str, action: str) -> str:
    """The status `action` leads to from `current` (409 INVALID_STATE if illegal)."""
    target = TRANSITIONS.get(action, {}).get(current)
    if target is None:
        raise Conflict(f"A {current} campaign cannot {action}.", "INVALID_STATE")
    return target


def claimable(status: str | None, starts_at: str | None, ends_at: str | None, now_iso: str) -> bool:
    """Active and inside its window (ISO UTC strings compare in time order)."""
    if status != "active" or not starts_at or not ends_at:
        return False
    return starts_at <= now_iso < ends_at


# -- changes ---------------------------------------------------------------


def check_window(starts_at: str, ends_at: str) -> None:
    if ends_at <= starts_at:
        raise ValidationError("ends_at must be after starts_at.")


def check_patch(status: str, inventory: int, ends_at: str, new_inventory: int, new_ends_at: str) -> None:
    """After launch, inventory can only grow and the window only lengthen; an
    ended campaign does not change."""
    if status == "ended":
        raise Conflict("An ended campaign cannot change.", "INVALID_STATE")
    if status in LAUNCHED and new_inventory < inventory:
        raise Conflict("After launch, inventory can only grow.", "INVALID_STATE")
    if status in LAUNCHED and new_ends_at < ends_at:
        raise Conflict("After launch, the claim window can only lengthen.", "INVALID_STATE")


# -- shards ----------------------------------------------------------------


def shard_count(expected_peak_claims_per_second: int, inventory: int) -> int:
    """Enough shards for the expected peak at `claims_per_shard_per_second`
    each, at least 1, at most `max_inventory_shards` and never more than the
    inventory (an empty shard only costs a failed try)."""
    r = rules()
    wanted = math.ceil(max(expected_peak_claims_per_second, 0) / r.claims_per_shard_per_second)
    return max(1, min(wanted, r.max_inventory_shards, inventory))


def split(total: int, shards: int, offset: int = 0) -> list[int]:
    """`total` spread evenly over `shards`; the remainder goes one each to the
    shards from `offset` on (wrapping), so repeated growth stays even."""
    base, extra = divmod(total, shards)
    return [base + (1 if (n - offset) % shards < extra else 0) for n in range(shards)]


# -- eligibility -----------------------------------------------------------


@dataclass(frozen=True)
class Profile:
    """What eligibility looks at, as of today."""

    tier: str
    tenure_months: int
    plan: str
    province: str | None = None
    birthday: date | None = None
    segments: frozenset[str] = field(default_factory=frozenset)


def _folded(values: Iterable[str]) -> set[str]:
    return {v.strip().casefold() for v in values}


def ineligibility(eligibility: Mapping[str, Any], profile: Profile, today: date) -> str | None:
    """Why `profile` may not take the campaign today, or None if it may.

    Every rule given must hold: `min_tier` (the effective tier), `min_tenure_months`,
    `plans`, `provinces`, `birthday_month` (the local month of the birthday),
    `segments` (any one of them).
    """
    min_tier = eligibility.get("min_tier")
    if min_tier and TIER_CODES.index(profile.tier) < TIER_CODES.index(min_tier):
        return f"needs tier {min_tier} or above"
    min_tenure = eligibility.get("min_tenure_months")
    if min_tenure and profile.tenure_months < int(min_tenure):
        return f"needs {int(min_tenure)} months of tenure"
    plans = eligibility.get("plans")
    if plans and profile.plan not in plans:
        return "not offered on this plan"
    provinces = eligibility.get("provinces")
    if provinces and (profile.province is None or profile.province.strip().casefold() not in _folded(provinces)):
        return "not offered in this province"
    if eligibility.get("birthday_month") and (profile.birthday is None or profile.birthday.month != today.month):
        return "only in the subscriber's birthday month"
    segments = eligibility.get("segments")
    if segments and not _folded(segments) & _folded(profile.segments):
        return "not offered to this segment"
    return None
