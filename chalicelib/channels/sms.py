"""The SMS keywords (API.md "SMS keywords"): one inbound message -> one reply,
answered to the gateway and sent to the sender as an outbound SMS.

Keywords are read case- and diacritics-insensitively with spaces collapsed
(`  điểm ` is `DIEM`); anything else gets the help text. Each message is
decided once per gateway and `message_id`: the kernel puts the message's
dedupe record in the same transaction as what it changes (the `TC`/`DK`
flag; for the other keywords the record alone), so the same message again
gets the stored reply and sends nothing; the same id with another sender or
text is a 422. The reply goes out only from the request that committed.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable

from chalicelib import observability, store
from chalicelib.channels import screens
from chalicelib.config import rules
from chalicelib.errors import NotFound, ValidationError
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.notify import gsm
from chalicelib.notify import sms as outbound
from chalicelib.points import service as points
from chalicelib.store import Subscriber
from chalicelib.subscribers import service as subscribers
from chalicelib.subscribers.msisdn import normalise_msisdn
from chalicelib.vouchers import service as vouchers

# what a keyword changes (the subscriber item read) and says
Keyword = Callable[[Subscriber], tuple[store.Op | None, str]]


def _points(item: Subscriber) -> tuple[store.Op | None, str]:
    return None, screens.sms_points(screens.points_of(points.view_of(item)))


def _vouchers(item: Subscriber) -> tuple[store.Op | None, str]:
    page = vouchers.wallet(item.msisdn, rules().ussd_wallet_items, None)
    return None, screens.sms_vouchers(screens.issued_of(page["items"]))


def _stop(item: Subscriber) -> tuple[store.Op | None, str]:
    return subscribers.sms_opt_out_op(item, True), screens.sms_opted_out()


def _start(item: Subscriber) -> tuple[store.Op | None, str]:
    return subscribers.sms_opt_out_op(item, False), screens.sms_opted_in()


def _help(item: Subscriber) -> tuple[store.Op | None, str]:
    return None, screens.sms_help()


KEYWORDS: dict[str, Keyword] = {"DIEM": _points, "VC": _vouchers, "TC": _stop, "DK": _start}


def receive(gateway_id: str, message_id: str, sender: str, text: str) -> Reply:
    """200 `{message_id, reply}`; the reply sent to `sender` once per message."""
    try:
        msisdn: str | None = normalise_msisdn(sender)
    except ValidationError:
        msisdn = None  # a number, but not one of the operator's: answered, never sent to
    keyword = KEYWORDS.get(gsm.keyword(text), _help)
    idem = Idempotency(
        record_id=hashlib.sha256(f"sms\x1f{gateway_id}\x1f{message_id}".encode()).hexdigest(),
        payload_hash=hashlib.sha256(f"{sender}\x1f{text}".encode()).hexdigest(),
    )

    def decide(_: store.Fresh) -> store.Plan:
        try:
            item = points.load(msisdn) if msisdn else None
        except NotFound:
            item = None
        op, reply = keyword(item) if item is not None else (None, screens.sms_not_subscriber())
        body = {"message_id": message_id, "reply": reply}
        # 201: this request decided the reply (and sends it); a replay answers the record's 200
        return store.Plan([op] if op else [], Reply(201, body), stored=Reply(200, body))

    answered = store.run(decide, idem)
    if answered.status == 201 and msisdn is not None:
        _send(outbound.Sms(msisdn, answered.body["reply"], f"sms-reply:{gateway_id}:{message_id}"))
    return Reply(200, answered.body)


def _send(message: outbound.Sms) -> None:
    """Hand the reply to the SMS centre; a failure is logged and counted (the
    gateway has the reply in the answer too), never an error for the gateway."""
    try:
        outbound.sender().send(message)
    except outbound.SmsNotSent as exc:
        observability.logger().warning("SMS reply not sent", extra={"ref": message.ref, "error": str(exc)})
        observability.count("SmsNotSent")
