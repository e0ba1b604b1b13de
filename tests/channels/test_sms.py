"""SMS keywords and gateway keys on the real local engine, the replies sent to
an SMS centre on 127.0.0.1 (`dev.sms_sink`): every keyword in any case and
with diacritics, one reply per message_id however often it comes, TC/DK
written on the subscriber, numbers that are no subscriber's, the sink down,
bad bodies and keys; and `POST /v1/gateways`."""

from __future__ import annotations

import pytest
from channels.world import ME, OTHER, World

from chalicelib import store
from chalicelib.notify import gsm
from chalicelib.notify.sms import notifications_allowed
from chalicelib.store import Gateway, Subscriber
from conftest import MARKETER, OPERATOR, auth

pytestmark = pytest.mark.engine

HELP = "Chuong trinh diem. Soan:\nDIEM - xem diem"


def reply(world: World, message_id: str, text: str, sender: str = ME) -> str:
    r = world.sms(message_id, text, sender)
    assert r.status_code == 200, r.data
    assert r.data["message_id"] == message_id
    text_out = str(r.data["reply"])
    assert gsm.is_gsm(text_out) and gsm.segments(text_out) <= 2 and gsm.septets(text_out) <= 306, text_out
    return text_out


def test_diem_in_any_case_and_with_diacritics_is_the_balance(world: World) -> None:
    answers = [reply(world, f"m-{n}", text) for n, text in enumerate(["DIEM", "diem", "  Điểm ", "ĐIỂM", "Diêm"])]
    assert len(set(answers)) == 1
    (answer,) = set(answers)
    assert answer.startswith("Diem cua ban: 50.000. Hang Tiem nang.")
    assert "Can 10.000 diem hang de len Than thiet." in answer
    assert "50.000 diem het han ngay 30/11/2027." in answer
    sent = [{"to": ME, "text": answer, "ref": f"sms-reply:{world.sms_gateway}:m-{n}"} for n in range(5)]
    assert world.sink.messages() == sent
    # anything else gets the help text
    for n, text in enumerate(["d i e m", "", "hello", "DIEM VC", "\U0001f600", "TC?"]):
        assert reply(world, f"h-{n}", text).startswith(HELP), text


def test_vc_lists_the_issued_codes_whole_and_says_how_many_more(world: World) -> None:
    assert reply(world, "m-0", "vc").startswith("Ban chua co voucher nao.")
    campaign_id = world.launch("Nhieu voucher", points_price=100, per_subscriber_limit=30)
    claimed = []
    for _ in range(14):
        r = world.api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", ME), expect=201)
        claimed.append(r.data["voucher"]["code"])
    answer = reply(world, "m-1", " vc ")
    shown = [code for code in claimed if code in answer]
    assert answer.startswith("Voucher cua ban (14):") and 5 <= len(shown) < 14
    assert f"va {14 - len(shown)} voucher khac, xem *098#" in answer
    for line in answer.splitlines()[1:-1]:
        assert line.split(" HSD ")[0] in claimed  # whole codes only


def test_the_same_message_again_gets_the_same_reply_and_sends_nothing(world: World) -> None:
    first = reply(world, "m-1", "DIEM")
    world.api.post(f"/v1/subscribers/{ME}/adjustments", {"points": 1_000, "reason": "gift"}, headers=OPERATOR)
    assert reply(world, "m-1", "DIEM") == first  # not the new balance: the message was answered once
    assert reply(world, "m-1", "DIEM") == first
    assert len(world.sink.messages()) == 1
    assert reply(world, "m-2", "DIEM").startswith("Diem cua ban: 51.000")
    assert len(world.sink.messages()) == 2
    # the same id for another message is the gateway's mistake: 422, nothing sent
    r = world.sms("m-1", "VC")
    assert r.status_code == 422 and r.data["error"]["code"] == "IDEMPOTENCY_KEY_REUSED"
    assert len(world.sink.messages()) == 2


