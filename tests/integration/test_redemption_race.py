"""Double redemption on the embedded engine: one code, 20 concurrent tills, exactly one wins."""

from __future__ import annotations

import threading
from collections import Counter as Tally
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest
from integration.overlap import Spans

from chalicelib import clock, idempotency
from chalicelib.errors import DiemError
from chalicelib.idempotency import Reply
from chalicelib.partners import redemptions
from chalicelib.store import Redemption, Voucher
from chalicelib.vouchers import codes
from conftest import MARKETER, OPERATOR, auth

# the heavy concurrency proofs share one worker, so they never overload the machine together
pytestmark = [pytest.mark.engine, pytest.mark.xdist_group("heavy")]

ME = "84961234567"
TILLS = 20


@pytest.fixture
def issued(engine_api):
    """A partner, its launched campaign and one voucher claimed by ME."""
    now = datetime(2026, 11, 11, 4, tzinfo=UTC)
    clock.set_now(lambda: now)
    api = engine_api
    r = api.put(f"/v1/subscribers/{ME}", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    r = api.post(f"/v1/subscribers/{ME}/adjustments", {"points": 5_000, "reason": "float"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    partner = api.post("/v1/partners", {"name": "Till shop"}, headers=MARKETER, expect=201).data
    campaign = {
        "name": "One coffee",
        "partner_id": partner["partner_id"],
        "voucher": {"title": "Coffee", "value_vnd": 30_000},
        "points_price": 1_000,
        "inventory": 5,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 30,
    }
    campaign_id = api.post("/v1/campaigns", campaign, headers=MARKETER, expect=201).data["campaign_id"]
    assert api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER).status_code == 200
    r = api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", ME))
    assert r.status_code == 201, r.data
    return api, partner, r.data["voucher"]["code"]


def test_twenty_concurrent_redemptions_of_one_code_exactly_one_wins(issued):
    _, partner, code = issued
    partner_id = partner["partner_id"]
    start = threading.Barrier(TILLS, timeout=30)
    spans = Spans()

    def redeem(n: int) -> Reply | str:
        body = {"code": code, "order_ref": f"order-{n}"}
        idem = idempotency.key_for(f"till-{n}", f"partner:{partner_id}:POST /v1/redemptions", body)
        start.wait()
        try:
            with spans.request():
                return redemptions.redeem(partner_id, code, f"order-{n}", None, idem)
        except DiemError as exc:
            return exc.code

    with ThreadPoolExecutor(max_workers=TILLS) as pool:
        outcomes = list(pool.map(redeem, range(TILLS)))
    spans.assert_overlapped(TILLS, "20 redemptions")

    wins = [o for o in outcomes if isinstance(o, Reply)]
    assert len(wins) == 1 and wins[0].status == 201
    assert Tally(o for o in outcomes if isinstance(o, str)) == {"ALREADY_REDEEMED": TILLS - 1}
    voucher = Voucher.get(codes.parse(code), consistent_read=True)
    assert voucher.status == "redeemed" and voucher.redemption_id == wins[0].body["redemption_id"]
    assert len(list(Redemption.by_partner.query(partner_id))) == 1


def test_same_key_replays_the_same_body_and_a_different_payload_is_422(issued):
    api, partner, code = issued
    till = {"X-Api-Key": partner["api_key"], "Idempotency-Key": "till-1-order-9"}
    first = api.post("/v1/redemptions", {"code": code, "order_ref": "order-9"}, headers=till)
    again = api.post("/v1/redemptions", {"code": code, "order_ref": "order-9"}, headers=till)
    assert first.status_code == again.status_code == 201 and again.data == first.data
    other = api.post("/v1/redemptions", {"code": code, "order_ref": "order-10"}, headers=till)
    assert other.status_code == 422 and other.data["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    fresh = api.post(
        "/v1/redemptions", {"code": code, "order_ref": "order-9"}, headers={"X-Api-Key": partner["api_key"]}
    )
    assert fresh.status_code == 409 and fresh.data["error"]["code"] == "ALREADY_REDEEMED"
