"""Partners, campaigns, claims, grants, wallet, offers, look-ups, redemptions,
reversals and voucher expiry, through the routes (moto)."""

from dataclasses import dataclass
from datetime import timedelta

import pytest

from chalicelib import clock
from chalicelib.auth.api_keys import forget_cached_keys
from chalicelib.store import Counter, Voucher
from chalicelib.vouchers import codes
from conftest import MARKETER, OPERATOR, Api, at, auth

ME = "84961234567"
OTHER = "84971112233"
SELF = auth("subscriber", ME)
OTHER_SELF = auth("subscriber", OTHER)
NOW = "2026-11-10T03:00:00Z"


def later(**delta):
    moved = clock.now() + timedelta(**delta)
    clock.set_now(lambda: moved)


def error(r, status, code):
    assert r.status_code == status, r.data
    assert r.data["error"]["code"] == code, r.data
    assert r.data["error"]["message"]


@dataclass
class World:
    api: Api
    partner_id: str
    key: dict[str, str]
    other_partner_id: str
    other_key: dict[str, str]

    def campaign(self, launch=True, partner_id=None, **fields):
        body = {
            "name": "Coffee week",
            "partner_id": partner_id or self.partner_id,
            "voucher": {"title": "Coffee 50k", "value_vnd": 50_000},
            "points_price": 1_000,
            "inventory": 10,
            "starts_at": "2026-11-01T00:00:00Z",
            "ends_at": "2026-12-01T00:00:00Z",
            "voucher_valid_days": 30,
            **fields,
        }
        r = self.api.post("/v1/campaigns", body, headers=MARKETER)
        assert r.status_code == 201, r.data
        campaign_id = r.data["campaign_id"]
        if launch:
            r = self.api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
            assert r.status_code == 200, r.data
        return campaign_id

    def claim(self, campaign_id, who=SELF, **kw):
        return self.api.post(f"/v1/campaigns/{campaign_id}/claims", headers={**who, **kw.get("headers", {})})

    def balance(self, msisdn=ME):
        return self.api.get(f"/v1/subscribers/{msisdn}/points", headers=OPERATOR).data["balance"]

    def stats(self, campaign_id):
        r = self.api.get(f"/v1/campaigns/{campaign_id}", headers=MARKETER)
        assert r.status_code == 200, r.data
        return r.data["stats"]

    def redeem(self, code, key=None, order_ref="order-1", **kw):
        body = {"code": code, "order_ref": order_ref, **kw.pop("body", {})}
        return self.api.post("/v1/redemptions", body, headers={**(key or self.key), **kw.pop("headers", {})})


def _partner(api, name):
    r = api.post("/v1/partners", {"name": name}, headers=MARKETER)
    assert r.status_code == 201, r.data
    assert r.data["api_key"].startswith("dk_")
    return r.data["partner_id"], {"X-Api-Key": r.data["api_key"]}


@pytest.fixture(autouse=True)
def sequential_grants(monkeypatch):
    """moto applies a transaction's condition and write non-atomically across
    threads; DynamoDB (and the integration tests on the embedded engine) does not."""
    from chalicelib.vouchers import service

    monkeypatch.setattr(service, "GRANT_WORKERS", 1)


@pytest.fixture
def world(api):
    at(NOW)
    profiles = {
        ME: {
            "activated_on": "2020-03-15",
            "plan": "prepaid",
            "birthday": "1990-11-05",
            "province": "Hà Nội",
            "segments": ["high_value"],
        },
        OTHER: {"activated_on": "2026-06-01", "plan": "postpaid"},
    }
    for msisdn, profile in profiles.items():
        assert api.put(f"/v1/subscribers/{msisdn}", profile, headers=OPERATOR).status_code == 201
        r = api.post(f"/v1/subscribers/{msisdn}/adjustments", {"points": 10_000, "reason": "welcome"}, headers=OPERATOR)
        assert r.status_code == 201
    partner_id, key = _partner(api, "Highlands Coffee")
    other_id, other_key = _partner(api, "Phúc Long")
    return World(api, partner_id, key, other_id, other_key)


# -- partners -----------------------------------------------------------------


