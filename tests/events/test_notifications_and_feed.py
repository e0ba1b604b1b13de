"""Subscriber notifications (voucher issued with its code, points expiring,
a tier upgrade; quiet hours; opt-out; at most once per cause), the daily
expiry notices, the HTTP gateway adapter, and the event feed's order, cursor
and filters, on the embedded engine."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime, timedelta
from types import SimpleNamespace
from typing import Any

import pytest
from receivers import Receiver, drive

from chalicelib import clock, config
from chalicelib.events import expiring
from chalicelib.notify import messages, sms
from chalicelib.notify.gsm import is_gsm, septets
from chalicelib.store import Event as EventItem
from chalicelib.store import Notification
from conftest import MARKETER, OPERATOR, T0, auth, launched_campaign

pytestmark = [pytest.mark.engine, pytest.mark.usefixtures("no_dns")]

A, B = "84961234567", "84971112233"


def subscriber(api: Any, msisdn: str = A) -> None:
    api.put(f"/v1/subscribers/{msisdn}", {"activated_on": "2020-01-15", "plan": "prepaid"}, headers=OPERATOR,
            expect=201)  # fmt: skip


def spend(api: Any, n: int, msisdn: str = A, amount: int = 100_000, service: str = "mobile") -> Any:
    body = {"event_id": f"bill-{msisdn}-{n}", "msisdn": msisdn, "amount_vnd": amount, "service": service,
            "occurred_at": clock.iso(clock.now() - timedelta(minutes=5))}  # fmt: skip
    return api.post("/v1/spend-events", body, headers=OPERATOR, expect=201).data


def campaign(api: Any, **fields: Any) -> str:
    body = {
        "name": "c", "voucher": {"title": "Trà sữa đá", "value_vnd": 30_000},
        "points_price": 100, "inventory": 5, "per_subscriber_limit": 5,
        "starts_at": clock.iso(T0 - timedelta(days=1)), "ends_at": clock.iso(T0 + timedelta(days=60)),
        "voucher_valid_days": 14, **fields,
    }  # fmt: skip
    return launched_campaign(api, body)


def gsm(text: str) -> bool:
    return is_gsm(text)


def sent(sink: Any) -> list[SimpleNamespace]:
    """The notification SMS the SMS centre took, in order (not the SMS channel's replies)."""
    return [SimpleNamespace(**m) for m in sink.messages() if not m["ref"].startswith("sms-reply:")]


def opt(api: Any, keyword: str, msisdn: str = A) -> None:
    """`TC` or `DK` sent by SMS, as a subscriber does."""
    key = api.post("/v1/gateways", {"name": "SMS centre", "channel": "sms"}, headers=OPERATOR, expect=201).data
    message = {"message_id": f"mo-{uuid.uuid4().hex}", "from": msisdn, "text": keyword}
    api.post("/v1/channels/sms", message, headers={"X-Gateway-Key": key["api_key"]}, expect=200)


def test_sms_for_a_voucher_a_tier_upgrade_and_expiring_points_once_each(engine_api, pump, moving, sink):
    api = engine_api
    subscriber(api)
    spend(api, 1)
    reply = spend(api, 2)  # 10,000 rank points: loyal
    assert reply["tier"] == "loyal"
    code = api.post(f"/v1/campaigns/{campaign(api)}/claims", headers=auth("subscriber", A), expect=201).data["voucher"][
        "code"
    ]
    drive(pump, moving)
    texts = [m.text for m in sent(sink)]
    assert [m.to for m in sent(sink)] == [A, A]
    assert any("Than thiet" in t for t in texts), texts
    (voucher,) = [t for t in texts if code in t]
    assert "Tra sua da" in voucher and "HSD 24/11/2026" in voucher
    assert all(gsm(t) and septets(t) <= messages.SEGMENT for t in texts), texts
    assert len({m.ref for m in sent(sink)}) == 2

    # points expiring within 7 days: data points earned now expire at the end of next month
    spend(api, 3, amount=40_000, service="data")
    moving.to(datetime(2026, 12, 26, 3, tzinfo=UTC))
    assert expiring.notify_expiring()["notices"] == 1
    assert expiring.notify_expiring()["notices"] == 0  # the same day again: nothing twice
    moving.advance(days=1)
    assert expiring.notify_expiring()["notices"] == 0  # nor the next day
    drive(pump, moving)
    notice = sent(sink)[-1].text
    assert "2000 diem" in notice and "31/12/2026" in notice and gsm(notice)
    moving.advance(10)
    (event,) = api.get("/v1/events?types=points.expiring", headers=OPERATOR, expect=200).data["items"]
    assert event["data"] == {"msisdn": A, "on": "2026-12-31", "points": 2_000}
    # every stream read again: no SMS twice
    count = len(sent(sink))
    for shards in pump.streams.shards.values():
        for shard in shards:
            shard.iterator = None
    drive(pump, moving)
    assert len(sent(sink)) == count == 3
    assert {n.status for n in Notification.scan()} == {"sent"}


def test_quiet_hours_hold_an_sms_until_eight(engine_api, pump, moving, sink):
    api = engine_api
    moving.to(datetime(2026, 11, 10, 15, 30, tzinfo=UTC))  # 22:30 in Ha Noi
    subscriber(api)
    api.post(f"/v1/subscribers/{A}/adjustments", {"points": 500, "reason": "float"}, headers=OPERATOR, expect=201)
    api.post(f"/v1/campaigns/{campaign(api)}/claims", headers=auth("subscriber", A), expect=201)
    drive(pump, moving, until=datetime(2026, 11, 11, 0, 59, tzinfo=UTC))  # 07:59
    assert sent(sink) == []
    (item,) = Notification.scan()
    assert (item.status, item.due_at) == ("pending", "2026-11-11T01:00:00.000Z")
    drive(pump, moving)
    (message,) = sent(sink)
    assert clock.now() == datetime(2026, 11, 11, 1, 0, tzinfo=UTC)  # sent at 08:00 local, not before
    assert Notification.get(item.notification_id).status == "sent"
    assert message.ref == item.notification_id


def test_an_opted_out_subscriber_gets_nothing_until_opting_in(engine_api, pump, moving, sink):
    api = engine_api
    subscriber(api)
    api.post(f"/v1/subscribers/{A}/adjustments", {"points": 500, "reason": "float"}, headers=OPERATOR, expect=201)
    campaign_id = campaign(api)
    opt(api, "TC")
    api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", A), expect=201)
    drive(pump, moving)
    assert sent(sink) == []
    (skipped,) = Notification.scan()
    assert (skipped.status, skipped.reason) == ("skipped", "opted out")
    opt(api, "DK")
    api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", A), expect=201)
    drive(pump, moving)
    assert len(sent(sink)) == 1


def test_a_centre_that_refuses_is_tried_again_one_that_does_not_answer_never(engine_api, pump, moving, receivers,
                                                                            monkeypatch):  # fmt: skip
    api = engine_api
    # an SMS centre on 127.0.0.1 that refuses once (503), takes the retry, then answers too late
    answers = iter([503, 202, ("late", 0.6)])
    centre = Receiver(behaviour=lambda n: next(answers), path="/sms").start()
    receivers.append(centre)
    monkeypatch.setenv("DIEM_SMS_URL", centre.url)
    monkeypatch.setattr(sms, "SEND_TIMEOUT_SECONDS", 0.3)
    config.reset()
    config.settings()  # read now, outside the test client's request environment
    subscriber(api)
    api.post(f"/v1/subscribers/{A}/adjustments", {"points": 500, "reason": "float"}, headers=OPERATOR, expect=201)
    campaign_id = campaign(api)
    api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", A), expect=201)
    drive(pump, moving)
    calls = [r.json for r in centre.received]
    assert len(calls) == 2 and calls[0] == calls[1]  # refused, then sent
    api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", A), expect=201)
    drive(pump, moving)
    assert len(centre.received) == 3  # no answer: never sent again (at most once)
    assert sorted(n.status for n in Notification.scan()) == ["sent", "unknown"]
    monkeypatch.undo()
    config.reset()


def test_the_http_sender(receivers):
    answers = iter([200, 503, ("late", 0.6)])
    centre = Receiver(behaviour=lambda n: next(answers), path="/sms").start()
    receivers.append(centre)
    sender = sms.HttpSender(centre.url, timeout=0.3)
    message = sms.Sms(A, "Diem: xin chao", "evt_1")
    sender.send(message)
    assert centre.received[0].json == {"to": A, "text": "Diem: xin chao", "ref": "evt_1"}
    with pytest.raises(sms.SmsRejected):
        sender.send(message)
    with pytest.raises(sms.SmsUnknown):
        sender.send(message)
    closed = Receiver().start()
    url = closed.url
    closed.stop()
    with pytest.raises(sms.SmsRejected):  # nobody listening: never sent
        sms.HttpSender(url, timeout=0.3).send(message)


# -- the feed -----------------------------------------------------------------------


def test_the_feed_in_commit_order_with_a_cursor_filters_and_scope(engine_api, pump, moving):
    api = engine_api
    subscriber(api)
    for n in range(5):
        moving.advance(1)
        spend(api, n, amount=10_000)
        pump.run_until_idle()  # each change written to the feed before the next is committed
    moving.advance(1)
    # written 1 s apart: those written in the last 3 s are not shown yet (the feed's settle time)
    shown = api.get("/v1/events", headers=OPERATOR, expect=200).data["items"]
    assert [e["data"]["entry_id"] for e in shown] == [f"earn:bill-{A}-{n}" for n in range(2)]
    moving.advance(10)
    seen, after = [], None
    for _ in range(10):
        page = api.get("/v1/events?limit=2" + (f"&after={after}" if after else ""), headers=OPERATOR, expect=200)
        seen += page.data["items"]
        if not page.data["items"]:
            break
        after = page.data["next_cursor"]
    assert [e["data"]["entry_id"] for e in seen] == [f"earn:bill-{A}-{n}" for n in range(5)]
    # polling from the end finds nothing new until there is
    assert api.get(f"/v1/events?after={after}", headers=OPERATOR, expect=200).data["items"] == []
    spend(api, 9, amount=10_000)
    pump.run_until_idle()
    moving.advance(10)
    (newest,) = api.get(f"/v1/events?after={after}", headers=OPERATOR, expect=200).data["items"]
    assert newest["data"]["entry_id"] == f"earn:bill-{A}-9"
    assert api.get("/v1/events?types=tier.changed", headers=OPERATOR, expect=200).data["items"] == []
    # a partner sees none of it
    partner = api.post("/v1/partners", {"name": "Shop"}, headers=MARKETER, expect=201).data
    key = {"X-Api-Key": partner["api_key"]}
    assert api.get("/v1/events", headers=key, expect=200).data["items"] == []
    # bad input: 400 in the error shape
    partner_cursor = api.get("/v1/events", headers=key, expect=200).data["next_cursor"]
    for query in ("after=not-a-cursor", "types=points.exploded", "types=", "limit=0", "limit=201", "cursor=x",
                  f"after={partner_cursor}", "after=eyJhdWRpZW5jZSI6eyJTIjoib3BlcmF0b3IifX0"):  # fmt: skip
        answer = api.get(f"/v1/events?{query}", headers=OPERATOR, expect=400)
        assert answer.data["error"]["code"] == "VALIDATION_ERROR", query
    api.get("/v1/events?types=points.earned", headers=key, expect=400)  # not a partner's type
    api.get("/v1/events", headers=auth("subscriber", A), expect=403)
    api.get("/v1/events", headers=MARKETER, expect=403)
    assert EventItem.count() == 6


# -- reconcile ------------------------------------------------------------------------


def test_reconcile_finds_every_change_of_a_period_has_its_event(engine_api, engine_tables, pump, moving, capsys):
    import json

    from ops import reconcile

    api = engine_api
    subscriber(api)
    spend(api, 1)
    campaign_id = campaign(api)
    code = api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", A), expect=201).data["voucher"][
        "code"
    ]
    pump.run_until_idle()
    period = ["--since", "2026-11-01T00:00:00Z", "--until", "2026-12-01T00:00:00Z"]
    command = ["--prefix", engine_tables, "--segments", "2", "--events", *period, "--json"]
    assert reconcile.main(command) == 0, capsys.readouterr().out
    report = json.loads(capsys.readouterr().out)
    assert report["scanned"]["events"] >= 4
    # an event lost (its item deleted): named by the change it is missing for
    (issued,) = [e for e in EventItem.scan() if e.type == "voucher.issued" and e.audience == "operator"]
    issued.delete()
    assert reconcile.main(command) == 1
    (drift,) = json.loads(capsys.readouterr().out)["drift"]
    assert drift["check"] == "events.missing" and drift["ids"]["type"] == "voucher.issued"
    assert drift["ids"]["code"] == code.replace("-", "") and drift["ids"]["event_id"] == issued.event_id
    # outside the period nothing is asked
    assert reconcile.main(["--prefix", engine_tables, "--events", "--since", "2027-01-01T00:00:00Z"]) == 0
