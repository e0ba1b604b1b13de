"""The event types of API.md, who sees which, and what a partner sees of one.

An operator sees every event with all its data; a partner sees only
`voucher.redeemed`, `voucher.reversed` and `campaign.*` of its own campaigns,
through an allow-list of fields: a subscriber's MSISDN (or any other field
not named here) never reaches a partner.
"""

from __future__ import annotations

from typing import Any

POINTS_TYPES = (
    "points.earned",
    "points.spent",
    "points.adjusted",
    "points.refunded",
    "points.expired",
    "points.forfeited",
    "points.expiring",
)
VOUCHER_TYPES = ("voucher.issued", "voucher.redeemed", "voucher.reversed", "voucher.expired", "voucher.cancelled")
CAMPAIGN_TYPES = ("campaign.launched", "campaign.paused", "campaign.ended", "campaign.sold_out")
# named by API.md for households and network products; their issues derive them
LATER_TYPES = ("household.joined", "household.left", "product.fulfilled", "product.refunded")
EVENT_TYPES: tuple[str, ...] = (*POINTS_TYPES, "tier.changed", *VOUCHER_TYPES, *CAMPAIGN_TYPES, *LATER_TYPES)

# what a partner may subscribe to and read, and of each exactly these fields
_CAMPAIGN_FIELDS = ("campaign_id", "name", "status", "from", "issued")
PARTNER_FIELDS: dict[str, tuple[str, ...]] = {
    "voucher.redeemed": ("code", "campaign_id", "redemption_id", "redeemed_at"),
    "voucher.reversed": ("code", "campaign_id", "redemption_id", "status"),
    **{kind: _CAMPAIGN_FIELDS for kind in CAMPAIGN_TYPES},
}
PARTNER_TYPES: tuple[str, ...] = tuple(PARTNER_FIELDS)

OPERATOR = "operator"


def partner_audience(partner_id: str) -> str:
    return f"partner#{partner_id}"


def audience_of(role: str, subject: str) -> str:
    """The audience whose events a caller reads: the operator's, or its own partner's."""
    return OPERATOR if role == "operator" else partner_audience(subject)


def types_for(role: str) -> tuple[str, ...]:
    return EVENT_TYPES if role == "operator" else PARTNER_TYPES


def partner_view(kind: str, data: dict[str, Any]) -> dict[str, Any] | None:
    """What the campaign's partner sees of an event, or None if it sees nothing of it."""
    fields = PARTNER_FIELDS.get(kind)
    if fields is None:
        return None
    return {name: data[name] for name in fields if name in data}