def test_key_rotation_keeps_old_keys_for_24_hours(world):
    api = world.api
    assert api.get("/v1/redemptions", headers=world.key).status_code == 200
    r = api.post(f"/v1/partners/{world.partner_id}/keys", headers=MARKETER)
    assert r.status_code == 201 and r.data["api_key"].startswith("dk_")
    new_key = {"X-Api-Key": r.data["api_key"]}
    assert api.get("/v1/redemptions", headers=new_key).status_code == 200
    later(hours=23)
    forget_cached_keys()
    assert api.get("/v1/redemptions", headers=world.key).status_code == 200
    later(hours=2)
    forget_cached_keys()
    error(api.get("/v1/redemptions", headers=world.key), 401, "UNAUTHENTICATED")
    assert api.get("/v1/redemptions", headers=new_key).status_code == 200
    error(api.post("/v1/partners/p_nope/keys", headers=MARKETER), 404, "NOT_FOUND")


def test_a_replayed_partner_creation_never_shows_a_key(world):
    headers = {**MARKETER, "Idempotency-Key": "partner-1"}
    first = world.api.post("/v1/partners", {"name": "Circle K"}, headers=headers)
    again = world.api.post("/v1/partners", {"name": "Circle K"}, headers=headers)
    assert first.status_code == again.status_code == 201
    assert first.data["api_key"] and again.data["api_key"] is None
    assert again.data["partner_id"] == first.data["partner_id"]


# -- campaigns ----------------------------------------------------------------


def test_lifecycle_and_illegal_transitions(world):
    api = world.api
    campaign_id = world.campaign(launch=False)
    r = api.get(f"/v1/campaigns/{campaign_id}", headers=MARKETER)
    assert r.data["status"] == "draft"
    assert r.data["stats"] == {"issued": 0, "redeemed": 0, "reversed": 0, "remaining": 10, "redemption_rate": 0.0}
    error(api.post(f"/v1/campaigns/{campaign_id}/pause", headers=MARKETER), 409, "INVALID_STATE")
    error(api.post(f"/v1/campaigns/{campaign_id}/end", headers=MARKETER), 409, "INVALID_STATE")
    steps = [("launch", "active"), ("pause", "paused"), ("launch", "active"), ("end", "ended")]
    for action, status in steps:
        r = api.post(f"/v1/campaigns/{campaign_id}/{action}", headers=MARKETER)
        assert r.status_code == 200 and r.data["status"] == status, r.data
    for action in ("launch", "pause", "end"):
        error(api.post(f"/v1/campaigns/{campaign_id}/{action}", headers=MARKETER), 409, "INVALID_STATE")
    error(api.call("PATCH", f"/v1/campaigns/{campaign_id}", {"inventory": 20}, headers=MARKETER), 409, "INVALID_STATE")
    error(api.post("/v1/campaigns/c_missing/launch", headers=MARKETER), 404, "NOT_FOUND")
    error(api.get("/v1/campaigns/c_missing", headers=MARKETER), 404, "NOT_FOUND")


def test_list_by_status_newest_first_with_cursor(world):
    api = world.api
    drafts = []
    for n in range(3):
        later(seconds=1)
        drafts.append(world.campaign(launch=False, name=f"draft {n}"))
    later(seconds=1)
    active = world.campaign()
    r = api.get("/v1/campaigns?status=draft&limit=2", headers=MARKETER)
    assert [c["campaign_id"] for c in r.data["items"]] == drafts[::-1][:2] and r.data["next_cursor"]
    r = api.get(f"/v1/campaigns?status=draft&limit=2&cursor={r.data['next_cursor']}", headers=MARKETER)
    assert [c["campaign_id"] for c in r.data["items"]] == drafts[:1]
    r = api.get("/v1/campaigns?status=active", headers=MARKETER)
    assert [c["campaign_id"] for c in r.data["items"]] == [active]
    r = api.get("/v1/campaigns", headers=MARKETER)
    assert [c["campaign_id"] for c in r.data["items"]] == [active, *drafts[::-1]]
    error(api.get("/v1/campaigns?status=bogus", headers=MARKETER), 400, "VALIDATION_ERROR")


