"""The authorisation matrix: every route of the app's own route table x every
principal, against the callers API.md names for it.

The routes come from the registry (`app.api.specs`, which must be every route
Chalice serves), so a route added without an entry in `CONTRACT` fails here.
`CONTRACT` is written from API.md, not from the routes' declarations: widening
a route's `roles` in app.py makes its refusals turn into successes, and the
test fails. For each route:
- every principal who may not call it is refused with the status API.md gives
  (no or bad credentials 401, wrong role 403, another subscriber's MSISDN or
  another partner's object 404), in the error shape, with the *valid* request,
  and every table is unchanged after each refusal (all tables scanned);
- the allowed principal then succeeds with that same request (the positive
  control: the refusals were not refusals of a bad request).
"""

from __future__ import annotations

import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any
from urllib.parse import urlencode

import jwt
import pytest

import app as app_module
from chalicelib import clock, store
from conftest import MARKETER, OPERATOR, auth

ME = "84961234567"
OTHER = "84971112233"
NOW = datetime(2026, 11, 10, 3, tzinfo=UTC)
SECRET_FOR_FORGING = "not-the-secret-" * 3


def _bearer(claims: dict[str, Any], secret: str | None = None) -> dict[str, str]:
    from chalicelib import config

    return {"Authorization": f"Bearer {jwt.encode(claims, secret or config.settings().jwt_secret, algorithm='HS256')}"}


def _principals(
    partner_key: str, other_key: str, ussd_key: str = "gk", sms_key: str = "gk"
) -> dict[str, dict[str, str]]:
    now = int(time.time())
    operator = {"sub": "crm-1", "role": "operator"}
    return {
        "nobody": {},
        "forged key": {"X-Api-Key": "dk_forged-key-that-was-never-issued"},
        "forged token": _bearer({**operator, "iat": now, "exp": now + 600}, SECRET_FOR_FORGING),
        "expired token": _bearer({**operator, "iat": now - 700, "exp": now - 100}),
        "long-lived token": _bearer({**operator, "iat": now, "exp": now + 13 * 3600}),
        "subscriber": auth("subscriber", ME),
        "other subscriber": auth("subscriber", OTHER),
        "operator": OPERATOR,
        "marketer": MARKETER,
        "partner": {"X-Api-Key": partner_key},
        "other partner": {"X-Api-Key": other_key},
        "forged gateway key": {"X-Gateway-Key": "gk_forged-key-that-was-never-issued"},
        "ussd gateway": {"X-Gateway-Key": ussd_key},
        "sms gateway": {"X-Gateway-Key": sms_key},
    }


PRINCIPALS = tuple(_principals("k", "k"))
# the role each principal authenticates as, None if it cannot authenticate
ROLE = {
    "nobody": None,
    "forged key": None,
    "forged token": None,
    "expired token": None,
    "long-lived token": None,
    "subscriber": "subscriber",
    "other subscriber": "subscriber",
    "operator": "operator",
    "marketer": "marketer",
    "partner": "partner",
    "other partner": "partner",
    "forged gateway key": None,
    "ussd gateway": "gateway",
    "sms gateway": "gateway",
}
# the channel each gateway principal's key is for
CHANNEL = {"ussd gateway": "ussd", "sms gateway": "sms"}
ANYONE: tuple[str, ...] = ()


@dataclass(frozen=True)
class Rule:
    """What API.md says about one route, and a valid request for its positive control."""

    callers: tuple[str, ...]  # roles; () = no authentication
    status: int  # the positive control's status
    body: Any = None
    # the path's object belongs to one partner: another partner gets 404
    partner_object: bool = False
    # which allowed principal runs the positive control (default: the first role's)
    control: str | None = None
    # the path's object belongs to its members (a household): another subscriber gets 404
    member_object: bool = False
    # a gateway route: the channel its key must be for, and its form-encoded body (if any)
    channel: str | None = None
    form: dict[str, str] = field(default_factory=dict)
    # the path's object is this principal's own (a webhook endpoint): any other caller, of an allowed role too, gets 404
    owned_by: str | None = None
    # a POST that changes no table (the dev sign-in mints a token): checked like a GET
    writes: bool = True


def _campaign_body(partner_id: str = "{partner_id}") -> dict[str, Any]:
    return {
        "name": "c",
        "partner_id": partner_id,
        "voucher": {"title": "t", "value_vnd": 1_000},
        "points_price": 100,
        "inventory": 10,
        "per_subscriber_limit": 5,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 30,
    }


