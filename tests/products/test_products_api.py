"""Network products through the routes, on the embedded engine, against the
charging simulator on 127.0.0.1: the catalogue, orders fulfilled, refunded
(the points back to their original expiry dates) and pending, settled by the
job; a crash between the debit and the call; Idempotency-Key replays; bad
input and other subscribers' orders refused, changing nothing."""

from __future__ import annotations

import dataclasses
import itertools
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

import pytest
from products.shop import ACTIVATED_ON, CATALOGUE, buckets, earn, ledger_sum, subscriber

from chalicelib import clock
from chalicelib.products import orders, settlement
from chalicelib.store import LedgerEntry, ProductOrder, Subscriber
from conftest import MARKETER, OPERATOR, at, auth

NOW = "2026-11-10T03:00:00Z"
_numbers = itertools.count(1)


def later(**delta):
    moved = clock.now() + timedelta(**delta)
    clock.set_now(lambda: moved)


def error(r, status, code):
    assert r.status_code == status, r.data
    assert r.data["error"]["code"] == code, r.data
    assert r.data["error"]["message"]


def faults(sim, **changes):
    sim.configure(dataclasses.replace(sim.faults, **changes))


@pytest.fixture(scope="module")
def products(engine_module_tables):
    """The catalogue, made once for the module's tests (which share its tables)."""
    from chalicelib.products import catalogue

    at(NOW)
    made = {}
    for name, fields in CATALOGUE:
        made[name] = catalogue.create_product(fields, None).body
        later(seconds=1)
    return made


@dataclass
class Shop:
    api: Any
    me: str
    other: str
    products: dict[str, dict[str, Any]]

    @property
    def self(self):
        return auth("subscriber", self.me)

    def order(self, product, who=None, msisdn=None, **headers):
        path = f"/v1/subscribers/{msisdn or self.me}/product-orders"
        body = {"product_id": self.products[product]["product_id"] if product in self.products else product}
        return self.api.post(path, body, headers={**(who or self.self), **headers})

    def get(self, order_id, who=None, msisdn=None):
        return self.api.get(f"/v1/subscribers/{msisdn or self.me}/product-orders/{order_id}", headers=who or self.self)

    def balance(self, msisdn=None):
        path = f"/v1/subscribers/{msisdn or self.me}/points"
        return self.api.get(path, headers=OPERATOR, expect=200).data["balance"]


@pytest.fixture
def shop(engine_module_api, products, charging):
    """Two subscribers of their own (the tables are the module's): `me` with two
    buckets, 3,000 expiring end of November (data, October) and 5,000 end of
    October 2027; `other` with 5,000."""
    at(NOW)
    n = next(_numbers)
    me, other = f"8496{n:07d}", f"8497{n:07d}"
    subscriber(me)
    subscriber(other)
    earn(me, f"{me}-data", 60_000, "data", "2026-10-20T03:00:00Z")
    earn(me, f"{me}-mobile", 100_000, "mobile", "2026-10-20T03:00:00Z")
    earn(other, f"{other}-mobile", 100_000, "mobile", "2026-11-01T03:00:00Z")
    return Shop(engine_module_api, me, other, products)


# -- the catalogue ----------------------------------------------------------------


def test_marketers_add_products_everyone_reads_the_catalogue(shop):
    api, skus = shop.api, ["AIRTIME_10K", "VOICE_50M", "DATA_1GB_7D"]  # newest first
    for who in (shop.self, OPERATOR, MARKETER):
        r = api.get("/v1/products", headers=who, expect=200)
        assert [p["sku"] for p in r.data["items"]] == skus
    page = api.get("/v1/products?limit=2", headers=shop.self, expect=200).data
    rest = api.get(f"/v1/products?limit=2&cursor={page['next_cursor']}", headers=shop.self, expect=200).data
    assert [p["sku"] for p in page["items"] + rest["items"]] == skus and rest["next_cursor"] is None
    data = shop.products["data"]
    assert (data["kind"], data["points_price"], data["validity_days"], data["status"]) == ("data", 2_000, 7, "active")
    assert data["product_id"].startswith("prd_")
    error(api.get("/v1/products?cursor=bm90LWEta2V5", headers=shop.self), 400, "VALIDATION_ERROR")
    error(api.get("/v1/products?status=active", headers=shop.self), 400, "VALIDATION_ERROR")
    error(api.post("/v1/products", dict(NEW_PRODUCT), headers=shop.self), 403, "FORBIDDEN")
    error(api.post("/v1/products", dict(NEW_PRODUCT), headers=OPERATOR), 403, "FORBIDDEN")
    assert [p["sku"] for p in api.get("/v1/products", headers=MARKETER, expect=200).data["items"]] == skus