def test_after_launch_inventory_only_grows_and_window_only_lengthens(world):
    api = world.api
    draft = world.campaign(launch=False)
    r = api.call(
        "PATCH", f"/v1/campaigns/{draft}", {"inventory": 3, "ends_at": "2026-11-20T00:00:00Z"}, headers=MARKETER
    )
    assert r.status_code == 200 and r.data["inventory"] == 3 and r.data["ends_at"] == "2026-11-20T00:00:00.000Z"
    r = api.call("PATCH", f"/v1/campaigns/{draft}", {"ends_at": "2026-10-01T00:00:00Z"}, headers=MARKETER)
    error(r, 400, "VALIDATION_ERROR")

    live = world.campaign(inventory=5, expected_peak_claims_per_second=1000)
    assert api.get(f"/v1/campaigns/{live}", headers=MARKETER).data["shard_count"] == 4
    assert world.claim(live).status_code == 201
    error(api.call("PATCH", f"/v1/campaigns/{live}", {"inventory": 4}, headers=MARKETER), 409, "INVALID_STATE")
    r = api.call("PATCH", f"/v1/campaigns/{live}", {"ends_at": "2026-11-30T00:00:00Z"}, headers=MARKETER)
    error(r, 409, "INVALID_STATE")
    r = api.call(
        "PATCH", f"/v1/campaigns/{live}", {"inventory": 12, "ends_at": "2027-01-01T00:00:00Z"}, headers=MARKETER
    )
    assert r.status_code == 200 and r.data["inventory"] == 12
    stats = world.stats(live)
    assert stats["issued"] == 1 and stats["remaining"] == 11 == 12 - stats["issued"]
    # the longer window holds on the shards too: a claim after the old end succeeds
    at("2026-12-15T00:00:00Z")
    assert world.claim(live, OTHER_SELF).status_code == 201


def test_sold_out_campaign_takes_claims_again_once_it_grows(world):
    campaign_id = world.campaign(inventory=1)
    assert world.claim(campaign_id).status_code == 201
    error(world.claim(campaign_id, OTHER_SELF), 409, "SOLD_OUT")
    r = world.api.call("PATCH", f"/v1/campaigns/{campaign_id}", {"inventory": 2}, headers=MARKETER)
    assert r.status_code == 200
    assert world.claim(campaign_id, OTHER_SELF).status_code == 201
    assert world.stats(campaign_id)["remaining"] == 0


def test_create_validation(world):
    api = world.api
    base = {
        "name": "x",
        "partner_id": world.partner_id,
        "voucher": {"title": "t", "value_vnd": 1},
        "points_price": 0,
        "inventory": 1,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 1,
    }
    bad = [
        {**base, "ends_at": "2026-10-01T00:00:00Z"},
        {**base, "voucher": {"title": "t", "value_vnd": 1, "percent_off": 10}},
        {**base, "voucher": {"title": "t"}},
        {**base, "partner_id": "p_unknown"},
        {**base, "inventory": 0},
        {**base, "colour": "red"},
        {**base, "starts_at": "2026-11-01T00:00:00"},
        {**base, "eligibility": {"min_tier": "platinum"}},
        {**base, "starts_at": "0001-01-01T00:00:00+01:00"},
        {**base, "ends_at": "3000-01-01T00:00:00Z"},
    ]
    for body in bad:
        error(api.post("/v1/campaigns", body, headers=MARKETER), 400, "VALIDATION_ERROR")
    error(api.post("/v1/campaigns", raw="{not json", headers=MARKETER), 400, "VALIDATION_ERROR")


# -- claims -------------------------------------------------------------------


def test_claim_debits_points_and_fills_the_wallet(world):
    api = world.api
    campaign_id = world.campaign()
    r = world.claim(campaign_id)
    assert r.status_code == 201, r.data
    voucher = r.data["voucher"]
    assert r.data["balance"] == 9_000 == world.balance()
    assert voucher["campaign_id"] == campaign_id and voucher["status"] == "issued"
    assert voucher["title"] == "Coffee 50k" and voucher["expires_at"] == "2026-12-10T03:00:00.000Z"
    assert codes.parse(voucher["code"]) and voucher["code"].count("-") == 4
    ledger = api.get(f"/v1/subscribers/{ME}/ledger", headers=SELF).data["items"]
    assert ledger[0]["kind"] == "spend" and ledger[0]["points"] == -1_000 and ledger[0]["balance_after"] == 9_000
    assert ledger[0]["entry_id"] == f"spend:{codes.parse(voucher['code'])}"
    wallet = api.get(f"/v1/subscribers/{ME}/vouchers", headers=SELF).data["items"]
    assert [v["code"] for v in wallet] == [voucher["code"]] and wallet[0]["value_vnd"] == 50_000
    assert world.stats(campaign_id) == {
        "issued": 1,
        "redeemed": 0,
        "reversed": 0,
        "remaining": 9,
        "redemption_rate": 0.0,
    }


def test_claim_is_retry_safe_with_an_idempotency_key(world):
    campaign_id = world.campaign(per_subscriber_limit=5)
    key = {"Idempotency-Key": "claim-1"}
    first = world.claim(campaign_id, headers=key)
    again = world.claim(campaign_id, headers=key)
    assert first.status_code == again.status_code == 201 and again.data == first.data
    assert world.balance() == 9_000 and world.stats(campaign_id)["issued"] == 1
    other = world.campaign()
    error(world.claim(other, headers=key), 422, "IDEMPOTENCY_KEY_REUSED")


