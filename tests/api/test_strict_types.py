"""Request bodies are strictly typed (API.md, second release): a string, a
boolean or a float where an integer is expected, anything but true/false for a
boolean, a number for a date or a timestamp, and an unknown field are each a 400
VALIDATION_ERROR that changes nothing; dates and timestamps still parse from
their ISO 8601 strings (every valid body below has some)."""

from __future__ import annotations

import copy
from typing import Any

import pytest

from conftest import MARKETER, OPERATOR, at, auth

ME = "84961234567"
NOW = "2026-11-10T03:00:00Z"


def _refused(r: Any) -> None:
    assert r.status_code == 400, r.data
    assert r.data["error"]["code"] == "VALIDATION_ERROR", r.data


def _with(body: dict[str, Any], path: str, value: Any) -> dict[str, Any]:
    """`body` with the field at dotted `path` set to `value`."""
    changed = copy.deepcopy(body)
    *parents, name = path.split(".")
    target = changed
    for parent in parents:
        target = target[parent]
    target[name] = value
    return changed


@pytest.fixture
def member(api):
    at(NOW)
    r = api.put(f"/v1/subscribers/{ME}", {"activated_on": "2020-03-15", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    return api


def _balance(api) -> int:
    return api.get(f"/v1/subscribers/{ME}/points", headers=OPERATOR).data["balance"]


# -- spend events ---------------------------------------------------------------

EVENT = {
    "event_id": "strict-1",
    "msisdn": "0961234567",
    "amount_vnd": 100_000,
    "service": "mobile",
    "occurred_at": "2026-11-09T03:00:00Z",
}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("amount_vnd", "100000"),  # applied as 100,000 VND before
        ("amount_vnd", True),
        ("amount_vnd", 100000.0),
        ("amount_vnd", 1e5),
        ("occurred_at", 1762657200),  # unix seconds for a timestamp
        ("unknown", 1),
    ],
)
def test_spend_event_refuses_loose_types_and_applies_nothing(member, field, value):
    _refused(member.post("/v1/spend-events", _with(EVENT, field, value), headers=OPERATOR))
    assert _balance(member) == 0
    # the event was not recorded: the valid one is new (201), not a replay (200)
    r = member.post("/v1/spend-events", EVENT, headers=OPERATOR)
    assert r.status_code == 201, r.data
    assert _balance(member) == 5_000


# -- profiles -------------------------------------------------------------------

PROFILE = {"activated_on": "2020-03-15", "plan": "postpaid", "birthday": "1990-08-02", "segments": ["high_value"]}


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("activated_on", 1584230400),  # 2020-03-15 as unix seconds
        ("birthday", 649555200),
        ("plan", True),
        ("unknown", "x"),
    ],
)
def test_profile_refuses_loose_types(member, field, value):
    _refused(member.put(f"/v1/subscribers/{ME}", _with(PROFILE, field, value), headers=OPERATOR))
    shown = member.get(f"/v1/subscribers/{ME}", headers=OPERATOR).data
    assert shown["plan"] == "prepaid" and shown["birthday"] is None
    assert member.put(f"/v1/subscribers/{ME}", PROFILE, headers=OPERATOR).status_code == 200


# -- adjustments -----------------------------------------------------------------

ADJUSTMENT = {"points": 500, "reason": "goodwill"}


@pytest.mark.parametrize(
    ("field", "value"), [("points", "500"), ("points", True), ("points", 500.0), ("reason", 5), ("by", "me")]
)
def test_adjustment_refuses_loose_types(member, field, value):
    _refused(member.post(f"/v1/subscribers/{ME}/adjustments", _with(ADJUSTMENT, field, value), headers=OPERATOR))
    assert _balance(member) == 0
    assert member.post(f"/v1/subscribers/{ME}/adjustments", ADJUSTMENT, headers=OPERATOR).status_code == 201


# -- partners, campaigns, grants, claims, redemptions ------------------------------


@pytest.fixture
def partner(member):
    r = member.post("/v1/partners", {"name": "Highlands Coffee"}, headers=MARKETER)
    assert r.status_code == 201, r.data
    return r.data["partner_id"], {"X-Api-Key": r.data["api_key"]}


def _campaign(partner_id: str) -> dict[str, Any]:
    return {
        "name": "Coffee week",
        "partner_id": partner_id,
        "voucher": {"title": "Coffee 50k", "value_vnd": 50_000, "terms": "One per visit"},
        "points_price": 1_000,
        "inventory": 10,
        "per_subscriber_limit": 1,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 30,
        "eligibility": {"min_tier": "potential", "min_tenure_months": 1, "birthday_month": False},
        "expected_peak_claims_per_second": 10,
    }


