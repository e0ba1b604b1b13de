"""Webhooks end to end on the embedded engine: registration (secret shown
once, URL safety, bad input 400 with nothing stored, another owner's 404),
deliveries to real receivers on 127.0.0.1 whose signatures `standardwebhooks`
verifies, the retry schedule driven by the clock, 410, secret rotation, and
what a partner's endpoint may receive."""

from __future__ import annotations

import base64
import itertools
import json
import random
import time
from datetime import timedelta
from typing import Any

import pytest
from receivers import Receiver, drive
from standardwebhooks import Webhook

from chalicelib import clock, config
from chalicelib.store import Delivery
from chalicelib.store import Webhook as WebhookItem
from chalicelib.webhooks import urls
from conftest import MARKETER, OPERATOR, T0, Bearer, auth

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("no_dns")]

A = "84961234567"
SCHEDULE = [5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400]  # API.md, in seconds
ALL_OPERATOR = ["points.earned", "points.spent", "points.adjusted", "voucher.issued", "voucher.redeemed",
                "voucher.reversed", "tier.changed", "campaign.launched", "campaign.paused", "campaign.ended",
                "campaign.sold_out"]  # fmt: skip
PARTNER_TYPES = ["voucher.redeemed", "voucher.reversed", "campaign.launched", "campaign.paused", "campaign.ended",
                 "campaign.sold_out"]  # fmt: skip


def register(api: Any, headers: Any, url: str, events: list[str], expect: int = 201, **kw: Any) -> Any:
    return api.post("/v1/webhooks", {"url": url, "events": events}, headers=headers, expect=expect, **kw).data


def subscriber(api: Any, msisdn: str = A) -> None:
    api.put(f"/v1/subscribers/{msisdn}", {"activated_on": "2020-01-15", "plan": "prepaid"}, headers=OPERATOR,
            expect=201)  # fmt: skip


def spend(api: Any, n: int, msisdn: str = A, amount: int = 20_000) -> None:
    body = {"event_id": f"bill-{n}", "msisdn": msisdn, "amount_vnd": amount, "service": "mobile",
            "occurred_at": clock.iso(clock.now() - timedelta(minutes=5))}  # fmt: skip
    api.post("/v1/spend-events", body, headers=OPERATOR, expect=201)


def deliveries(api: Any, headers: Any, webhook_id: str) -> list[dict[str, Any]]:
    return api.get(f"/v1/webhooks/{webhook_id}/deliveries", headers=headers, expect=200).data["items"]


def verified(receiver: Receiver, secret: str) -> list[Any]:
    """Every request the receiver got, its signature verified by standardwebhooks."""
    return [Webhook(secret).verify(r.body, r.headers) for r in receiver.received]


# -- registration -----------------------------------------------------------------


def test_the_secret_is_shown_once_and_endpoints_are_their_owners(engine_api):
    api = engine_api
    first = api.post(
        "/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["tier.changed", "points.earned"]},
        headers={**OPERATOR, "Idempotency-Key": "wh-1"},
        expect=201,
    ).data
    assert first["secret"].startswith("whsec_") and len(base64.b64decode(first["secret"][6:])) == 32
    assert first["status"] == "enabled" and first["events"] == ["tier.changed", "points.earned"]
    replay = api.post(
        "/v1/webhooks",
        {"url": "http://127.0.0.1:9/hook", "events": ["tier.changed", "points.earned"]},
        headers={**OPERATOR, "Idempotency-Key": "wh-1"},
        expect=201,
    ).data
    assert replay["webhook_id"] == first["webhook_id"] and replay["secret"] is None
    listed = api.get("/v1/webhooks", headers=OPERATOR, expect=200).data
    assert [w["webhook_id"] for w in listed["items"]] == [first["webhook_id"]]
    assert "secret" not in json.dumps(listed) and first["secret"] not in json.dumps(listed)
    stored = WebhookItem.get("operator", first["webhook_id"]).secrets
    assert first["secret"] in stored  # locally plain (sealed by KMS in AWS)

    other_operator = Bearer("operator", "crm-2")
    partner = api.post("/v1/partners", {"name": "Shop"}, headers=MARKETER, expect=201).data
    key = {"X-Api-Key": partner["api_key"]}
    path = f"/v1/webhooks/{first['webhook_id']}"
    for stranger in (other_operator, key):
        assert api.get("/v1/webhooks", headers=stranger, expect=200).data["items"] == []
        assert api.call("DELETE", path, headers=stranger, expect=404).data["error"]["code"] == "NOT_FOUND"
        api.post(f"{path}/secret", headers=stranger, expect=404)
        api.get(f"{path}/deliveries", headers=stranger, expect=404)
    api.get(path + "/deliveries", headers=auth("subscriber", A), expect=403)
    assert api.call("DELETE", path, headers=OPERATOR, expect=204).body in (b"", "")
    api.call("DELETE", path, headers=OPERATOR, expect=404)


