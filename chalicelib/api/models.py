"""Request and response models of the public contract (API.md).

Requests are strictly typed: an integer field takes only a JSON integer (not
`"100"`, `true` or `1.0`), a boolean only `true`/`false`, a date or timestamp
only its ISO 8601 string; unknown fields are refused. Responses refuse unknown
fields too, so a reply that shows more than its model says fails the tests
(tests/conftest.py checks every 2xx body against its route's model), and they
are the one source of the OpenAPI document: each enum is one named component,
nested objects are references, timestamps declare `format: date-time`.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from enum import StrEnum
from typing import Annotated, Any, Literal

from pydantic import BaseModel, BeforeValidator, ConfigDict, Field, StrictBool, StrictInt, field_validator

from chalicelib import errors


class Tier(StrEnum):
    """A tier code, lowest first."""

    potential = "potential"
    loyal = "loyal"
    silver = "silver"
    gold = "gold"
    diamond = "diamond"


class Plan(StrEnum):
    prepaid = "prepaid"
    postpaid = "postpaid"


class Service(StrEnum):
    """What a paid spend event was for (it sets the earning rate)."""

    mobile = "mobile"
    data = "data"
    ftth = "ftth"
    tv = "tv"
    digital = "digital"


class CampaignStatus(StrEnum):
    draft = "draft"
    active = "active"
    paused = "paused"
    ended = "ended"


class VoucherStatus(StrEnum):
    issued = "issued"
    redeemed = "redeemed"
    expired = "expired"
    cancelled = "cancelled"


class LedgerKind(StrEnum):
    earn = "earn"
    tenure_bonus = "tenure_bonus"
    spend = "spend"
    refund = "refund"
    expire = "expire"
    adjust = "adjust"
    forfeit = "forfeit"
    household_left = "household_left"


def _error_codes() -> list[str]:
    """Every code of the one catalogue (`errors.CATALOGUE`), and INTERNAL for a 500."""
    codes = list(errors.CATALOGUE)
    return [*codes, *(c for c in ("INTERNAL",) if c not in codes)]


def _event_types() -> tuple[str, ...]:
    from chalicelib.events.types import EVENT_TYPES

    return EVENT_TYPES


ErrorCode = StrEnum("ErrorCode", {code: code for code in _error_codes()})  # type: ignore[misc]
ErrorCode.__doc__ = "The machine-readable reason of an error answer."


def _iso_text(value: Any) -> Any:
    """Dates and timestamps come as their ISO 8601 strings only (never a number)."""
    if not isinstance(value, str):
        raise ValueError("must be an ISO 8601 string")
    return value


Points = Annotated[StrictInt, Field(ge=0, le=10**12)]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Segment = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Province = Annotated[str, Field(min_length=1, max_length=64)]
IsoDate = Annotated[date, BeforeValidator(_iso_text)]
UtcTimestamp = Annotated[
    datetime,
    BeforeValidator(_iso_text),
    Field(description="ISO 8601 with a time zone, e.g. 2026-11-23T08:00:00Z"),
]
# what the service writes: ISO 8601 UTC with a Z (clock.iso)
_UTC_PATTERN = r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?Z$"
Timestamp = Annotated[
    str,
    Field(
        pattern=_UTC_PATTERN,
        json_schema_extra={"format": "date-time"},
        examples=["2026-11-23T08:00:00.000Z"],
    ),
]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True, use_enum_values=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="forbid")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use Z for UTC)")
    return value


# --- errors ------------------------------------------------------------------


class ErrorBody(Response):
    code: ErrorCode = Field(examples=["SOLD_OUT"])
    message: str = Field(examples=["This campaign has no vouchers left."])


class ErrorResponse(Response):
    error: ErrorBody


class Health(Response):
    status: Literal["ok"]


# --- subscribers and points ----------------------------------------------------


class SubscriberIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "activated_on": "2019-05-14",
                    "plan": "postpaid",
                    "birthday": "1990-08-02",
                    "province": "Ha Noi",
                    "segments": ["high_value"],
                }
            ]
        },
    )
    activated_on: Annotated[IsoDate, Field(ge=date(1990, 1, 1), le=date(2999, 12, 31))]
    plan: Plan
    birthday: IsoDate | None = None
    province: Province | None = None
    segments: list[Segment] = Field(default_factory=list, max_length=50)


class SubscriberOut(Response):
    msisdn: str = Field(examples=["84961234567"])
    activated_on: date
    plan: Plan
    birthday: date | None = None
    province: str | None = None
    segments: list[str] | None = Field(
        default=None, description="The CRM's segments: in the operator's view only, never shown to the subscriber."
    )
    tenure_months: int
    tier: Tier
    created_at: Timestamp
    updated_at: Timestamp


def _bounded_time(value: datetime | None) -> datetime | None:
    """Aware, and in years 2000-2999 (stored as ISO strings that sort in time order)."""
    if value is None:
        return value
    _aware(value)
    if not 2000 <= value.year <= 2999 or not 2000 <= value.astimezone(UTC).year <= 2999:
        raise ValueError("timestamp must be in the years 2000 to 2999")
    return value


class SpendEventIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "event_id": "bill-2026-11-84961234567",
                    "msisdn": "0961234567",
                    "amount_vnd": 350000,
                    "service": "mobile",
                    "occurred_at": "2026-11-20T03:15:00Z",
                }
            ]
        },
    )
    event_id: Annotated[str, Field(min_length=1, max_length=128, pattern=r"^[\x21-\x7e]+$")]
    msisdn: Annotated[str, Field(min_length=9, max_length=20)]
    amount_vnd: Annotated[StrictInt, Field(ge=0, le=10**11)]
    service: Service
    occurred_at: UtcTimestamp

    _bounded = field_validator("occurred_at")(_bounded_time)


class Earned(Response):
    rank_points: int
    spendable_points: int


class SpendEventOut(Response):
    event_id: str
    msisdn: str
    earned: Earned
    tier: Tier


class Expiring(Response):
    on: date
    points: int


class PointsHousehold(Response):
    household_id: str
    pool_balance: int = Field(description="Spendable points in the household's pool (every member's batches).")
    can_spend: bool = Field(description="Whether this member may spend from the pool.")


class PointsOut(Response):
    msisdn: str
    balance: int
    rank_points: int
    tier: Tier
    tier_cycle_ends_on: date | None
    next_tier: Tier | None
    rank_points_to_next_tier: int | None
    expiring: list[Expiring] = Field(description="Points that will expire, by date, soonest first.")
    household: PointsHousehold | None = Field(default=None, description="The household this subscriber is in, if any.")


class LedgerEntryOut(Response):
    entry_id: str
    kind: LedgerKind
    points: int
    balance_after: int
    at: Timestamp
    ref: str | None = Field(
        description="What caused the entry (the spend event, the date, ...). An adjustment's reason is "
        "the staff's note, shown to operators only: null in the subscriber's own view."
    )


class LedgerPage(Response):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class AdjustmentIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"points": -2000, "reason": "Duplicate bonus reversed by support (ticket 8812)"}]
        },
    )
    points: Annotated[StrictInt, Field(ge=-(10**9), le=10**9)]
    reason: Annotated[str, Field(min_length=3, max_length=500)]

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("points must not be 0")
        return value


# --- partners ------------------------------------------------------------------


class PartnerIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Highlands Coffee"}]})
    name: ShortText


_KEY_ONCE = "The key, shown only in this response (null when an Idempotency-Key replays it: rotate for a new one)."


class PartnerOut(Response):
    partner_id: str
    name: str
    api_key: str | None = Field(description=_KEY_ONCE)


class ApiKeyOut(Response):
    api_key: str | None = Field(description=_KEY_ONCE)


# --- campaigns -----------------------------------------------------------------


class VoucherTemplate(Request):
    title: ShortText
    value_vnd: Annotated[StrictInt, Field(gt=0, le=10**10)] | None = None
    percent_off: Annotated[StrictInt, Field(gt=0, le=100)] | None = None
    terms: Annotated[str, Field(max_length=2000)] | None = None


class Eligibility(Request):
    min_tier: Tier | None = None
    min_tenure_months: Annotated[StrictInt, Field(ge=0, le=1200)] | None = None
    plans: list[Plan] | None = None
    provinces: list[Province] | None = Field(default=None, max_length=100)
    birthday_month: StrictBool = False
    segments: list[Segment] | None = Field(default=None, max_length=50)


class CampaignIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Free coffee for loyal subscribers",
                    "partner_id": "p_ca145e757cfb3633",
                    "voucher": {"title": "One free iced coffee", "value_vnd": 45000},
                    "points_price": 2000,
                    "inventory": 10000,
                    "per_subscriber_limit": 1,
                    "starts_at": "2026-12-01T01:00:00Z",
                    "ends_at": "2026-12-31T16:59:59Z",
                    "voucher_valid_days": 14,
                    "eligibility": {"min_tier": "loyal", "plans": ["prepaid", "postpaid"]},
                    "expected_peak_claims_per_second": 5000,
                }
            ]
        },
    )
    name: ShortText
    partner_id: Annotated[str, Field(min_length=1, max_length=64)]
    voucher: VoucherTemplate
    points_price: Annotated[StrictInt, Field(ge=0, le=10**9)]
    inventory: Annotated[StrictInt, Field(ge=1, le=10**8)]
    per_subscriber_limit: Annotated[StrictInt, Field(ge=1, le=1000)] = 1
    starts_at: UtcTimestamp
    ends_at: UtcTimestamp
    voucher_valid_days: Annotated[StrictInt, Field(ge=1, le=3650)]
    eligibility: Eligibility = Field(default_factory=Eligibility)
    expected_peak_claims_per_second: Annotated[StrictInt, Field(ge=0, le=100_000)] = 0

    _window = field_validator("starts_at", "ends_at")(_bounded_time)


class CampaignPatch(Request):
    """After launch, inventory can only grow and the window only lengthen."""

    inventory: Annotated[StrictInt, Field(ge=1, le=10**8)] | None = None
    ends_at: UtcTimestamp | None = None

    _window = field_validator("ends_at")(_bounded_time)


class CampaignStats(Response):
    issued: int
    redeemed: int
    reversed: int
    remaining: int
    redemption_rate: float


class VoucherTerms(Response):
    """The voucher a campaign issues: a value in VND or a percentage off."""

    title: str
    value_vnd: int | None = None
    percent_off: int | None = None
    terms: str | None = None


class EligibilityRules(Response):
    """Who may claim (a rule left out admits everyone)."""

    min_tier: Tier | None = None
    min_tenure_months: int | None = None
    plans: list[Plan] | None = None
    provinces: list[str] | None = None
    birthday_month: bool | None = None
    segments: list[str] | None = None


class CampaignOut(Response):
    campaign_id: str
    status: CampaignStatus
    name: str
    partner_id: str
    voucher: VoucherTerms
    points_price: int
    inventory: int
    per_subscriber_limit: int
    starts_at: Timestamp
    ends_at: Timestamp
    voucher_valid_days: int
    eligibility: EligibilityRules
    expected_peak_claims_per_second: int | None = None
    shard_count: int | None = Field(default=None, description="Inventory shards, from launch on.")
    created_at: Timestamp | None = None
    updated_at: Timestamp | None = None
    stats: CampaignStats | None = None


class CampaignPage(Response):
    items: list[CampaignOut]
    next_cursor: str | None


class ClaimIn(Request):
    pass


class VoucherOut(Response):
    code: str = Field(examples=["7KQ2-M9XD-4RTW-0CZP-X"])
    campaign_id: str
    status: VoucherStatus
    expires_at: Timestamp
    title: str | None = None
    issued_at: Timestamp | None = None
    value_vnd: int | None = None
    percent_off: int | None = None


class ClaimOut(Response):
    voucher: VoucherOut
    balance: int


class GrantIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"msisdns": ["0961234567", "84971112233"]}]})
    msisdns: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(min_length=1, max_length=1000)


class GrantResult(Response):
    msisdn: str
    status: Literal["issued"] | ErrorCode = Field(
        description='"issued", or the error code this subscriber got (SOLD_OUT, LIMIT_REACHED, ...).'
    )
    code: str | None = Field(default=None, description="The issued voucher's code.")


class GrantOut(Response):
    results: list[GrantResult]


class WalletPage(Response):
    items: list[VoucherOut]
    next_cursor: str | None


class OfferPartner(Response):
    name: str


class OfferOut(Response):
    """A campaign as the subscriber sees it in the app: what it gives, what it
    costs, when and how often it can be claimed, and whether it is running out."""

    campaign_id: str
    name: str
    partner: OfferPartner
    voucher: VoucherTerms
    points_price: int
    starts_at: Timestamp
    ends_at: Timestamp
    per_subscriber_limit: int
    voucher_valid_days: int
    few_left: bool = Field(description="Few vouchers are left (from the inventory, refreshed every few seconds).")


class OffersOut(Response):
    items: list[OfferOut]
    next_cursor: str | None


class PartnerVoucherOut(Response):
    code: str
    status: VoucherStatus
    title: str
    value_vnd: int | None = None
    percent_off: int | None = None
    expires_at: Timestamp


class RedemptionIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"code": "1R2X-WFE4-8G94-B8YH-N", "order_ref": "POS-2026-000123", "store_id": "HN-042"}]
        },
    )
    code: Annotated[str, Field(min_length=1, max_length=64)]
    order_ref: Annotated[str, Field(min_length=1, max_length=128)]
    store_id: Annotated[str, Field(min_length=1, max_length=64)] | None = None


class RedemptionOut(Response):
    redemption_id: str
    code: str
    order_ref: str
    redeemed_at: Timestamp
    store_id: str | None = None
    reversed_at: Timestamp | None = None


class ReversalOut(Response):
    redemption_id: str
    reversed_at: Timestamp
    voucher_status: VoucherStatus = Field(
        description="issued again; expired if it expired meanwhile; cancelled if the number has a new owner since."
    )


class RedemptionPage(Response):
    items: list[RedemptionOut]
    next_cursor: str | None


# --- households ----------------------------------------------------------------


class HouseholdRole(StrEnum):
    owner = "owner"
    member = "member"


class HouseholdMemberOut(Response):
    msisdn: str
    role: HouseholdRole
    can_spend: bool
    joined_at: Timestamp
    contributed_points: int = Field(description="This member's remaining batches in the pool.")


class HouseholdOut(Response):
    household_id: str
    owner: str
    members: list[HouseholdMemberOut]
    pool_balance: int


class InvitationIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"msisdn": "0971112233"}]})
    msisdn: Annotated[str, Field(min_length=9, max_length=20)]


class InvitationOut(Response):
    household_id: str
    msisdn: str
    expires_at: Timestamp


class MemberPatch(Request):
    can_spend: StrictBool


class MemberRemovedOut(Response):
    msisdn: str
    returned_points: int = Field(description="The member's own remaining batches, back in their balance.")


# --- channels: USSD and SMS gateways ---------------------------------------------


class Channel(StrEnum):
    """What a gateway carries."""

    ussd = "ussd"
    sms = "sms"


class GatewayIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"name": "Operator USSD centre", "channel": "ussd"}]})
    name: ShortText
    channel: Channel


class GatewayOut(Response):
    gateway_id: str
    name: str
    channel: Channel
    api_key: str | None = Field(description=_KEY_ONCE.replace("rotate", "create another gateway"))


# a phone number as a gateway passes it: digits, an optional +, separators
GatewayNumber = Annotated[str, Field(min_length=1, max_length=32, pattern=r"^\+?[0-9 ().\-]+$")]


class UssdIn(Request):
    """The USSD centre's callback, form-encoded, one per screen of a session."""

    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"sessionId": "ATUid_0123", "serviceCode": "*098#", "phoneNumber": "+84961234567", "text": ""}]
        },
    )
    session_id: Annotated[str, Field(alias="sessionId", min_length=1, max_length=128)]
    service_code: Annotated[str, Field(alias="serviceCode", min_length=1, max_length=32)]
    phone_number: Annotated[
        GatewayNumber,
        Field(
            alias="phoneNumber",
            description="The caller's number in any accepted MSISDN form; one that is not a subscriber's "
            "is answered `END` with a short explanation.",
        ),
    ]
    text: Annotated[
        str,
        Field(
            max_length=512,
            description="Empty on the first screen, then every input of the session joined by `*` (`2*1*1`).",
        ),
    ]


