"""Helpers of the product tests: subscribers with points, a small catalogue,
and the stored truth (buckets, the ledger's sum) read straight from the tables."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from chalicelib import clock
from chalicelib.points import service as points
from chalicelib.store import LedgerEntry, Subscriber
from chalicelib.subscribers import service as subscribers
from conftest import MARKETER

ACTIVATED_ON = "2020-01-01"
CATALOGUE = (
    (
        "data",
        {"name": "Data 1 GB / 7 days", "kind": "data", "sku": "DATA_1GB_7D", "points_price": 2_000, "validity_days": 7},
    ),
    ("voice", {"name": "50 minutes", "kind": "voice", "sku": "VOICE_50M", "points_price": 4_000, "validity_days": 30}),
    (
        "airtime",
        {
            "name": "Airtime 10,000 VND",
            "kind": "airtime",
            "sku": "AIRTIME_10K",
            "points_price": 10_000,
            "validity_days": 0,
        },
    ),
)


def subscriber(msisdn: str) -> None:
    reply = subscribers.put_profile(msisdn, {"activated_on": ACTIVATED_ON, "plan": "prepaid"}, None)
    assert reply.status == 201, reply


def earn(msisdn: str, event_id: str, amount_vnd: int, service: str, occurred_at: str) -> None:
    reply = points.accrue(event_id, msisdn, amount_vnd, service, clock.parse_iso(occurred_at), None)
    assert reply.status == 201, reply


def catalogue_of(api: Any) -> dict[str, dict[str, Any]]:
    """The three products, made by a marketer a second apart (so newest first is well defined)."""
    made = {}
    for name, fields in CATALOGUE:
        made[name] = api.post("/v1/products", fields, headers=MARKETER, expect=201).data
        moved = clock.now() + timedelta(seconds=1)
        clock.set_now(lambda moved=moved: moved)
    return made


def buckets(msisdn: str) -> dict[str, int]:
    return {d: int(p) for d, p in Subscriber.get(msisdn, consistent_read=True).buckets.items()}


def ledger_sum(msisdn: str) -> int:
    owner = Subscriber.get(msisdn, consistent_read=True).owner_id
    return sum(int(e.points) for e in LedgerEntry.query(owner, consistent_read=True))