def test_claim_refusals_change_nothing(world):
    api = world.api
    limited = world.campaign()
    assert world.claim(limited).status_code == 201
    error(world.claim(limited), 409, "LIMIT_REACHED")
    error(world.claim(world.campaign(points_price=20_000)), 409, "INSUFFICIENT_POINTS")
    sold = world.campaign(inventory=1)
    assert world.claim(sold, OTHER_SELF).status_code == 201
    error(world.claim(sold), 409, "SOLD_OUT")
    error(world.claim(world.campaign(launch=False)), 409, "CAMPAIGN_NOT_ACTIVE")
    paused = world.campaign()
    assert api.post(f"/v1/campaigns/{paused}/pause", headers=MARKETER).status_code == 200
    error(world.claim(paused), 409, "CAMPAIGN_NOT_ACTIVE")
    error(world.claim(world.campaign(starts_at="2026-11-20T00:00:00Z")), 409, "CAMPAIGN_NOT_ACTIVE")
    error(world.claim(world.campaign(ends_at="2026-11-10T02:00:00Z")), 409, "CAMPAIGN_NOT_ACTIVE")
    error(world.claim("c_missing"), 404, "NOT_FOUND")
    error(world.claim("c" * 3000), 404, "NOT_FOUND")
    assert world.balance() == 9_000 and world.balance(OTHER) == 9_000
    assert len(api.get(f"/v1/subscribers/{ME}/vouchers", headers=SELF).data["items"]) == 1