class SmsIn(Request):
    """One inbound SMS, as the SMS centre forwards it."""

    model_config = ConfigDict(
        json_schema_extra={"examples": [{"message_id": "mo-2026-0001", "from": "0961234567", "text": "diem"}]},
    )
    message_id: Annotated[str, Field(min_length=1, max_length=128)]
    sender: Annotated[GatewayNumber, Field(alias="from", description="The sender's number, any MSISDN form.")]
    text: Annotated[str, Field(max_length=1600)]


class SmsOut(Response):
    message_id: str
    reply: str = Field(description="The reply, also sent to `from` as an outbound SMS (at most 306 GSM characters).")


# --- events and webhooks (API.md "Events and webhooks") ---------------------------

EventType = StrEnum("EventType", {t: t for t in _event_types()})  # type: ignore[misc]
EventType.__doc__ = (
    "The type of an event (API.md); partners receive only voucher.redeemed, voucher.reversed, campaign.*."
)


class WebhookStatus(StrEnum):
    """disabled: its receiver answered 410 Gone."""

    enabled = "enabled"
    disabled = "disabled"


class DeliveryStatus(StrEnum):
    pending = "pending"
    delivered = "delivered"
    failed = "failed"


class EventData(Response):
    """What an event is about; each type carries its own fields (a partner's
    view never a subscriber's MSISDN)."""

    model_config = ConfigDict(extra="forbid", populate_by_name=True)
    msisdn: str | None = None
    entry_id: str | None = None
    kind: LedgerKind | None = None
    points: int | None = None
    rank_points: int | None = None
    balance_after: int | None = None
    ref: str | None = None
    on: date | None = Field(default=None, description="points.expiring: the date the points expire after.")
    from_: Tier | CampaignStatus | None = Field(default=None, alias="from")
    to: Tier | None = None
    code: str | None = None
    campaign_id: str | None = None
    partner_id: str | None = None
    title: str | None = None
    value_vnd: int | None = None
    percent_off: int | None = None
    source: str | None = None
    issued_at: Timestamp | None = None
    expires_at: Timestamp | None = None
    redemption_id: str | None = None
    redeemed_at: Timestamp | None = None
    status: VoucherStatus | CampaignStatus | None = None
    name: str | None = None
    issued: int | None = Field(default=None, description="campaign.sold_out: vouchers issued in all.")
    household_id: str | None = None
    returned_points: int | None = Field(
        default=None, description="household.left: the member's own batches taken back (0 for a recycled number)."
    )
    # network products: product.fulfilled / product.refunded (`name` and `points` above: the product's and its price)
    order_id: str | None = None
    product_id: str | None = None
    product_kind: ProductKind | None = None
    sku: str | None = None
    settled_at: Timestamp | None = None
    reference: str | None = Field(default=None, description="product.fulfilled: the charging system's reference.")
    reason: str | None = Field(default=None, description="product.refunded: why the charging system refused.")
    forfeited: bool | None = Field(
        default=None, description="product.refunded: the number was recycled since; the refund went with its owner."
    )


