"""`GET /v1/campaigns/{id}/daily` on the embedded engine: issued, redeemed and
reversed per local day (Asia/Ho_Chi_Minh), from the inventory shards' own
per-day counts and the sparse `redeemed-by-day` index, adding up to the
campaign's stats; no item of its own that every claim would write."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from chalicelib import clock, store
from chalicelib.campaigns import shards
from chalicelib.store import Counter
from conftest import MARKETER, OPERATOR, auth

pytestmark = pytest.mark.engine

SUBSCRIBERS = ("84961234567", "84971112233", "84981239876", "84911111111")
# 16:59 UTC is 23:59 in Ho Chi Minh City, 17:00 UTC the next local day
DAY_1_LATE = datetime(2026, 11, 10, 16, 59, tzinfo=UTC)
DAY_2_EARLY = datetime(2026, 11, 10, 17, 0, tzinfo=UTC)
DAY_3 = datetime(2026, 11, 12, 3, 0, tzinfo=UTC)


def _at(instant: datetime) -> None:
    clock.set_now(lambda: instant)


def _campaign(api: Any, partner_id: str, peak: int) -> str:
    body = {
        "name": "Daily figures",
        "partner_id": partner_id,
        "voucher": {"title": "Coffee", "value_vnd": 30_000},
        "points_price": 100,
        "inventory": 20,
        "per_subscriber_limit": 5,
        "starts_at": "2026-11-09T00:00:00Z",
        "ends_at": "2026-11-20T00:00:00Z",
        "voucher_valid_days": 10,
        "expected_peak_claims_per_second": peak,
    }
    return str(api.post("/v1/campaigns", body, headers=MARKETER, expect=201).data["campaign_id"])


@pytest.fixture
def world(engine_api: Any) -> dict[str, Any]:
    api = engine_api
    _at(datetime(2026, 11, 9, 3, tzinfo=UTC))
    for msisdn in SUBSCRIBERS:
        api.put(
            f"/v1/subscribers/{msisdn}", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR, expect=201
        )
        api.post(
            f"/v1/subscribers/{msisdn}/adjustments", {"points": 5_000, "reason": "float"}, headers=OPERATOR, expect=201
        )
    partner = api.post("/v1/partners", {"name": "Till"}, headers=MARKETER, expect=201).data
    # 750 claims/s at 250 a shard: three shards, so the days' counts are spread over three items
    campaign_id = _campaign(api, partner["partner_id"], peak=750)
    launched = api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER, expect=200).data
    assert launched["shard_count"] == 3
    return {"api": api, "campaign_id": campaign_id, "key": {"X-Api-Key": partner["api_key"]}, "partner": partner}


def _claim(api: Any, campaign_id: str, msisdn: str) -> str:
    r = api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", msisdn), expect=201)
    return str(r.data["voucher"]["code"])


def _daily(api: Any, campaign_id: str, query: str = "", headers: Any = MARKETER, expect: int = 200) -> Any:
    return api.get(f"/v1/campaigns/{campaign_id}/daily{query}", headers=headers, expect=expect).data


def test_claims_redemptions_and_reversals_are_counted_on_their_local_day(world):
    api, campaign_id, key = world["api"], world["campaign_id"], world["key"]
    _at(DAY_1_LATE)
    day_1 = [_claim(api, campaign_id, m) for m in SUBSCRIBERS[:3]]
    grant = api.post(f"/v1/campaigns/{campaign_id}/grants", {"msisdns": [SUBSCRIBERS[3]]}, headers=MARKETER, expect=200)
    assert grant.data["results"][0]["status"] == "issued"
    redeemed_1 = api.post("/v1/redemptions", {"code": day_1[0], "order_ref": "o-1"}, headers=key, expect=201).data
    _at(DAY_2_EARLY)
    day_2 = [_claim(api, campaign_id, m) for m in SUBSCRIBERS[:2]]
    for n, code in enumerate([day_1[1], day_2[0]]):
        api.post("/v1/redemptions", {"code": code, "order_ref": f"o-2-{n}"}, headers=key, expect=201)
    _at(DAY_3)
    api.post(f"/v1/redemptions/{redeemed_1['redemption_id']}/reversal", headers=key, expect=200)
    _claim(api, campaign_id, SUBSCRIBERS[2])

    items = _daily(api, campaign_id)["items"]
    # from the window's first local day (9 November) to today (12 November)
    assert [i["day"] for i in items] == ["2026-11-09", "2026-11-10", "2026-11-11", "2026-11-12"]
    by_day = {i["day"]: (i["issued"], i["redeemed"], i["reversed"]) for i in items}
    # the day-1 redemption was reversed on day 3: it no longer counts as redeemed on day 1
    assert by_day == {
        "2026-11-09": (0, 0, 0),
        "2026-11-10": (4, 0, 0),
        "2026-11-11": (2, 2, 0),
        "2026-11-12": (1, 0, 1),
    }
    stats = api.get(f"/v1/campaigns/{campaign_id}", headers=MARKETER, expect=200).data["stats"]
    assert sum(i["issued"] for i in items) == stats["issued"] == 7
    assert sum(i["redeemed"] for i in items) == stats["redeemed"] == 2
    assert sum(i["reversed"] for i in items) == stats["reversed"] == 1
    # an operator may read it too; a period narrows it
    narrowed = _daily(api, campaign_id, "?from=2026-11-11&to=2026-11-11", headers=OPERATOR)["items"]
    assert narrowed == [{"day": "2026-11-11", "issued": 2, "redeemed": 2, "reversed": 0}]


def test_the_day_counts_ride_on_the_shards_no_item_of_their_own(world, engine):
    """No hot key: the counts are attributes of the inventory shards a claim
    writes anyway, each claim adding to one shard's; no other counter item exists."""
    api, campaign_id = world["api"], world["campaign_id"]
    _at(DAY_1_LATE)
    for msisdn in SUBSCRIBERS:
        _claim(api, campaign_id, msisdn)
    table = store.Counter.Meta.table_name
    ids = [i["counter_id"]["S"] for i in engine.scan(TableName=table, ConsistentRead=True)["Items"]]
    mine = sorted(i for i in ids if campaign_id in i)
    assert mine == sorted(
        [
            *(shards.stock_key(campaign_id, n) for n in range(3)),
            *(shards.claims_key(campaign_id, m) for m in SUBSCRIBERS),
        ]
    )
    per_shard = shards.read(campaign_id, range(3))
    day = clock.local_date(DAY_1_LATE)
    counted = [item.day_counts().get(("issued", day), 0) for item in per_shard.values()]
    assert sum(counted) == 4
    assert [int(item.issued or 0) for item in per_shard.values()] == counted