NEW_PRODUCT = {"name": "Data 5 GB", "kind": "data", "sku": "DATA_5GB_30D", "points_price": 9_000, "validity_days": 30}
STRICT = [
    ("points_price", "9000"),
    ("points_price", True),
    ("points_price", 9000.0),
    ("points_price", 0),
    ("validity_days", "30"),
    ("validity_days", -1),
    ("kind", "sms"),
    ("sku", "has space"),
    ("name", ""),
    ("extra", 1),
]


def test_a_product_is_strictly_typed_and_a_bad_one_changes_nothing(shop):
    before = shop.api.get("/v1/products", headers=MARKETER, expect=200).data
    for field, value in STRICT:
        r = shop.api.post("/v1/products", {**NEW_PRODUCT, field: value}, headers=MARKETER)
        assert r.status_code == 400 and r.data["error"]["code"] == "VALIDATION_ERROR", (field, value, r.data)
    missing = {k: v for k, v in NEW_PRODUCT.items() if k != "sku"}
    error(shop.api.post("/v1/products", missing, headers=MARKETER), 400, "VALIDATION_ERROR")
    error(shop.api.post("/v1/products", raw="[1]", headers=MARKETER), 400, "VALIDATION_ERROR")
    assert shop.api.get("/v1/products", headers=MARKETER, expect=200).data == before


# -- orders -----------------------------------------------------------------------


def test_an_order_provisioned_is_fulfilled(shop, charging):
    r = shop.order("data")
    assert r.status_code == 201, r.data
    body = r.data
    assert body["status"] == "fulfilled" and body["points"] == 2_000 and body["balance"] == 6_000
    assert body["order_id"].startswith("ord_") and body["product_id"] == shop.products["data"]["product_id"]
    decided = charging.orders[body["order_id"]]
    assert (decided.status, decided.sku, decided.msisdn) == ("provisioned", "DATA_1GB_7D", shop.me)
    got = shop.get(body["order_id"])
    assert got.status_code == 200, got.data
    assert got.data["status"] == "fulfilled" and got.data["settled_at"] and got.data["balance"] == 6_000
    # FEFO: the November data bucket went first
    assert buckets(shop.me) == {"2026-11-30": 1_000, "2027-10-31": 5_000}
    entries = shop.api.get(f"/v1/subscribers/{shop.me}/ledger", headers=shop.self, expect=200).data["items"]
    assert (entries[0]["kind"], entries[0]["points"], entries[0]["ref"]) == ("spend", -2_000, body["product_id"])
    assert ledger_sum(shop.me) == shop.balance() == 6_000
    assert ProductOrder.get(body["order_id"]).settle_due is None  # out of the pending index


def test_an_order_refused_is_refunded_to_the_original_expiry_dates(shop, charging):
    faults(charging, mode="refuse")
    r = shop.order("voice", who=OPERATOR)  # 4,000: the whole November bucket and 1,000 of the next
    assert r.status_code == 201, r.data
    assert r.data["status"] == "refunded" and r.data["points"] == 4_000 and r.data["balance"] == 8_000
    assert charging.status_of(r.data["order_id"]) == "refused"
    assert buckets(shop.me) == {"2026-11-30": 3_000, "2027-10-31": 5_000}
    entries = shop.api.get(f"/v1/subscribers/{shop.me}/ledger", headers=shop.self, expect=200).data["items"]
    assert [(e["kind"], e["points"]) for e in entries[:2]] == [("refund", 4_000), ("spend", -4_000)]
    assert ledger_sum(shop.me) == shop.balance() == 8_000
    item = ProductOrder.get(r.data["order_id"])
    assert item.taken == {"2026-11-30": 3_000, "2027-10-31": 1_000}
    assert item.charging.as_dict()["outcome"] == "refused" and item.settle_due is None


def test_no_answer_leaves_it_pending_and_the_settlement_finishes_it(shop, charging):
    faults(charging, mode="timeout_after")  # provisioned, but the answer comes too late
    late = shop.order("data")
    faults(charging, mode="timeout_before")  # nothing provisioned
    lost = shop.order("data")
    assert late.status_code == lost.status_code == 201
    assert late.data["status"] == lost.data["status"] == "pending" and lost.data["balance"] == 4_000
    assert shop.get(lost.data["order_id"]).data["status"] == "pending"
    assert charging.status_of(late.data["order_id"]) == "provisioned"
    assert charging.status_of(lost.data["order_id"]) == "unknown"
    assert settlement.settle_product_orders()["waiting"] == 2  # too young: left to their own requests
    later(minutes=2)
    faults(charging, mode="refuse")  # the lost one, asked again, is refused; the late one is known provisioned
    done = settlement.settle_product_orders()
    assert (done["fulfilled"], done["refunded"], done["pending"]) == (1, 1, 0), done
    assert shop.get(late.data["order_id"]).data["status"] == "fulfilled"
    assert shop.get(lost.data["order_id"]).data["status"] == "refunded"
    assert ledger_sum(shop.me) == shop.balance() == 6_000
    assert settlement.settle_product_orders() == {**done, "fulfilled": 0, "refunded": 0}  # none left in the index