class EventOut(Response):
    id: str = Field(examples=["evt_mfrggzdfmztwq2lknnwg23tpobyxe43u"])
    type: EventType
    timestamp: Timestamp
    data: EventData


class EventPage(Response):
    items: list[EventOut]
    next_cursor: str | None = Field(description="Pass as `after` to read on (also when this page is empty).")


class WebhookIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [{"url": "https://crm.example.com/hooks/diem", "events": ["tier.changed", "points.expiring"]}]
        },
    )
    url: Annotated[str, Field(min_length=1, max_length=2048)]
    events: list[EventType] = Field(min_length=1, max_length=len(_event_types()))


class WebhookOut(Response):
    webhook_id: str
    url: str
    events: list[EventType]
    status: WebhookStatus
    created_at: Timestamp
    disabled_at: Timestamp | None = None


class WebhookCreated(WebhookOut):
    secret: str | None = Field(
        description="whsec_ + base64 of 32 random bytes, shown only here (null when an Idempotency-Key replays it)."
    )


class WebhookPage(Response):
    items: list[WebhookOut]
    next_cursor: str | None


class WebhookSecretOut(Response):
    secret: str | None = Field(description="The new secret, shown only here; the previous one signs for 24 h more.")


class DeliveryOut(Response):
    event_id: str
    type: EventType
    status: DeliveryStatus
    attempts: int
    last_status_code: int | None
    next_attempt_at: Timestamp | None
    created_at: Timestamp


