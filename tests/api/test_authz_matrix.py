"""Every partner, campaign, voucher and redemption route called by every wrong
principal (nobody, a forged key, the wrong role, another subscriber, another
partner) is refused, and nothing in any table changes."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from chalicelib import clock, store
from chalicelib.store import schema
from conftest import MARKETER, OPERATOR, auth

ME = "84961234567"
OTHER = "84971112233"
SUBSCRIBER = auth("subscriber", ME)
OTHER_SUBSCRIBER = auth("subscriber", OTHER)
NOBODY: dict[str, str] = {}
FORGED_KEY = {"X-Api-Key": "dk_forged-key-that-was-never-issued"}

BEARER_REFUSED = {"nobody": 401, "forged key": 401}
NOT_FOR_PARTNERS = {"partner": 401}


@pytest.fixture(autouse=True)
def sequential_grants(monkeypatch):
    from chalicelib.vouchers import service

    monkeypatch.setattr(service, "GRANT_WORKERS", 1)  # moto's transactions are not thread-safe


@pytest.fixture
def world(api):
    now = datetime(2026, 11, 10, 3, tzinfo=UTC)
    clock.set_now(lambda: now)
    for msisdn in (ME, OTHER):
        assert api.put(f"/v1/subscribers/{msisdn}", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR)
        api.post(f"/v1/subscribers/{msisdn}/adjustments", {"points": 10_000, "reason": "float"}, headers=OPERATOR)
    partner = api.post("/v1/partners", {"name": "A"}, headers=MARKETER).data
    other = api.post("/v1/partners", {"name": "B"}, headers=MARKETER).data
    campaign = {
        "name": "c",
        "partner_id": partner["partner_id"],
        "voucher": {"title": "t", "value_vnd": 1_000},
        "points_price": 100,
        "inventory": 10,
        "per_subscriber_limit": 5,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 30,
    }
    campaign_id = api.post("/v1/campaigns", campaign, headers=MARKETER).data["campaign_id"]
    api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
    codes = [api.post(f"/v1/campaigns/{campaign_id}/claims", headers=SUBSCRIBER).data["voucher"]["code"] for _ in "ab"]
    redeemed = api.post(
        "/v1/redemptions", {"code": codes[1], "order_ref": "o-1"}, headers={"X-Api-Key": partner["api_key"]}
    )
    assert redeemed.status_code == 201
    return {
        "api": api,
        "partner_id": partner["partner_id"],
        "campaign_id": campaign_id,
        "code": codes[0],
        "redemption_id": redeemed.data["redemption_id"],
        "principals": {
            "nobody": NOBODY,
            "forged key": FORGED_KEY,
            "subscriber": SUBSCRIBER,
            "other subscriber": OTHER_SUBSCRIBER,
            "operator": OPERATOR,
            "marketer": MARKETER,
            "partner": {"X-Api-Key": partner["api_key"]},
            "other partner": {"X-Api-Key": other["api_key"]},
        },
    }


MARKETER_ONLY = {
    **BEARER_REFUSED,
    **NOT_FOR_PARTNERS,
    "subscriber": 403,
    "operator": 403,
    "other partner": 401,
}
PARTNER_ONLY = {
    "nobody": 401,
    "forged key": 401,
    "subscriber": 401,
    "operator": 401,
    "marketer": 401,
    "other partner": 404,
}
# (method, path, body, {principal: refusal status})
ROUTES = [
    ("POST", "/v1/partners", {"name": "x"}, MARKETER_ONLY),
    ("POST", "/v1/partners/{partner_id}/keys", None, MARKETER_ONLY),
    ("POST", "/v1/campaigns", {"name": "x"}, MARKETER_ONLY),
    ("GET", "/v1/campaigns", None, MARKETER_ONLY),
    ("GET", "/v1/campaigns/{campaign_id}", None, MARKETER_ONLY),
    ("PATCH", "/v1/campaigns/{campaign_id}", {"inventory": 50}, MARKETER_ONLY),
    ("POST", "/v1/campaigns/{campaign_id}/pause", None, MARKETER_ONLY),
    ("POST", "/v1/campaigns/{campaign_id}/end", None, MARKETER_ONLY),
    ("POST", "/v1/campaigns/{campaign_id}/launch", None, MARKETER_ONLY),
    ("POST", "/v1/campaigns/{campaign_id}/grants", {"msisdns": [OTHER]}, MARKETER_ONLY),
    (
        "POST",
        "/v1/campaigns/{campaign_id}/claims",
        None,
        {**BEARER_REFUSED, **NOT_FOR_PARTNERS, "operator": 403, "marketer": 403, "other partner": 401},
    ),
    (
        "GET",
        f"/v1/subscribers/{ME}/vouchers",
        None,
        {**BEARER_REFUSED, **NOT_FOR_PARTNERS, "other subscriber": 404, "marketer": 403, "other partner": 401},
    ),
    (
        "GET",
        f"/v1/subscribers/{ME}/offers",
        None,
        {**BEARER_REFUSED, **NOT_FOR_PARTNERS, "other subscriber": 404, "marketer": 403, "other partner": 401},
    ),
    ("GET", "/v1/vouchers/{code}", None, PARTNER_ONLY),
    ("POST", "/v1/redemptions", {"code": "{code}", "order_ref": "o-2"}, PARTNER_ONLY),
    ("POST", "/v1/redemptions/{redemption_id}/reversal", None, PARTNER_ONLY),
    ("GET", "/v1/redemptions", None, {k: v for k, v in PARTNER_ONLY.items() if k != "other partner"}),
]


def _snapshot() -> dict[str, list]:
    """Every item of every table (the enumeration counter of unknown codes is
    the one write a refusal makes, by design)."""
    client = store.binding.client()
    prefix = store.Subscriber.Meta.table_name[: -len(store.Subscriber.Meta.base_name)]
    out = {}
    for definition in schema.table_definitions(prefix):
        items = client.scan(TableName=definition["TableName"], ConsistentRead=True)["Items"]
        items = [i for i in items if not i.get("counter_id", {}).get("S", "").startswith("unknown#")]
        out[definition["TableName"]] = sorted(items, key=repr)
    return out


def _fill(value, world):
    if isinstance(value, str):
        return value.format(**{k: v for k, v in world.items() if isinstance(v, str)})
    if isinstance(value, dict):
        return {k: _fill(v, world) for k, v in value.items()}
    return value


@pytest.mark.parametrize(("method", "path", "body", "refusals"), ROUTES, ids=[f"{m} {p}" for m, p, _, _ in ROUTES])
def test_wrong_principals_are_refused_and_change_nothing(world, method, path, body, refusals):
    api = world["api"]
    url, payload = _fill(path, world), _fill(body, world)
    before = _snapshot()
    for principal, status in refusals.items():
        r = api.call(method, url, payload, headers=world["principals"][principal])
        assert r.status_code == status, (principal, r.status_code, r.data)
        if r.data and "error" in r.data:
            assert r.data["error"]["code"] in ("UNAUTHENTICATED", "FORBIDDEN", "NOT_FOUND"), r.data
        assert _snapshot() == before, f"{principal} changed data with {method} {url}"


def test_another_partner_lists_none_of_this_partners_redemptions(world):
    other = world["principals"]["other partner"]
    assert world["api"].get("/v1/redemptions", headers=other).data == {"items": [], "next_cursor": None}
