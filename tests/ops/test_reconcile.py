"""`python -m ops.reconcile` on moto: a consistent state built through the
service functions reconciles clean; each kind of drift planted by editing an
item directly is reported with its ids, and the exit status is 1."""

from __future__ import annotations

import dataclasses
import json
from collections.abc import Callable
from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

import pytest

from chalicelib import clock
from chalicelib.campaigns import service as campaigns
from chalicelib.campaigns.shards import claims_key, stock_key
from chalicelib.partners import redemptions
from chalicelib.partners import service as partners
from chalicelib.points import service as points
from chalicelib.products import catalogue
from chalicelib.products import orders as product_orders
from chalicelib.store import Counter, LedgerEntry, ProductOrder, Redemption, Subscriber, Voucher
from chalicelib.subscribers import service as subscribers
from chalicelib.subscribers.service import owner_id
from chalicelib.vouchers import service as vouchers
from ops import reconcile

ME, OTHER, RECYCLED = "84961234567", "84971112233", "84981239876"
ME_ACTIVATED = date(2020, 1, 15)


@dataclass
class World:
    """Ids of a consistent state: subscribers (one number recycled), a
    launched 3-shard campaign grown after launch with claims, a grant, a
    redemption and a reversed one, and a draft campaign."""

    prefix: str
    partner_id: str
    other_partner_id: str
    campaign_id: str
    draft_id: str
    claimed: list[str]
    granted: str
    redemption_id: str
    reversed_id: str
    reversed_code: str
    former_owner: str
    # network products: orders fulfilled, refunded (points back) and pending
    orders: dict[str, str]


def _profile(msisdn: str, activated: date) -> None:
    subscribers.put_profile(msisdn, {"activated_on": activated.isoformat(), "plan": "prepaid"}, None)


def _campaign(partner_id: str, **fields: Any) -> str:
    now = clock.now()
    body = {
        "name": "Coffee week",
        "partner_id": partner_id,
        "voucher": {"title": "Coffee 50k", "value_vnd": 50_000},
        "points_price": 1_000,
        "inventory": 10,
        "per_subscriber_limit": 2,
        "starts_at": clock.iso(now - timedelta(hours=1)),
        "ends_at": clock.iso(now + timedelta(days=30)),
        "voucher_valid_days": 30,
        "eligibility": {},
        **fields,
    }
    return str(campaigns.create_campaign(body, None).body["campaign_id"])


@pytest.fixture
def world(moto_tables: str, charging: Any) -> World:
    now = clock.now()
    _profile(ME, ME_ACTIVATED)
    points.accrue("e-1", ME, 1_000_000, "mobile", now, None)
    points.adjust(ME, -500, "goodwill reversal", "ops-1", None)
    _profile(OTHER, date(2021, 3, 1))
    points.accrue("e-2", OTHER, 200_000, "data", now, None)
    _profile(RECYCLED, date(2019, 5, 5))
    points.accrue("e-3", RECYCLED, 300_000, "mobile", now, None)
    _profile(RECYCLED, date(2025, 6, 1))  # recycled: the first owner's points are forfeited

    product = {"name": "Data 1 GB", "kind": "data", "sku": "DATA_1GB", "points_price": 1_000, "validity_days": 7}
    product_id = catalogue.create_product(product, None).body["product_id"]
    partner_id = str(partners.create_partner("Shop", None).body["partner_id"])
    other_partner_id = str(partners.create_partner("Other shop", None).body["partner_id"])
    campaign_id = _campaign(partner_id, expected_peak_claims_per_second=600)  # 3 shards
    campaigns.transition(campaign_id, "launch", None)
    campaigns.patch(campaign_id, 20, None, None)
    draft_id = _campaign(partner_id)
    claimed = [vouchers.claim(ME, campaign_id, None).body["voucher"]["code"].replace("-", "") for _ in range(2)]
    granted = vouchers.grant(campaign_id, [OTHER], None).body["results"][0]["code"].replace("-", "")
    redemption_id = redemptions.redeem(partner_id, claimed[0], "order-1", None, None).body["redemption_id"]
    reversed_id = redemptions.redeem(partner_id, granted, "order-2", "store-9", None).body["redemption_id"]
    redemptions.reverse(partner_id, reversed_id, None)
    made = []
    for mode in (None, "refuse", "timeout_before"):
        charging.configure(dataclasses.replace(charging.faults, mode=mode))
        made.append(product_orders.order(ME, product_id, None).body)
    assert [o["status"] for o in made] == ["fulfilled", "refunded", "pending"]
    return World(
        prefix=moto_tables,
        partner_id=partner_id,
        other_partner_id=other_partner_id,
        campaign_id=campaign_id,
        draft_id=draft_id,
        claimed=claimed,
        granted=granted,
        redemption_id=redemption_id,
        reversed_id=reversed_id,
        reversed_code=granted,
        former_owner=owner_id(RECYCLED, date(2019, 5, 5)),
        orders={o["status"]: o["order_id"] for o in made},
    )