class DeliveryPage(Response):
    items: list[DeliveryOut]
    next_cursor: str | None


# --- network products: the catalogue and orders for points --------------------------


class ProductKind(StrEnum):
    """What the charging system provisions."""

    data = "data"
    voice = "voice"
    airtime = "airtime"


class ProductStatus(StrEnum):
    active = "active"


class ProductOrderStatus(StrEnum):
    """`pending` until the charging system definitely answers: `fulfilled`
    (provisioned) or `refunded` (refused: the points back, with their expiry dates)."""

    pending = "pending"
    fulfilled = "fulfilled"
    refunded = "refunded"


class ProductIn(Request):
    model_config = ConfigDict(
        json_schema_extra={
            "examples": [
                {
                    "name": "Data 2 GB / 7 days",
                    "kind": "data",
                    "sku": "DATA_2GB_7D",
                    "points_price": 5000,
                    "validity_days": 7,
                }
            ]
        },
    )
    name: ShortText
    kind: ProductKind
    sku: Annotated[
        str,
        Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_.\-]+$", description="The charging system's code."),
    ]
    points_price: Annotated[StrictInt, Field(ge=1, le=10**9)]
    validity_days: Annotated[StrictInt, Field(ge=0, le=3650, description="0: no validity period (airtime).")]


class ProductOut(Response):
    product_id: str
    name: str
    kind: ProductKind
    sku: str
    points_price: int
    validity_days: int
    status: ProductStatus
    created_at: Timestamp


