"""Campaign use cases: a marketer creates, reads (with exact stats), lists,
launches, pauses, ends and grows campaigns; a subscriber sees its offers.

Every change is one transaction of the campaign item and, once launched, its
inventory shards (which mirror the status and window claims check).
"""

from __future__ import annotations

import secrets
import threading
import time
from collections.abc import Callable
from datetime import date, datetime, timedelta
from typing import Any

from chalicelib import clock, store
from chalicelib.campaigns import rules as campaign_rules
from chalicelib.campaigns import shards
from chalicelib.campaigns.rules import Profile
from chalicelib.config import rules
from chalicelib.errors import NotFound, ValidationError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.points import service as points
from chalicelib.points.account import Account
from chalicelib.store import Campaign, Counter, Partner, Subscriber, Voucher
from chalicelib.store.pages import key_names, page

LABEL = "campaign"
MAX_ID_LENGTH = 64

# launched campaigns by id, for claims: everything a claim reads from the
# campaign (price, limit, eligibility, voucher template, shard count) is fixed
# at launch; status and window are read fresh from the shards
_CACHE_SECONDS = 300.0
_CACHE_SIZE = 1_000
_cache: dict[str, tuple[float, Campaign]] = {}
_cache_lock = threading.Lock()


def as_dict(value: Any) -> dict[str, Any]:
    """A map attribute as a plain dict."""
    return dict(value.as_dict() if hasattr(value, "as_dict") else (value or {}))


def body(item: Campaign, stats: dict[str, Any] | None = None) -> dict[str, Any]:
    out: dict[str, Any] = {
        "campaign_id": item.campaign_id,
        "status": item.status,
        "name": item.name,
        "partner_id": item.partner_id,
        "voucher": as_dict(item.voucher),
        "points_price": int(item.points_price),
        "inventory": int(item.inventory),
        "per_subscriber_limit": int(item.per_subscriber_limit),
        "starts_at": item.starts_at,
        "ends_at": item.ends_at,
        "voucher_valid_days": int(item.voucher_valid_days),
        "eligibility": as_dict(item.eligibility),
        "expected_peak_claims_per_second": int(item.expected_peak_claims_per_second or 0),
        "created_at": item.created_at,
        "updated_at": item.updated_at,
    }
    if item.status != "draft":
        out["shard_count"] = int(item.shard_count)
    if stats is not None:
        out["stats"] = stats
    return out


def load(campaign_id: str) -> Campaign:
    if not campaign_id or len(campaign_id) > MAX_ID_LENGTH:
        raise NotFound("No such campaign.")
    try:
        return Campaign.get(campaign_id, consistent_read=True)
    except Campaign.DoesNotExist:
        raise NotFound("No such campaign.") from None


# -- the claim path's cache --------------------------------------------------


def launched(campaign_id: str) -> Campaign | None:
    """The cached definition of a launched campaign, if this function has one."""
    entry = _cache.get(campaign_id)
    return entry[1] if entry and entry[0] > time.monotonic() else None


def remember(item: Campaign) -> None:
    if item.status == "draft":
        return
    with _cache_lock:
        if len(_cache) >= _CACHE_SIZE:
            _cache.clear()
        _cache[item.campaign_id] = (time.monotonic() + _CACHE_SECONDS, item)


# -- create, read, list -------------------------------------------------------


def create_campaign(fields: dict[str, Any], idem: Idempotency | None) -> Reply:
    """A draft campaign (201). `fields` are CampaignIn's; starts_at/ends_at datetimes or ISO strings."""
    voucher = {k: v for k, v in fields["voucher"].items() if v is not None}
    if ("value_vnd" in voucher) == ("percent_off" in voucher):
        raise ValidationError("voucher needs exactly one of value_vnd and percent_off.")
    starts_at, ends_at = _instant(fields["starts_at"]), _instant(fields["ends_at"])
    campaign_rules.check_window(starts_at, ends_at)
    try:
        Partner.get(fields["partner_id"])
    except Partner.DoesNotExist:
        raise ValidationError("partner_id does not name a partner.") from None
    now = clock.iso(clock.now())
    item = Campaign(
        "c_" + secrets.token_hex(10),
        name=fields["name"],
        partner_id=fields["partner_id"],
        voucher=voucher,
        points_price=fields["points_price"],
        inventory=fields["inventory"],
        per_subscriber_limit=fields["per_subscriber_limit"],
        starts_at=starts_at,
        ends_at=ends_at,
        voucher_valid_days=fields["voucher_valid_days"],
        eligibility={k: v for k, v in (fields.get("eligibility") or {}).items() if v},
        expected_peak_claims_per_second=fields.get("expected_peak_claims_per_second") or 0,
        shard_count=0,
        status="draft",
        created_at=now,
        updated_at=now,
    )
    op = store.put(item, condition=Campaign.campaign_id.does_not_exist(), label=LABEL)
    return store.run(lambda _: store.Plan([op], Reply(201, body(item))), idem)