def _campaigns(api) -> list[Any]:
    return api.get("/v1/campaigns", headers=MARKETER).data["items"]


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("points_price", "1000"),
        ("points_price", True),
        ("inventory", 10.0),
        ("per_subscriber_limit", True),
        ("voucher_valid_days", "30"),
        ("expected_peak_claims_per_second", 10.0),
        ("voucher.value_vnd", "50000"),
        ("voucher.value_vnd", 50000.0),
        ("eligibility.min_tenure_months", "1"),
        ("eligibility.min_tenure_months", False),
        ("eligibility.birthday_month", 1),
        ("eligibility.birthday_month", "true"),
        ("starts_at", 1761955200),
        ("voucher.colour", "red"),
        ("eligibility.vip", True),
        ("owner", "x"),
    ],
)
def test_campaign_refuses_loose_types(partner, member, field, value):
    partner_id, _ = partner
    _refused(member.post("/v1/campaigns", _with(_campaign(partner_id), field, value), headers=MARKETER))
    assert _campaigns(member) == []
    assert member.post("/v1/campaigns", _campaign(partner_id), headers=MARKETER).status_code == 201


def test_percent_off_is_an_integer(partner, member):
    body = _campaign(partner[0])
    del body["voucher"]["value_vnd"]
    for value in (10.0, "10", True):
        _refused(member.post("/v1/campaigns", _with(body, "voucher.percent_off", value), headers=MARKETER))
    assert member.post("/v1/campaigns", _with(body, "voucher.percent_off", 10), headers=MARKETER).status_code == 201


@pytest.mark.parametrize(
    ("patch"),
    [{"inventory": "20"}, {"inventory": 20.0}, {"inventory": True}, {"ends_at": 1765756800}, {"status": "ended"}],
)
def test_campaign_patch_refuses_loose_types(partner, member, patch):
    campaign_id = member.post("/v1/campaigns", _campaign(partner[0]), headers=MARKETER, expect=201).data["campaign_id"]
    _refused(member.call("PATCH", f"/v1/campaigns/{campaign_id}", patch, headers=MARKETER))
    assert member.get(f"/v1/campaigns/{campaign_id}", headers=MARKETER).data["inventory"] == 10
    r = member.call("PATCH", f"/v1/campaigns/{campaign_id}", {"inventory": 20, "ends_at": "2026-12-15T00:00:00Z"},
                    headers=MARKETER)  # fmt: skip
    assert r.status_code == 200 and r.data["inventory"] == 20, r.data


@pytest.mark.parametrize("body", [{"name": 5}, {"name": ["Circle K"]}, {"name": "Circle K", "api_key": "dk_x"}])
def test_partner_refuses_loose_types(member, body):
    _refused(member.post("/v1/partners", body, headers=MARKETER))


@pytest.mark.parametrize(
    "body", [{"msisdns": "0961234567"}, {"msisdns": [84961234567]}, {"msisdns": [ME], "points": 1}]
)
def test_grant_refuses_loose_types(partner, member, body):
    campaign_id = member.post("/v1/campaigns", _campaign(partner[0]), headers=MARKETER, expect=201).data["campaign_id"]
    assert member.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER).status_code == 200
    _refused(member.post(f"/v1/campaigns/{campaign_id}/grants", body, headers=MARKETER))
    assert member.get(f"/v1/subscribers/{ME}/vouchers", headers=OPERATOR).data["items"] == []


def test_claim_refuses_any_field(partner, member):
    campaign_id = member.post("/v1/campaigns", _campaign(partner[0]), headers=MARKETER, expect=201).data["campaign_id"]
    assert member.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER).status_code == 200
    _refused(member.post(f"/v1/campaigns/{campaign_id}/claims", {"quantity": 1}, headers=auth("subscriber", ME)))


@pytest.mark.parametrize(
    "body",
    [
        {"code": 12345678, "order_ref": "o-1"},
        {"code": "ABCD-EFGH", "order_ref": 1},
        {"code": "ABCD-EFGH", "order_ref": "o-1", "store_id": 42},
        {"code": "ABCD-EFGH", "order_ref": "o-1", "amount_vnd": 1},
    ],
)
def test_redemption_refuses_loose_types(partner, member, body):
    _refused(member.post("/v1/redemptions", body, headers=partner[1]))
