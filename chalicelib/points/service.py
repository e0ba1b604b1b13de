"""Points use cases: each reads the subscriber item once, applies the pure
rules, and commits the new balance (conditional on the `seq` it read) with its
ledger entries and idempotency record as one DynamoDB transaction."""

from __future__ import annotations

import secrets
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from chalicelib import clock, observability, store, tiers
from chalicelib.auth import refuse_stale_token
from chalicelib.errors import Conflict, NotFound, ValidationError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.points import chain
from chalicelib.points import rules as points_rules
from chalicelib.points.account import Account, Entry
from chalicelib.points.chain import BrokenChain, Cursor, Links, Seal
from chalicelib.store import LedgerEntry, Subscriber
from chalicelib.tiers import TierState

BALANCE = "balance"


# -- reading ---------------------------------------------------------------


def _date(value: str | None) -> date | None:
    return date.fromisoformat(value) if value else None


def to_account(item: Subscriber) -> Account:
    return Account(
        msisdn=item.msisdn,
        owner_id=item.owner_id,
        activated_on=date.fromisoformat(item.activated_on),
        seq=int(item.seq or 0),
        balance=int(item.balance or 0),
        buckets=dict(item.buckets or {}),
        rank=dict(item.rank or {}),
        tier=TierState(item.tier or tiers.TIER_CODES[0], _date(item.tier_since), _date(item.tier_cycle_ends_on)),
        next_anniversary=_date(item.next_anniversary),
        ledger=Links(tuple(item.ledger_open or ()), item.ledger_sealed),
        household_id=item.household_id,
        pool=dict(item.pool or {}),
        household_left_on=_date(item.household_left_on),
    )


def load(msisdn: str) -> Subscriber:
    """The subscriber item (404 if none); a subscriber's token from before the
    current owner's activation is refused here, where the item is read anyway."""
    try:
        item = Subscriber.get(msisdn, consistent_read=True)
    except Subscriber.DoesNotExist:
        raise NotFound("No such subscriber.") from None
    refuse_stale_token(msisdn, date.fromisoformat(item.activated_on))
    return item


# -- writing ---------------------------------------------------------------


def account_ops(item: Subscriber, account: Account, entries: list[Entry], now: datetime) -> list[store.Op]:
    """The transaction items for `account` replacing the balance item read as `item`:
    the ledger entries, and an update of only the attributes that change."""
    ops: list[store.Op] = []
    before_seq = int(item.seq or 0)
    seq = before_seq
    balance = account.total() - sum(e.points for e in entries)
    links, seals = chain.extend(account.ledger, [e.entry_id for e in entries])
    for entry in entries:
        seq += 1
        balance += entry.points
        seal = seals.get(entry.entry_id)
        ledger = LedgerEntry(
            account.owner_id,
            entry.entry_id,
            seq=seq,
            msisdn=account.msisdn,
            kind=entry.kind,
            points=entry.points,
            rank_points=entry.rank_points,
            balance_after=balance,
            tier_after=account.tier.tier,
            at=clock.iso(now),
            ref=entry.ref,
            detail=entry.detail,
            block=list(seal.block) if seal else None,
            prev_block=seal.prev if seal else None,
        )
        ops.append(store.put(ledger, condition=LedgerEntry.entry_id.does_not_exist(), label=f"ledger:{entry.entry_id}"))
    changed: dict[str, Any] = {"seq": seq if entries else before_seq + 1}
    for name, value in _stored_state(account, links).items():
        if value != _as_stored(getattr(item, name)):
            changed[name] = value
    ops.append(
        store.assign(
            Subscriber,
            account.msisdn,
            values=changed,
            expected={"seq": before_seq, "owner_id": account.owner_id},
            label=BALANCE,
        )
    )
    return ops


def _stored_state(account: Account, links: Links) -> dict[str, Any]:
    """The balance item's points attributes for `account`, by name (None: absent)."""
    state = account.tier
    return {
        "balance": account.balance,
        "buckets": account.buckets,
        "rank": account.rank,
        "tier": state.tier,
        "tier_since": state.since.isoformat() if state.since else None,
        "tier_cycle_ends_on": state.cycle_ends_on.isoformat() if state.cycle_ends_on else None,
        "next_anniversary": account.next_anniversary.isoformat() if account.next_anniversary else None,
        "expiry_due": account.expiry_due(),
        "anniversary_due": account.anniversary_due(),
        "review_due": account.review_due(),
        "ledger_open": list(links.open),
        "ledger_sealed": links.sealed,
        "household_id": account.household_id,
        "pool": account.pool,
        "household_left_on": account.household_left_on.isoformat() if account.household_left_on else None,
    }


def _as_stored(value: Any) -> Any:
    """A value read from the item, comparable with `_stored_state`'s (PynamoDB
    reads numbers as floats, lists as its own lists)."""
    if isinstance(value, list):
        return list(value)
    if isinstance(value, float | int) and not isinstance(value, bool):
        return int(value)
    return value


