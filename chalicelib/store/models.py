"""PynamoDB models: the one source of truth for every table, key, index and TTL.

`infra/`, the dev server and the tests all derive their tables from `MODELS`
(see `store.schema`). Table names are `<prefix><base name>`; `store.bind()`
points the models at the configured prefix and endpoint.
"""

from __future__ import annotations

import re
from datetime import date
from typing import TYPE_CHECKING, Any, cast

from pynamodb.attributes import (
    Attribute,
    ListAttribute,
    MapAttribute,
    NumberAttribute,
    TTLAttribute,
    UnicodeAttribute,
)
from pynamodb.constants import MAP, NUMBER
from pynamodb.indexes import (
    AllProjection,
    GlobalSecondaryIndex,
    KeysOnlyProjection,
)

from chalicelib.store.pynamo import BoundModel

if TYPE_CHECKING:
    from chalicelib.store.pynamo import BoundMeta


class _Meta:
    billing_mode = "PAY_PER_REQUEST"
    region = "ap-southeast-1"
    host = None


_Model = BoundModel


# what a table's change stream carries (store.schema and infra/ read it from the Meta)
STREAM_VIEW = "NEW_AND_OLD_IMAGES"


def _meta(base_name: str, *, stream: bool = False) -> BoundMeta:
    # a class standing for PynamoDB's Meta protocol: its metaclass fills in the settings not given here
    settings: dict[str, Any] = {"base_name": base_name, "table_name": base_name}
    if stream:
        # events flow out of this table's change stream (chalicelib/events), never out of the handlers
        settings["stream_view_type"] = STREAM_VIEW
    return cast("BoundMeta", type("Meta", (_Meta,), settings))


def _gsi(name: str, projection: type = AllProjection) -> type:
    return type("Meta", (), {"index_name": name, "projection": projection()})


class CountsAttribute(Attribute[dict[str, int]]):
    """Whole numbers by key (points by expiry date, rank points by month), stored
    as a DynamoDB map of numbers and read as a plain `dict[str, int]`.

    The same bytes as a `MapAttribute` of numbers, without its per-key objects:
    the balance item is read and written on every accrual and claim."""

    attr_type = MAP

    def serialize(self, value: dict[str, int]) -> dict[str, dict[str, str]]:
        return {key: {NUMBER: str(int(count))} for key, count in value.items()}

    def deserialize(self, value: dict[str, dict[str, str]]) -> dict[str, int]:
        return {key: int(number[NUMBER]) for key, number in value.items()}


# --- subscribers -------------------------------------------------------------


class ExpiryDueIndex(GlobalSecondaryIndex["Subscriber"]):
    """Sparse: subscribers whose earliest points bucket expires on `<date>#<shard>`."""

    Meta = _gsi("expiry-due", KeysOnlyProjection)
    expiry_due = UnicodeAttribute(hash_key=True)
    msisdn = UnicodeAttribute(range_key=True)


class AnniversaryDueIndex(GlobalSecondaryIndex["Subscriber"]):
    """Sparse: subscribers whose next tenure anniversary is `<date>#<shard>`."""

    Meta = _gsi("anniversary-due", KeysOnlyProjection)
    anniversary_due = UnicodeAttribute(hash_key=True)
    msisdn = UnicodeAttribute(range_key=True)


class ReviewDueIndex(GlobalSecondaryIndex["Subscriber"]):
    """Sparse: subscribers whose tier cycle ends in month `<yyyy-mm>#<shard>`."""

    Meta = _gsi("review-due", KeysOnlyProjection)
    review_due = UnicodeAttribute(hash_key=True)
    msisdn = UnicodeAttribute(range_key=True)