def test_an_answer_long_in_coming_is_asked_again_with_a_backoff_never_refunded(shop, charging):
    faults(charging, mode="timeout_before")
    r = shop.order("data")
    assert r.data["status"] == "pending"
    later(minutes=2)
    assert settlement.settle_product_orders()["pending"] == 1  # still nothing: put off
    item = ProductOrder.get(r.data["order_id"])
    assert item.settle_attempts == 1 and item.status == "pending" and item.charging.as_dict()["outcome"] == "unknown"
    assert settlement.settle_product_orders()["waiting"] == 1  # its backoff has not elapsed
    faults(charging, mode="status_lag")  # provisioned when asked again, the answer lost
    later(minutes=2)
    assert settlement.settle_product_orders()["pending"] == 1
    assert charging.status_of(r.data["order_id"]) == "provisioned"
    assert ProductOrder.get(r.data["order_id"]).settle_attempts == 2
    later(minutes=5)
    # its status still reads unknown (never a refund for that): asked to provision again, it says it did
    assert settlement.settle_product_orders()["fulfilled"] == 1
    assert charging.orders[r.data["order_id"]].provisions == 2  # decided once, then answered again
    assert charging.stats()["calls"]["status"] == 3
    assert ledger_sum(shop.me) == shop.balance() == 6_000


def test_past_the_bounded_attempts_the_settlement_alarms_and_goes_on_asking(shop, charging, monkeypatch):
    from chalicelib import config, observability

    assert [settlement.backoff(n).total_seconds() for n in (1, 2, 3, 6, 7, 8, 20)] == [60, 120, 240, 1920, 3600] + [
        3600
    ] * 2  # doubling from a minute, then hourly
    monkeypatch.setattr(config, "_rules", dataclasses.replace(config.rules(), product_settle_alarm_after=3))
    counted = []
    monkeypatch.setattr(observability, "count", lambda name, value=1: counted.append(name))
    faults(charging, mode="timeout_before")
    r = shop.order("data")
    for attempt in range(1, 5):
        later(hours=2)
        assert settlement.settle_product_orders()["pending"] == 1
        assert ProductOrder.get(r.data["order_id"]).settle_attempts == attempt
        assert counted.count("ProductOrdersOverdue") == max(0, attempt - 2)  # from the 3rd attempt on
    faults(charging, mode=None)
    later(hours=2)
    assert settlement.settle_product_orders()["fulfilled"] == 1


def test_a_crash_between_the_debit_and_the_call_is_settled(shop, charging, monkeypatch):
    crashed = []

    class Crash(Exception):
        pass

    def crash(order_id):
        crashed.append(order_id)
        raise Crash(order_id)

    monkeypatch.setattr(orders, "before_charging", crash)
    with pytest.raises(Crash):
        orders.order(shop.me, shop.products["data"]["product_id"], None)
    assert len(crashed) == 1, "the crash was not injected"
    (order_id,) = crashed
    item = ProductOrder.get(order_id)
    assert item.status == "pending" and item.settle_due is not None
    assert charging.stats()["calls"].get("provision", 0) == 0  # the charging system never heard of it
    assert shop.balance() == 6_000  # debited
    later(minutes=2)
    assert settlement.settle_product_orders()["fulfilled"] == 1
    assert charging.status_of(order_id) == "provisioned"
    assert ProductOrder.get(order_id).status == "fulfilled"
    assert ledger_sum(shop.me) == shop.balance() == 6_000


def test_a_refund_after_the_bucket_expired_expires_it_at_once(shop, charging):
    faults(charging, mode="timeout_before")
    r = shop.order("voice")
    assert r.data["status"] == "pending"
    at("2026-12-02T03:00:00Z")  # the November bucket has expired meanwhile
    faults(charging, mode="refuse")
    assert settlement.settle_product_orders()["refunded"] == 1
    assert buckets(shop.me) == {"2027-10-31": 5_000}
    kinds = {e.entry_id: (e.kind, int(e.points)) for e in LedgerEntry.query(f"{shop.me}@{ACTIVATED_ON}")}
    order_id = r.data["order_id"]
    assert kinds[f"refund:{order_id}"] == ("refund", 4_000)
    assert kinds[f"expire:2026-11-30:refund:{order_id}"] == ("expire", -3_000)
    assert ledger_sum(shop.me) == shop.balance() == 5_000