@dataclass(frozen=True)
class Spent:
    """A FEFO debit ready to commit: the account after it, its writes (the
    balance update and the ledger entries, expired points first), and the points
    it took from each bucket by expiry date (what a refund gives back)."""

    account: Account
    ops: list[store.Op]
    taken: dict[str, int]


def spend(
    item: Subscriber, current: Account, expired: list[Entry], points: int, entry_id: str, ref: str | None, now: datetime
) -> Spent:
    """A FEFO debit of the subscriber's own points for a network product order,
    through the same `Account.take` a claim's debit uses (`households.spend`,
    which adds the household pool): `current` is the account read as `item` with
    due expiry applied (giving `expired`); `points` 0 writes no entry and only
    moves `seq`. INSUFFICIENT_POINTS if there are not enough."""
    today = clock.local_date(now)
    updated, entries, taken = current, list(expired), dict[str, int]()
    if points:
        updated, entry, taken = current.take(points, today, entry_id, "spend", ref)
        entries.append(entry)
    return Spent(updated, account_ops(item, updated, entries, now), taken)


@dataclass(frozen=True)
class Change:
    """What a use case wants written: the new account, its entries, extra items,
    the reply, and what a failed condition of an extra label means."""

    account: Account
    entries: list[Entry]
    reply: Reply
    extra: tuple[store.Op, ...] = ()
    on_failure: Mapping[str, store.Meaning] = field(default_factory=dict)


def plan_change(item: Subscriber, decide: Callable[[Account, date], Change], now: datetime) -> store.Plan:
    """The plan of one decision on the account read as `item`. Due expiry is
    applied first, so the stored balance never counts expired points."""
    today = clock.local_date(now)
    account = to_account(item)
    expired_account, expired_entries = account.expire(today)
    change = decide(expired_account, today)
    if not expired_entries and not change.entries and not change.extra and change.account == account:
        return store.Plan((), change.reply)
    ops = account_ops(item, change.account, [*expired_entries, *change.entries], now)
    return store.Plan([*ops, *change.extra], change.reply, change.on_failure)


def apply(msisdn: str, decide: Callable[[Account, date], Change], idem: Idempotency | None) -> Reply:
    """Read the account, decide, commit through the kernel (a balance that moved
    meanwhile is a stale read: the kernel decides again on a fresh read)."""

    def plan(fresh: store.Fresh) -> store.Plan:
        item = Subscriber.from_raw_data(fresh[BALANCE]) if BALANCE in fresh else load(msisdn)
        return plan_change(item, decide, clock.now())

    return store.run(plan, idem)


# -- use cases -------------------------------------------------------------


def accrue(
    event_id: str, msisdn: str, amount_vnd: int, service: str, occurred_at: datetime, idem: Idempotency | None
) -> Reply:
    """Apply a paid spend event exactly once (201; a repeat of the event_id is 200, same body)."""
    occurred_on = clock.local_date(occurred_at)

    def duplicate(old: dict[str, Any] | None) -> Reply | None:
        """The event's entry exists: it was applied before; the same answer, as 200."""
        if old is None:
            return None
        observability.count("DuplicateSpendEvents")
        entry = LedgerEntry.from_raw_data(old)
        return Reply(200, _earn_body(event_id, msisdn, int(entry.rank_points), int(entry.points), entry.tier_after))

    def decide(account: Account, today: date) -> Change:
        if occurred_on < account.activated_on:
            raise Conflict("The event predates the current owner's activation.", "INVALID_STATE")
        updated, entry = account.earn(event_id, amount_vnd, service, occurred_on, today)
        body = _earn_body(event_id, msisdn, entry.rank_points, entry.points, updated.tier.tier)
        return Change(updated, [entry], Reply(201, body), on_failure={f"ledger:{entry.entry_id}": duplicate})

    return apply(msisdn, decide, idem)


def _earn_body(event_id: str, msisdn: str, rank_points: int, spendable: int, tier: str) -> dict[str, Any]:
    return {
        "event_id": event_id,
        "msisdn": msisdn,
        "earned": {"rank_points": rank_points, "spendable_points": spendable},
        "tier": tier,
    }


def adjust(msisdn: str, points: int, reason: str, actor: str, idem: Idempotency | None) -> Reply:
    """Operator credit or debit of spendable points; a debit never goes below 0."""
    # one entry per request: a retry of an attempt that committed meets it (see store.kernel)
    entry_id = f"adjust:{idem.record_id[:32] if idem else _random_id()}"

    def decide(account: Account, today: date) -> Change:
        if points > 0:
            updated, entry = account.credit(points, today, entry_id, "adjust", reason)
        else:
            updated, entry = account.debit(-points, today, entry_id, "adjust", reason)
        entry = Entry(entry.entry_id, entry.kind, entry.points, ref=reason, detail={"by": actor})
        body = _entry_body(entry.entry_id, entry.kind, entry.points, updated.balance, clock.iso(clock.now()), reason)
        return Change(updated, [entry], Reply(201, body))

    return apply(msisdn, decide, idem)


