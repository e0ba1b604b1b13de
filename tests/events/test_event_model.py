"""Every kind of change becomes exactly its events (API.md "Events and
webhooks"), checked against a model written from API.md and the replies of
the calls that made the changes, not from the derivation's code.

On the embedded engine, through the API (Chalice's test client) and the
scheduled jobs; the local pipeline (dev.events) reads moto's change streams
over HTTP and feeds the product's own events function. A stream read again
from its start yields no new event.
"""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from receivers import T0, MovingClock

from chalicelib import clock
from chalicelib.jobs import due
from chalicelib.store import Event as EventItem
from chalicelib.vouchers import service as vouchers
from conftest import MARKETER, OPERATOR, auth

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("no_dns")]

A, B = "84961234567", "84971112233"
N = 3  # each repeated kind of change, committed N times
PARTNER_TYPES = {"voucher.redeemed", "voucher.reversed", "campaign.launched", "campaign.paused", "campaign.ended",
                 "campaign.sold_out"}  # fmt: skip


class Model:
    """The events API.md says the calls made must yield: (type, what identifies it)."""

    def __init__(self) -> None:
        self.expected: Counter[tuple[Any, ...]] = Counter()
        self.partner: Counter[tuple[Any, ...]] = Counter()
        self.tiers: dict[str, str] = {}

    def add(self, kind: str, *key: Any, partner: bool = False) -> None:
        self.expected[(kind, *key)] += 1
        if partner:
            self.partner[(kind, *key)] += 1

    def tier(self, msisdn: str, now: str) -> None:
        before = self.tiers.get(msisdn, "potential")
        if now != before:
            self.add("tier.changed", msisdn, before, now)
        self.tiers[msisdn] = now


def key_of(event: dict[str, Any]) -> tuple[Any, ...]:
    """What identifies an event of the feed, in the model's terms."""
    kind, data = event["type"], event["data"]
    if kind.startswith("points."):
        return (kind, data["msisdn"], data.get("points"))
    if kind == "tier.changed":
        return (kind, data["msisdn"], data["from"], data["to"])
    if kind == "voucher.reversed":
        return (kind, data["code"], data["status"])
    if kind.startswith("voucher."):
        return (kind, data["code"])
    return (kind, data["campaign_id"])


def campaign_body(partner_id: str, **fields: Any) -> dict[str, Any]:
    return {
        "name": "Coffee",
        "partner_id": partner_id,
        "voucher": {"title": "Cà phê sữa đá", "value_vnd": 25_000},
        "points_price": 100,
        "inventory": 10,
        "per_subscriber_limit": 5,
        "starts_at": clock.iso(T0 - timedelta(days=1)),
        "ends_at": clock.iso(T0 + timedelta(days=60)),
        "voucher_valid_days": 30,
        **fields,
    }


def read_feed(api: Any, headers: Any, moving: MovingClock, limit: int = 7) -> list[dict[str, Any]]:
    """The whole feed, page by page through the cursor (the settle time passed first)."""
    moving.advance(10)
    found: list[dict[str, Any]] = []
    after = None
    for _ in range(100):
        query = f"?limit={limit}" + (f"&after={after}" if after else "")
        page = api.get(f"/v1/events{query}", headers=headers, expect=200).data
        found += page["items"]
        assert page["next_cursor"], "a feed always says where to read on"
        if not page["items"]:
            return found
        after = page["next_cursor"]
    raise AssertionError("the feed did not end")