class Subscriber(_Model):
    """Profile, balance (spendable points by expiry date), rank points by month, tier.

    One item per MSISDN, so the points read is one GetItem and every balance
    change is one conditional update guarded by `seq` (the ledger sequence).
    """

    Meta = _meta("subscribers", stream=True)
    msisdn = UnicodeAttribute(hash_key=True)
    owner_id = UnicodeAttribute()
    activated_on = UnicodeAttribute()
    plan = UnicodeAttribute()
    birthday = UnicodeAttribute(null=True)
    province = UnicodeAttribute(null=True)
    segments = cast("ListAttribute[str]", ListAttribute(of=UnicodeAttribute, default=list))  # PynamoDB#1246
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    seq = NumberAttribute(default=0)
    balance = NumberAttribute(default=0)
    buckets = CountsAttribute(default=dict)
    rank = CountsAttribute(default=dict)
    tier = UnicodeAttribute(default="potential")
    tier_since = UnicodeAttribute(null=True)
    tier_cycle_ends_on = UnicodeAttribute(null=True)
    next_anniversary = UnicodeAttribute(null=True)
    expiry_due = UnicodeAttribute(null=True)
    anniversary_due = UnicodeAttribute(null=True)
    review_due = UnicodeAttribute(null=True)
    # the ledger's reading order (chalicelib/points/chain.py): the newest ids short of a block, the newest seal
    ledger_open = cast("ListAttribute[str]", ListAttribute(of=UnicodeAttribute, default=list))
    ledger_sealed = UnicodeAttribute(null=True)
    # -- households (chalicelib/households): the household this owner is in, the
    # batches they contributed to its pool (expiry date -> points, still theirs:
    # taken back on leaving, forfeited on recycling) and the day they last left one
    household_id = UnicodeAttribute(null=True)
    pool = CountsAttribute(default=dict)
    household_left_on = UnicodeAttribute(null=True)
    # channels: when this owner sent TC (no notification SMS until DK); a recycled
    # number's new owner starts without it (the recycling writes a new item)
    sms_opt_out_at = UnicodeAttribute(null=True)
    expiry_due_index = ExpiryDueIndex()
    anniversary_due_index = AnniversaryDueIndex()
    review_due_index = ReviewDueIndex()


# --- ledger ------------------------------------------------------------------


class LedgerEntry(_Model):
    """One balance change. `entry_id` is derived from what caused it
    (`earn:<event_id>`, `expire:<date>`, ...), so the entry is its own dedupe;
    `seq` orders an owner's entries. No index: an index copy would cost every
    accrual another write unit. The reading order is a chain of blocks
    instead: an entry that fills a block stores the ids of its block and the
    previous such entry (chalicelib/points/chain.py, docs/data-model.md)."""

    Meta = _meta("ledger", stream=True)
    owner_id = UnicodeAttribute(hash_key=True)
    entry_id = UnicodeAttribute(range_key=True)
    seq = NumberAttribute()
    msisdn = UnicodeAttribute()
    kind = UnicodeAttribute()
    points = NumberAttribute()
    rank_points = NumberAttribute(default=0)
    balance_after = NumberAttribute()
    tier_after = UnicodeAttribute(null=True)
    at = UnicodeAttribute()
    ref = UnicodeAttribute(null=True)
    detail: MapAttribute[str, Any] = MapAttribute(default=dict)
    block = cast("ListAttribute[str]", ListAttribute(of=UnicodeAttribute, null=True))
    prev_block = UnicodeAttribute(null=True)


# --- campaigns and counters --------------------------------------------------


class CampaignsByStatus(GlobalSecondaryIndex["Campaign"]):
    Meta = _gsi("by-status", AllProjection)
    status = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class CampaignsByCreation(GlobalSecondaryIndex["Campaign"]):
    """Every campaign, newest first (`catalogue` is the constant "campaign")."""

    Meta = _gsi("by-created", AllProjection)
    catalogue = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Campaign(_Model):
    """A marketer's campaign definition and lifecycle status."""

    Meta = _meta("campaigns", stream=True)
    campaign_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    voucher: MapAttribute[str, Any] = MapAttribute(default=dict)
    points_price = NumberAttribute()
    inventory = NumberAttribute()
    per_subscriber_limit = NumberAttribute()
    starts_at = UnicodeAttribute()
    ends_at = UnicodeAttribute()
    voucher_valid_days = NumberAttribute()
    eligibility: MapAttribute[str, Any] = MapAttribute(default=dict)
    expected_peak_claims_per_second = NumberAttribute(default=0)
    shard_count = NumberAttribute(default=1)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    catalogue = UnicodeAttribute(default="campaign")
    by_status = CampaignsByStatus()
    by_created = CampaignsByCreation()