def _instant(value: datetime | str) -> str:
    return clock.iso(clock.parse_iso(value) if isinstance(value, str) else value)


def stats(item: Campaign) -> dict[str, Any]:
    """issued / remaining / reversed summed exactly over the shards; redeemed
    counted on the sparse `redeemed-by-day` index (the redeem transaction
    cannot name the campaign's shard without a read, see docs/flash-sales.md)."""
    if item.status == "draft":
        issued, remaining, reversed_ = 0, int(item.inventory), 0
    else:
        totals = shards.totals(item.campaign_id, int(item.shard_count))
        issued, remaining, reversed_ = totals["issued"], totals["stock"], totals["reversed"]
    redeemed = Voucher.redeemed_index.count(item.campaign_id) if issued else 0
    return {
        "issued": issued,
        "redeemed": redeemed,
        "reversed": reversed_,
        "remaining": remaining,
        "redemption_rate": round(redeemed / issued, 4) if issued else 0.0,
    }


def get(campaign_id: str) -> dict[str, Any]:
    item = load(campaign_id)
    return body(item, stats(item))


def list_campaigns(status: str | None, limit: int, cursor: str | None) -> dict[str, Any]:
    """Newest first, all or those with `status`."""
    if status is not None and status not in campaign_rules.STATUSES:
        raise ValidationError(f"status must be one of {', '.join(campaign_rules.STATUSES)}.")
    if status is None:
        return page(
            lambda **kw: Campaign.by_created.query("campaign", scan_index_forward=False, **kw),
            limit,
            cursor,
            {"catalogue": "campaign"},
            body,
            keys=key_names(Campaign, "by-created"),
        )
    return page(
        lambda **kw: Campaign.by_status.query(status, scan_index_forward=False, **kw),
        limit,
        cursor,
        {"status": status},
        body,
        keys=key_names(Campaign, "by-status"),
    )


# -- changes ------------------------------------------------------------------


def _unchanged(item: Campaign) -> Any:
    return (
        (Campaign.status == item.status) & (Campaign.inventory == item.inventory) & (Campaign.ends_at == item.ends_at)
    )


def transition(campaign_id: str, action: str, idem: Idempotency | None) -> Reply:
    """launch (draft/paused -> active; the first launch creates the shards),
    pause (active -> paused), end (active/paused -> ended); else 409 INVALID_STATE.
    A campaign changed meanwhile (or claims busy on a shard) is decided again."""

    def decide(_: store.Fresh) -> store.Plan:
        item = load(campaign_id)
        target = campaign_rules.next_status(item.status, action)
        now = clock.iso(clock.now())
        actions: list[Any] = [Campaign.status.set(target), Campaign.updated_at.set(now)]
        if item.status == "draft":
            count = campaign_rules.shard_count(int(item.expected_peak_claims_per_second or 0), int(item.inventory))
            actions.append(Campaign.shard_count.set(count))
            stocks = campaign_rules.split(int(item.inventory), count)
            extra = shards.create_ops(campaign_id, stocks, item.starts_at, item.ends_at)
            item.shard_count = count
        else:
            extra = shards.update_ops(campaign_id, int(item.shard_count), status=target, ends_at=item.ends_at)
        op = store.update(Campaign, campaign_id, actions=actions, condition=_unchanged(item), label=LABEL)
        item.status, item.updated_at = target, now
        return store.Plan([op, *extra], Reply(200, body(item)))

    return store.run(decide, idem)


def patch(campaign_id: str, inventory: int | None, ends_at: datetime | None, idem: Idempotency | None) -> Reply:
    """Change inventory or ends_at; after launch inventory only grows (the
    added stock spread over the shards) and the window only lengthens."""

    def decide(_: store.Fresh) -> store.Plan:
        item = load(campaign_id)
        old_inventory = int(item.inventory)
        new_inventory = old_inventory if inventory is None else inventory
        new_ends = item.ends_at if ends_at is None else clock.iso(ends_at)
        campaign_rules.check_patch(item.status, old_inventory, item.ends_at, new_inventory, new_ends)
        campaign_rules.check_window(item.starts_at, new_ends)
        if new_inventory == old_inventory and new_ends == item.ends_at:
            return store.Plan((), Reply(200, body(item)))
        now = clock.iso(clock.now())
        actions = [Campaign.inventory.set(new_inventory), Campaign.ends_at.set(new_ends), Campaign.updated_at.set(now)]
        op = store.update(Campaign, campaign_id, actions=actions, condition=_unchanged(item), label=LABEL)
        extra: list[store.Op] = []
        if item.status in campaign_rules.LAUNCHED:
            count = int(item.shard_count)
            added = campaign_rules.split(new_inventory - old_inventory, count, offset=old_inventory % count)
            extra = shards.update_ops(campaign_id, count, status=item.status, ends_at=new_ends, added=added)
        item.inventory, item.ends_at, item.updated_at = new_inventory, new_ends, now
        return store.Plan([op, *extra], Reply(200, body(item)))

    reply = store.run(decide, idem)
    shards.forget(campaign_id)
    return reply


