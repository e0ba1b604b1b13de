"""Request and response models of the public contract (API.md).

Requests reject unknown fields and check ranges; responses document what the
service returns and feed the OpenAPI document.
"""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator

Points = Annotated[int, Field(ge=0, le=10**12)]
Plan = Literal["prepaid", "postpaid"]
Service = Literal["mobile", "data", "ftth", "tv", "digital"]
Tier = Literal["potential", "loyal", "silver", "gold", "diamond"]
ShortText = Annotated[str, Field(min_length=1, max_length=200)]
Segment = Annotated[str, Field(min_length=1, max_length=64, pattern=r"^[A-Za-z0-9_\-]+$")]
Province = Annotated[str, Field(min_length=1, max_length=64)]
UtcTimestamp = Annotated[datetime, Field(description="ISO 8601 with a time zone, e.g. 2026-11-23T08:00:00Z")]


class Request(BaseModel):
    model_config = ConfigDict(extra="forbid", strict=False, str_strip_whitespace=True)


class Response(BaseModel):
    model_config = ConfigDict(extra="allow")


def _aware(value: datetime) -> datetime:
    if value.tzinfo is None:
        raise ValueError("timestamp needs a time zone (use Z for UTC)")
    return value


# --- errors ------------------------------------------------------------------


class ErrorBody(BaseModel):
    code: str = Field(examples=["SOLD_OUT"])
    message: str = Field(examples=["This campaign has no vouchers left."])


class ErrorResponse(BaseModel):
    error: ErrorBody


class Health(Response):
    status: Literal["ok"]


# --- subscribers and points ----------------------------------------------------


class SubscriberIn(Request):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
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
    activated_on: Annotated[date, Field(ge=date(1990, 1, 1), le=date(2999, 12, 31))]
    plan: Plan
    birthday: date | None = None
    province: Province | None = None
    segments: list[Segment] = Field(default_factory=list, max_length=50)


class SubscriberOut(Response):
    msisdn: str = Field(examples=["84961234567"])
    activated_on: date
    plan: Plan
    birthday: date | None = None
    province: str | None = None
    segments: list[str]
    tenure_months: int
    tier: Tier
    created_at: str
    updated_at: str


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
        extra="forbid",
        str_strip_whitespace=True,
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
    amount_vnd: Annotated[int, Field(ge=0, le=10**11)]
    service: Service
    occurred_at: UtcTimestamp

    _bounded = field_validator("occurred_at")(_bounded_time)


class Earned(BaseModel):
    rank_points: int
    spendable_points: int


class SpendEventOut(Response):
    event_id: str
    msisdn: str
    earned: Earned
    tier: Tier


class Expiring(BaseModel):
    on: date
    points: int


class PointsOut(Response):
    msisdn: str
    balance: int
    rank_points: int
    tier: Tier
    tier_cycle_ends_on: date | None
    next_tier: Tier | None
    rank_points_to_next_tier: int | None
    expiring: list[Expiring]


class LedgerEntryOut(Response):
    entry_id: str
    kind: Literal["earn", "tenure_bonus", "spend", "refund", "expire", "adjust", "forfeit"]
    points: int
    balance_after: int
    at: str
    ref: str | None


class LedgerPage(Response):
    items: list[LedgerEntryOut]
    next_cursor: str | None


class AdjustmentIn(Request):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={
            "examples": [{"points": -2000, "reason": "Duplicate bonus reversed by support (ticket 8812)"}]
        },
    )
    points: Annotated[int, Field(ge=-(10**9), le=10**9)]
    reason: Annotated[str, Field(min_length=3, max_length=500)]

    @field_validator("points")
    @classmethod
    def _not_zero(cls, value: int) -> int:
        if value == 0:
            raise ValueError("points must not be 0")
        return value


# --- partners ------------------------------------------------------------------


class PartnerIn(Request):
    model_config = ConfigDict(
        extra="forbid", str_strip_whitespace=True, json_schema_extra={"examples": [{"name": "Highlands Coffee"}]}
    )
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
    value_vnd: Annotated[int, Field(gt=0, le=10**10)] | None = None
    percent_off: Annotated[int, Field(gt=0, le=100)] | None = None
    terms: Annotated[str, Field(max_length=2000)] | None = None


