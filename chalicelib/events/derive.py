"""The events of one committed change, from its old and new images (pure).

What becomes an event (API.md "Events and webhooks"):

- ledger, an entry written: `points.earned` (earn, tenure_bonus), `points.spent`,
  `points.adjusted`, `points.refunded`, `points.expired`, `points.forfeited`;
- subscribers, the same owner's tier differs: `tier.changed` `{msisdn, from, to}`;
- vouchers, written: `voucher.issued`; issued -> redeemed: `voucher.redeemed`;
  redeemed -> issued / expired / cancelled: `voucher.reversed` (with the status
  it went back to); issued -> expired / cancelled: `voucher.expired` / `voucher.cancelled`;
- campaigns, status -> active / paused / ended: `campaign.launched` (from draft,
  or resumed), `campaign.paused`, `campaign.ended`;
- counters, an inventory shard's stock reaching 0: a `SoldOutProbe` (the
  events function reads the shards: `campaign.sold_out` once every one is empty).

Each id is derived from the change itself: a ledger entry's key, a voucher's
code (with the redemption for redeemed / reversed), or the commit kernel's
attempt stamp on the item (campaigns) and the account's sequence number
(subscribers), which every commit writes anew. Anything else (profile
updates, claims counters, a recycled number's new owner) yields nothing.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from chalicelib.clock import iso
from chalicelib.events.ids import event_id, ledger_event_id, voucher_event_id
from chalicelib.vouchers.codes import display

# the attribute the commit kernel stamps on every item it writes (store.kernel.STAMP)
KERNEL_STAMP = "_rq"

LEDGER_TYPES = {
    "earn": "points.earned",
    "tenure_bonus": "points.earned",
    "spend": "points.spent",
    "adjust": "points.adjusted",
    "refund": "points.refunded",
    "expire": "points.expired",
    "forfeit": "points.forfeited",
}
CAMPAIGN_TRANSITIONS = {"active": "campaign.launched", "paused": "campaign.paused", "ended": "campaign.ended"}


@dataclass(frozen=True)
class Change:
    """One stream record: the table (without prefix), INSERT / MODIFY / REMOVE,
    the images as plain values, and when it was committed."""

    table: str
    name: str
    old: dict[str, Any] | None
    new: dict[str, Any] | None
    at: datetime


@dataclass(frozen=True)
class Event:
    """An event as the operator sees it; `partner_id`: the partner whose
    campaign it concerns (it sees its own view of the partner types)."""

    id: str
    type: str
    timestamp: str
    data: dict[str, Any]
    partner_id: str | None = None

    def body(self) -> dict[str, Any]:
        return {"type": self.type, "timestamp": self.timestamp, "data": self.data}


@dataclass(frozen=True)
class SoldOutProbe:
    """A shard of this campaign ran out: sold out if every shard has."""

    campaign_id: str
    at: datetime = field(compare=False)


Derived = Event | SoldOutProbe


def derive(change: Change) -> list[Derived]:
    """Every event the change yields (none for most changes)."""
    deriver = _DERIVERS.get(change.table)
    return deriver(change) if deriver is not None else []


def _ledger(change: Change) -> list[Derived]:
    new = change.new
    if change.name != "INSERT" or new is None:
        return []  # an entry is written once and never changed
    kind = str(new.get("kind", ""))
    if kind not in LEDGER_TYPES:
        return []
    data = {
        "msisdn": new["msisdn"],
        "entry_id": new["entry_id"],
        "kind": kind,
        "points": int(new.get("points", 0)),
        "rank_points": int(new.get("rank_points", 0)),
        "balance_after": int(new.get("balance_after", 0)),
        "ref": new.get("ref"),
    }
    return [Event(ledger_event_id(new["owner_id"], new["entry_id"]), LEDGER_TYPES[kind], iso(change.at), data)]


def _subscriber(change: Change) -> list[Derived]:
    old, new = change.old, change.new
    if change.name != "MODIFY" or old is None or new is None or old.get("owner_id") != new.get("owner_id"):
        return []  # a new profile, or a recycled number's new owner, changes no one's tier
    before, after = old.get("tier") or "potential", new.get("tier") or "potential"
    if before == after:
        return []
    eid = event_id("tier.changed", str(new["owner_id"]), str(new.get("seq", 0)), str(new.get(KERNEL_STAMP, "")))
    return [Event(eid, "tier.changed", iso(change.at), {"msisdn": new["msisdn"], "from": before, "to": after})]


def _voucher_data(item: dict[str, Any]) -> dict[str, Any]:
    return {
        "code": display(str(item["code"])),
        "campaign_id": item["campaign_id"],
        "partner_id": item["partner_id"],
        "msisdn": item["msisdn"],
    }


def _voucher(change: Change) -> list[Derived]:
    old, new, at = change.old, change.new, iso(change.at)
    if new is None:
        return []
    code, partner = str(new["code"]), str(new["partner_id"])
    if change.name == "INSERT":
        data = {
            **_voucher_data(new),
            "title": new.get("title"),
            "value_vnd": new.get("value_vnd"),
            "percent_off": new.get("percent_off"),
            "source": new.get("source"),
            "issued_at": new.get("issued_at"),
            "expires_at": new.get("expires_at"),
        }
        return [Event(voucher_event_id("voucher.issued", code), "voucher.issued", at, data, partner)]
    if change.name != "MODIFY" or old is None or old.get("status") == new.get("status"):
        return []
    before, after = old.get("status"), new.get("status")
    if before == "issued" and after == "redeemed":
        redemption = str(new.get("redemption_id", ""))
        data = {**_voucher_data(new), "redemption_id": redemption, "redeemed_at": new.get("redeemed_at")}
        return [Event(voucher_event_id("voucher.redeemed", code, redemption), "voucher.redeemed", at, data, partner)]
    if before == "redeemed":
        redemption = str(old.get("redemption_id", ""))
        data = {**_voucher_data(new), "redemption_id": redemption, "status": after}
        return [Event(voucher_event_id("voucher.reversed", code, redemption), "voucher.reversed", at, data, partner)]
    if before == "issued" and after in ("expired", "cancelled"):
        kind = f"voucher.{after}"
        return [Event(voucher_event_id(kind, code), kind, at, _voucher_data(new), partner)]
    return []


def _campaign(change: Change) -> list[Derived]:
    old, new = change.old, change.new
    if change.name != "MODIFY" or old is None or new is None or old.get("status") == new.get("status"):
        return []
    kind = CAMPAIGN_TRANSITIONS.get(str(new.get("status")))
    if kind is None:
        return []
    campaign_id = str(new["campaign_id"])
    eid = event_id(kind, campaign_id, str(new.get(KERNEL_STAMP) or new.get("updated_at", "")))
    data = {"campaign_id": campaign_id, "name": new.get("name"), "status": new["status"], "from": old.get("status")}
    return [Event(eid, kind, iso(change.at), data, str(new["partner_id"]))]


def _counter(change: Change) -> list[Derived]:
    old, new = change.old, change.new
    if change.name != "MODIFY" or old is None or new is None:
        return []
    kind, _, rest = str(new.get("counter_id", "")).partition("#")
    campaign_id, _, shard = rest.rpartition("#")
    if kind != "stock" or not campaign_id or not shard.isdigit():
        return []
    if int(old.get("stock") or 0) > 0 and int(new.get("stock") or 0) == 0:
        return [SoldOutProbe(campaign_id, change.at)]
    return []


def sold_out(campaign: dict[str, Any], shards: list[dict[str, Any]], at: datetime) -> Event | None:
    """`campaign.sold_out` when every shard of the campaign is empty. Its id
    names how many vouchers were issued by then: the same sell-out seen from
    two shards is one event; a sell-out after the inventory grew is another."""
    if len(shards) < int(campaign.get("shard_count") or 0) or any(int(s.get("stock") or 0) > 0 for s in shards):
        return None
    issued = sum(int(s.get("issued") or 0) for s in shards)
    campaign_id = str(campaign["campaign_id"])
    data = {
        "campaign_id": campaign_id,
        "name": campaign.get("name"),
        "status": campaign.get("status"),
        "issued": issued,
    }
    eid = event_id("campaign.sold_out", campaign_id, str(issued))
    return Event(eid, "campaign.sold_out", iso(at), data, str(campaign["partner_id"]))


_DERIVERS = {
    "ledger": _ledger,
    "subscribers": _subscriber,
    "vouchers": _voucher,
    "campaigns": _campaign,
    "counters": _counter,
}