OPERATOR_ONLY = ("operator",)
SELF_OR_OPERATOR = ("subscriber", "operator")
MARKETER_ONLY = ("marketer",)
PARTNER = ("partner",)
GATEWAY = ("gateway",)
OPERATOR_OR_PARTNER = ("operator", "partner")

CONTRACT: dict[tuple[str, str], Rule] = {
    ("GET", "/v1/health"): Rule(ANYONE, 200),
    ("GET", "/v1/openapi.json"): Rule(ANYONE, 200),
    ("PUT", "/v1/subscribers/{msisdn}"): Rule(OPERATOR_ONLY, 200, {"activated_on": "2020-01-01", "plan": "postpaid"}),
    ("GET", "/v1/subscribers/{msisdn}"): Rule(SELF_OR_OPERATOR, 200),
    ("POST", "/v1/spend-events"): Rule(
        OPERATOR_ONLY,
        201,
        {
            "event_id": "bill-1",
            "msisdn": ME,
            "amount_vnd": 100_000,
            "service": "mobile",
            "occurred_at": "2026-11-09T00:00:00Z",
        },
    ),
    ("GET", "/v1/subscribers/{msisdn}/points"): Rule(SELF_OR_OPERATOR, 200),
    ("GET", "/v1/subscribers/{msisdn}/ledger"): Rule(SELF_OR_OPERATOR, 200),
    ("POST", "/v1/subscribers/{msisdn}/adjustments"): Rule(OPERATOR_ONLY, 201, {"points": 500, "reason": "gift"}),
    ("GET", "/v1/subscribers/{msisdn}/vouchers"): Rule(SELF_OR_OPERATOR, 200),
    ("GET", "/v1/subscribers/{msisdn}/offers"): Rule(SELF_OR_OPERATOR, 200),
    ("POST", "/v1/partners"): Rule(MARKETER_ONLY, 201, {"name": "x"}),
    ("POST", "/v1/partners/{partner_id}/keys"): Rule(MARKETER_ONLY, 201),
    ("POST", "/v1/campaigns"): Rule(MARKETER_ONLY, 201, _campaign_body()),
    ("GET", "/v1/campaigns"): Rule(MARKETER_ONLY, 200),
    ("GET", "/v1/campaigns/{campaign_id}"): Rule(MARKETER_ONLY, 200),
    ("PATCH", "/v1/campaigns/{campaign_id}"): Rule(MARKETER_ONLY, 200, {"inventory": 50}),
    # launch takes the draft campaign (see `world`), pause and end the active one
    ("POST", "/v1/campaigns/{campaign_id}/launch"): Rule(MARKETER_ONLY, 200),
    ("POST", "/v1/campaigns/{campaign_id}/pause"): Rule(MARKETER_ONLY, 200),
    ("POST", "/v1/campaigns/{campaign_id}/end"): Rule(MARKETER_ONLY, 200),
    ("POST", "/v1/campaigns/{campaign_id}/claims"): Rule(("subscriber",), 201),
    ("POST", "/v1/campaigns/{campaign_id}/grants"): Rule(MARKETER_ONLY, 200, {"msisdns": [OTHER]}),
    # people's surfaces: the console's chart (API.md "People's surfaces"), staff only
    ("GET", "/v1/campaigns/{campaign_id}/daily"): Rule(("marketer", "operator"), 200),
    ("GET", "/v1/console/config"): Rule(ANYONE, 200),
    ("POST", "/v1/dev/sign-in"): Rule(ANYONE, 201, {"role": "marketer", "subject": "alice"}, writes=False),
    ("GET", "/v1/vouchers/{code}"): Rule(PARTNER, 200, partner_object=True),
    ("POST", "/v1/redemptions"): Rule(PARTNER, 201, {"code": "{code}", "order_ref": "o-2"}, partner_object=True),
    ("POST", "/v1/redemptions/{redemption_id}/reversal"): Rule(PARTNER, 200, partner_object=True),
    ("GET", "/v1/redemptions"): Rule(PARTNER, 200),
    # households: ME owns {household_id} with THIRD as its member (`world`); for
    # the acceptance, THIRD owns it and has invited ME; for creating, ME is in none
    ("POST", "/v1/households"): Rule(("subscriber",), 201),
    ("GET", "/v1/households/{household_id}"): Rule(SELF_OR_OPERATOR, 200, member_object=True),
    ("POST", "/v1/households/{household_id}/invitations"): Rule(
        ("subscriber",), 201, {"msisdn": OTHER}, member_object=True
    ),
    ("POST", "/v1/households/{household_id}/invitations/{msisdn}/accept"): Rule(("subscriber",), 200),
    ("PATCH", "/v1/households/{household_id}/members/{member}"): Rule(
        ("subscriber",), 200, {"can_spend": True}, member_object=True
    ),
    ("DELETE", "/v1/households/{household_id}/members/{member}"): Rule(("subscriber",), 200, member_object=True),
    # channels for basic phones: an operator registers gateways, each calls with its own channel's key
    ("POST", "/v1/gateways"): Rule(OPERATOR_ONLY, 201, {"name": "USSD centre", "channel": "ussd"}),
    ("POST", "/v1/channels/ussd"): Rule(
        GATEWAY,
        200,
        channel="ussd",
        form={"sessionId": "s-1", "serviceCode": "*098#", "phoneNumber": ME, "text": ""},
    ),
    ("POST", "/v1/channels/sms"): Rule(GATEWAY, 200, {"message_id": "m-1", "from": ME, "text": "DIEM"}, channel="sms"),
    # events and webhooks (API.md "Events and webhooks"): an operator's bearer token or a partner's key
    ("GET", "/v1/events"): Rule(OPERATOR_OR_PARTNER, 200),
    ("POST", "/v1/webhooks"): Rule(
        OPERATOR_OR_PARTNER, 201, {"url": "http://127.0.0.1:9/hook", "events": ["campaign.launched"]}
    ),
    ("GET", "/v1/webhooks"): Rule(OPERATOR_OR_PARTNER, 200),
    ("DELETE", "/v1/webhooks/{webhook_id}"): Rule(OPERATOR_OR_PARTNER, 204, owned_by="partner"),
    ("POST", "/v1/webhooks/{webhook_id}/secret"): Rule(OPERATOR_OR_PARTNER, 201, owned_by="partner"),
    ("GET", "/v1/webhooks/{webhook_id}/deliveries"): Rule(OPERATOR_OR_PARTNER, 200, owned_by="partner"),
    # network products: marketers manage the catalogue, everyone with a token reads it; orders are the subscriber's
    ("POST", "/v1/products"): Rule(
        MARKETER_ONLY,
        201,
        {"name": "Data 1 GB", "kind": "data", "sku": "DATA_1GB", "points_price": 1_000, "validity_days": 7},
    ),
    ("GET", "/v1/products"): Rule(("subscriber", "operator", "marketer"), 200),
    ("POST", "/v1/subscribers/{msisdn}/product-orders"): Rule(SELF_OR_OPERATOR, 201, {"product_id": "{product_id}"}),
    ("GET", "/v1/subscribers/{msisdn}/product-orders/{order_id}"): Rule(SELF_OR_OPERATOR, 200),
}