def _stub(mapping: dict[str, list[str]]) -> Any:
    def resolve(host: str, port: int) -> list[str]:
        if host not in mapping:
            raise OSError(f"{host} does not resolve")
        return mapping[host]

    return resolve


BAD = [
    ({"url": "ftp://hooks.example.com/x", "events": ["tier.changed"]}, "url"),
    ({"url": "http://hooks.example.com/x", "events": ["tier.changed"]}, "https"),
    ({"url": "https://10.0.0.5/x", "events": ["tier.changed"]}, "public"),
    ({"url": "https://169.254.169.254/latest/meta-data", "events": ["tier.changed"]}, "public"),
    ({"url": "https://[::1]/x", "events": ["tier.changed"]}, "public"),
    ({"url": "https://internal.example.com/x", "events": ["tier.changed"]}, "public"),
    ({"url": "https://rebind.example.com/x", "events": ["tier.changed"]}, "public"),
    ({"url": "https://nowhere.example.com/x", "events": ["tier.changed"]}, "resolve"),
    ({"url": "https://u:p@hooks.example.com/x", "events": ["tier.changed"]}, "user"),
    ({"url": "https://hooks.example.com/x", "events": ["tier.exploded"]}, "events"),
    ({"url": "https://hooks.example.com/x", "events": []}, "events"),
    ({"url": "https://hooks.example.com/x", "events": ["tier.changed", "tier.changed"]}, "repeat"),
    ({"url": "https://hooks.example.com/x", "events": ["tier.changed"] * 200_000}, "events"),  # over 1 MB
    ({"url": "https://hooks.example.com/x", "events": "tier.changed"}, "events"),
    ({"url": "https://hooks.example.com/x" + "a" * 2100, "events": ["tier.changed"]}, "url"),
    ({"url": "https://hooks.example.com/x", "events": ["tier.changed"], "secret": "mine"}, "secret"),
]


def test_bad_registrations_are_400_and_store_nothing(engine_api):
    urls.use_resolver(
        _stub(
            {
                "hooks.example.com": ["93.184.215.14"],
                "internal.example.com": ["10.20.30.40"],
                "rebind.example.com": ["93.184.215.14", "127.0.0.1"],
            }
        )
    )
    for body, why in BAD:
        answer = engine_api.post("/v1/webhooks", body, headers=OPERATOR)
        assert answer.status_code == 400, (why, answer.data)
        assert answer.data["error"]["code"] == "VALIDATION_ERROR", why
        assert WebhookItem.count("operator") == 0, why


def test_a_partner_may_subscribe_only_to_its_types_and_local_urls_only_in_development(engine_api, monkeypatch):
    api = engine_api
    partner = api.post("/v1/partners", {"name": "Shop"}, headers=MARKETER, expect=201).data
    key = {"X-Api-Key": partner["api_key"]}
    register(api, key, "http://127.0.0.1:9/h", ["voucher.issued"], expect=400)
    register(api, key, "http://127.0.0.1:9/h", ["points.earned"], expect=400)
    register(api, key, "http://127.0.0.1:9/h", PARTNER_TYPES)
    monkeypatch.setenv("DIEM_WEBHOOKS_ALLOW_LOCAL", "false")
    config.reset()
    assert config.settings().webhooks_allow_local is False  # read now: a request sees the stage's variables
    register(api, OPERATOR, "http://127.0.0.1:9/h", ["tier.changed"], expect=400)
    register(api, OPERATOR, "https://localhost/h", ["tier.changed"], expect=400)
    assert WebhookItem.count("operator") == 0


