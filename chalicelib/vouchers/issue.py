"""Issuing one voucher, for a claim (points for a voucher) or a grant (free):
one BatchGetItem, the rules, one TransactWriteItems, committed by the kernel.

The transaction holds: the subscriber's balance (FEFO debit, conditional on
the `seq` read; a grant only bumps `seq` so a concurrent number recycling
sees the new voucher), the inventory shard (`stock > 0`, campaign active and
in window), the per-subscriber claim count (`count < limit`), the voucher
(`attribute_not_exists(code)`), the ledger entries, and the dedupe record.
A cancellation is read item by item: a closed campaign or a full count is the
answer; a stale balance, an emptied shard, a code collision or a conflict is
decided again on fresh reads. The code is drawn once per request, so an
attempt that committed but whose answer was lost is recognised by the kernel
from the voucher item its retry meets.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from chalicelib import clock, store
from chalicelib.auth import refuse_stale_token
from chalicelib.campaigns import rules as campaign_rules
from chalicelib.campaigns import service as campaigns
from chalicelib.campaigns import shards
from chalicelib.config import rules
from chalicelib.errors import Conflict, DiemError, NotEligible, NotFound
from chalicelib.households import service as households
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.points import service as points
from chalicelib.store import Campaign, Counter, Subscriber, Voucher
from chalicelib.vouchers import codes, views

CLAIMS = "claims"
VOUCHER = "voucher"

# the reply, given the voucher as the subscriber sees it and the balance after
Render = Callable[[dict[str, Any], int], Reply]


def issue(
    msisdn: str,
    campaign_id: str,
    *,
    free: bool,
    source: str,
    render: Render,
    idem: Idempotency | None,
    owner_id: str | None = None,
) -> Reply:
    """Issue one voucher of `campaign_id` to `msisdn`, retrying real conflicts.
    With `owner_id`, only while the number still has that owner (a USSD session
    begun before the number was recycled claims nothing for the new owner)."""
    if not campaign_id or len(campaign_id) > campaigns.MAX_ID_LENGTH:
        raise NotFound("No such campaign.")
    code = [codes.new_code()]

    return store.run(
        lambda _: _plan(msisdn, campaign_id, free, source, render, code, owner_id),
        idem,
        attempts=rules().claim_max_attempts,
    )


@dataclass(frozen=True)
class _Read:
    """What the one BatchGetItem found."""

    campaign: Campaign
    subscriber: Subscriber
    counter: Counter | None
    shards: dict[int, Counter]
    unread: frozenset[int]  # sampled shards too hot to read now


def _read(msisdn: str, campaign_id: str) -> _Read:
    """Subscriber, claim counter, a sample of shards and the campaign unless cached: one BatchGetItem."""
    campaign = campaigns.launched(campaign_id)
    sampled = shards.sample(campaign_id, int(campaign.shard_count) if campaign else None)
    subscriber_key = (Subscriber, msisdn, None)
    counter_key = (Counter, shards.claims_key(campaign_id, msisdn), None)
    campaign_key = (Campaign, campaign_id, None)
    shard_keys = {n: (Counter, shards.stock_key(campaign_id, n), None) for n in sampled}
    keys: list[tuple[Any, Any, Any]] = [subscriber_key, counter_key, *shard_keys.values()]
    keys += [campaign_key] if campaign is None else []
    # a shard too hot to read now is skipped (the claim takes another): only it may come back unread
    found = store.batch_get(keys, optional=list(shard_keys.values()))
    if campaign is None:
        campaign = found[campaign_key]
        if campaign is None:
            raise NotFound("No such campaign.")
        campaigns.remember(campaign)
    subscriber = found[subscriber_key]
    if subscriber is None:
        raise NotFound("No such subscriber.")
    refuse_stale_token(msisdn, date.fromisoformat(subscriber.activated_on))
    seen = {n: item for n, key in shard_keys.items() if (item := found[key]) is not None}
    return _Read(campaign, subscriber, found[counter_key], seen, frozenset(shard_keys) - set(seen))


def _plan(
    msisdn: str, campaign_id: str, free: bool, source: str, render: Render, code: list[str], owner_id: str | None
) -> store.Plan:
    now = clock.now()
    now_iso, today = clock.iso(now), clock.local_date(now)
    read = _read(msisdn, campaign_id)
    campaign, subscriber, counter = read.campaign, read.subscriber, read.counter
    if owner_id is not None and subscriber.owner_id != owner_id:
        raise Conflict("The number has had a new owner since this began.", "INVALID_STATE")
    # the campaign's status and window: fresh from a shard once launched
    probe = next(iter(read.shards.values()), campaign)
    if not campaign_rules.claimable(probe.status, probe.starts_at, probe.ends_at, now_iso):
        raise Conflict("This campaign is not open for claims now.", "CAMPAIGN_NOT_ACTIVE")
    account = points.to_account(subscriber)
    current, entries = account.expire(today)
    reason = campaign_rules.ineligibility(
        campaigns.as_dict(campaign.eligibility), campaigns.profile(subscriber, current, today), today
    )
    if reason:
        raise NotEligible(f"Not eligible for this campaign: {reason}.")
    limit = int(campaign.per_subscriber_limit)
    mine = counter is not None and counter.owner_id == account.owner_id
    if mine and counter is not None and int(counter.count or 0) >= limit:
        raise Conflict("The limit of vouchers per subscriber for this campaign is reached.", "LIMIT_REACHED")
    count = int(campaign.shard_count)
    first = shards.choose(campaign_id, count, read.shards, read.unread)
    price = 0 if free else int(campaign.points_price)
    updated, spent = current, entries
    pooled: list[store.Op] = []  # a household member's draw on the pool: the other members and the household
    if price:
        updated, spend, pooled = households.spend(subscriber, current, price, today, now, code[0], campaign_id)
        spent = [*entries, *spend]
    balance_ops = [*points.account_ops(subscriber, updated, spent, now), *pooled]
    count_op = _count_op(campaign_id, msisdn, account.owner_id, limit, mine)

    def claims_failed(old: dict[str, Any] | None) -> DiemError | None:
        item = Counter.from_raw_data(old) if old else None
        if item is not None and item.owner_id == account.owner_id and int(item.count or 0) >= limit:
            return Conflict("The limit of vouchers per subscriber for this campaign is reached.", "LIMIT_REACHED")
        return None

    def code_taken(old: dict[str, Any] | None) -> None:
        code[0] = codes.new_code()  # another request's voucher has this code: draw again

    tried: list[int] = []

    def on(shard: int) -> store.Plan:
        """The claim taking its voucher from `shard`; the other writes (and their
        conditions: the balance's seq, the voucher's code) are the same whichever
        shard, so an attempt on another shard can never commit a second voucher."""
        tried.append(shard)
        voucher = _voucher(campaign, subscriber, code[0], shard, source, now)
        ops = [
            *balance_ops,
            shards.take_op(campaign_id, shard, now_iso),
            count_op,
            store.put(voucher, condition=Voucher.code.does_not_exist(), label=VOUCHER),
        ]

        def stock_failed(old: dict[str, Any] | None) -> DiemError | None:
            item = Counter.from_raw_data(old) if old else None
            if item is None or not campaign_rules.claimable(item.status, item.starts_at, item.ends_at, now_iso):
                return Conflict("This campaign is not open for claims now.", "CAMPAIGN_NOT_ACTIVE")
            shards.remember_empty(campaign_id, shard)
            return None

        def retarget(hot: frozenset[str]) -> store.Plan | None:
            # only the shard is contended (the subscriber's own items never are): try another
            if hot != {shards.LABEL}:
                return None
            other = shards.another(campaign_id, count, read.shards, tried)
            return None if other is None else on(other)

        reply = render(views.wallet_item(voucher, now_iso), updated.spendable(today))
        meanings = {shards.LABEL: stock_failed, CLAIMS: claims_failed, VOUCHER: code_taken}
        return store.Plan(ops, reply, meanings, retarget=retarget)

    return on(first)


def _voucher(campaign: Campaign, subscriber: Subscriber, code: str, shard: int, source: str, now: Any) -> Voucher:
    template = campaigns.as_dict(campaign.voucher)
    expires = now + timedelta(days=int(campaign.voucher_valid_days))
    return Voucher(
        code,
        campaign_id=campaign.campaign_id,
        partner_id=campaign.partner_id,
        msisdn=subscriber.msisdn,
        owner_id=subscriber.owner_id,
        shard=shard,
        status="issued",
        title=template["title"],
        value_vnd=template.get("value_vnd"),
        percent_off=template.get("percent_off"),
        issued_at=clock.iso(now),
        expires_at=clock.iso(expires),
        source=source,
        expiry_due=views.expiry_due(code, clock.local_date(expires)),
    )


def _count_op(campaign_id: str, msisdn: str, owner_id: str, limit: int, mine: bool) -> store.Op:
    """The per-subscriber count, kept per number and reset for a new owner of a recycled number."""
    key = shards.claims_key(campaign_id, msisdn)
    if mine:
        return store.update(
            Counter,
            key,
            actions=[Counter.count.add(1)],
            condition=(Counter.owner_id == owner_id) & (Counter.count < limit),
            label=CLAIMS,
        )
    return store.update(
        Counter,
        key,
        actions=[Counter.count.set(1), Counter.owner_id.set(owner_id)],
        condition=Counter.counter_id.does_not_exist() | (Counter.owner_id != owner_id),
        label=CLAIMS,
    )