REGISTRY = sorted((spec.method, spec.path) for spec in app_module.api.specs)
REFUSAL_CODE = {401: "UNAUTHENTICATED", 403: "FORBIDDEN", 404: "NOT_FOUND"}


def expected_refusal(method: str, path: str, rule: Rule, principal: str) -> int | None:
    """The status API.md gives `principal` on this route; None if it may call it."""
    if not rule.callers:
        return None
    role = ROLE[principal]
    if role is None:
        return 401
    if rule.callers == GATEWAY:
        if role != "gateway":
            return 401  # a token or a partner's key is no gateway key
        return 403 if CHANNEL[principal] != rule.channel else None
    if role == "gateway":
        return 401  # a gateway key is no bearer token and no partner key
    if rule.callers == OPERATOR_OR_PARTNER:
        if role not in rule.callers:
            return 403
        return 404 if rule.owned_by is not None and principal != rule.owned_by else None
    if rule.callers == PARTNER:
        if role != "partner":
            return 401  # a bearer token is no API key
        return 404 if principal == "other partner" and rule.partner_object else None
    if role == "partner":
        return 401  # an API key is no bearer token
    if role not in rule.callers:
        return 403
    if principal == "other subscriber" and ("{msisdn}" in path or rule.member_object):
        return 404  # API.md: another subscriber's objects (and households) are not found
    return None


def snapshot(prefix: str) -> dict[str, list[str]]:
    """Every item of every table of this test (the enumeration counter of unknown
    voucher codes is the one write a refusal makes, by design: guard.py)."""
    client = store.binding.client()
    names = [n for n in client.list_tables()["TableNames"] if n.startswith(prefix)]
    assert len(names) >= 5, names
    out: dict[str, list[str]] = {}
    for name in names:
        items: list[dict[str, Any]] = []
        kwargs: dict[str, Any] = {"TableName": name, "ConsistentRead": True}
        while True:
            page = client.scan(**kwargs)
            items += page["Items"]
            if "LastEvaluatedKey" not in page:
                break
            kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
        kept = [i for i in items if not i.get("counter_id", {}).get("S", "").startswith("unknown#")]
        out[name] = sorted(repr(sorted(i.items())) for i in kept)
    return out