def test_a_new_owner_of_a_recycled_number_starts_a_fresh_claim_count(world):
    api = world.api
    campaign_id = world.campaign()
    assert world.claim(campaign_id).status_code == 201
    error(world.claim(campaign_id), 409, "LIMIT_REACHED")
    r = api.put(f"/v1/subscribers/{ME}", {"activated_on": "2026-11-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 200
    r = api.post(f"/v1/subscribers/{ME}/adjustments", {"points": 1_000, "reason": "welcome"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    r = world.claim(campaign_id)
    assert r.status_code == 201, r.data
    assert r.data["balance"] == 0
    error(world.claim(campaign_id), 409, "LIMIT_REACHED")
    assert world.stats(campaign_id)["issued"] == 2


@pytest.mark.parametrize(
    ("eligibility", "me", "other"),
    [
        ({"min_tier": "loyal"}, False, False),
        ({"min_tier": "potential"}, True, True),
        ({"min_tenure_months": 12}, True, False),
        ({"plans": ["postpaid"]}, False, True),
        ({"provinces": ["hà nội", "Huế"]}, True, False),
        ({"birthday_month": True}, True, False),
        ({"segments": ["churn_risk", "high_value"]}, True, False),
        ({"segments": ["churn_risk"]}, False, False),
    ],
)
def test_eligibility(world, eligibility, me, other):
    campaign_id = world.campaign(eligibility=eligibility)
    for who, expected in ((SELF, me), (OTHER_SELF, other)):
        r = world.claim(campaign_id, who)
        if expected:
            assert r.status_code == 201, r.data
        else:
            error(r, 403, "NOT_ELIGIBLE")
    msisdn_offers = world.api.get(f"/v1/subscribers/{ME}/offers", headers=SELF).data["items"]
    assert (campaign_id in [c["campaign_id"] for c in msisdn_offers]) is me


def test_offers_are_active_campaigns_in_window_the_subscriber_may_take(world):
    api = world.api
    open_to_all = world.campaign()
    world.campaign(eligibility={"min_tier": "gold"})
    world.campaign(launch=False)
    paused = world.campaign()
    assert api.post(f"/v1/campaigns/{paused}/pause", headers=MARKETER).status_code == 200
    world.campaign(starts_at="2026-11-20T00:00:00Z")
    r = api.get(f"/v1/subscribers/{ME}/offers", headers=SELF)
    assert r.status_code == 200 and [c["campaign_id"] for c in r.data["items"]] == [open_to_all]
    assert api.get(f"/v1/subscribers/{ME}/offers", headers=OPERATOR).status_code == 200
    error(api.get(f"/v1/subscribers/{ME}/offers", headers=OTHER_SELF), 404, "NOT_FOUND")


# -- grants -------------------------------------------------------------------


def test_grants_report_each_subscriber_and_are_safe_to_retry(world):
    api = world.api
    campaign_id = world.campaign(inventory=3, points_price=500)
    path = f"/v1/campaigns/{campaign_id}/grants"
    body = {"msisdns": [ME, "0971112233", "12345", "0990000000", "+84 96 123 4567"]}
    headers = {**MARKETER, "Idempotency-Key": "birthday-batch-1"}
    r = api.post(path, body, headers=headers)
    assert r.status_code == 200, r.data
    results = r.data["results"]
    assert [x["status"] for x in results] == ["issued", "issued", "VALIDATION_ERROR", "NOT_FOUND", "issued"]
    assert results[0]["code"] == results[4]["code"] != results[1]["code"]
    assert world.balance() == 10_000 and world.balance(OTHER) == 10_000  # grants are free
    assert world.stats(campaign_id)["issued"] == 2
    again = api.post(path, body, headers=headers)
    assert again.status_code == 200 and again.data == r.data
    assert world.stats(campaign_id)["issued"] == 2
    # a new request counts against the per-subscriber limit and the inventory
    r = api.post(path, {"msisdns": [ME]}, headers={**MARKETER, "Idempotency-Key": "batch-2"})
    assert r.data["results"] == [{"msisdn": ME, "status": "LIMIT_REACHED"}]
    wallet = api.get(f"/v1/subscribers/{ME}/vouchers", headers=SELF).data["items"]
    assert [v["code"] for v in wallet] == [results[0]["code"]]


def test_a_grant_request_without_a_key_is_recognised_by_its_content(world):
    campaign_id = world.campaign(per_subscriber_limit=3)
    path = f"/v1/campaigns/{campaign_id}/grants"
    first = world.api.post(path, {"msisdns": [ME, OTHER]}, headers=MARKETER)
    again = world.api.post(path, {"msisdns": [ME, OTHER]}, headers=MARKETER)
    assert [x["status"] for x in first.data["results"]] == ["issued", "issued"] and again.data == first.data
    other = world.api.post(path, {"msisdns": [OTHER, ME]}, headers=MARKETER)
    assert other.data["results"][0]["code"] != first.data["results"][1]["code"]
    assert world.stats(campaign_id)["issued"] == 4


def test_grant_limits_and_closed_campaigns(world):
    api = world.api
    campaign_id = world.campaign(inventory=1)
    r = api.post(f"/v1/campaigns/{campaign_id}/grants", {"msisdns": [ME, OTHER]}, headers=MARKETER)
    assert sorted(x["status"] for x in r.data["results"]) == ["SOLD_OUT", "issued"]
    r = api.post(f"/v1/campaigns/{campaign_id}/grants", {"msisdns": ["0961234567"] * 1001}, headers=MARKETER)
    error(r, 400, "VALIDATION_ERROR")
    error(api.post(f"/v1/campaigns/{campaign_id}/grants", {"msisdns": []}, headers=MARKETER), 400, "VALIDATION_ERROR")
    draft = world.campaign(launch=False)
    r = api.post(f"/v1/campaigns/{draft}/grants", {"msisdns": [ME]}, headers=MARKETER)
    error(r, 409, "CAMPAIGN_NOT_ACTIVE")
    error(api.post("/v1/campaigns/c_nope/grants", {"msisdns": [ME]}, headers=MARKETER), 404, "NOT_FOUND")


# -- partner look-up, redemption, reversal ------------------------------------------


@pytest.fixture
def voucher(world):
    campaign_id = world.campaign()
    r = world.claim(campaign_id)
    assert r.status_code == 201
    return campaign_id, r.data["voucher"]["code"]


def test_lookup_is_tolerant_and_sees_only_own_vouchers(world, voucher):
    api = world.api
    _, code = voucher
    r = api.get(f"/v1/vouchers/{code}", headers=world.key)
    assert r.status_code == 200, r.data
    assert r.data == {
        "code": code,
        "status": "issued",
        "title": "Coffee 50k",
        "value_vnd": 50_000,
        "expires_at": "2026-12-10T03:00:00.000Z",
    }
    sloppy = code.replace("-", "").lower().replace("1", "l").replace("0", "o")
    assert api.get(f"/v1/vouchers/{sloppy}", headers=world.key).data["code"] == code
    assert api.get(f"/v1/vouchers/{code.replace('-', '%20')}", headers=world.key).status_code == 200
    error(api.get(f"/v1/vouchers/{code}", headers=world.other_key), 404, "NOT_FOUND")
    typo = code[:-3] + ("A" if code[-3] != "A" else "B") + code[-2:]
    error(api.get(f"/v1/vouchers/{typo}", headers=world.key), 404, "NOT_FOUND")
    error(api.get(f"/v1/vouchers/{code}"), 401, "UNAUTHENTICATED")


def test_redeem_once_then_reverse_and_redeem_again(world, voucher):
    api = world.api
    campaign_id, code = voucher
    r = world.redeem(code, body={"store_id": "hcm-01"})
    assert r.status_code == 201, r.data
    redemption = r.data
    assert redemption["code"] == code and redemption["order_ref"] == "order-1" and redemption["store_id"] == "hcm-01"
    assert redemption["redeemed_at"] == "2026-11-10T03:00:00.000Z" and redemption["redemption_id"].startswith("rd_")
    error(world.redeem(code), 409, "ALREADY_REDEEMED")
    error(world.redeem(code, key=world.other_key), 404, "NOT_FOUND")
    assert api.get(f"/v1/vouchers/{code}", headers=world.key).data["status"] == "redeemed"
    wallet = api.get(f"/v1/subscribers/{ME}/vouchers", headers=SELF).data["items"]
    assert wallet[0]["status"] == "redeemed"
    assert world.stats(campaign_id) | {"remaining": None} == {
        "issued": 1,
        "redeemed": 1,
        "reversed": 0,
        "remaining": None,
        "redemption_rate": 1.0,
    }

    path = f"/v1/redemptions/{redemption['redemption_id']}/reversal"
    error(api.post(path, headers=world.other_key), 404, "NOT_FOUND")
    later(days=2)
    r = api.post(path, headers=world.key)
    assert r.status_code == 200, r.data
    assert r.data == {
        "redemption_id": redemption["redemption_id"],
        "reversed_at": "2026-11-12T03:00:00.000Z",
        "voucher_status": "issued",
    }
    error(api.post(path, headers=world.key), 409, "INVALID_STATE")
    stats = world.stats(campaign_id)
    assert stats["redeemed"] == 0 and stats["reversed"] == 1
    assert world.redeem(code, order_ref="order-2").status_code == 201
    listed = api.get("/v1/redemptions", headers=world.key).data["items"]
    assert [(x["order_ref"], x["reversed_at"]) for x in listed] == [
        ("order-1", "2026-11-12T03:00:00.000Z"),
        ("order-2", None),
    ]


def test_redeem_is_retry_safe_with_an_idempotency_key(world, voucher):
    _, code = voucher
    headers = {"Idempotency-Key": "till-7-order-1"}
    first = world.redeem(code, headers=headers)
    again = world.redeem(code, headers=headers)
    assert first.status_code == again.status_code == 201 and again.data == first.data
    error(world.redeem(code, order_ref="order-2", headers=headers), 422, "IDEMPOTENCY_KEY_REUSED")


def test_expired_vouchers_read_as_expired_before_the_job_and_cannot_be_redeemed(world, voucher):
    api = world.api
    _, code = voucher
    at("2026-12-10T03:00:00Z")
    assert api.get(f"/v1/vouchers/{code}", headers=world.key).data["status"] == "expired"
    assert api.get(f"/v1/subscribers/{ME}/vouchers", headers=SELF).data["items"][0]["status"] == "expired"
    error(world.redeem(code), 409, "VOUCHER_EXPIRED")
    assert Voucher.get(codes.parse(code)).status == "issued"
    at("2026-12-11T03:00:00Z")
    from chalicelib.vouchers import service

    assert service.expire_vouchers()["vouchers"] == 1
    stored = Voucher.get(codes.parse(code))
    assert stored.status == "expired" and stored.expiry_due is None
    assert service.expire_vouchers()["vouchers"] == 0


def test_cancelled_voucher_of_a_recycled_number_is_not_redeemable(world, voucher):
    _, code = voucher
    r = world.api.put(f"/v1/subscribers/{ME}", {"activated_on": "2026-11-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 200
    assert world.api.get(f"/v1/vouchers/{code}", headers=world.key).data["status"] == "cancelled"
    error(world.redeem(code), 409, "VOUCHER_NOT_REDEEMABLE")
    assert world.api.get(f"/v1/subscribers/{ME}/vouchers", headers=SELF).data["items"] == []


def test_a_redemption_of_a_recycled_numbers_old_owner_is_reversed_to_cancelled(world, voucher):
    """Recycling settles every voucher of the old owner: reversing a redemption
    never brings back a voucher belonging to nobody."""
    _, code = voucher
    redeemed = world.redeem(code)
    assert redeemed.status_code == 201
    r = world.api.put(f"/v1/subscribers/{ME}", {"activated_on": "2026-11-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 200
    r = world.api.post(f"/v1/redemptions/{redeemed.data['redemption_id']}/reversal", headers=world.key)
    assert r.status_code == 200 and r.data["voucher_status"] == "cancelled"
    assert world.api.get(f"/v1/vouchers/{code}", headers=world.key).data["status"] == "cancelled"
    error(world.redeem(code, order_ref="again"), 409, "VOUCHER_NOT_REDEEMABLE")


def test_recycling_cancels_every_issued_voucher_beyond_one_transaction(world):
    """More issued vouchers than one transaction holds (90 with the balance and
    ledger items): every one is cancelled."""
    campaign_id = world.campaign(inventory=120, per_subscriber_limit=120, points_price=0)
    r = world.api.post(f"/v1/campaigns/{campaign_id}/grants", {"msisdns": [ME] * 1}, headers=MARKETER)
    assert r.status_code == 200
    codes_ = [r.data["results"][0]["code"]]
    for _ in range(104):
        claimed = world.claim(campaign_id)
        assert claimed.status_code == 201
        codes_.append(claimed.data["voucher"]["code"])
    r = world.api.put(f"/v1/subscribers/{ME}", {"activated_on": "2026-11-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 200
    statuses = {world.api.get(f"/v1/vouchers/{c}", headers=world.key).data["status"] for c in codes_}
    assert statuses == {"cancelled"}


def test_reversal_window_and_reversal_after_expiry(world):
    api = world.api
    campaign_id = world.campaign(voucher_valid_days=5, per_subscriber_limit=2)
    codes_ = [world.claim(campaign_id).data["voucher"]["code"] for _ in range(2)]
    ids = [world.redeem(c, order_ref=f"o{n}").data["redemption_id"] for n, c in enumerate(codes_)]
    later(days=6)
    r = api.post(f"/v1/redemptions/{ids[0]}/reversal", headers=world.key)
    assert r.status_code == 200 and r.data["voucher_status"] == "expired"
    assert api.get(f"/v1/vouchers/{codes_[0]}", headers=world.key).data["status"] == "expired"
    later(days=25)
    error(api.post(f"/v1/redemptions/{ids[1]}/reversal", headers=world.key), 409, "INVALID_STATE")
    error(api.post("/v1/redemptions/rd_unknown/reversal", headers=world.key), 404, "NOT_FOUND")


def test_settlement_list_by_period(world):
    api = world.api
    campaign_id = world.campaign(per_subscriber_limit=3)
    for day in ("2026-11-10T03:00:00Z", "2026-11-11T18:00:00Z", "2026-11-12T03:00:00Z"):
        at(day)
        code = world.claim(campaign_id).data["voucher"]["code"]
        assert world.redeem(code, order_ref=day).status_code == 201
    # 2026-11-11T18:00Z is 12 November in Asia/Ho_Chi_Minh
    r = api.get("/v1/redemptions?from=2026-11-11&to=2026-11-12", headers=world.key)
    assert [x["order_ref"] for x in r.data["items"]] == ["2026-11-11T18:00:00Z", "2026-11-12T03:00:00Z"]
    r = api.get("/v1/redemptions?from=2026-11-10T00:00:00Z&to=2026-11-11T18:00:00Z", headers=world.key)
    assert [x["order_ref"] for x in r.data["items"]] == ["2026-11-10T03:00:00Z"]
    r = api.get("/v1/redemptions?limit=2", headers=world.key)
    assert len(r.data["items"]) == 2 and r.data["next_cursor"]
    assert api.get("/v1/redemptions", headers=world.other_key).data["items"] == []
    error(api.get("/v1/redemptions?from=yesterday", headers=world.key), 400, "VALIDATION_ERROR")
    error(api.get("/v1/redemptions?from=2026-11-12&to=2026-11-01", headers=world.key), 400, "VALIDATION_ERROR")


def test_unknown_codes_over_the_hourly_limit_get_429_until_the_hour_ends(world, voucher):
    api = world.api
    _, code = voucher
    at("2026-11-10T03:10:00Z")
    for n in range(100):
        guess = codes.display(codes.new_code())
        r = api.get(f"/v1/vouchers/{guess}", headers=world.key) if n % 2 else world.redeem(guess)
        error(r, 404, "NOT_FOUND")
    error(api.get(f"/v1/vouchers/{codes.display(codes.new_code())}", headers=world.key), 429, "TOO_MANY_ATTEMPTS")
    error(api.get(f"/v1/vouchers/{code}", headers=world.key), 429, "TOO_MANY_ATTEMPTS")
    error(world.redeem(code), 429, "TOO_MANY_ATTEMPTS")
    # another partner is not affected
    error(api.get(f"/v1/vouchers/{code}", headers=world.other_key), 404, "NOT_FOUND")
    at("2026-11-10T04:00:00Z")
    assert api.get(f"/v1/vouchers/{code}", headers=world.key).status_code == 200
    counter = Counter.get(f"unknown#{world.partner_id}#2026-11-10T03")
    assert counter.count == 101 and counter.expires_at.isoformat() == "2026-11-10T05:00:00+00:00"


def test_expiry_job_reads_the_due_index_never_a_scan(world, voucher, monkeypatch):
    def no_scan(*args, **kwargs):
        raise AssertionError("the expiry job must not Scan")

    monkeypatch.setattr(Voucher, "scan", no_scan)
    at("2026-12-12T00:00:00Z")
    import app as app_module

    event = {
        "version": "0",
        "id": "e-1",
        "detail-type": "Scheduled Event",
        "source": "aws.events",
        "account": "123456789012",
        "time": "2026-12-11T17:10:00Z",
        "region": "ap-southeast-1",
        "resources": ["arn:aws:events:ap-southeast-1:123456789012:rule/expire_vouchers"],
        "detail": {},
    }
    assert app_module.expire_vouchers(event, None)["vouchers"] == 1


def test_round_trips_are_the_minimum(world):
    """TARGETS.md: claim = 1 BatchGetItem + 1 TransactWriteItems; redeem = 1
    TransactWriteItems; partner look-up = 1 GetItem (keys cached when warm)."""
    from chalicelib import store

    calls = []
    client = store.binding.client()

    def record(model, **kwargs):
        calls.append(model.name)

    client.meta.events.register("before-call.dynamodb", record)
    try:
        campaign_id = world.campaign(per_subscriber_limit=3)
        for _ in range(2):  # cold (campaign not cached yet) and warm
            calls.clear()
            code = world.claim(campaign_id).data["voucher"]["code"]
            assert calls == ["BatchGetItem", "TransactWriteItems"]
        assert world.api.get(f"/v1/vouchers/{code}", headers=world.key).status_code == 200  # warms the partner's key
        calls.clear()
        assert world.api.get(f"/v1/vouchers/{code}", headers=world.key).status_code == 200
        assert calls == ["GetItem"]
        calls.clear()
        assert world.redeem(code).status_code == 201
        assert calls == ["TransactWriteItems"]
        calls.clear()
        error(world.redeem(code), 409, "ALREADY_REDEEMED")
        assert calls == ["TransactWriteItems"]
    finally:
        client.meta.events.unregister("before-call.dynamodb", record)


def test_a_grant_row_that_failed_for_a_retryable_reason_is_tried_again_with_the_same_key(world, monkeypatch):
    """A row refused for a reason that may pass (503 SERVICE_UNAVAILABLE) is not frozen into the
    answer replayed for 24 h: the same key sends again, the issued row replays its own record."""
    from chalicelib.errors import Unavailable
    from chalicelib.vouchers import service

    real, refused = service.issue, []

    def busy_once(msisdn: str, *args, **kwargs):
        if msisdn == OTHER and not refused:
            refused.append(msisdn)
            raise Unavailable("The account is busy.")
        return real(msisdn, *args, **kwargs)

    monkeypatch.setattr(service, "issue", busy_once)
    campaign_id = world.campaign(inventory=5)
    path = f"/v1/campaigns/{campaign_id}/grants"
    headers = {**MARKETER, "Idempotency-Key": "retry-batch-1"}
    first = world.api.post(path, {"msisdns": [ME, OTHER]}, headers=headers)
    assert [x["status"] for x in first.data["results"]] == ["issued", "SERVICE_UNAVAILABLE"] and refused == [OTHER]
    again = world.api.post(path, {"msisdns": [ME, OTHER]}, headers=headers)
    assert [x["status"] for x in again.data["results"]] == ["issued", "issued"]
    assert again.data["results"][0] == first.data["results"][0]  # the same voucher, replayed
    assert world.stats(campaign_id)["issued"] == 2
    third = world.api.post(path, {"msisdns": [ME, OTHER]}, headers=headers)
    assert third.data == again.data and world.stats(campaign_id)["issued"] == 2
