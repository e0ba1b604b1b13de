"""A subscriber's points account as plain data, and the pure transitions on it.

The service reads one `Subscriber` item, turns it into an `Account`, applies a
transition and writes the new account back under `seq == <seq read>`, together
with the ledger entries the transition produced, as one transaction.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field, replace
from datetime import date, timedelta
from typing import Any

from chalicelib import tiers
from chalicelib.clock import month_key
from chalicelib.config import rules
from chalicelib.points import rules as points_rules
from chalicelib.points.chain import Links
from chalicelib.tiers import TierState


@dataclass(frozen=True)
class Entry:
    """A ledger entry to write; `entry_id` is derived from its cause (its dedupe)."""

    entry_id: str
    kind: str
    points: int
    rank_points: int = 0
    ref: str | None = None
    detail: dict[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class Account:
    msisdn: str
    owner_id: str
    activated_on: date
    seq: int
    balance: int
    buckets: dict[str, int]
    rank: dict[str, int]
    tier: TierState
    next_anniversary: date | None
    ledger: Links = field(default_factory=Links)
    # households: the household this owner is in and the batches contributed to
    # its pool (expiry date -> points): the owner's points, spendable by the
    # members the household's owner allows, not part of `balance`
    household_id: str | None = None
    pool: dict[str, int] = field(default_factory=dict)
    household_left_on: date | None = None

    # -- derived views --------------------------------------------------

    def tenure_months(self, today: date) -> int:
        return points_rules.tenure_months(self.activated_on, today)

    def rank_points(self, today: date) -> int:
        return points_rules.rank_in_window(self.rank, today)

    def qualifying_on(self, day: date) -> str:
        return tiers.qualifying_tier(self.rank_points(day), self.tenure_months(day))

    def effective(self, today: date) -> Account:
        """The account as the rules see it today: tier cycles that ended are applied."""
        state = tiers.apply_cycle_ends(self.tier, today, self.qualifying_on)
        return self if state == self.tier else replace(self, tier=state)

    def spendable(self, today: date) -> int:
        return points_rules.spendable_balance(self.buckets, today)

    # -- transitions ----------------------------------------------------

    def earn(
        self, event_id: str, amount_vnd: int, service: str, occurred_on: date, today: date
    ) -> tuple[Account, Entry]:
        """Points of a paid spend event at the tier held just before it."""
        current = self.effective(today)
        base = points_rules.base_points(amount_vnd, service)
        spendable = points_rules.spendable_points(base, tiers.multiplier(current.tier.tier))
        expires_on = points_rules.expiry_for(service, occurred_on)
        if expires_on < today:
            # a late event whose spendable points would already have expired: only rank points count
            spendable = 0
        rank = dict(current.rank)
        month = month_key(occurred_on)
        rank[month] = rank.get(month, 0) + base
        updated = replace(current, rank=rank)._credited(spendable, expires_on)._upgraded(today)
        detail: dict[str, Any] = {"amount_vnd": amount_vnd, "service": service, "occurred_on": occurred_on.isoformat()}
        entry = Entry(
            f"earn:{event_id}", "earn", spendable, rank_points=base, ref=event_id, detail=current._pooled(detail)
        )
        return updated._pruned(today), entry

    def tenure_bonus(self, today: date) -> tuple[Account, Entry | None]:
        """Credit the bonus of the anniversary due on or before `today`, once."""
        current = self.effective(today)
        if current.next_anniversary is None or current.next_anniversary > today:
            return current, None
        anniversary = current.next_anniversary
        _, years = points_rules.next_anniversary(current.activated_on, anniversary - timedelta(days=1))
        following, _ = points_rules.next_anniversary(current.activated_on, anniversary)
        bonus = points_rules.tenure_bonus(years)
        rank = dict(current.rank)
        month = month_key(anniversary)
        rank[month] = rank.get(month, 0) + bonus
        updated = replace(current, rank=rank, next_anniversary=following)
        updated = updated._credited(bonus, points_rules.expiry_for(None, anniversary))._upgraded(today)
        entry = Entry(
            f"tenure_bonus:{anniversary.isoformat()}",
            "tenure_bonus",
            bonus,
            rank_points=bonus,
            ref=anniversary.isoformat(),
            detail=current._pooled({"years": years}),
        )
        return updated._pruned(today), entry

    def debit(self, points: int, today: date, entry_id: str, kind: str, ref: str | None) -> tuple[Account, Entry]:
        """FEFO debit of spendable points (INSUFFICIENT_POINTS if there are not enough)."""
        updated, entry, _ = self.take(points, today, entry_id, kind, ref)
        return updated, entry

    def take(
        self, points: int, today: date, entry_id: str, kind: str, ref: str | None
    ) -> tuple[Account, Entry, dict[str, int]]:
        """`debit`, and the points it took from each bucket by expiry date (what `refund` gives back)."""
        current = self.effective(today)
        buckets, taken = points_rules.fefo_take(current.buckets, points, today)
        updated = replace(current, buckets=buckets, balance=current.balance - points)
        return updated._pruned(today), Entry(entry_id, kind, -points, ref=ref), taken

    def refund(self, taken: dict[str, int], today: date, entry_id: str, ref: str | None) -> tuple[Account, list[Entry]]:
        """Give back what a debit took (`take`), each part with its original expiry
        date: one `refund` entry; a part whose date has passed meanwhile expires at
        once (an `expire` entry of its own: `expire:<date>` may exist already)."""
        current = self.effective(today)
        points = sum(int(p) for p in taken.values())
        restored = points_rules.restore(current.buckets, taken)
        entries = [Entry(entry_id, "refund", points, ref=ref, detail={"buckets": dict(taken)})]
        gone = {d: int(p) for d, p in points_rules.expired(taken, today).items()}
        for day, lost in sorted(gone.items()):
            restored[day] -= lost
            if restored[day] == 0:
                del restored[day]
            entries.append(Entry(f"expire:{day}:{entry_id}", "expire", -lost, ref=day))
        updated = replace(current, buckets=restored, balance=current.balance + points - sum(gone.values()))
        return updated._pruned(today), entries

    def credit(self, points: int, today: date, entry_id: str, kind: str, ref: str | None) -> tuple[Account, Entry]:
        """Credit spendable points expiring at the end of month N+12 (no rank points)."""
        current = self.effective(today)
        buckets = points_rules.credit(current.buckets, points, points_rules.expiry_for(None, today))
        updated = replace(current, buckets=buckets, balance=current.balance + points)
        return updated._pruned(today), Entry(entry_id, kind, points, ref=ref)

    def expire(self, today: date) -> tuple[Account, list[Entry]]:
        """Remove buckets whose expiry date has passed, one `expire` entry per date
        (and one per date of the batches contributed to a household's pool)."""
        current = self.effective(today)
        gone = points_rules.expired(current.buckets, today)
        pool_gone = points_rules.expired(current.pool, today)
        if not gone and not pool_gone:
            return current, []
        buckets = {d: p for d, p in current.buckets.items() if d not in gone}
        pool = {d: p for d, p in current.pool.items() if d not in pool_gone}
        entries = [Entry(f"expire:{d}", "expire", -p, ref=d) for d, p in sorted(gone.items())]
        entries += [
            Entry(f"expire:pool:{d}", "expire", -p, ref=d, detail={"household_id": current.household_id or ""})
            for d, p in sorted(pool_gone.items())
        ]
        updated = replace(current, buckets=buckets, pool=pool, balance=current.balance - sum(gone.values()))
        return updated._pruned(today), entries

    def review(self, today: date) -> Account:
        return self.effective(today)._pruned(today)

    # -- helpers --------------------------------------------------------

    def _credited(self, points: int, expires_on: date) -> Account:
        """`points` of an earning or a bonus: to the household's pool while a member, else to the balance."""
        if not points:
            return self
        if self.household_id is not None:
            return replace(self, pool=points_rules.credit(self.pool, points, expires_on))
        return replace(
            self, buckets=points_rules.credit(self.buckets, points, expires_on), balance=self.balance + points
        )

    def _pooled(self, detail: dict[str, Any]) -> dict[str, Any]:
        return {**detail, "household_id": self.household_id} if self.household_id is not None else detail

    def total(self) -> int:
        """What the ledger sums to: the balance and the batches contributed to a pool."""
        return self.balance + sum(self.pool.values())

    def _upgraded(self, today: date) -> Account:
        state = tiers.upgrade(self.tier, self.qualifying_on(today), today)
        return self if state == self.tier else replace(self, tier=state)

    def _pruned(self, today: date) -> Account:
        return replace(self, rank=points_rules.prune_rank(self.rank, today))

    # -- due keys for the scheduled jobs --------------------------------

    def due_shard(self) -> int:
        digest = hashlib.sha256(self.msisdn.encode()).digest()
        return digest[0] % rules().due_index_shards

    def expiry_due(self) -> str | None:
        live = [d for d, p in [*self.buckets.items(), *self.pool.items()] if int(p) > 0]
        return f"{min(live)}#{self.due_shard()}" if live else None

    def anniversary_due(self) -> str | None:
        if self.next_anniversary is None:
            return None
        return f"{self.next_anniversary.isoformat()}#{self.due_shard()}"

    def review_due(self) -> str | None:
        end = self.tier.cycle_ends_on
        return f"{month_key(end)}#{self.due_shard()}" if end else None