# -- subscribers ----------------------------------------------------------------


def profile(item: Subscriber, account: Account, today: date) -> Profile:
    """What eligibility looks at: the effective tier, tenure, plan, province, birthday, segments."""
    return Profile(
        tier=account.effective(today).tier.tier,
        tenure_months=account.tenure_months(today),
        plan=item.plan,
        province=item.province,
        birthday=date.fromisoformat(item.birthday) if item.birthday else None,
        segments=frozenset(item.segments or []),
    )


def offers(msisdn: str, limit: int, cursor: str | None) -> dict[str, Any]:
    """Active campaigns inside their window that this subscriber is eligible for now."""
    item = points.load(msisdn)
    now = clock.now()
    today, now_iso = clock.local_date(now), clock.iso(now)
    who = profile(item, points.to_account(item), today)
    in_window = (Campaign.starts_at <= now_iso) & (Campaign.ends_at > now_iso)

    def eligible(campaign: Campaign) -> Campaign | None:
        return campaign if campaign_rules.ineligibility(as_dict(campaign.eligibility), who, today) is None else None

    query: Callable[..., Any] = lambda **kw: Campaign.by_status.query(  # noqa: E731
        "active", filter_condition=in_window, scan_index_forward=False, **kw
    )
    result = page(query, limit, cursor, {"status": "active"}, eligible, keys=key_names(Campaign, "by-status"))
    shown = [c for c in result["items"] if c is not None]
    return {"items": offer_bodies(shown), "next_cursor": result["next_cursor"]}


def catalogue(limit: int) -> list[Campaign]:
    """The newest `limit` active campaigns inside their window, from one Query
    page (eligibility is for the caller to apply, `profile` + `rules.ineligibility`):
    what a channel with no room for paging cursors lists."""
    now_iso = clock.iso(clock.now())
    found = Campaign.by_status.query("active", scan_index_forward=False, limit=limit, page_size=limit)
    return [c for c in found if campaign_rules.claimable(c.status, c.starts_at, c.ends_at, now_iso)]


# -- what a subscriber sees of a campaign ----------------------------------------

# an offer is "few left" when at most this share of its inventory remains (and
# at least FEW_LEFT_MIN vouchers count as few)
FEW_LEFT_SHARE = 0.1
FEW_LEFT_MIN = 10
# per function instance, so a flash sale's offer screens do not read its hot
# shards on every view: partner names (never changed by the API), stock (seconds)
_NAME_SECONDS = 300.0
_STOCK_SECONDS = 10.0
_seen: dict[tuple[str, str], tuple[float, Any]] = {}


def _cached(kind: str, key: str) -> Any | None:
    entry = _seen.get((kind, key))
    return entry[1] if entry and entry[0] > time.monotonic() else None


def _keep(kind: str, key: str, value: Any, seconds: float) -> None:
    with _cache_lock:
        if len(_seen) >= 10 * _CACHE_SIZE:
            _seen.clear()
        _seen[(kind, key)] = (time.monotonic() + seconds, value)


def _names_and_stock(items: list[Campaign]) -> tuple[dict[str, str], dict[str, int]]:
    """Partner names and remaining stock of `items`, from the cache or one
    eventually consistent BatchGetItem (offers are a view, not a claim)."""
    names: dict[str, str] = {}
    stock: dict[str, int] = {}
    for c in items:
        if (name := _cached("partner", c.partner_id)) is not None:
            names[c.partner_id] = name
        if (left := _cached("stock", c.campaign_id)) is not None:
            stock[c.campaign_id] = left
    wanted = sorted({c.partner_id for c in items} - set(names))
    stale = [c for c in items if c.campaign_id not in stock]
    keys: list[Any] = [(Partner, pid, None) for pid in wanted]
    keys += [(Counter, shards.stock_key(c.campaign_id, n), None) for c in stale for n in range(int(c.shard_count))]
    found = store.batch_get(keys, consistent=False) if keys else {}
    for pid in wanted:
        partner = found.get((Partner, pid, None))
        names[pid] = partner.name if partner is not None else ""
        _keep("partner", pid, names[pid], _NAME_SECONDS)
    for c in stale:
        counters = [found.get((Counter, shards.stock_key(c.campaign_id, n), None)) for n in range(int(c.shard_count))]
        stock[c.campaign_id] = sum(int(counter.stock or 0) for counter in counters if counter is not None)
        _keep("stock", c.campaign_id, stock[c.campaign_id], _STOCK_SECONDS)
    return names, stock