def test_tc_stops_notifications_until_dk(world: World) -> None:
    def allowed() -> bool:
        return notifications_allowed(Subscriber.get(ME, consistent_read=True))

    assert allowed()
    assert reply(world, "m-1", "tc").startswith("Ban da tat tin nhan thong bao")
    item = Subscriber.get(ME, consistent_read=True)
    assert not allowed() and item.sms_opt_out_at is not None and int(item.balance) == 50_000
    assert reply(world, "m-2", "TC").startswith("Ban da tat")  # again: still off, nothing rewritten
    assert Subscriber.get(ME, consistent_read=True).sms_opt_out_at == item.sms_opt_out_at
    assert reply(world, "m-3", "Đk").startswith("Ban da bat lai tin nhan thong bao")
    assert allowed()
    # the replies themselves are sent (a reply is not a notification)
    assert [m["ref"].rsplit(":", 1)[1] for m in world.sink.messages()] == ["m-1", "m-2", "m-3"]
    # a recycled number's new owner starts with notifications on
    reply(world, "m-4", "TC")
    r = world.api.put(f"/v1/subscribers/{ME}", {"activated_on": "2026-11-09", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 200
    assert allowed()
    assert reply(world, "m-5", "DIEM").startswith("Diem cua ban: 0.")


def test_a_stranger_gets_a_short_reply_and_a_centre_that_is_down_still_gets_it_answered(world: World) -> None:
    assert reply(world, "m-1", "DIEM", OTHER) == "So nay chua tham gia chuong trinh tich diem."
    assert reply(world, "m-2", "TC", OTHER) == "So nay chua tham gia chuong trinh tich diem."
    assert [m["to"] for m in world.sink.messages()] == [OTHER, OTHER]
    # a foreign number is answered, and nothing is sent to it
    assert reply(world, "m-3", "DIEM", "+1 415 555 0100").startswith("So nay chua tham gia")
    assert len(world.sink.messages()) == 2
    # the SMS centre down: the reply is still answered, once
    world.sink.stop()  # nothing listens on its port now
    assert reply(world, "m-4", "DIEM").startswith("Diem cua ban: 50.000")
    assert reply(world, "m-4", "DIEM").startswith("Diem cua ban: 50.000")
    assert len(world.sink.messages()) == 2


MALFORMED = [
    {"message_id": "m-1", "text": "DIEM"},
    {"message_id": "m-1", "from": ME, "text": "DIEM", "extra": 1},
    {"message_id": "", "from": ME, "text": "DIEM"},
    {"message_id": 7, "from": ME, "text": "DIEM"},
    {"message_id": "m-1", "from": "not a number", "text": "DIEM"},
    {"message_id": "m-1", "sender": ME, "text": "DIEM"},
    {"message_id": "m-1", "from": ME, "text": "x" * 1601},
]


def test_a_malformed_sms_is_400_a_bad_key_401_and_nothing_is_sent(world: World) -> None:
    for body in MALFORMED:
        r = world.api.post("/v1/channels/sms", body, headers={"X-Gateway-Key": world.sms_key})
        assert r.status_code == 400 and r.data["error"]["code"] == "VALIDATION_ERROR", body
    r = world.api.call("POST", "/v1/channels/sms", headers={"X-Gateway-Key": world.sms_key}, raw="{not json")
    assert r.status_code == 400
    body = {"message_id": "m-1", "from": ME, "text": "DIEM"}
    for headers, status in (({}, 401), ({"X-Gateway-Key": "gk_nope"}, 401), ({"X-Gateway-Key": world.ussd_key}, 403)):
        r = world.api.post("/v1/channels/sms", body, headers=headers)
        assert r.status_code == status, r.data
    assert world.sink.messages() == []


# -- gateways ----------------------------------------------------------------------------------


def test_a_gateway_key_is_shown_once_and_stored_only_as_its_hash(world: World) -> None:
    headers = {**OPERATOR, "Idempotency-Key": "gw-1"}
    made = world.api.post("/v1/gateways", {"name": "Aggregator", "channel": "sms"}, headers=headers, expect=201).data
    assert made["api_key"].startswith("gk_") and made["channel"] == "sms" and made["gateway_id"].startswith("gw_")
    again = world.api.post("/v1/gateways", {"name": "Aggregator", "channel": "sms"}, headers=headers, expect=201).data
    assert again == {**made, "api_key": None}
    raw = store.binding.client().scan(TableName=Gateway.Meta.table_name)["Items"]
    assert len(raw) == 3 and made["api_key"] not in repr(raw)
    assert world.sms("m-1", "DIEM").status_code == 200
    r = world.api.post(
        "/v1/channels/sms", {"message_id": "m-2", "from": ME, "text": "DK"}, headers={"X-Gateway-Key": made["api_key"]}
    )
    assert r.status_code == 200
    # a bad gateway is 400; only an operator registers one
    for body in ({"name": "x"}, {"name": "x", "channel": "fax"}, {"name": "", "channel": "sms"}, {"channel": "sms"}):
        r = world.api.post("/v1/gateways", body, headers=OPERATOR)
        assert r.status_code == 400 and r.data["error"]["code"] == "VALIDATION_ERROR", body
    body = {"name": "x", "channel": "ussd"}
    assert world.api.post("/v1/gateways", body, headers=MARKETER).status_code == 403
    assert world.api.post("/v1/gateways", body).status_code == 401
    assert world.api.post("/v1/gateways", body, headers={"X-Gateway-Key": world.ussd_key}).status_code == 401