def _random_id() -> str:
    return secrets.token_hex(12)


def _entry_body(entry_id: str, kind: str, points: int, balance_after: int, at: str, ref: str | None) -> dict[str, Any]:
    return {"entry_id": entry_id, "kind": kind, "points": points, "balance_after": balance_after, "at": at, "ref": ref}


def view(msisdn: str) -> dict[str, Any]:
    """The app's points screen, from one GetItem (a household member's: and its
    household's two BatchGetItems); expired points never show as spendable."""
    return view_of(load(msisdn))


def view_of(item: Subscriber, *, household: bool = True) -> dict[str, Any]:
    """The points screen of a subscriber item already read (`view` without the read);
    `household=False` leaves the household out (and its reads: a member's is two
    BatchGetItems), for a screen that does not show it."""
    msisdn = item.msisdn
    today = clock.today()
    account = to_account(item).effective(today)
    rank_points = account.rank_points(today)
    above, needed = tiers.next_tier(account.tier.tier, rank_points)
    return {
        "msisdn": msisdn,
        "balance": account.spendable(today),
        "rank_points": rank_points,
        "tier": account.tier.tier,
        "tier_cycle_ends_on": account.tier.cycle_ends_on.isoformat() if account.tier.cycle_ends_on else None,
        "next_tier": above,
        "rank_points_to_next_tier": needed,
        "expiring": [{"on": day, "points": pts} for day, pts in points_rules.expiring(account.buckets, today)],
        "household": _household_summary(item) if household else None,
    }


def _household_summary(item: Subscriber) -> dict[str, Any] | None:
    """The household's pool as this member sees it (None, and no read, when not in one)."""
    if not item.household_id:
        return None
    from chalicelib.households import service as households

    return households.summary(item)


def ledger(msisdn: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """The current owner's ledger, newest first, read along its chain of blocks:
    one GetItem, then one BatchGetItem per block the page reaches."""
    item = load(msisdn)
    start = None
    if cursor is not None:
        start = Cursor.decode(cursor)
        if start is None:
            raise ValidationError("cursor is not valid.")
    links = Links(tuple(item.ledger_open or ()), item.ledger_sealed)
    try:
        shown, after = chain.page(links, _entries_of(item.owner_id), limit, start)
    except BrokenChain:
        if start is not None and start.block is not None:
            raise ValidationError("cursor is not valid.") from None
        raise
    return {
        "items": [
            _entry_body(e.entry_id, e.kind, int(e.points), int(e.balance_after), e.at, e.ref)
            for e in (stored.entry for stored in shown)
        ],
        "next_cursor": after.encode() if after else None,
    }


@dataclass(frozen=True)
class _Stored:
    """A ledger entry as chain.page walks it."""

    entry: LedgerEntry

    @property
    def seq(self) -> int:
        return int(self.entry.seq)

    @property
    def seal(self) -> Seal | None:
        block = self.entry.block
        return Seal(tuple(block), self.entry.prev_block) if block else None


def _entries_of(owner_id: str) -> Callable[[Sequence[str]], dict[str, _Stored]]:
    def fetch(entry_ids: Sequence[str]) -> dict[str, _Stored]:
        found = store.batch_get(((LedgerEntry, owner_id, entry_id) for entry_id in entry_ids), consistent=False)
        missing = [key for key, entry in found.items() if entry is None]
        if missing:  # written with the balance just read, not yet on the replica read: read it from the leader
            found.update(store.batch_get(missing, consistent=True))
        return {key[2]: _Stored(entry) for key, entry in found.items() if entry is not None}

    return fetch


# ledger kinds whose `ref` is a member of staff's note (an adjustment's reason)
_STAFF_NOTES = ("adjust",)


def ledger_shown_to(role: str, page: dict[str, Any]) -> dict[str, Any]:
    """A ledger page as `role` may see it: the operator all of it, the
    subscriber without staff's reasons for adjustments (`ref` null)."""
    if role == "operator":
        return page
    items = [{**e, "ref": None} if e["kind"] in _STAFF_NOTES else e for e in page["items"]]
    return {**page, "items": items}


# -- scheduled work on one subscriber --------------------------------------


def run_due_work(msisdn: str) -> list[str]:
    """Expire due points, credit a due tenure bonus and apply ended tier cycles.

    Safe to run any number of times: entries are keyed by their cause and the
    write is conditional on the balance item not having moved.
    """
    written: list[str] = []

    def decide(account: Account, today: date) -> Change:
        updated, entry = account.tenure_bonus(today)
        updated = updated.review(today)
        entries = [entry] if entry else []
        written[:] = [e.entry_id for e in entries]
        return Change(updated, entries, Reply(200, {}))

    apply(msisdn, decide, None)
    return written