def few_left(remaining: int, inventory: int) -> bool:
    return remaining <= max(FEW_LEFT_MIN, int(inventory * FEW_LEFT_SHARE))


def offer_bodies(items: list[Campaign]) -> list[dict[str, Any]]:
    """Campaigns as offers (OfferOut): the partner's name, the voucher, the
    price, the window, the limit and whether few are left; never the marketer's
    fields (partner id, eligibility, shards, expected peak)."""
    names, stock = _names_and_stock(items)
    return [
        {
            "campaign_id": c.campaign_id,
            "name": c.name,
            "partner": {"name": names[c.partner_id]},
            "voucher": as_dict(c.voucher),
            "points_price": int(c.points_price),
            "starts_at": c.starts_at,
            "ends_at": c.ends_at,
            "per_subscriber_limit": int(c.per_subscriber_limit),
            "voucher_valid_days": int(c.voucher_valid_days),
            "few_left": few_left(stock[c.campaign_id], int(c.inventory)),
        }
        for c in items
    ]


# -- per local day (the console's chart) ---------------------------------------------

# the most days one request covers
MAX_DAYS = 366


def _day_arg(text: str | None) -> date | None:
    """A YYYY-MM-DD date in the years 2000-2999 (as every stored time is); else a 400."""
    if not text:
        return None
    try:
        day = date.fromisoformat(text) if len(text) == 10 else None
    except ValueError:
        day = None
    if day is None or not 2000 <= day.year <= 2999:
        raise ValidationError("from and to must be dates (YYYY-MM-DD) in the years 2000 to 2999.")
    return day


def _days(item: Campaign, start: str | None, end: str | None) -> tuple[date, date]:
    """The local days asked for; by default from the window's first day to today,
    stopping when nothing can happen any more (the last voucher's expiry and its
    reversal window), at most MAX_DAYS ending on the last."""
    first, last = _day_arg(start), _day_arg(end)
    today = clock.today()
    quiet_after = clock.local_date(clock.parse_iso(item.ends_at)) + timedelta(
        days=int(item.voucher_valid_days) + rules().reversal_window_days
    )
    last = last or min(today, quiet_after)
    first = first or max(clock.local_date(clock.parse_iso(item.starts_at)), last - timedelta(days=MAX_DAYS - 1))
    if last < first:
        raise ValidationError("to must not be before from.")
    if (last - first).days >= MAX_DAYS:
        raise ValidationError(f"At most {MAX_DAYS} days at once.")
    return first, last


def _midnight(day: date) -> str:
    """The instant local `day` begins, as an ISO UTC string."""
    return clock.iso(datetime(day.year, day.month, day.day, tzinfo=rules().zone))


def daily(campaign_id: str, start: str | None, end: str | None) -> dict[str, Any]:
    """`{items: [{day, issued, redeemed, reversed}]}` for every local day from
    `start` to `end` (YYYY-MM-DD, inclusive), oldest first. issued and reversed
    are the shards' per-day counts (written by the claim and the reversal
    themselves); redeemed counts the vouchers redeemed that day and still
    redeemed, by one Query of the sparse `redeemed-by-day` index, so the days
    add up to the campaign's stats. A draft has no days."""
    item = load(campaign_id)
    if item.status == "draft":
        _day_arg(start), _day_arg(end)  # a bad date is a 400 on a draft too
        return {"items": []}
    first, last = _days(item, start, end)
    counts = shards.per_day(campaign_id, int(item.shard_count))
    low, high = _midnight(first), _midnight(last + timedelta(days=1))
    redeemed: dict[date, int] = {}
    for voucher in Voucher.redeemed_index.query(campaign_id, Voucher.redeemed_at.between(low, high)):
        if voucher.redeemed_at and voucher.redeemed_at < high:
            on = clock.local_date(clock.parse_iso(voucher.redeemed_at))
            redeemed[on] = redeemed.get(on, 0) + 1
    items = []
    for n in range((last - first).days + 1):
        on = first + timedelta(days=n)
        items.append(
            {
                "day": on.isoformat(),
                "issued": counts.get(("issued", on), 0),
                "redeemed": redeemed.get(on, 0),
                "reversed": counts.get(("reversed", on), 0),
            }
        )
    return {"items": items}