def _run(world: World, capsys: pytest.CaptureFixture[str]) -> tuple[int, dict[str, Any]]:
    status = reconcile.main(["--prefix", world.prefix, "--segments", "3", "--json"])
    return status, json.loads(capsys.readouterr().out)


def test_consistent_state_is_clean(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    status, report = _run(world, capsys)
    assert report["drift"] == []
    assert status == 0 and report["clean"] is True
    assert report["prefix"] == world.prefix
    assert report["scanned"]["subscribers"] == 3
    assert report["scanned"]["campaigns"] == 2
    assert report["scanned"]["vouchers"] == 3
    assert report["scanned"]["redemptions"] == 2
    assert report["scanned"]["product-orders"] == 3
    assert report["read_units"]["total"] > 0


def test_readable_report(world: World, capsys: pytest.CaptureFixture[str]) -> None:
    assert reconcile.main(["--prefix", world.prefix]) == 0
    out = capsys.readouterr().out
    assert "no drift" in out and "read units consumed:" in out and "ledger " in out
    Subscriber(ME).update(actions=[Subscriber.balance.add(7)])
    assert reconcile.main(["--prefix", world.prefix]) == 1
    out = capsys.readouterr().out
    assert "DRIFT: 2 finding(s)" in out
    assert "subscriber.ledger" in out and f"msisdn={ME}" in out


def test_unreadable_tables_exit_2(moto_tables: str, capsys: pytest.CaptureFixture[str]) -> None:
    assert reconcile.main(["--prefix", "no-such-tables-"]) == 2
    assert "cannot read the tables" in capsys.readouterr().err


# -- drift, planted by editing items directly ------------------------------------

Ids = dict[str, Any]
Plant = Callable[[World], dict[str, Ids]]  # the checks expected -> ids each must name


def _voucher_copy(code: str, new_code: str, **changes: Any) -> None:
    item = Voucher.get(code)
    item.code = new_code
    for name, value in changes.items():
        setattr(item, name, value)
    item.save()


def lost_ledger_entry(w: World) -> dict[str, Ids]:
    LedgerEntry(owner_id(ME, ME_ACTIVATED), "earn:e-1").delete()
    ids = {"msisdn": ME, "owner_id": owner_id(ME, ME_ACTIVATED)}
    return {"subscriber.ledger": ids, "ledger.chain_broken": ids}


def entry_off_the_chain(w: World) -> dict[str, Ids]:
    """An entry written without the balance update that links it: no page would show it."""
    entry = LedgerEntry.get(owner_id(ME, ME_ACTIVATED), "earn:e-1")
    entry.entry_id, entry.points, entry.block, entry.prev_block = "adjust:unlinked", 0, None, None
    entry.save()
    return {"ledger.off_chain": {"msisdn": ME, "owner_id": owner_id(ME, ME_ACTIVATED)}}


def balance_edited(w: World) -> dict[str, Ids]:
    Subscriber(ME).update(actions=[Subscriber.balance.add(7)])
    return {"subscriber.buckets": {"msisdn": ME}, "subscriber.ledger": {"msisdn": ME}}


def negative_balance(w: World) -> dict[str, Ids]:
    Subscriber(OTHER).update(actions=[Subscriber.balance.set(-5)])
    return {
        "subscriber.negative_balance": {"msisdn": OTHER},
        "subscriber.buckets": {"msisdn": OTHER},
        "subscriber.ledger": {"msisdn": OTHER},
    }


def negative_bucket(w: World) -> dict[str, Ids]:
    item = Subscriber.get(ME)
    buckets = {day: int(n) for day, n in item.buckets.items()}
    day = min(buckets)
    item.update(actions=[Subscriber.buckets.set({**buckets, day: -buckets[day], "2099-01-31": 2 * buckets[day]})])
    return {"subscriber.negative_bucket": {"msisdn": ME}}


def forfeit_lost(w: World) -> dict[str, Ids]:
    LedgerEntry(w.former_owner, "forfeit:2025-06-01").delete()
    return {"ledger.former_owner": {"owner_id": w.former_owner}}


def stock_edited(w: World) -> dict[str, Ids]:
    Counter(stock_key(w.campaign_id, 1)).update(actions=[Counter.stock.add(-1)])
    return {"campaign.inventory": {"campaign_id": w.campaign_id}}


def negative_stock(w: World) -> dict[str, Ids]:
    shard = Counter.get(stock_key(w.campaign_id, 2))
    shard.update(actions=[Counter.stock.set(-1), Counter.issued.add(int(shard.stock) + 1)])
    return {
        "campaign.negative_stock": {"campaign_id": w.campaign_id, "shard": 2},
        "campaign.inventory": {"campaign_id": w.campaign_id},
        "campaign.shard_issued": {"campaign_id": w.campaign_id, "shard": 2},
    }


def shard_lost(w: World) -> dict[str, Ids]:
    Counter(stock_key(w.campaign_id, 0)).delete()
    return {"campaign.shards": {"campaign_id": w.campaign_id}, "campaign.inventory": {"campaign_id": w.campaign_id}}


def shard_issued_edited(w: World) -> dict[str, Ids]:
    Counter(stock_key(w.campaign_id, 0)).update(actions=[Counter.issued.add(1)])
    return {"campaign.shard_issued": {"campaign_id": w.campaign_id, "shard": 0}}


def shard_reversed_edited(w: World) -> dict[str, Ids]:
    shard = int(Voucher.get(w.reversed_code).shard)
    Counter(stock_key(w.campaign_id, shard)).update(actions=[Counter.reversed.set(0)])
    return {"campaign.shard_reversed": {"campaign_id": w.campaign_id, "shard": shard}}


def shard_status_stale(w: World) -> dict[str, Ids]:
    Counter(stock_key(w.campaign_id, 1)).update(actions=[Counter.status.set("paused")])
    return {"campaign.shard_mirror": {"campaign_id": w.campaign_id, "shard": 1}}


def voucher_without_stock(w: World) -> dict[str, Ids]:
    _voucher_copy(w.claimed[1], "0" * 17)
    shard = int(Voucher.get(w.claimed[1]).shard)
    return {
        "campaign.inventory": {"campaign_id": w.campaign_id},
        "campaign.shard_issued": {"campaign_id": w.campaign_id, "shard": shard},
        "campaign.claims_count": {"campaign_id": w.campaign_id, "msisdn": ME},
    }


def claims_over_limit(w: World) -> dict[str, Ids]:
    Counter(claims_key(w.campaign_id, ME)).update(actions=[Counter.count.set(5)])
    ids = {"campaign_id": w.campaign_id, "msisdn": ME, "owner_id": owner_id(ME, ME_ACTIVATED)}
    return {"campaign.claims_count": ids, "campaign.claims_limit": ids}


def draft_with_shard(w: World) -> dict[str, Ids]:
    Counter(stock_key(w.draft_id, 0), stock=10, issued=0, reversed=0).save()
    return {"campaign.draft": {"campaign_id": w.draft_id}}


def orphan_shard(w: World) -> dict[str, Ids]:
    Counter(stock_key("c_gone", 0), stock=1, issued=0, reversed=0).save()
    return {"counter.orphan_shards": {"campaign_id": "c_gone"}}


def voucher_of_no_campaign(w: World) -> dict[str, Ids]:
    _voucher_copy(w.claimed[1], "1" * 17, campaign_id="c_gone")
    return {"voucher.campaign": {"code": "1" * 17, "campaign_id": "c_gone"}}


def redemption_without_voucher(w: World) -> dict[str, Ids]:
    now = clock.iso(clock.now())
    Redemption("rd_planted", partner_id=w.partner_id, code="Z" * 17, order_ref="o", redeemed_at=now).save()
    return {"redemption.voucher_missing": {"redemption_id": "rd_planted", "code": "Z" * 17}}


def redemption_of_other_partner(w: World) -> dict[str, Ids]:
    Redemption(w.redemption_id).update(actions=[Redemption.partner_id.set(w.other_partner_id)])
    return {"redemption.partner": {"redemption_id": w.redemption_id, "code": w.claimed[0]}}


def redeemed_without_redemption(w: World) -> dict[str, Ids]:
    Voucher(w.claimed[1]).update(actions=[Voucher.status.set("redeemed")])
    return {
        "voucher.redeemed_without_redemption": {"code": w.claimed[1], "redemption_id": ""},
        "voucher.redeemed_index": {"code": w.claimed[1]},
    }


def redeemed_by_reversed_redemption(w: World) -> dict[str, Ids]:
    Voucher(w.reversed_code).update(
        actions=[
            Voucher.status.set("redeemed"),
            Voucher.redemption_id.set(w.reversed_id),
            Voucher.redeemed_campaign.set(w.campaign_id),
        ]
    )
    return {"voucher.redeemed_without_redemption": {"code": w.reversed_code, "redemption_id": w.reversed_id}}


def redemption_not_applied(w: World) -> dict[str, Ids]:
    Voucher(w.claimed[0]).update(
        actions=[Voucher.status.set("issued"), Voucher.redemption_id.remove(), Voucher.redeemed_campaign.remove()]
    )
    return {"redemption.not_applied": {"redemption_id": w.redemption_id, "code": w.claimed[0]}}


def stale_redeemed_index(w: World) -> dict[str, Ids]:
    Voucher(w.claimed[1]).update(actions=[Voucher.redeemed_campaign.set(w.campaign_id)])
    return {"voucher.redeemed_index": {"code": w.claimed[1], "campaign_id": w.campaign_id}}


def orders_edited(w: World) -> dict[str, Ids]:
    """A refunded order shown fulfilled; a fulfilled one's price edited, back in the pending index; a pending one lost."""
    refunded, fulfilled, pending = (w.orders[s] for s in ("refunded", "fulfilled", "pending"))
    ProductOrder(refunded).update(actions=[ProductOrder.status.set("fulfilled")])
    ProductOrder(fulfilled).update(actions=[ProductOrder.points.set(999), ProductOrder.settle_due.set("pending#3")])
    ProductOrder(pending).delete()
    return {
        "product_order.refund": {"order_id": refunded, "msisdn": ME},
        "product_order.spend": {"order_id": fulfilled},
        "product_order.taken": {"order_id": fulfilled},
        "product_order.pending_index": {"order_id": fulfilled},
        "product_order.missing": {"entry_id": f"spend:{pending}"},
    }


def order_refund_lost(w: World) -> dict[str, Ids]:
    LedgerEntry(owner_id(ME, ME_ACTIVATED), f"refund:{w.orders['refunded']}").delete()
    ids = {"msisdn": ME, "owner_id": owner_id(ME, ME_ACTIVATED)}
    refund = {"product_order.refund": {"order_id": w.orders["refunded"]}}
    return {"subscriber.ledger": ids, "ledger.chain_broken": ids, **refund}


PLANTS: list[Plant] = [
    lost_ledger_entry,
    entry_off_the_chain,
    balance_edited,
    negative_balance,
    negative_bucket,
    forfeit_lost,
    stock_edited,
    negative_stock,
    shard_lost,
    shard_issued_edited,
    shard_reversed_edited,
    shard_status_stale,
    voucher_without_stock,
    claims_over_limit,
    draft_with_shard,
    orphan_shard,
    voucher_of_no_campaign,
    redemption_without_voucher,
    redemption_of_other_partner,
    redeemed_without_redemption,
    redeemed_by_reversed_redemption,
    redemption_not_applied,
    stale_redeemed_index,
    orders_edited,
    order_refund_lost,
]


@pytest.mark.parametrize("plant", PLANTS, ids=[p.__name__ for p in PLANTS])
def test_planted_drift_is_caught(world: World, plant: Plant, capsys: pytest.CaptureFixture[str]) -> None:
    expected = plant(world)
    status, report = _run(world, capsys)
    assert status == 1 and report["clean"] is False
    found = report["drift"]
    assert {d["check"] for d in found} == set(expected), found
    for check, ids in expected.items():
        named = [d["ids"] for d in found if d["check"] == check]
        assert any(ids.items() <= d.items() for d in named), (check, ids, named)
