"""The published OpenAPI document is a contract a partner can generate a client
from: typed nested objects, named enums, date-time timestamps, declared headers,
Idempotency-Key on every mutating operation, operations tagged by caller, one
security scheme each, a licence, described parameters; and the replies are typed:
response models refuse unknown fields and subscribers see only what is theirs."""

from __future__ import annotations

from typing import Any

import pytest
from openapi_spec_validator import validate
from pydantic import BaseModel
from pydantic import ValidationError as PydanticError

import app as app_module
from chalicelib import errors
from chalicelib.api import models
from conftest import MARKETER, OPERATOR, at, auth

MUTATING = {"post", "put", "patch", "delete"}
ENUMS = {
    "Tier": {"potential", "loyal", "silver", "gold", "diamond"},
    "Plan": {"prepaid", "postpaid"},
    "Service": {"mobile", "data", "ftth", "tv", "digital"},
    "CampaignStatus": {"draft", "active", "paused", "ended"},
    "VoucherStatus": {"issued", "redeemed", "expired", "cancelled"},
    "LedgerKind": {"earn", "tenure_bonus", "spend", "refund", "expire", "adjust", "forfeit"},
}
CALLER_TAGS = {"subscriber", "partner", "marketer", "operator", "channels", "platform"}


@pytest.fixture
def document(api) -> dict[str, Any]:
    r = api.get("/v1/openapi.json")
    assert r.status_code == 200
    validate(r.data)
    return r.data


def _operations(document):
    for path, ops in document["paths"].items():
        for method, op in ops.items():
            yield path, method, op


def _walk(node: Any, where: tuple = ()):
    if isinstance(node, dict):
        yield where, node
        for key, value in node.items():
            yield from _walk(value, (*where, key))
    elif isinstance(node, list):
        for i, value in enumerate(node):
            yield from _walk(value, (*where, i))


def _schema(document, name):
    return document["components"]["schemas"][name]


def _variants(prop: dict[str, Any]) -> list[dict[str, Any]]:
    """A property's schema, or each branch of a nullable anyOf, without the null."""
    return [p for p in prop.get("anyOf", [prop]) if p.get("type") != "null"]


def test_nested_objects_are_references_to_their_models(document):
    campaign = _schema(document, "CampaignOut")["properties"]
    assert campaign["voucher"] == {"$ref": "#/components/schemas/VoucherTerms"}
    assert campaign["eligibility"] == {"$ref": "#/components/schemas/EligibilityRules"}
    assert _schema(document, "OfferOut")["properties"]["voucher"] == {"$ref": "#/components/schemas/VoucherTerms"}
    untyped = [
        where
        for where, node in _walk(document)
        if node.get("type") == "object" and "properties" not in node and node.get("additionalProperties") is not True
    ]
    assert untyped == []
    # the one free-form object is the document itself
    free = [where for where, node in _walk(document) if node.get("additionalProperties") is True]
    assert [w[:2] for w in free] == [("paths", "/v1/openapi.json")]


def test_output_timestamps_declare_date_time(document):
    checked = 0
    for name, schema in document["components"]["schemas"].items():
        if name.endswith(("In", "Patch")):
            continue
        for field, prop in schema.get("properties", {}).items():
            if field.endswith("_at"):
                assert all(p.get("format") == "date-time" for p in _variants(prop)), (name, field, prop)
                checked += 1
    assert checked >= 14


def test_each_enum_is_one_named_component(document):
    schemas = document["components"]["schemas"]
    for name, values in ENUMS.items():
        assert set(schemas[name]["enum"]) == values, name
    inline = [where for where, node in _walk(document) if "enum" in node and where[:2] != ("components", "schemas")]
    nested = [where for where, node in _walk(schemas) if "enum" in node and len(where) != 1]
    assert inline == [] and nested == []
    # every enum's values appear once: no two components copy the same list
    value_sets = [frozenset(s["enum"]) for s in schemas.values() if "enum" in s]
    assert len(value_sets) == len(set(value_sets))
    assert _schema(document, "PointsOut")["properties"]["tier"] == {"$ref": "#/components/schemas/Tier"}
    campaigns = next(op for p, m, op in _operations(document) if p == "/v1/campaigns" and m == "get")
    status = next(p for p in campaigns["parameters"] if p["name"] == "status")
    assert status["schema"] == {"$ref": "#/components/schemas/CampaignStatus"}


def test_error_code_is_the_enum_of_every_code(document):
    assert _schema(document, "ErrorBody")["properties"]["code"]["$ref"] == "#/components/schemas/ErrorCode"
    codes = set(_schema(document, "ErrorCode")["enum"])
    raised = {cls.code for cls in vars(errors).values() if isinstance(cls, type) and issubclass(cls, errors.DiemError)}
    business = {"SOLD_OUT", "INSUFFICIENT_POINTS", "LIMIT_REACHED", "CAMPAIGN_NOT_ACTIVE", "ALREADY_REDEEMED",
                "VOUCHER_EXPIRED", "VOUCHER_NOT_REDEEMABLE", "IDEMPOTENCY_IN_PROGRESS"}  # fmt: skip
    assert raised | business | {"INTERNAL"} <= codes
    catalogue = getattr(errors, "CATALOGUE", None)
    if catalogue:
        assert set(catalogue) <= codes


