"""Subscriber profiles pushed by the CRM, including number recycling."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any

from chalicelib import clock, store, tiers
from chalicelib.errors import Conflict
from chalicelib.households import service as households
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.points import rules as points_rules
from chalicelib.points import service as points
from chalicelib.points.account import Account, Entry
from chalicelib.store import Subscriber, Voucher
from chalicelib.tiers import TierState

# leave room in the 100-item transaction for the balance and ledger items
_MAX_VOUCHERS_IN_RECYCLE = 90


def owner_id(msisdn: str, activated_on: date) -> str:
    """Identifies one owner of a number: a recycled number gets a new owner id."""
    return f"{msisdn}@{activated_on.isoformat()}"


def profile_body(item: Subscriber) -> dict[str, Any]:
    today = clock.today()
    account = points.to_account(item).effective(today)
    return {
        "msisdn": item.msisdn,
        "activated_on": item.activated_on,
        "plan": item.plan,
        "birthday": item.birthday,
        "province": item.province,
        "segments": list(item.segments or []),
        "tenure_months": account.tenure_months(today),
        "tier": account.tier.tier,
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }


# what a subscriber sees of its own profile (an allow-list: a field added for the
# operator stays out of the subscriber's view until it is named here)
SUBSCRIBER_SEES = (
    "msisdn",
    "activated_on",
    "plan",
    "birthday",
    "province",
    "tenure_months",
    "tier",
    "created_at",
    "updated_at",
)


def shown_to(role: str, profile: dict[str, Any]) -> dict[str, Any]:
    """The profile as `role` may see it: the operator all of it, the subscriber
    not the CRM's segments (late_payer, churn_risk, ...)."""
    if role == "operator":
        return profile
    return {k: v for k, v in profile.items() if k in SUBSCRIBER_SEES}


def get_profile(msisdn: str) -> dict[str, Any]:
    return profile_body(points.load(msisdn))


def _fresh_account(msisdn: str, activated_on: date, today: date) -> Account:
    after = max(activated_on, today - timedelta(days=1))
    anniversary, _ = points_rules.next_anniversary(activated_on, after)
    return Account(
        msisdn=msisdn,
        owner_id=owner_id(msisdn, activated_on),
        activated_on=activated_on,
        seq=0,
        balance=0,
        buckets={},
        rank={},
        tier=TierState(tiers.TIER_CODES[0]),
        next_anniversary=anniversary,
    )


def _new_item(msisdn: str, profile: dict[str, Any], account: Account, created_at: str) -> Subscriber:
    now = clock.iso(clock.now())
    return Subscriber(
        msisdn,
        owner_id=account.owner_id,
        activated_on=account.activated_on.isoformat(),
        plan=profile["plan"],
        birthday=profile.get("birthday"),
        province=profile.get("province"),
        segments=list(profile.get("segments") or []),
        created_at=created_at,
        updated_at=now,
        seq=0,
        balance=0,
        buckets={},
        rank={},
        tier=account.tier.tier,
        next_anniversary=account.next_anniversary.isoformat() if account.next_anniversary else None,
        anniversary_due=account.anniversary_due(),
    )


def put_profile(msisdn: str, profile: dict[str, Any], idem: Idempotency | None) -> Reply:
    """Create (201) or update (200) a profile. A later `activated_on` means the
    number was recycled: the old owner's points are forfeited (a ledger entry),
    their vouchers cancelled and the tier reset, all in one transaction."""
    activated_on = date.fromisoformat(profile["activated_on"])

    def decide(_: store.Fresh) -> store.Plan:
        now = clock.now()
        today = clock.local_date(now)
        try:
            current = Subscriber.get(msisdn, consistent_read=True)
        except Subscriber.DoesNotExist:
            current = None
        if current is None:
            item = _new_item(msisdn, profile, _fresh_account(msisdn, activated_on, today), clock.iso(now))
            op = store.put(item, condition=Subscriber.msisdn.does_not_exist(), label=points.BALANCE)
            return store.Plan([op], Reply(201, profile_body(item)))
        current_activation = date.fromisoformat(current.activated_on)
        if activated_on < current_activation:
            raise Conflict("activated_on is earlier than the current owner's activation.", "INVALID_STATE")
        if activated_on == current_activation:
            return _update_profile(current, profile)
        recycled.append(current.owner_id)
        return _recycle(current, profile, activated_on, today)

    recycled: list[str] = []
    # a profile or balance that moved meanwhile is a stale read: decided again
    reply = store.run(decide, idem)
    if recycled:
        _cancel_issued(recycled[-1])
    return reply


def _issued_vouchers(owner: str) -> list[Voucher]:
    codes = [v.code for v in Voucher.by_owner.query(owner)]
    found = store.batch_get([(Voucher, code, None) for code in codes]).values()
    return [v for v in found if v is not None and v.status == "issued"]