def test_a_shard_launched_before_the_day_counts_takes_them_on_its_next_claim(world, engine):
    """ADD creates a missing attribute: a shard without any day attribute (launched
    before they existed) is claimed from as ever, and counts from then on."""
    api, partner = world["api"], world["partner"]
    _at(DAY_1_LATE)
    campaign_id = _campaign(api, partner["partner_id"], peak=0)
    api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER, expect=200)
    _claim(api, campaign_id, SUBSCRIBERS[0])
    key = {"counter_id": {"S": shards.stock_key(campaign_id, 0)}}
    table = Counter.Meta.table_name
    item = engine.get_item(TableName=table, Key=key, ConsistentRead=True)["Item"]
    assert item["i261110"] == {"N": "1"}
    engine.update_item(TableName=table, Key=key, UpdateExpression="REMOVE i261110")
    _claim(api, campaign_id, SUBSCRIBERS[1])
    items = _daily(api, campaign_id, "?from=2026-11-10&to=2026-11-10")["items"]
    assert items == [{"day": "2026-11-10", "issued": 1, "redeemed": 0, "reversed": 0}]
    assert api.get(f"/v1/campaigns/{campaign_id}", headers=MARKETER, expect=200).data["stats"]["issued"] == 2


def test_drafts_bad_periods_and_unknown_campaigns(world):
    api, partner = world["api"], world["partner"]
    draft = _campaign(api, partner["partner_id"], peak=0)
    assert _daily(api, draft) == {"items": []}
    for query in ("?from=garbage", "?to=2026-13-01"):  # a draft has no days, and a bad date is still a 400
        assert _daily(api, draft, query, expect=400)["error"]["code"] == "VALIDATION_ERROR", query
    campaign_id = world["campaign_id"]
    for query in (
        "?from=2026-11-12&to=2026-11-10",
        "?from=11/10/2026",
        "?to=2026-13-01",
        "?from=2025-01-01&to=2026-11-10",
        "?to=0001-01-01",
        "?from=9999-12-31&to=9999-12-31",
    ):
        error = _daily(api, campaign_id, query, expect=400)["error"]
        assert error["code"] == "VALIDATION_ERROR", query
    assert _daily(api, "c_nope", expect=404)["error"]["code"] == "NOT_FOUND"