def test_a_refund_for_a_recycled_number_goes_to_its_former_owner_and_is_forfeited(shop, charging):
    faults(charging, mode="timeout_before")
    r = shop.order("data", who=OPERATOR)
    assert r.data["status"] == "pending"
    profile = {"activated_on": "2026-11-10", "plan": "prepaid"}
    shop.api.put(f"/v1/subscribers/{shop.me}", profile, headers=OPERATOR, expect=200)
    later(minutes=2)
    faults(charging, mode="refuse")
    assert settlement.settle_product_orders()["refunded"] == 1
    assert shop.balance() == 0  # the new owner inherits nothing
    former = {e.entry_id: int(e.points) for e in LedgerEntry.query(f"{shop.me}@{ACTIVATED_ON}")}
    order_id = r.data["order_id"]
    assert former[f"refund:{order_id}"] == 2_000 and former[f"forfeit:{order_id}"] == -2_000
    assert sum(former.values()) == 0
    assert ProductOrder.get(order_id).forfeited == 2_000
    error(shop.get(order_id, who=OPERATOR), 404, "NOT_FOUND")  # the former owner's: the new owner's number shows none


def test_an_idempotency_key_orders_once(shop, charging):
    key = {"Idempotency-Key": "order-1"}
    first = shop.order("data", **key)
    again = shop.order("data", **key)
    assert first.status_code == again.status_code == 201
    assert again.data["order_id"] == first.data["order_id"] and again.data["status"] == "fulfilled"
    assert shop.balance() == 6_000 and charging.stats()["orders"] == 1
    error(shop.order("voice", **key), 422, "IDEMPOTENCY_KEY_REUSED")


def test_a_retry_of_a_pending_order_asks_the_charging_system_again(shop, charging):
    key = {"Idempotency-Key": "order-2"}
    faults(charging, mode="timeout_before")
    first = shop.order("data", **key)
    assert first.data["status"] == "pending"
    faults(charging, mode=None)
    again = shop.order("data", **key)
    assert again.data["order_id"] == first.data["order_id"] and again.data["status"] == "fulfilled"
    assert again.data["balance"] == 6_000 and charging.stats()["orders"] == 1


def test_refusals_change_nothing(shop, charging):
    api, path = shop.api, f"/v1/subscribers/{shop.me}/product-orders"
    before = (shop.balance(), buckets(shop.me), ledger_sum(shop.me))
    error(shop.order("prd_does_not_exist"), 404, "NOT_FOUND")
    error(shop.order("x" * 65), 400, "VALIDATION_ERROR")
    error(shop.order("airtime"), 409, "INSUFFICIENT_POINTS")  # 10,000 > 8,000
    error(api.post(path, {"product_id": 1}, headers=shop.self), 400, "VALIDATION_ERROR")
    error(
        api.post(path, {"product_id": shop.products["data"]["product_id"], "n": 2}, headers=shop.self),
        400,
        "VALIDATION_ERROR",
    )
    error(api.post(path, headers=shop.self), 400, "VALIDATION_ERROR")
    error(shop.order("data", who=auth("subscriber", shop.other)), 404, "NOT_FOUND")
    error(shop.order("data", who=MARKETER), 403, "FORBIDDEN")
    error(shop.order("data", msisdn="123"), 400, "VALIDATION_ERROR")
    assert (shop.balance(), buckets(shop.me), ledger_sum(shop.me)) == before
    assert charging.stats()["calls"] == {}


def test_another_subscribers_order_is_not_found(shop, charging):
    theirs = shop.order("data", who=auth("subscriber", shop.other), msisdn=shop.other)
    assert theirs.status_code == 201, theirs.data
    order_id = theirs.data["order_id"]
    error(shop.get(order_id), 404, "NOT_FOUND")  # under my own number
    error(shop.get(order_id, who=OPERATOR), 404, "NOT_FOUND")  # not this number's order
    error(shop.get(order_id, msisdn=shop.other), 404, "NOT_FOUND")  # another number
    error(shop.get("ord_nope"), 404, "NOT_FOUND")
    assert shop.get(order_id, who=OPERATOR, msisdn=shop.other).data["status"] == "fulfilled"
    assert Subscriber.get(shop.other).balance == 3_000