def test_response_headers_are_declared(document):
    headers = document["components"]["headers"]
    assert headers["X-Correlation-Id"]["required"] is True
    assert headers["Retry-After"]["schema"]["type"] == "integer"
    for path, method, op in _operations(document):
        for status, response in op["responses"].items():
            declared = set(response.get("headers", {}))
            assert "X-Correlation-Id" in declared, (path, method, status)
            assert ("Retry-After" in declared) == (status in ("429", "503")), (path, method, status)
        if op["security"]:
            assert "503" in op["responses"], (path, method)


def test_idempotency_key_on_every_mutating_operation(document):
    for path, method, op in _operations(document):
        names = {p["name"] for p in op.get("parameters", []) if p["in"] == "header"}
        # a gateway's callbacks are deduplicated by their own ids (USSD session and input, SMS message_id)
        gateway = op["security"] == [{"gatewayKey": []}]
        assert ("Idempotency-Key" in names) == (method in MUTATING and not gateway), (path, method)


def test_operations_are_tagged_by_caller_with_one_security_scheme(document):
    schemes = document["components"]["securitySchemes"]
    assert schemes["apiKey"] == {**schemes["apiKey"], "type": "apiKey", "in": "header", "name": "X-Api-Key"}
    assert schemes["bearer"]["scheme"] == "bearer"
    assert schemes["gatewayKey"] == {**schemes["gatewayKey"], "type": "apiKey", "in": "header", "name": "X-Gateway-Key"}
    declared = {t["name"] for t in document["tags"]}
    assert declared <= CALLER_TAGS and {"subscriber", "partner", "marketer", "operator", "platform"} <= declared
    by_route = {(s.path, s.method.lower()): s for s in app_module.api.specs}
    for path, method, op in _operations(document):
        spec = by_route[(path, method)]
        assert op["tags"] and set(op["tags"]) <= declared, (path, method)
        if not spec.roles:
            assert op["tags"] == ["platform"] and op["security"] == []
            continue
        assert set(op["tags"]) == {"channels" if role == "gateway" else role for role in spec.roles}, (path, method)
        if "partner" in spec.roles and len(spec.roles) > 1:
            # API.md's events and webhooks: an operator's bearer token or a partner's key, either one
            assert op["security"] == [{"bearer": []}, {"apiKey": []}], (path, method)
            continue
        scheme = {("partner",): "apiKey", ("gateway",): "gatewayKey"}.get(spec.roles, "bearer")
        assert op["security"] == [{scheme: []}], (path, method)


def test_licence_and_a_description_on_every_parameter(document):
    assert document["info"]["license"]["name"]
    for path, method, op in _operations(document):
        for parameter in op.get("parameters", []):
            assert parameter.get("description", "").strip(), (path, method, parameter["name"])


# -- typed replies ------------------------------------------------------------------


def _models_under(model: type[BaseModel]) -> set[type[BaseModel]]:
    found = {model}
    for field in model.model_fields.values():
        for arg in _type_args(field.annotation):
            if isinstance(arg, type) and issubclass(arg, BaseModel) and arg not in found:
                found |= _models_under(arg)
    return found


def _type_args(annotation: Any) -> list[Any]:
    args = list(getattr(annotation, "__args__", ()) or ())
    return [annotation, *(a for arg in args for a in _type_args(arg))]


def test_every_response_model_refuses_unknown_fields():
    responses = {spec.response for spec in app_module.api.specs if spec.response is not None}
    assert len(responses) >= 15
    every = set().union(*(_models_under(m) for m in responses), _models_under(models.ErrorResponse))
    assert {m.__name__ for m in every if m.model_config.get("extra") != "forbid"} == set()