@pytest.fixture(autouse=True)
def sequential_grants(monkeypatch):
    from chalicelib.vouchers import service

    monkeypatch.setattr(service, "GRANT_WORKERS", 1)  # moto's transactions are not thread-safe


THIRD = "84981110001"


def _household(api, path: str) -> dict[str, str]:
    """The household the household routes act on (see CONTRACT)."""
    if not path.startswith("/v1/households/"):
        return {}
    r = api.put(f"/v1/subscribers/{THIRD}", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    owner, member = (THIRD, ME) if path.endswith("/accept") else (ME, THIRD)
    r = api.post("/v1/households", headers=auth("subscriber", owner))
    assert r.status_code == 201, r.data
    household_id = r.data["household_id"]
    r = api.post(f"/v1/households/{household_id}/invitations", {"msisdn": member}, headers=auth("subscriber", owner))
    assert r.status_code == 201, r.data
    if owner == ME:
        r = api.post(f"/v1/households/{household_id}/invitations/{member}/accept", headers=auth("subscriber", member))
        assert r.status_code == 200, r.data
    return {"household_id": household_id, "member": THIRD}


@pytest.fixture
def world(api, moto_tables, request, charging):
    clock.set_now(lambda: NOW)
    for msisdn in (ME, OTHER):
        r = api.put(f"/v1/subscribers/{msisdn}", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR)
        assert r.status_code == 201, r.data
        r = api.post(f"/v1/subscribers/{msisdn}/adjustments", {"points": 10_000, "reason": "float"}, headers=OPERATOR)
        assert r.status_code == 201, r.data
    partner = api.post("/v1/partners", {"name": "A"}, headers=MARKETER)
    other = api.post("/v1/partners", {"name": "B"}, headers=MARKETER)
    assert partner.status_code == other.status_code == 201
    partner_id = partner.data["partner_id"]
    r = api.post("/v1/campaigns", _campaign_body(partner_id), headers=MARKETER)
    assert r.status_code == 201, r.data
    campaign_id = r.data["campaign_id"]
    r = api.post("/v1/campaigns", _campaign_body(partner_id), headers=MARKETER)
    assert r.status_code == 201, r.data
    draft_id = r.data["campaign_id"]
    r = api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER)
    assert r.status_code == 200, r.data
    codes = []
    for _ in "ab":
        r = api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", ME))
        assert r.status_code == 201, r.data
        codes.append(r.data["voucher"]["code"])
    redeemed = api.post(
        "/v1/redemptions", {"code": codes[1], "order_ref": "o-1"}, headers={"X-Api-Key": partner.data["api_key"]}
    )
    assert redeemed.status_code == 201, redeemed.data
    params = getattr(request.node, "callspec", None)
    households = _household(api, params.params.get("path", "") if params else "")
    ussd = api.post("/v1/gateways", {"name": "u", "channel": "ussd"}, headers=OPERATOR, expect=201).data
    sms = api.post("/v1/gateways", {"name": "s", "channel": "sms"}, headers=OPERATOR, expect=201).data
    webhook = api.post(
        "/v1/webhooks",
        {"url": "http://127.0.0.1:9/partner-hook", "events": ["voucher.redeemed"]},
        headers={"X-Api-Key": partner.data["api_key"]},
    )
    assert webhook.status_code == 201, webhook.data
    product = {"name": "Data 1 GB", "kind": "data", "sku": "DATA_1GB", "points_price": 1_000, "validity_days": 7}
    product_id = api.post("/v1/products", product, headers=MARKETER, expect=201).data["product_id"]
    path = f"/v1/subscribers/{ME}/product-orders"
    ordered = api.post(path, {"product_id": product_id}, headers=auth("subscriber", ME), expect=201).data
    assert ordered["status"] == "fulfilled", ordered
    return {
        "api": api,
        "prefix": moto_tables,
        "values": {
            **households,
            "msisdn": ME,
            "partner_id": partner_id,
            "campaign_id": campaign_id,
            "draft_id": draft_id,
            "code": codes[0],
            "redemption_id": redeemed.data["redemption_id"],
            "webhook_id": webhook.data["webhook_id"],
            "product_id": product_id,
            "order_id": ordered["order_id"],
        },
        "principals": _principals(partner.data["api_key"], other.data["api_key"], ussd["api_key"], sms["api_key"]),
    }


