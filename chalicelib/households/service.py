"""Households: pooled points (DOMAIN.md "Households", API.md "Households").

Where the pool lives: on the members' own subscriber items. A member's
`pool` map holds the batches they contributed (expiry date -> points); the
pool is the sum over the members. So an accrual for a member is still one
GetItem and one transaction on their own item (the credit lands in `pool`
instead of `buckets`, by `Account.earn`), a leaver's batches are already
theirs, and a number recycled forfeits its batches with its own item. The
household item holds only who is in it, who may spend and the open
invitations; every change to it bumps `version`.

Every change here is one transaction through the kernel, conditional on what
was read: the household on its `version`, each member's item on its `seq`
(through `points.account_ops`, which also writes that member's ledger entries
and extends their ledger's chain). A spend from the pool (`spend`, used by a
voucher claim) is conditional on the household and on every member's item it
read, so FEFO across batches is exact and the pool never goes below 0.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import replace
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib import clock, observability, store
from chalicelib.auth import refuse_stale_token
from chalicelib.config import rules
from chalicelib.errors import Conflict, Forbidden, NotFound
from chalicelib.households import pool
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.points import rules as points_rules
from chalicelib.points import service as points
from chalicelib.points.account import Account, Entry
from chalicelib.store import Household, Subscriber

HOUSEHOLD = "household"
ACTIVE = "active"
MAX_ID_LENGTH = 64


# -- reading -----------------------------------------------------------------


def _as_dict(value: Any) -> dict[str, Any]:
    raw = value.as_dict() if hasattr(value, "as_dict") else (value or {})
    return {str(k): (dict(v) if isinstance(v, dict) else v) for k, v in raw.items()}


def members_of(household: Household) -> dict[str, dict[str, Any]]:
    """msisdn -> {owner_id, role, can_spend, joined_at}."""
    return {m: dict(v) for m, v in _as_dict(household.members).items()}


def invitations_of(household: Household) -> dict[str, dict[str, str]]:
    """msisdn -> {expires_at, owner_id}: an invitation is for the number's owner when it was made."""
    return {m: {k: str(x) for k, x in dict(v).items()} for m, v in _as_dict(household.invitations).items()}


def may_spend(household: Household, msisdn: str) -> bool:
    member = members_of(household).get(msisdn)
    return member is not None and (member["role"] == "owner" or bool(member["can_spend"]))


def _read(household_id: str, msisdns: Iterable[str]) -> tuple[Household | None, dict[str, Subscriber]]:
    """The household and the given subscribers' items: one BatchGetItem (no
    household can have an empty or over-long id: 404, nothing read)."""
    if not household_id or len(household_id) > MAX_ID_LENGTH:
        raise NotFound("No such household.")
    keys: list[tuple[Any, Any, Any]] = [(Household, household_id, None)]
    keys += [(Subscriber, m, None) for m in dict.fromkeys(msisdns)]
    found = store.batch_get(keys)
    household = found[(Household, household_id, None)]
    items = {key[1]: item for key, item in found.items() if isinstance(item, Subscriber)}
    return (household if isinstance(household, Household) else None), items


def _member_items(household: Household, have: dict[str, Subscriber]) -> dict[str, Subscriber]:
    """Every member's item (those not in `have` read in one BatchGetItem)."""
    wanted = [m for m in members_of(household) if m not in have]
    found = store.batch_get([(Subscriber, m, None) for m in wanted]) if wanted else {}
    items = dict(have)
    items.update({key[1]: item for key, item in found.items() if isinstance(item, Subscriber)})
    return items


def _visible(household: Household | None, caller: str | None) -> Household:
    """The active household if `caller` is one of its members (None: the operator); else 404."""
    if household is None or household.status != ACTIVE:
        raise NotFound("No such household.")
    if caller is not None and caller not in members_of(household):
        raise NotFound("No such household.")
    return household


def _caller(items: dict[str, Subscriber], msisdn: str) -> Subscriber:
    item = items.get(msisdn)
    if item is None:
        raise NotFound("No such subscriber.")
    refuse_stale_token(msisdn, date.fromisoformat(item.activated_on))
    return item


def _contributed(item: Subscriber | None, household_id: str, today: date) -> int:
    if item is None or item.household_id != household_id:
        return 0
    return points_rules.spendable_balance(item.pool or {}, today)


def _member_body(msisdn: str, member: dict[str, Any], contributed: int) -> dict[str, Any]:
    return {
        "msisdn": msisdn,
        "role": member["role"],
        "can_spend": member["role"] == "owner" or bool(member["can_spend"]),
        "joined_at": member["joined_at"],
        "contributed_points": contributed,
    }