def test_the_test_client_checks_each_reply_against_its_model(api, monkeypatch):
    from chalicelib.points import service

    at("2026-11-10T03:00:00Z")
    r = api.put("/v1/subscribers/84961234567", {"activated_on": "2020-01-01", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 201, r.data
    assert api.get("/v1/subscribers/84961234567/points", headers=OPERATOR).status_code == 200
    real = service.view
    monkeypatch.setattr(service, "view", lambda msisdn: {**real(msisdn), "owner_id": "84961234567@2020-01-01"})
    with pytest.raises(PydanticError, match="owner_id"):
        api.get("/v1/subscribers/84961234567/points", headers=OPERATOR)


# -- what a subscriber sees ------------------------------------------------------------

ME = "84961234567"
SELF = auth("subscriber", ME)


@pytest.fixture
def shop(api):
    at("2026-11-10T03:00:00Z")
    profile = {"activated_on": "2020-03-15", "plan": "prepaid", "segments": ["late_payer", "churn_risk"]}
    assert api.put(f"/v1/subscribers/{ME}", profile, headers=OPERATOR).status_code == 201
    r = api.post(
        f"/v1/subscribers/{ME}/adjustments", {"points": 5_000, "reason": "ticket 8812: angry"}, headers=OPERATOR
    )
    assert r.status_code == 201 and r.data["ref"] == "ticket 8812: angry"
    r = api.post("/v1/partners", {"name": "Highlands Coffee"}, headers=MARKETER)
    assert r.status_code == 201
    return r.data["partner_id"]


def _launch(api, partner_id, name, inventory, **fields):
    body = {
        "name": name,
        "partner_id": partner_id,
        "voucher": {"title": f"{name} voucher", "value_vnd": 50_000, "terms": "Dine in only"},
        "points_price": 1_000,
        "inventory": inventory,
        "per_subscriber_limit": 2,
        "starts_at": "2026-11-01T00:00:00Z",
        "ends_at": "2026-12-01T00:00:00Z",
        "voucher_valid_days": 30,
        "eligibility": {"segments": ["churn_risk"]},
        "expected_peak_claims_per_second": 3_000,
        **fields,
    }
    campaign_id = api.post("/v1/campaigns", body, headers=MARKETER, expect=201).data["campaign_id"]
    assert api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER).status_code == 200
    return campaign_id


def test_offers_show_what_a_subscriber_needs_and_nothing_internal(api, shop):
    plenty = _launch(api, shop, "Coffee week", 1_000)
    scarce = _launch(api, shop, "Last cakes", 5)
    for who in (SELF, OPERATOR):
        r = api.get(f"/v1/subscribers/{ME}/offers", headers=who)
        assert r.status_code == 200, r.data
        offers = {o["campaign_id"]: o for o in r.data["items"]}
        assert set(offers) == {plenty, scarce}
        offer = offers[plenty]
        assert offer["partner"] == {"name": "Highlands Coffee"}
        assert offer["voucher"] == {"title": "Coffee week voucher", "value_vnd": 50_000, "terms": "Dine in only"}
        assert offer["points_price"] == 1_000 and offer["per_subscriber_limit"] == 2
        assert (offer["starts_at"], offer["ends_at"]) == ("2026-11-01T00:00:00.000Z", "2026-12-01T00:00:00.000Z")
        for internal in ("shard_count", "expected_peak_claims_per_second", "partner_id", "eligibility", "inventory"):
            assert internal not in offer
        assert offers[plenty]["few_left"] is False and offers[scarce]["few_left"] is True


def test_a_subscriber_never_sees_crm_segments(api, shop):
    mine = api.get(f"/v1/subscribers/{ME}", headers=SELF)
    assert mine.status_code == 200 and "segments" not in mine.data
    assert mine.data["tier"] and mine.data["tenure_months"] == 79
    staff = api.get(f"/v1/subscribers/{ME}", headers=OPERATOR)
    assert staff.data["segments"] == ["late_payer", "churn_risk"]


def test_a_subscriber_never_sees_staffs_adjustment_reasons(api, shop):
    mine = api.get(f"/v1/subscribers/{ME}/ledger", headers=SELF).data["items"]
    assert [(e["kind"], e["points"], e["ref"]) for e in mine] == [("adjust", 5_000, None)]
    staff = api.get(f"/v1/subscribers/{ME}/ledger", headers=OPERATOR).data["items"]
    assert [e["ref"] for e in staff] == ["ticket 8812: angry"]


def test_few_left_follows_the_stock(api, shop, monkeypatch):
    from chalicelib.campaigns import service

    monkeypatch.setattr(service, "_STOCK_SECONDS", 0.0)  # no reuse of a read stock within this test
    campaign_id = _launch(api, shop, "Dozen donuts", 12, per_subscriber_limit=3)

    def few_left():
        offers = api.get(f"/v1/subscribers/{ME}/offers", headers=SELF).data["items"]
        return next(o["few_left"] for o in offers if o["campaign_id"] == campaign_id)

    assert few_left() is False  # 12 left
    for _ in range(2):
        assert api.post(f"/v1/campaigns/{campaign_id}/claims", headers=SELF).status_code == 201
    assert few_left() is True  # 10 left


def test_the_ussd_callback_is_a_form_answered_in_plain_text(document):
    op = document["paths"]["/v1/channels/ussd"]["post"]
    form = op["requestBody"]["content"]["application/x-www-form-urlencoded"]["schema"]
    assert form == {"$ref": "#/components/schemas/UssdIn"}
    assert set(_schema(document, "UssdIn")["properties"]) == {"sessionId", "serviceCode", "phoneNumber", "text"}
    assert op["responses"]["200"]["content"]["text/plain"]["schema"]["pattern"] == "^(CON|END) "
    assert op["responses"]["400"]["content"]["application/json"]["schema"]["$ref"].endswith("/ErrorResponse")
    assert "from" in _schema(document, "SmsIn")["properties"]