def _fill(value: Any, values: dict[str, str]) -> Any:
    if isinstance(value, str):
        return value.format(**values)
    if isinstance(value, dict):
        return {k: _fill(v, values) for k, v in value.items()}
    if isinstance(value, list):
        return [_fill(v, values) for v in value]
    return value


def _url(method: str, path: str, values: dict[str, str]) -> str:
    if path.endswith("/launch"):
        values = {**values, "campaign_id": values["draft_id"]}
    return _fill(path, values)


def _call(api: Any, method: str, url: str, rule: Rule, body: Any, headers: dict[str, str]) -> Any:
    """The request, form-encoded where the route takes a form."""
    if rule.form:
        form_headers = {**headers, "Content-Type": "application/x-www-form-urlencoded"}
        return api.call(method, url, headers=form_headers, raw=urlencode(rule.form))
    return api.call(method, url, body, headers=headers)


def test_the_registry_is_every_route_chalice_serves():
    served = sorted((method, path) for path, entries in app_module.app.routes.items() for method in entries)
    assert served == REGISTRY, "a route was declared on Chalice without Api.route (no roles, no owner, no OpenAPI)"


def test_every_route_has_a_contract_entry_and_no_entry_is_stale():
    missing = [route for route in REGISTRY if route not in CONTRACT]
    stale = [route for route in CONTRACT if route not in REGISTRY]
    assert not missing, f"routes without an authorisation entry (add them to CONTRACT from API.md): {missing}"
    assert not stale, f"entries for routes the app no longer has: {stale}"


@pytest.mark.parametrize(("method", "path"), REGISTRY, ids=[f"{m} {p}" for m, p in REGISTRY])
def test_declared_roles_are_the_contracts(method, path):
    rule = CONTRACT.get((method, path))
    if rule is None:
        pytest.fail(f"{method} {path} has no entry in CONTRACT")
    spec = next(s for s in app_module.api.specs if (s.method, s.path) == (method, path))
    assert tuple(sorted(spec.roles)) == tuple(sorted(rule.callers)), f"{method} {path} declares {spec.roles}"


@pytest.mark.parametrize(("method", "path"), REGISTRY, ids=[f"{m} {p}" for m, p in REGISTRY])
def test_every_principal_on_every_route(world, method, path):
    rule = CONTRACT.get((method, path))
    if rule is None:
        pytest.fail(f"{method} {path} has no entry in CONTRACT: say who may call it (API.md)")
    api, values = world["api"], world["values"]
    url, body = _url(method, path, values), _fill(rule.body, values)
    before = snapshot(world["prefix"])
    refused = allowed = 0
    for principal in PRINCIPALS:
        headers = world["principals"][principal]
        status = expected_refusal(method, path, rule, principal)
        if status is None:
            if method != "GET" and rule.writes:
                continue  # an allowed write is the positive control below
            r = _call(api, method, url, rule, body, headers)
            assert r.status_code == rule.status, (principal, r.status_code, r.data)
            allowed += 1
        else:
            r = _call(api, method, url, rule, body, headers)
            assert r.status_code == status, f"{principal}: expected {status}, got {r.status_code} {r.data}"
            if "error" in (r.data or {}):
                assert r.data["error"]["code"] == REFUSAL_CODE[status], (principal, r.data)
            else:
                # only the gateway answers a bearer route called without any Authorization header
                assert status == 401 and "Authorization" not in headers and rule.callers not in (PARTNER, GATEWAY), (
                    principal,
                    r.data,
                )
            refused += 1
        assert snapshot(world["prefix"]) == before, f"{principal} changed a table with {method} {url}"
    assert refused + allowed > 0
    # the positive control: the same request from an allowed principal succeeds
    control = rule.control or next(p for p in PRINCIPALS if expected_refusal(method, path, rule, p) is None)
    r = _call(api, method, url, rule, body, world["principals"][control])
    assert r.status_code == rule.status, (control, r.status_code, r.text or r.data)
    if method != "GET" and rule.writes:
        assert snapshot(world["prefix"]) != before, f"the positive control of {method} {path} changed nothing"


def test_another_partner_lists_none_of_this_partners_redemptions(world):
    other = world["principals"]["other partner"]
    r = world["api"].get("/v1/redemptions", headers=other)
    assert r.status_code == 200
    assert r.data == {"items": [], "next_cursor": None}