def test_every_change_yields_exactly_its_events(engine_api, pump, moving):
    api, model = engine_api, Model()
    for msisdn in (A, B):
        api.put(f"/v1/subscribers/{msisdn}", {"activated_on": "2020-01-15", "plan": "prepaid"}, headers=OPERATOR,
                expect=201)  # fmt: skip

    # earning N times (the second reaches loyal: one tier change)
    for n in range(N):
        moving.advance(1)
        body = {"event_id": f"bill-{n}", "msisdn": A, "amount_vnd": 100_000, "service": "mobile",
                "occurred_at": clock.iso(moving.now - timedelta(hours=1))}  # fmt: skip
        reply = api.post("/v1/spend-events", body, headers=OPERATOR, expect=201).data
        model.add("points.earned", A, reply["earned"]["spendable_points"])
        model.tier(A, reply["tier"])
    # the same event again is the same event: nothing new
    api.post("/v1/spend-events", body, headers=OPERATOR, expect=200)
    data = {"event_id": "data-1", "msisdn": A, "amount_vnd": 20_000, "service": "data",
            "occurred_at": clock.iso(moving.now)}  # fmt: skip
    reply = api.post("/v1/spend-events", data, headers=OPERATOR, expect=201).data
    data_points = reply["earned"]["spendable_points"]
    model.add("points.earned", A, data_points)
    for points in (700, -200, 300):
        api.post(f"/v1/subscribers/{B}/adjustments", {"points": points, "reason": "support"}, headers=OPERATOR,
                 expect=201)  # fmt: skip
        model.add("points.adjusted", B, points)

    # a partner's campaigns: one sells out after N claims, one is launched, paused, resumed, ended
    partner = api.post("/v1/partners", {"name": "Shop"}, headers=MARKETER, expect=201).data
    key = {"X-Api-Key": partner["api_key"]}
    sells_out = api.post("/v1/campaigns", campaign_body(partner["partner_id"], inventory=N), headers=MARKETER,
                         expect=201).data["campaign_id"]  # fmt: skip
    cycled = api.post("/v1/campaigns", campaign_body(partner["partner_id"]), headers=MARKETER,
                      expect=201).data["campaign_id"]  # fmt: skip
    api.post(f"/v1/campaigns/{sells_out}/launch", headers=MARKETER, expect=200)
    model.add("campaign.launched", sells_out, partner=True)
    codes = []
    for _ in range(N):
        moving.advance(1)
        claim = api.post(f"/v1/campaigns/{sells_out}/claims", headers=auth("subscriber", A), expect=201).data
        codes.append(claim["voucher"]["code"])
        model.add("voucher.issued", claim["voucher"]["code"])
        model.add("points.spent", A, -100)
    model.add("campaign.sold_out", sells_out, partner=True)
    for action, kind in (("launch", "launched"), ("pause", "paused"), ("launch", "launched")):
        moving.advance(1)
        api.post(f"/v1/campaigns/{cycled}/{action}", headers=MARKETER, expect=200)
        model.add(f"campaign.{kind}", cycled, partner=True)
    granted = api.post(f"/v1/campaigns/{cycled}/grants", {"msisdns": [B]}, headers=MARKETER, expect=200).data
    granted_code = granted["results"][0]["code"]
    model.add("voucher.issued", granted_code)
    api.post(f"/v1/campaigns/{cycled}/end", headers=MARKETER, expect=200)
    model.add("campaign.ended", cycled, partner=True)

    # redemptions (N - 1), one of them reversed
    redemptions = []
    for code in codes[: N - 1]:
        moving.advance(1)
        done = api.post("/v1/redemptions", {"code": code, "order_ref": f"o-{code}"}, headers=key, expect=201).data
        redemptions.append(done["redemption_id"])
        model.add("voucher.redeemed", code, partner=True)
    reversed_ = api.post(f"/v1/redemptions/{redemptions[0]}/reversal", headers=key, expect=200).data
    model.add("voucher.reversed", codes[0], reversed_["voucher_status"], partner=True)

    # B's number recycled: its points forfeited, its issued voucher cancelled
    api.put(f"/v1/subscribers/{B}", {"activated_on": "2026-11-01", "plan": "prepaid"}, headers=OPERATOR, expect=200)
    model.add("points.forfeited", B, -800)
    model.add("voucher.cancelled", granted_code)

    # the jobs: A's two unredeemed vouchers expire; then its data points do
    moving.to(datetime(2026, 12, 11, 3, tzinfo=UTC))
    assert vouchers.expire_vouchers()["vouchers"] == 2
    for code in (codes[0], codes[N - 1]):
        model.add("voucher.expired", code)
    moving.to(datetime(2027, 1, 1, 3, tzinfo=UTC))
    assert due.expire_points()["subscribers"] == 1
    # FEFO: the claims took their points from the data bucket, the one expiring first
    model.add("points.expired", A, -(data_points - N * 100))

    pump.run_until_idle()
    assert pump.streams.dead_letters == []
    feed = read_feed(api, OPERATOR, moving)
    ids = [e["id"] for e in feed]
    assert len(ids) == len(set(ids)), "an event id appears twice in the feed"
    assert Counter(key_of(e) for e in feed) == model.expected
    partner_feed = read_feed(api, key, moving, limit=3)
    assert Counter(key_of(e) for e in partner_feed) == model.partner
    assert {e["type"] for e in partner_feed} <= PARTNER_TYPES
    assert all("msisdn" not in e["data"] for e in partner_feed)
    # the feed is in the order the events were written, the same ids for both audiences
    assert {e["id"] for e in partner_feed} <= set(ids)
    positions = [i.position for i in EventItem.scan(EventItem.audience == "operator")]
    assert len(positions) == len(feed)

    # the streams read again from their start: not one event more
    items = EventItem.count()
    sent = len(pump.queue.sent)
    for shards in pump.streams.shards.values():
        for shard in shards:
            shard.iterator = None
    assert pump.run_until_idle() > 0
    assert EventItem.count() == items
    assert len(pump.queue.sent) == sent
    assert pump.streams.dead_letters == []