def body(household: Household, items: dict[str, Subscriber], today: date) -> dict[str, Any]:
    hid = household.household_id
    members = sorted(members_of(household).items(), key=lambda kv: (kv[1]["role"] != "owner", kv[1]["joined_at"]))
    shown = [_member_body(m, v, _contributed(items.get(m), hid, today)) for m, v in members]
    return {
        "household_id": hid,
        "owner": household.owner,
        "members": shown,
        "pool_balance": sum(m["contributed_points"] for m in shown),
    }


def view(household_id: str, caller: str | None) -> dict[str, Any]:
    """The household as its members and the operator see it (`caller` None: the operator)."""
    household, items = _read(household_id, [caller] if caller else [])
    if caller is not None:
        _caller(items, caller)
    household = _visible(household, caller)
    return body(household, _member_items(household, items), clock.today())


def summary(item: Subscriber) -> dict[str, Any] | None:
    """What `GET .../points` shows of the subscriber's household (None: not in one)."""
    if not item.household_id:
        return None
    household, _ = _read(item.household_id, [])
    if household is None or household.status != ACTIVE or item.msisdn not in members_of(household):
        return None
    items = _member_items(household, {item.msisdn: item})
    today = clock.today()
    return {
        "household_id": household.household_id,
        "pool_balance": sum(_contributed(items.get(m), household.household_id, today) for m in members_of(household)),
        "can_spend": may_spend(household, item.msisdn),
    }


# -- writing -----------------------------------------------------------------


def _household_op(household: Household, actions: list[Any]) -> store.Op:
    return store.update(
        Household,
        household.household_id,
        actions=[*actions, Household.version.set(int(household.version or 0) + 1)],
        condition=Household.version == int(household.version or 0),
        label=HOUSEHOLD,
    )


def _relabelled(ops: list[store.Op], msisdn: str) -> list[store.Op]:
    """A member's balance and ledger ops, labelled apart from the other members' in one transaction."""
    return [store.Op(op.request, f"{msisdn}:{op.label}") for op in ops]


def _may_join(account: Account, today: date) -> None:
    if account.household_id is not None:
        raise Conflict("The subscriber is already in a household.", "ALREADY_IN_HOUSEHOLD")
    wait = timedelta(days=rules().household_rejoin_wait_days)
    if account.household_left_on is not None and today < account.household_left_on + wait:
        raise Conflict(f"The subscriber left a household less than {wait.days} days ago.", "ALREADY_IN_HOUSEHOLD")


def _member_record(item: Subscriber, role: str, now: datetime) -> dict[str, Any]:
    return {"owner_id": item.owner_id, "role": role, "can_spend": role == "owner", "joined_at": clock.iso(now)}


def create(msisdn: str, idem: Idempotency | None) -> Reply:
    """A new household with the caller as its owner (201)."""
    household_id = f"hh_{secrets.token_hex(8)}"  # drawn once per request: a resend meets its own item

    def decide(_: store.Fresh) -> store.Plan:
        now = clock.now()
        item = points.load(msisdn)
        household = Household(
            household_id,
            owner=msisdn,
            owner_id=item.owner_id,
            status=ACTIVE,
            members={msisdn: _member_record(item, "owner", now)},
            invitations={},
            version=0,
            created_at=clock.iso(now),
        )

        def join(account: Account, today: date) -> points.Change:
            _may_join(account, today)
            reply = Reply(201, body(household, {}, today))
            put = store.put(household, condition=Household.household_id.does_not_exist(), label=HOUSEHOLD)
            return points.Change(replace(account, household_id=household_id), [], reply, extra=(put,))

        return points.plan_change(item, join, now)

    reply = store.run(decide, idem)
    observability.count("HouseholdsCreated")
    return reply


def invite(caller: str, household_id: str, invitee: str, idem: Idempotency | None) -> Reply:
    """The owner invites a subscriber by MSISDN; the invitation is valid for 7 days (201)."""

    def decide(_: store.Fresh) -> store.Plan:
        now = clock.now()
        household, items = _read(household_id, [caller, invitee])
        _caller(items, caller)
        household = _visible(household, caller)
        if household.owner != caller:
            raise Forbidden("Only the household's owner may invite.")
        if invitee not in items:
            raise NotFound("No such subscriber.")
        members = members_of(household)
        if invitee in members:
            raise Conflict("The subscriber is already in this household.", "ALREADY_IN_HOUSEHOLD")
        if len(members) >= rules().household_max_members:
            raise Conflict("The household is full.", "HOUSEHOLD_FULL")
        now_iso = clock.iso(now)
        open_ones = {m: v for m, v in invitations_of(household).items() if v["expires_at"] >= now_iso and m != invitee}
        if len(open_ones) >= rules().household_max_invitations:
            raise Conflict("The household has as many open invitations as it may have.", "INVALID_STATE")
        expires_at = clock.iso(now + timedelta(days=rules().household_invitation_days))
        invitation = {"expires_at": expires_at, "owner_id": items[invitee].owner_id}
        op = _household_op(household, [Household.invitations.set({**open_ones, invitee: invitation})])
        return store.Plan([op], Reply(201, {"household_id": household_id, "msisdn": invitee, "expires_at": expires_at}))

    return store.run(decide, idem)