class Counter(_Model):
    """Exact counters kept off hot keys: inventory shards (`stock#<campaign>#<n>`,
    with the issued/reversed counts of that shard, in all and per local day, and a
    copy of the campaign's status and window, so a claim never touches the campaign item), claims per
    subscriber (`claims#<campaign>#<msisdn>`, counting for `owner_id` only),
    unknown-code attempts (`unknown#<partner>#<hour>`)."""

    Meta = _meta("counters", stream=True)
    counter_id = UnicodeAttribute(hash_key=True)
    stock = NumberAttribute(null=True)
    issued = NumberAttribute(null=True)
    reversed = NumberAttribute(null=True)
    # the item's count; shadows Model.count(), which no code calls on Counter
    count = NumberAttribute(null=True)  # type: ignore[assignment]
    status = UnicodeAttribute(null=True)
    starts_at = UnicodeAttribute(null=True)
    ends_at = UnicodeAttribute(null=True)
    owner_id = UnicodeAttribute(null=True)
    expires_at = TTLAttribute(null=True)
    # -- job checkpoints (`job#<job>#<run>#<partition>#<first key>`, chalicelib/jobs/checkpoint.py):
    # the last key done (`count` done so far, `status` running | done), keys that failed,
    # and the last key of the task's page (the next page is another task's)
    cursor = UnicodeAttribute(null=True)
    failed = NumberAttribute(null=True)
    last_key = UnicodeAttribute(null=True)

    # -- per local day counts of an inventory shard (the console's daily figures): one
    # top-level number per day and kind, `i<yymmdd>` issued and `r<yymmdd>` reversed,
    # added by the claim's and the reversal's own shard update (ADD creates a missing
    # attribute, so shards launched before these existed take them too). Not declared:
    # one attribute per day; `from_raw_data` keeps them in `day_counts`.

    @classmethod
    def day(cls, kind: str, day: date) -> NumberAttribute:
        """The attribute counting `kind` ("issued" or "reversed") on local `day`."""
        return NumberAttribute(attr_name=f"{DAY_KINDS[kind]}{day:%y%m%d}")

    @classmethod
    def from_raw_data(cls, data: dict[str, Any]) -> Counter:
        item = super().from_raw_data(data)
        counts: dict[tuple[str, date], int] = {}
        for name, value in data.items():
            found = _DAY_ATTRIBUTE.fullmatch(name)
            if found and "N" in value:
                kind = _DAY_KIND_NAMES[found.group(1)]
                on = date(2000 + int(found.group(2)), int(found.group(3)), int(found.group(4)))
                counts[(kind, on)] = int(value["N"])
        setattr(item, "_day_counts", counts)  # noqa: B010 (not a PynamoDB attribute)
        return item

    def day_counts(self) -> dict[tuple[str, date], int]:
        """(kind, local day) -> count, as read (empty for an item made here)."""
        counts: dict[tuple[str, date], int] = getattr(self, "_day_counts", {})
        return counts


DAY_KINDS = {"issued": "i", "reversed": "r"}
_DAY_KIND_NAMES = {short: kind for kind, short in DAY_KINDS.items()}
_DAY_ATTRIBUTE = re.compile(r"([ir])(\d\d)(\d\d)(\d\d)")


# --- vouchers and redemptions ------------------------------------------------


class VouchersByOwner(GlobalSecondaryIndex["Voucher"]):
    """A subscriber's wallet, newest first. Keys only: a status change (redeem,
    reversal, expiry) then writes nothing to the index; the wallet reads the
    vouchers themselves in one BatchGetItem per page."""

    Meta = _gsi("by-owner", KeysOnlyProjection)
    owner_id = UnicodeAttribute(hash_key=True)
    issued_at = UnicodeAttribute(range_key=True)


class VoucherExpiryDueIndex(GlobalSecondaryIndex["Voucher"]):
    """Sparse: issued vouchers expiring on `<date>#<shard>`."""

    Meta = _gsi("expiry-due", KeysOnlyProjection)
    expiry_due = UnicodeAttribute(hash_key=True)
    code = UnicodeAttribute(range_key=True)