# -- delivery ------------------------------------------------------------------------


def test_a_delivery_is_signed_verifiable_and_the_feeds_event(engine_api, pump, moving, receivers):
    api = engine_api
    receiver = Receiver().start()
    receivers.append(receiver)
    made = register(api, OPERATOR, receiver.url, ["points.earned"])
    subscriber(api)
    spend(api, 1)
    drive(pump, moving)
    (request,) = receiver.received
    body = Webhook(made["secret"]).verify(request.body, request.headers)
    assert set(body) == {"type", "timestamp", "data"}
    assert request.headers["content-type"] == "application/json"
    assert abs(int(request.headers["webhook-timestamp"]) - time.time()) < 60  # the real time of sending
    assert request.headers["webhook-signature"].startswith("v1,") and " " not in request.headers["webhook-signature"]
    moving.advance(10)
    (event,) = api.get("/v1/events", headers=OPERATOR, expect=200).data["items"]
    assert request.event_id == event["id"] and body == {k: event[k] for k in ("type", "timestamp", "data")}
    (delivery,) = deliveries(api, OPERATOR, made["webhook_id"])
    assert delivery == {
        "event_id": event["id"],
        "type": "points.earned",
        "status": "delivered",
        "attempts": 1,
        "last_status_code": 204,
        "next_attempt_at": None,
        "created_at": delivery["created_at"],
    }
    # a tampered body fails verification
    with pytest.raises(Exception, match="signature"):
        Webhook(made["secret"]).verify(request.body.replace(b"points", b"pointz"), request.headers)