def accept(msisdn: str, household_id: str, idem: Idempotency | None) -> Reply:
    """The invited subscriber joins (200, the household)."""

    def decide(_: store.Fresh) -> store.Plan:
        now = clock.now()
        household, items = _read(household_id, [msisdn])
        item = _caller(items, msisdn)
        if household is None or household.status != ACTIVE:
            raise NotFound("No such household.")
        invitations = invitations_of(household)
        # an invitation to the number's previous owner (recycled since) is not this subscriber's
        if msisdn not in invitations or invitations[msisdn]["owner_id"] != item.owner_id:
            raise NotFound("No such invitation.")
        if invitations[msisdn]["expires_at"] < clock.iso(now):
            raise Conflict("The invitation has expired.", "INVITATION_EXPIRED")
        members = members_of(household)
        if len(members) >= rules().household_max_members:
            raise Conflict("The household is full.", "HOUSEHOLD_FULL")
        members[msisdn] = _member_record(item, "member", now)
        left = {m: at for m, at in invitations.items() if m != msisdn}
        op = _household_op(household, [Household.members.set(members), Household.invitations.set(left)])

        def join(account: Account, today: date) -> points.Change:
            _may_join(account, today)
            others = _member_items(household, {msisdn: item})
            shown = Household(
                household_id, owner=household.owner, owner_id=household.owner_id, members=members, created_at=""
            )
            reply = Reply(200, body(shown, others, today))
            return points.Change(replace(account, household_id=household_id), [], reply, extra=(op,))

        return points.plan_change(item, join, now)

    reply = store.run(decide, idem)
    observability.count("HouseholdJoins")
    return reply


def set_can_spend(caller: str, household_id: str, member: str, can_spend: bool, idem: Idempotency | None) -> Reply:
    """The owner allows or forbids a member to spend from the pool (200, the member)."""

    def decide(_: store.Fresh) -> store.Plan:
        household, items = _read(household_id, [caller, member])
        _caller(items, caller)
        household = _visible(household, caller)
        if household.owner != caller:
            raise Forbidden("Only the household's owner may decide who spends.")
        members = members_of(household)
        if member not in members:
            raise NotFound("No such member.")
        if members[member]["role"] == "owner" and not can_spend:
            raise Conflict("The owner can always spend from the pool.", "INVALID_STATE")
        members[member] = {**members[member], "can_spend": can_spend}
        op = _household_op(household, [Household.members.set(members)])
        contributed = _contributed(items.get(member), household_id, clock.today())
        return store.Plan([op], Reply(200, _member_body(member, members[member], contributed)))

    return store.run(decide, idem)


def _departure(item: Subscriber, today: date, now: datetime, household_id: str) -> tuple[list[store.Op], int]:
    """A member leaving: their remaining batches back to their own balance with
    their own expiry dates, a `household_left` ledger entry (their points do not
    change: 0) and the wait before joining another household starts."""
    account, expired = points.to_account(item).expire(today)
    returned = sum(account.pool.values())
    updated = replace(
        account,
        buckets=pool.merged(account.buckets, account.pool),
        balance=account.balance + returned,
        pool={},
        household_id=None,
        household_left_on=today,
    )
    entry = Entry(
        f"household_left:{household_id}:{int(item.seq or 0)}",
        "household_left",
        0,
        ref=household_id,
        detail={"returned_points": returned},
    )
    return _relabelled(points.account_ops(item, updated, [*expired, entry], now), item.msisdn), returned