class VouchersRedeemedByCampaign(GlobalSecondaryIndex["Voucher"]):
    """Sparse: the vouchers of a campaign currently redeemed, in redemption
    order (`redeemed_campaign` is copied from `campaign_id` and `redeemed_at`
    set by the redeem update itself). Keyed by `redeemed_at` so the console's
    per-day figures are one Query (it replaced `redeemed-by-campaign`, keyed by
    `code`, at the same index cost per redeem: docs/data-model.md)."""

    Meta = _gsi("redeemed-by-day", KeysOnlyProjection)
    redeemed_campaign = UnicodeAttribute(hash_key=True)
    redeemed_at = UnicodeAttribute(range_key=True)


class Voucher(_Model):
    """An issued voucher; `code` is the normalised code without hyphens."""

    Meta = _meta("vouchers", stream=True)
    code = UnicodeAttribute(hash_key=True)
    campaign_id = UnicodeAttribute()
    partner_id = UnicodeAttribute()
    msisdn = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    shard = NumberAttribute()
    status = UnicodeAttribute()
    title = UnicodeAttribute()
    value_vnd = NumberAttribute(null=True)
    percent_off = NumberAttribute(null=True)
    issued_at = UnicodeAttribute()
    expires_at = UnicodeAttribute()
    source = UnicodeAttribute()
    redemption_id = UnicodeAttribute(null=True)
    redeemed_at = UnicodeAttribute(null=True)
    redeemed_campaign = UnicodeAttribute(null=True)
    expiry_due = UnicodeAttribute(null=True)
    by_owner = VouchersByOwner()
    expiry_due_index = VoucherExpiryDueIndex()
    redeemed_index = VouchersRedeemedByCampaign()


class RedemptionsByPartner(GlobalSecondaryIndex["Redemption"]):
    """A partner's redemptions over time, for settlement."""

    Meta = _gsi("by-partner", AllProjection)
    partner_id = UnicodeAttribute(hash_key=True)
    redeemed_at = UnicodeAttribute(range_key=True)


class Redemption(_Model):
    """One redemption; written by the redeem transaction, which knows only the
    code (no pre-read), so the campaign is found through the voucher."""

    Meta = _meta("redemptions")
    redemption_id = UnicodeAttribute(hash_key=True)
    partner_id = UnicodeAttribute()
    code = UnicodeAttribute()
    campaign_id = UnicodeAttribute(null=True)
    shard = NumberAttribute(null=True)
    order_ref = UnicodeAttribute()
    store_id = UnicodeAttribute(null=True)
    redeemed_at = UnicodeAttribute()
    reversed_at = UnicodeAttribute(null=True)
    by_partner = RedemptionsByPartner()


# --- partners and keys -------------------------------------------------------


class Partner(_Model):
    Meta = _meta("partners")
    partner_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    key_hashes = cast("ListAttribute[str]", ListAttribute(of=UnicodeAttribute, default=list))  # PynamoDB#1246
    created_at = UnicodeAttribute()


class ApiKey(_Model):
    """A partner API key, stored only as its SHA-256; looked up by that hash."""

    Meta = _meta("api-keys")
    key_hash = UnicodeAttribute(hash_key=True)
    partner_id = UnicodeAttribute()
    created_at = UnicodeAttribute()
    # set when the key is rotated out; DynamoDB's TTL removes it later, the
    # authorizer refuses it from this instant on
    expires_at = TTLAttribute(null=True)


# --- idempotency -------------------------------------------------------------


class IdempotencyRecord(_Model):
    """The stored response of a mutating request, written in the same
    transaction as the business write it answers for."""

    Meta = _meta("idempotency")
    idempotency_id = UnicodeAttribute(hash_key=True)
    payload_hash = UnicodeAttribute()
    status_code = NumberAttribute()
    body = UnicodeAttribute()
    created_at = UnicodeAttribute()
    expires_at = TTLAttribute()


# --- households ----------------------------------------------------------------