class ProductPage(Response):
    items: list[ProductOut]
    next_cursor: str | None


class ProductOrderIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"product_id": "prd_3f9a0c1b2d4e5f60718a"}]})
    product_id: Annotated[str, Field(min_length=1, max_length=64)]


class ProductOrderOut(Response):
    order_id: str
    product_id: str
    status: ProductOrderStatus
    points: int = Field(description="The points the order cost.")
    balance: int = Field(description="The subscriber's spendable balance now.")
    created_at: Timestamp
    name: str | None = None
    kind: ProductKind | None = None
    settled_at: Timestamp | None = Field(default=None, description="When it became fulfilled or refunded.")


# -- people's surfaces: the console (GET /v1/campaigns/{id}/daily, the dev sign-in, its config) --


class CampaignDay(Response):
    """One local day (Asia/Ho_Chi_Minh) of a campaign."""

    day: date
    issued: int = Field(description="Vouchers issued that day (claims and grants).")
    redeemed: int = Field(description="Vouchers redeemed that day and not reversed since.")
    reversed: int = Field(description="Redemptions reversed that day.")


class CampaignDailyOut(Response):
    items: list[CampaignDay]


class OidcBearer(StrEnum):
    """Which token of the identity provider's answer the console sends as its bearer token."""

    id_token = "id_token"  # noqa: S105 (a name of a token, not a secret)
    access_token = "access_token"  # noqa: S105


class SignInRole(StrEnum):
    """The roles a development sign-in can take (a partner signs in with its API key)."""

    subscriber = "subscriber"
    marketer = "marketer"
    operator = "operator"


class ConsoleOidc(Response):
    """OpenID Connect (authorization code with PKCE) against the identity provider."""

    authorization_url: str
    token_url: str
    client_id: str
    scope: str
    bearer: OidcBearer = Field(description="The token of the answer sent as bearer token.")


class ConsoleConfigOut(Response):
    stage: str
    dev_sign_in: bool = Field(description="Whether POST /v1/dev/sign-in exists here (local dev only).")
    oidc: ConsoleOidc | None


class DevSignInIn(Request):
    model_config = ConfigDict(json_schema_extra={"examples": [{"role": "marketer", "subject": "alice"}]})
    role: SignInRole
    subject: Annotated[str, Field(min_length=1, max_length=64, description="An MSISDN for a subscriber.")]


class DevSignInOut(Response):
    token: str
    role: str
    subject: str
    expires_at: Timestamp