def test_retries_follow_the_schedule_then_failed(engine_api, pump, moving, receivers):
    api = engine_api
    receiver = Receiver(behaviour=lambda n: 503).start()
    receivers.append(receiver)
    made = register(api, OPERATOR, receiver.url, ["points.earned"])
    subscriber(api)
    spend(api, 1)
    drive(pump, moving)
    times = [r.at for r in receiver.received]
    assert len(times) == 1 + len(SCHEDULE)
    assert [(b - a).total_seconds() for a, b in itertools.pairwise(times)] == SCHEDULE
    assert len({r.event_id for r in receiver.received}) == 1
    verified(receiver, made["secret"])
    (delivery,) = deliveries(api, OPERATOR, made["webhook_id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 10, 503)
    assert delivery["next_attempt_at"] is None
    # an endpoint that keeps failing is not disabled: only a 410 does that
    assert api.get("/v1/webhooks", headers=OPERATOR, expect=200).data["items"][0]["status"] == "enabled"


def test_a_pending_delivery_says_when_it_is_tried_next(engine_api, pump, moving, receivers):
    api = engine_api
    answers = iter([500, 500, 200])
    receiver = Receiver(behaviour=lambda n: next(answers)).start()
    receivers.append(receiver)
    made = register(api, OPERATOR, receiver.url, ["points.earned"])
    subscriber(api)
    spend(api, 1)
    drive(pump, moving, until=moving.now + timedelta(seconds=6))
    (delivery,) = deliveries(api, OPERATOR, made["webhook_id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 2, 500)
    assert delivery["next_attempt_at"] == clock.iso(receiver.received[-1].at + timedelta(seconds=300))
    drive(pump, moving)
    (delivery,) = deliveries(api, OPERATOR, made["webhook_id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("delivered", 3, 200)


def test_410_disables_the_endpoint(engine_api, pump, moving, receivers):
    api = engine_api
    receiver = Receiver(behaviour=lambda n: 410).start()
    receivers.append(receiver)
    made = register(api, OPERATOR, receiver.url, ["points.earned"])
    subscriber(api)
    spend(api, 1)
    drive(pump, moving)
    spend(api, 2)
    drive(pump, moving)
    assert len(receiver.received) == 1
    (listed,) = api.get("/v1/webhooks", headers=OPERATOR, expect=200).data["items"]
    assert listed["status"] == "disabled" and listed["disabled_at"]
    (delivery,) = deliveries(api, OPERATOR, made["webhook_id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("failed", 1, 410)


def test_a_receiver_failing_timing_out_and_succeeding_at_random_gets_every_event(
    engine_api, pump, moving, receivers, fast_timeouts
):
    api = engine_api
    chance = random.Random(8)

    def flaky(n: int) -> int | tuple[str, float]:
        roll = chance.random()
        return 500 if roll < 0.3 else ("late", 0.6) if roll < 0.4 else 200

    receiver = Receiver(behaviour=flaky).start()
    receivers.append(receiver)
    made = register(api, OPERATOR, receiver.url, ALL_OPERATOR)
    subscriber(api)
    partner = api.post("/v1/partners", {"name": "Shop"}, headers=MARKETER, expect=201).data
    for n in range(6):
        moving.advance(1)
        spend(api, n, amount=60_000)
    campaign = {
        "name": "c", "partner_id": partner["partner_id"], "voucher": {"title": "t", "value_vnd": 1_000},
        "points_price": 100, "inventory": 2, "per_subscriber_limit": 2, "starts_at": clock.iso(T0 - timedelta(days=1)),
        "ends_at": clock.iso(T0 + timedelta(days=9)), "voucher_valid_days": 9,
    }  # fmt: skip
    campaign_id = api.post("/v1/campaigns", campaign, headers=MARKETER, expect=201).data["campaign_id"]
    api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER, expect=200)
    for _ in range(2):
        api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", A), expect=201)
    drive(pump, moving)
    moving.advance(10)
    events = api.get("/v1/events?limit=200", headers=OPERATOR, expect=200).data["items"]
    assert len(events) >= 12
    bodies = verified(receiver, made["secret"])  # every request, late ones too, is signed
    by_id = {e["id"]: e for e in events}
    assert {r.event_id for r in receiver.received} == set(by_id)
    assert {r.event_id for r in receiver.delivered()} == set(by_id)  # every event eventually delivered
    for request, body in zip(receiver.received, bodies, strict=True):
        assert body == {k: by_id[request.event_id][k] for k in ("type", "timestamp", "data")}
    outcomes = {r.answered for r in receiver.received}
    assert {500, 200, None} <= outcomes, "the receiver failed, timed out and succeeded"
    listed = deliveries(api, OPERATOR, made["webhook_id"])
    assert {d["status"] for d in listed} == {"delivered"} and len(listed) == len(events)


def test_rotation_signs_with_both_secrets_for_24_hours(engine_api, pump, moving, receivers):
    api = engine_api
    receiver = Receiver().start()
    receivers.append(receiver)
    made = register(api, OPERATOR, receiver.url, ["points.earned"])
    new = api.post(f"/v1/webhooks/{made['webhook_id']}/secret", headers=OPERATOR, expect=201).data["secret"]
    assert new.startswith("whsec_") and new != made["secret"]
    subscriber(api)
    spend(api, 1)
    drive(pump, moving)
    moving.advance(hours=24, seconds=-5)
    spend(api, 2)
    drive(pump, moving)
    moving.advance(10)
    spend(api, 3)
    drive(pump, moving)
    first, second, third = receiver.received
    for request in (first, second):
        assert len(request.headers["webhook-signature"].split(" ")) == 2
        Webhook(made["secret"]).verify(request.body, request.headers)
        Webhook(new).verify(request.body, request.headers)
    assert len(third.headers["webhook-signature"].split(" ")) == 1
    Webhook(new).verify(third.body, third.headers)
    with pytest.raises(Exception, match="signature"):
        Webhook(made["secret"]).verify(third.body, third.headers)


def test_the_address_is_checked_again_at_each_delivery(engine_api, pump, moving):
    """Registered while the name resolved to a public address; by the time of
    delivery it resolves to a private one: refused before connecting (no
    traffic), retried later."""
    api = engine_api
    answers = {"hooks.example.com": ["93.184.215.14"]}
    urls.use_resolver(_stub(answers))
    made = register(api, OPERATOR, "https://hooks.example.com/h", ["points.earned"])
    answers["hooks.example.com"] = ["10.0.0.7"]
    subscriber(api)
    spend(api, 1)
    drive(pump, moving, until=moving.now + timedelta(seconds=1))
    (delivery,) = deliveries(api, OPERATOR, made["webhook_id"])
    assert (delivery["status"], delivery["attempts"], delivery["last_status_code"]) == ("pending", 1, None)
    item = Delivery.get(made["webhook_id"], Delivery.query(made["webhook_id"]).next().position)
    assert item.last_error and item.last_error.startswith("refused") and "public" in item.last_error


def test_deleting_an_endpoint_ends_its_pending_deliveries(engine_api, pump, moving, receivers):
    api = engine_api
    receiver = Receiver(behaviour=lambda n: 500).start()
    receivers.append(receiver)
    made = register(api, OPERATOR, receiver.url, ["points.earned"])
    subscriber(api)
    spend(api, 1)
    drive(pump, moving, until=moving.now + timedelta(seconds=1))
    api.call("DELETE", f"/v1/webhooks/{made['webhook_id']}", headers=OPERATOR, expect=204)
    drive(pump, moving)
    assert len(receiver.received) == 1
    (item,) = Delivery.query(made["webhook_id"])
    assert item.status == "failed" and item.last_error == "the endpoint was deleted"


# -- who receives what ------------------------------------------------------------------


def test_a_partners_endpoint_gets_only_its_own_campaigns_and_never_a_subscriber(engine_api, pump, moving, receivers):
    api = engine_api
    subscriber(api)
    api.post(f"/v1/subscribers/{A}/adjustments", {"points": 5_000, "reason": "float"}, headers=OPERATOR, expect=201)
    shops, hooks = {}, {}
    for name in ("A", "B"):
        partner = api.post("/v1/partners", {"name": name}, headers=MARKETER, expect=201).data
        receiver = Receiver().start()
        receivers.append(receiver)
        key = {"X-Api-Key": partner["api_key"]}
        register(api, key, receiver.url, PARTNER_TYPES)
        body = {
            "name": name, "partner_id": partner["partner_id"], "voucher": {"title": "t", "value_vnd": 1_000},
            "points_price": 100, "inventory": 2, "per_subscriber_limit": 2, "starts_at": clock.iso(T0 - timedelta(days=1)),
            "ends_at": clock.iso(T0 + timedelta(days=9)), "voucher_valid_days": 9,
        }  # fmt: skip
        campaign_id = api.post("/v1/campaigns", body, headers=MARKETER, expect=201).data["campaign_id"]
        api.post(f"/v1/campaigns/{campaign_id}/launch", headers=MARKETER, expect=200)
        codes = [
            api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", A), expect=201).data["voucher"][
                "code"
            ]
            for _ in range(2)
        ]
        done = api.post("/v1/redemptions", {"code": codes[0], "order_ref": "o-1"}, headers=key, expect=201).data
        api.post(f"/v1/redemptions/{done['redemption_id']}/reversal", headers=key, expect=200)
        api.post(f"/v1/campaigns/{campaign_id}/end", headers=MARKETER, expect=200)
        shops[name] = (partner["partner_id"], campaign_id, key)
        hooks[name] = receiver
    drive(pump, moving)  # the partners' activity is dispatched before the operator's endpoint exists
    operator = Receiver().start()
    receivers.append(operator)
    register(api, OPERATOR, operator.url, ALL_OPERATOR)
    spend(api, 1)
    drive(pump, moving)
    moving.advance(10)
    for name, (_, campaign_id, key) in shops.items():
        received = hooks[name].received
        kinds = sorted(r.json["type"] for r in received)
        assert kinds == sorted(["campaign.launched", "campaign.sold_out", "voucher.redeemed", "voucher.reversed",
                                "campaign.ended"])  # fmt: skip
        for request in received:
            assert request.json["data"]["campaign_id"] == campaign_id
            assert A not in request.body.decode() and "961234567" not in request.body.decode()
            assert "msisdn" not in request.json["data"] and "partner_id" not in request.json["data"]
        feed = api.get("/v1/events", headers=key, expect=200).data["items"]
        assert sorted(e["id"] for e in feed) == sorted(r.event_id for r in received)
    # an endpoint gets what is dispatched once it exists
    assert [r.json["type"] for r in operator.received] == ["points.earned"]