class Eligibility(Request):
    min_tier: Tier | None = None
    min_tenure_months: Annotated[int, Field(ge=0, le=1200)] | None = None
    plans: list[Plan] | None = None
    provinces: list[Province] | None = Field(default=None, max_length=100)
    birthday_month: bool = False
    segments: list[Segment] | None = Field(default=None, max_length=50)


class CampaignIn(Request):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
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
    points_price: Annotated[int, Field(ge=0, le=10**9)]
    inventory: Annotated[int, Field(ge=1, le=10**8)]
    per_subscriber_limit: Annotated[int, Field(ge=1, le=1000)] = 1
    starts_at: UtcTimestamp
    ends_at: UtcTimestamp
    voucher_valid_days: Annotated[int, Field(ge=1, le=3650)]
    eligibility: Eligibility = Field(default_factory=Eligibility)
    expected_peak_claims_per_second: Annotated[int, Field(ge=0, le=100_000)] = 0

    _window = field_validator("starts_at", "ends_at")(_bounded_time)


class CampaignPatch(Request):
    """After launch, inventory can only grow and the window only lengthen."""

    inventory: Annotated[int, Field(ge=1, le=10**8)] | None = None
    ends_at: UtcTimestamp | None = None

    _window = field_validator("ends_at")(_bounded_time)


class CampaignStats(BaseModel):
    issued: int
    redeemed: int
    reversed: int
    remaining: int
    redemption_rate: float


class CampaignOut(Response):
    campaign_id: str
    status: Literal["draft", "active", "paused", "ended"]
    name: str
    partner_id: str
    voucher: dict
    points_price: int
    inventory: int
    per_subscriber_limit: int
    starts_at: str
    ends_at: str
    voucher_valid_days: int
    eligibility: dict
    expected_peak_claims_per_second: int | None = None
    shard_count: int | None = Field(default=None, description="Inventory shards, from launch on.")
    created_at: str | None = None
    updated_at: str | None = None
    stats: CampaignStats | None = None


class CampaignPage(Response):
    items: list[CampaignOut]
    next_cursor: str | None


class ClaimIn(Request):
    pass


class VoucherOut(Response):
    code: str = Field(examples=["7KQ2-M9XD-4RTW-0CZP-X"])
    campaign_id: str
    status: Literal["issued", "redeemed", "expired", "cancelled"]
    expires_at: str
    title: str | None = None
    issued_at: str | None = None
    value_vnd: int | None = None
    percent_off: int | None = None


class ClaimOut(Response):
    voucher: VoucherOut
    balance: int


class GrantIn(Request):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
        json_schema_extra={"examples": [{"msisdns": ["0961234567", "84971112233"]}]},
    )
    msisdns: list[Annotated[str, Field(min_length=1, max_length=32)]] = Field(min_length=1, max_length=1000)


class GrantResult(BaseModel):
    msisdn: str
    status: str = Field(description='"issued", or the error code for this subscriber (SOLD_OUT, LIMIT_REACHED, ...)')
    code: str | None = None


class GrantOut(Response):
    results: list[GrantResult]


class WalletPage(Response):
    items: list[VoucherOut]
    next_cursor: str | None


class OffersOut(Response):
    items: list[CampaignOut]
    next_cursor: str | None


class PartnerVoucherOut(Response):
    code: str
    status: Literal["issued", "redeemed", "expired", "cancelled"]
    title: str
    value_vnd: int | None = None
    percent_off: int | None = None
    expires_at: str


class RedemptionIn(Request):
    model_config = ConfigDict(
        extra="forbid",
        str_strip_whitespace=True,
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
    redeemed_at: str
    store_id: str | None = None
    reversed_at: str | None = None


class ReversalOut(Response):
    redemption_id: str
    reversed_at: str
    voucher_status: Literal["issued", "expired"]


class RedemptionPage(Response):
    items: list[RedemptionOut]
    next_cursor: str | None