def _cancel_op(code: str) -> store.Op:
    return store.update(
        Voucher,
        code,
        actions=[Voucher.status.set("cancelled"), Voucher.expiry_due.remove()],
        condition=Voucher.status == "issued",
        label=f"voucher:{code}",
    )


def _cancel_issued(owner: str) -> None:
    """After a recycling: the old owner's issued vouchers beyond what its own
    transaction held, cancelled 100 to a transaction (each conditional on still
    being issued; one redeemed or expired meanwhile is read again and left)."""
    while left := _issued_vouchers(owner):
        store.run(_cancel_plan([v.code for v in left[:100]]))


def _cancel_plan(codes: list[str]) -> Callable[[store.Fresh], store.Plan]:
    def decide(_: store.Fresh) -> store.Plan:
        return store.Plan([_cancel_op(code) for code in codes], Reply(200, {}))

    return decide


def _update_profile(current: Subscriber, profile: dict[str, Any]) -> store.Plan:
    now = clock.iso(clock.now())
    fields = [
        (Subscriber.plan, profile["plan"]),
        (Subscriber.birthday, profile.get("birthday")),
        (Subscriber.province, profile.get("province")),
    ]
    actions = [attr.set(value) if value is not None else attr.remove() for attr, value in fields]
    actions += [Subscriber.segments.set(list(profile.get("segments") or [])), Subscriber.updated_at.set(now)]
    op = store.update(
        Subscriber,
        current.msisdn,
        actions=actions,
        condition=(Subscriber.owner_id == current.owner_id) & (Subscriber.updated_at == current.updated_at),
        label=points.BALANCE,
    )
    current.plan = profile["plan"]
    current.birthday = profile.get("birthday")
    current.province = profile.get("province")
    current.segments = list(profile.get("segments") or [])
    current.updated_at = now
    return store.Plan([op], Reply(200, profile_body(current)))


def _recycle(current: Subscriber, profile: dict[str, Any], activated_on: date, today: date) -> store.Plan:
    now = clock.now()
    old = points.to_account(current)
    ops: list[store.Op] = []
    forfeits = []
    if old.balance:
        forfeits.append(Entry(f"forfeit:{activated_on.isoformat()}", "forfeit", -old.balance, ref="number recycled"))
    if old.pool:  # the batches contributed to a household's pool: forfeited too, never inherited
        pooled = sum(old.pool.values())
        detail = {"household_id": old.household_id or ""}
        forfeits.append(
            Entry(f"forfeit:pool:{activated_on.isoformat()}", "forfeit", -pooled, ref="number recycled", detail=detail)
        )
    if forfeits:
        zeroed = Account(**{**old.__dict__, "balance": 0, "buckets": {}, "pool": {}})
        ops += points.account_ops(current, zeroed, forfeits, now)[:-1]  # the ledger entries only
    ops += households.recycle_ops(current, today, now)
    # the first vouchers in the recycling's own transaction, the rest right after it
    ops += [_cancel_op(v.code) for v in _issued_vouchers(old.owner_id)[:_MAX_VOUCHERS_IN_RECYCLE]]
    item = _new_item(current.msisdn, profile, _fresh_account(current.msisdn, activated_on, today), clock.iso(now))
    item.seq = old.seq + len(forfeits)
    ops.append(store.put(item, condition=Subscriber.seq == old.seq, label=points.BALANCE))
    # a voucher redeemed or expired meanwhile: decided again (every failure is a stale read)
    return store.Plan(ops, Reply(200, profile_body(item)))


# -- channels: notification SMS on or off (TC / DK) ---------------------------------


def sms_opt_out_op(item: Subscriber, opted_out: bool) -> store.Op | None:
    """The write that makes `TC` (opted_out) or `DK` true of the owner read as
    `item`, or None if it is so already. Conditional on that owner and on the
    flag as read (a number recycled, or the flag changed, meanwhile: decided
    again); the balance's `seq` is left alone, so it races no points change.
    Labelled as the subscriber item (`points.BALANCE`)."""
    if opted_out == (item.sms_opt_out_at is not None):
        return None
    as_read = (
        Subscriber.sms_opt_out_at.does_not_exist() if opted_out else Subscriber.sms_opt_out_at == item.sms_opt_out_at
    )
    action = Subscriber.sms_opt_out_at.set(clock.iso(clock.now())) if opted_out else Subscriber.sms_opt_out_at.remove()
    return store.update(
        Subscriber,
        item.msisdn,
        actions=[action],
        condition=(Subscriber.owner_id == item.owner_id) & as_read,
        label=points.BALANCE,
    )
