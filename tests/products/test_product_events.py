"""Product orders through the events pipeline (the local one, dev.events, on the
embedded engine's change streams): each order settled is exactly one
`product.fulfilled` or `product.refunded` event, with the points' own events
beside it (`points.spent`, `points.refunded`); a pending order is none until
the settlement settles it; reading the streams again adds nothing; operators
only; reconcile --events finds each one's event."""

from __future__ import annotations

import dataclasses
import json
from collections import Counter

import pytest
from products.shop import CATALOGUE, subscriber

from chalicelib.points import service as points
from chalicelib.products import catalogue, orders, settlement
from chalicelib.store import Event as EventItem
from conftest import OPERATOR
from ops import reconcile

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("no_dns")]

ME = "84961234567"


def feed(api, moving, kinds: str) -> list[dict]:
    moving.advance(10)  # past the feed's settle time
    return api.get(f"/v1/events?types={kinds}&limit=50", headers=OPERATOR, expect=200).data["items"]


def test_each_order_settled_is_one_event(engine_api, engine_tables, pump, moving, charging, capsys):
    subscriber(ME)
    assert points.adjust(ME, 10_000, "float", "test", None).status == 201
    product_id = catalogue.create_product(dict(CATALOGUE[0][1]), None).body["product_id"]  # 2,000 points
    placed = {}
    for mode in (None, "refuse", "timeout_before"):
        charging.configure(dataclasses.replace(charging.faults, mode=mode))
        moving.advance(1)
        placed[mode] = orders.order(ME, product_id, None).body
    assert [o["status"] for o in placed.values()] == ["fulfilled", "refunded", "pending"]
    pump.run_until_idle()
    settled = feed(engine_api, moving, "product.fulfilled,product.refunded")
    assert sorted((e["type"], e["data"]["order_id"]) for e in settled) == [
        ("product.fulfilled", placed[None]["order_id"]),
        ("product.refunded", placed["refuse"]["order_id"]),
    ]
    fulfilled, refunded = sorted(settled, key=lambda e: e["type"])
    assert fulfilled["data"]["msisdn"] == ME and fulfilled["data"]["points"] == 2_000
    assert fulfilled["data"]["sku"] == "DATA_1GB_7D" and fulfilled["data"]["reference"].startswith("chg_")
    assert refunded["data"]["reason"] == "refused by the charging simulator"

    # the pending one: its event when the settlement settles it
    moving.advance(minutes=2)
    charging.configure(dataclasses.replace(charging.faults, mode=None))
    assert settlement.settle_product_orders()["fulfilled"] == 1
    pump.run_until_idle()
    kinds = Counter(e["type"] for e in feed(engine_api, moving, "product.fulfilled,product.refunded"))
    assert kinds == {"product.fulfilled": 2, "product.refunded": 1}
    money = Counter(e["type"] for e in feed(engine_api, moving, "points.spent,points.refunded"))
    assert money == {"points.spent": 3, "points.refunded": 1}

    # the streams read again from their start: no event twice
    written = EventItem.count()
    for shards in pump.streams.shards.values():
        for shard in shards:
            shard.iterator = None
    assert pump.run_until_idle() > 0
    assert EventItem.count() == written and pump.streams.dead_letters == []

    # reconcile --events: every settled order has its event; a lost one is named
    command = ["--prefix", engine_tables, "--segments", "2", "--events", "--since", "2026-11-01T00:00:00Z",
               "--until", "2026-12-01T00:00:00Z", "--json"]  # fmt: skip
    assert reconcile.main(command) == 0, capsys.readouterr().out
    capsys.readouterr()
    lost = next(e for e in EventItem.scan() if e.type == "product.refunded" and e.audience == "operator")
    lost.delete()
    assert reconcile.main(command) == 1
    (drift,) = json.loads(capsys.readouterr().out)["drift"]
    assert drift["check"] == "events.missing" and drift["ids"]["type"] == "product.refunded"
    assert drift["ids"]["order_id"] == placed["refuse"]["order_id"] and drift["ids"]["event_id"] == lost.event_id