class Household(_Model):
    """A household: its owner, members (msisdn -> {owner_id, role, can_spend,
    joined_at}) and open invitations (msisdn -> expires_at). The pool itself
    is the members' contributed batches, on their own subscriber items
    (`Subscriber.pool`), so an accrual touches only the member's item; every
    change here bumps `version`, and a spend from the pool is conditional on it."""

    Meta = _meta("households")
    household_id = UnicodeAttribute(hash_key=True)
    owner = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    status = UnicodeAttribute(default="active")
    members: MapAttribute[str, Any] = MapAttribute(default=dict)
    invitations: MapAttribute[str, Any] = MapAttribute(default=dict)
    version = NumberAttribute(default=0)
    created_at = UnicodeAttribute()


# --- channels (USSD and SMS gateways) ------------------------------------------


class Gateway(_Model):
    """A channel gateway (the operator's USSD or SMS centre, an aggregator),
    stored only as the SHA-256 of its key, looked up by that hash; one channel each."""

    Meta = _meta("gateways")
    key_hash = UnicodeAttribute(hash_key=True)
    gateway_id = UnicodeAttribute()
    name = UnicodeAttribute()
    channel = UnicodeAttribute()
    created_at = UnicodeAttribute()


class UssdSession(_Model):
    """One USSD session of one gateway (`session_key` = SHA-256 of the gateway id
    and its sessionId): the number and owner it began with, what eligibility
    looks at, and the offers as first listed, so `2*k` means the same offer on
    every later screen and every repeat of the session. Kept briefly (TTL)."""

    Meta = _meta("ussd-sessions")
    session_key = UnicodeAttribute(hash_key=True)
    msisdn = UnicodeAttribute()
    owner_id = UnicodeAttribute(null=True)
    profile: MapAttribute[str, Any] = MapAttribute(null=True)
    # [{id, name, price, eligibility}], newest first: the campaigns as first listed
    offers: ListAttribute[Any] = ListAttribute(null=True)
    # network products: [{id, name, price}], the data packs as first listed (`5*k` means one pack)
    packs: ListAttribute[Any] = ListAttribute(null=True)
    created_at = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


# --- events, webhooks and notifications (chalicelib/events, webhooks, notify) ----


class EventFeed(GlobalSecondaryIndex["Event"]):
    """A caller's events in the order they were written: `feed` is
    `operator#<n>` (the operator's feed, spread over shards) or
    `partner#<partner_id>`; `position` is `<written at>#<event id>`."""

    Meta = _gsi("feed", AllProjection)
    feed = UnicodeAttribute(hash_key=True)
    position = UnicodeAttribute(range_key=True)


class Event(_Model):
    """One event as one audience sees it (`operator`, or `partner#<id>` with the
    partner's view of the data). `event_id` is derived from the change itself,
    so writing it again (a re-read stream record) is refused by its condition.
    Its own stream feeds the webhook deliveries and the notifications."""

    Meta = _meta("events", stream=True)
    event_id = UnicodeAttribute(hash_key=True)
    audience = UnicodeAttribute(range_key=True)
    type = UnicodeAttribute()
    timestamp = UnicodeAttribute()
    data = UnicodeAttribute()  # the event's data as JSON text, exactly as delivered
    feed = UnicodeAttribute()
    position = UnicodeAttribute()
    expires_at = TTLAttribute()
    feed_index = EventFeed()


class Webhook(_Model):
    """An endpoint of one owner (`operator:<sub>` or `partner:<id>`), stored in
    its audience's partition so one Query finds whom an event goes to.
    `secrets` is JSON: the sealed signing secrets, the newest first, each with
    the instant it stops signing (null for the current one)."""

    Meta = _meta("webhooks")
    audience = UnicodeAttribute(hash_key=True)
    webhook_id = UnicodeAttribute(range_key=True)
    owner = UnicodeAttribute()
    url = UnicodeAttribute()
    events = cast("ListAttribute[str]", ListAttribute(of=UnicodeAttribute, default=list))  # PynamoDB#1246
    status = UnicodeAttribute()
    secrets = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    disabled_at = UnicodeAttribute(null=True)
    disabled_reason = UnicodeAttribute(null=True)