def remove(caller: str, household_id: str, member: str, idem: Idempotency | None) -> Reply:
    """The owner removes a member, or a member leaves; the owner leaving dissolves
    the household (every member takes back their own batches). 200 {msisdn, returned_points}."""

    def decide(_: store.Fresh) -> store.Plan:
        now = clock.now()
        today = clock.local_date(now)
        household, items = _read(household_id, [caller, member])
        _caller(items, caller)
        household = _visible(household, caller)
        members = members_of(household)
        if member not in members:
            raise NotFound("No such member.")
        if caller not in (member, household.owner):
            raise Forbidden("Only the owner may remove another member.")
        items = _member_items(household, items)
        dissolve = member == household.owner
        leaving = list(members) if dissolve else [member]
        ops: list[store.Op] = []
        returned = 0
        for m in leaving:
            item = items.get(m)
            if item is None or item.household_id != household_id:
                continue  # a number recycled meanwhile is no longer a member (its recycling removed it)
            member_ops, points_back = _departure(item, today, now, household_id)
            ops += member_ops
            returned = points_back if m == member else returned
        if dissolve:
            actions = [Household.members.set({}), Household.invitations.set({}), Household.status.set("dissolved")]
        else:
            actions = [Household.members.set({m: v for m, v in members.items() if m != member})]
        ops.append(_household_op(household, actions))
        return store.Plan(ops, Reply(200, {"msisdn": member, "returned_points": returned}))

    reply = store.run(decide, idem)
    observability.count("HouseholdLeaves")
    return reply


# -- spending from the pool and recycling ------------------------------------


def spend(
    spender: Subscriber, account: Account, price: int, today: date, now: datetime, spend_id: str, ref: str | None
) -> tuple[Account, list[Entry], list[store.Op]]:
    """A debit of `price` for `spender` (their account after due expiry): their
    own points first, then, if they are allowed, the household's pool (FEFO
    across every member's batches). Returns the spender's account and entries
    and the other members' ops and a check of the household (empty when their
    own points suffice: then this is `Account.debit` and reads nothing)."""
    own = account.spendable(today)
    if price <= own or account.household_id is None:
        updated, entry = account.debit(price, today, f"spend:{spend_id}", "spend", ref)
        return updated, [entry], []
    household, _ = _read(account.household_id, [])
    if household is None or household.status != ACTIVE or spender.msisdn not in members_of(household):
        raise Conflict("Not enough spendable points.", "INSUFFICIENT_POINTS")
    if not may_spend(household, spender.msisdn):
        raise Conflict("Not enough own points, and this member may not spend from the pool.", "NOT_ALLOWED_TO_SPEND")
    items = _member_items(household, {spender.msisdn: spender})
    others: dict[str, tuple[Subscriber, Account, list[Entry]]] = {}
    for m, item in items.items():
        if m != spender.msisdn and item.household_id == household.household_id:
            other, expired = points.to_account(item).expire(today)
            others[m] = (item, other, expired)
    pools = {spender.msisdn: account.pool, **{m: other.pool for m, (_, other, _) in others.items()}}
    taken = pool.draw(pools, price - own, today)
    detail = {"household_id": household.household_id, "by": spender.msisdn}
    updated, entries = account, []
    if own:
        updated, entry = account.debit(own, today, f"spend:{spend_id}", "spend", ref)
        entries.append(entry)
    mine = taken.get(spender.msisdn, 0)
    if mine:
        updated = replace(updated, pool=points_rules.fefo_debit(updated.pool, mine, today))
        entries.append(Entry(f"pool_spend:{spend_id}", "spend", -mine, ref=ref, detail=detail))
    ops: list[store.Op] = [
        store.check(
            Household,
            household.household_id,
            condition=Household.version == int(household.version or 0),
            label=HOUSEHOLD,
        )
    ]
    for m, (item, other, expired) in sorted(others.items()):
        take = taken.get(m, 0)
        if not take and not expired:
            ops.append(store.check(Subscriber, m, condition=Subscriber.seq == int(item.seq or 0), label=f"{m}:seq"))
            continue
        member_entries = list(expired)
        if take:
            other = replace(other, pool=points_rules.fefo_debit(other.pool, take, today))
            member_entries.append(Entry(f"pool_spend:{spend_id}", "spend", -take, ref=ref, detail=detail))
        ops += _relabelled(points.account_ops(item, other, member_entries, now), m)
    return updated, entries, ops


def recycle_ops(item: Subscriber, today: date, now: datetime) -> list[store.Op]:
    """The household side of recycling the number of `item` (its batches are
    forfeited with its own item): it leaves its household; an owner's household
    is dissolved and every other member takes back their own batches."""
    if not item.household_id:
        return []
    household, _ = _read(item.household_id, [])
    if household is None or household.status != ACTIVE or item.msisdn not in members_of(household):
        return []
    members = members_of(household)
    if household.owner != item.msisdn:
        return [
            _household_op(household, [Household.members.set({m: v for m, v in members.items() if m != item.msisdn})])
        ]
    ops: list[store.Op] = []
    for m, other in _member_items(household, {}).items():
        if m != item.msisdn and other.household_id == household.household_id:
            ops += _departure(other, today, now, household.household_id)[0]
    actions = [Household.members.set({}), Household.invitations.set({}), Household.status.set("dissolved")]
    return [*ops, _household_op(household, actions)]