class Delivery(_Model):
    """One event to one endpoint, newest last (`position` is the event's). An
    attempt is claimed first (`lease_id` until `lease_until`), so two copies of
    a queue message never post the same attempt twice at once."""

    Meta = _meta("deliveries")
    webhook_id = UnicodeAttribute(hash_key=True)
    position = UnicodeAttribute(range_key=True)
    audience = UnicodeAttribute()
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    body = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    last_status_code = NumberAttribute(null=True)
    last_error = UnicodeAttribute(null=True)
    next_attempt_at = UnicodeAttribute(null=True)
    lease_id = UnicodeAttribute(null=True)
    lease_until = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    expires_at = TTLAttribute()


class Notification(_Model):
    """One SMS to a subscriber, at most one per cause (`notification_id` is the
    cause's event id): pending -> sending -> sent, or skipped / failed / unknown."""

    Meta = _meta("notifications")
    notification_id = UnicodeAttribute(hash_key=True)
    event_id = UnicodeAttribute()
    type = UnicodeAttribute()
    msisdn = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    text = UnicodeAttribute()
    status = UnicodeAttribute()
    attempts = NumberAttribute(default=0)
    due_at = UnicodeAttribute()
    created_at = UnicodeAttribute()
    updated_at = UnicodeAttribute()
    sent_at = UnicodeAttribute(null=True)
    reason = UnicodeAttribute(null=True)
    expires_at = TTLAttribute()


# --- network products: the catalogue and the orders (chalicelib/products) -------------


class ProductsListed(GlobalSecondaryIndex["Product"]):
    """Sparse: the active catalogue, newest first (`listed` is "active" while it is)."""

    Meta = _gsi("listed", AllProjection)
    listed = UnicodeAttribute(hash_key=True)
    created_at = UnicodeAttribute(range_key=True)


class Product(_Model):
    """An operator product priced in points (a data pack, voice minutes, airtime);
    `sku` is what the charging system provisions."""

    Meta = _meta("products")
    product_id = UnicodeAttribute(hash_key=True)
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    sku = UnicodeAttribute()
    points_price = NumberAttribute()
    validity_days = NumberAttribute()
    status = UnicodeAttribute()
    listed = UnicodeAttribute(null=True)
    created_at = UnicodeAttribute()
    listed_index = ProductsListed()


class ProductOrdersPending(GlobalSecondaryIndex["ProductOrder"]):
    """Sparse: orders still `pending`, by `pending#<shard>`, for the settlement job."""

    Meta = _gsi("pending", KeysOnlyProjection)
    settle_due = UnicodeAttribute(hash_key=True)
    order_id = UnicodeAttribute(range_key=True)


class ProductOrder(_Model):
    """One order of a product for points. Written `pending` with the debit (one
    transaction), then `fulfilled` (provisioned) or `refunded` (refused: the
    points back with their original expiry dates, `taken`), each change
    conditional on `pending`. `settle_due` keys the pending index while pending."""

    Meta = _meta("product-orders", stream=True)  # product.fulfilled / product.refunded (chalicelib/events)
    order_id = UnicodeAttribute(hash_key=True)
    msisdn = UnicodeAttribute()
    owner_id = UnicodeAttribute()
    product_id = UnicodeAttribute()
    name = UnicodeAttribute()
    kind = UnicodeAttribute()
    sku = UnicodeAttribute()
    points = NumberAttribute()
    # points the debit took by bucket expiry date: what a refund restores
    taken = CountsAttribute(default=dict)
    status = UnicodeAttribute()
    created_at = UnicodeAttribute()
    settled_at = UnicodeAttribute(null=True)
    # the charging system's answer: "provisioned" or "refused" (with its reason)
    charging: MapAttribute[str, Any] = MapAttribute(null=True)
    # a refund to an owner who no longer holds the number: forfeited with it
    forfeited = NumberAttribute(null=True)
    settle_due = UnicodeAttribute(null=True)
    settle_attempts = NumberAttribute(default=0)
    settle_after = UnicodeAttribute(null=True)
    pending_index = ProductOrdersPending()


MODELS: tuple[type[BoundModel], ...] = (
    Subscriber,
    LedgerEntry,
    Campaign,
    Counter,
    Voucher,
    Redemption,
    Partner,
    ApiKey,
    IdempotencyRecord,
    Household,
    Gateway,
    UssdSession,
    Event,
    Webhook,
    Delivery,
    Notification,
    # network products
    Product,
    ProductOrder,
)
