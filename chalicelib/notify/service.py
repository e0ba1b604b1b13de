"""Notifications: created from the events that send an SMS, sent through the
deliveries queue by the same consumer as webhooks.

At most once per cause: the notification's id is its event's, put only where
none is; sending is claimed first (pending -> sending), so a repeated queue
message never sends twice. A gateway that definitely refused is tried again
later (up to `sms_max_attempts`); one that may have sent (no answer) ends
`unknown`, never resent. Quiet hours hold a message until 08:00 local time,
checked when it is created and again when it is due. A subscriber who sent
`TC` (until `DK`), or whose number has a new owner since, is `skipped`.
"""

from __future__ import annotations

import json
from datetime import timedelta
from typing import Any

from chalicelib import clock, observability, store
from chalicelib.config import rules
from chalicelib.idempotency import Reply
from chalicelib.notify import messages, sms
from chalicelib.store import Event as EventItem
from chalicelib.store import Notification, Subscriber, Voucher, conditional
from chalicelib.webhooks import queue

LABEL = "notification"
KIND = "sms"
PENDING, SENDING, SENT, SKIPPED, FAILED, UNKNOWN = "pending", "sending", "sent", "skipped", "failed", "unknown"
RETRY_SECONDS = 300


def _owner_of(kind: str, data: dict[str, Any], msisdn: str) -> str | None:
    """The owner the event is about (a recycled number's new owner is someone else)."""
    try:
        if kind == "voucher.issued":
            from chalicelib.vouchers.codes import parse

            code = parse(str(data["code"]))
            return Voucher.get(code).owner_id if code else None
        subscriber = Subscriber.get(msisdn, consistent_read=True)
    except (Voucher.DoesNotExist, Subscriber.DoesNotExist):
        return None
    return subscriber.owner_id


def create(item: EventItem) -> bool:
    """The notification of an operator event that sends one; False if none or it existed."""
    data = json.loads(item.data)
    text = messages.text_for(item.type, data)
    msisdn = data.get("msisdn")
    if text is None or not isinstance(msisdn, str):
        return False
    owner = data.get("owner_id") or _owner_of(item.type, data, msisdn)
    if owner is None:
        return False
    now = clock.now()
    due = messages.not_before(now)
    notification = Notification(
        item.event_id,
        event_id=item.event_id,
        type=item.type,
        msisdn=msisdn,
        owner_id=str(owner),
        text=text,
        status=PENDING,
        attempts=0,
        due_at=clock.iso(due),
        created_at=clock.iso(now),
        updated_at=clock.iso(now),
        expires_at=(now + timedelta(days=rules().event_retention_days, seconds=1)).replace(microsecond=0),
    )
    op = store.put(notification, condition=Notification.notification_id.does_not_exist(), label=LABEL)

    def existing(old: dict[str, Any] | None) -> Reply:
        found = Notification.from_raw_data(old) if old else None
        return Reply(200, {"resend": found is not None and found.status == PENDING and not found.attempts})

    reply = store.run(lambda _: store.Plan([op], Reply(201, {"resend": True}), {LABEL: existing}))
    if reply.body["resend"]:
        queue.send(message(item.event_id), (due - now).total_seconds())
    return reply.status == 201


def message(notification_id: str) -> dict[str, Any]:
    return {"kind": KIND, "notification_id": notification_id}


def _write(item: Notification, actions: list[Any], condition: Any) -> bool:
    return conditional.change(
        Notification,
        item.notification_id,
        None,
        actions=[*actions, Notification.updated_at.set(clock.iso(clock.now()))],
        condition=condition,
        label=LABEL,
    )


def _finish(item: Notification, status: str, reason: str | None = None) -> None:
    actions: list[Any] = [Notification.status.set(status)]
    if reason:
        actions.append(Notification.reason.set(reason))
    if status == SENT:
        actions.append(Notification.sent_at.set(clock.iso(clock.now())))
    _write(item, actions, Notification.status == SENDING)


def _why_not(item: Notification) -> str | None:
    """Why this subscriber gets no SMS now (opted out, or the number has a new owner)."""
    try:
        subscriber = Subscriber.get(item.msisdn, consistent_read=True)
    except Subscriber.DoesNotExist:
        return "no such subscriber"
    if subscriber.owner_id != item.owner_id:
        return "the number has a new owner"
    if not sms.notifications_allowed(subscriber):
        return "opted out"
    return None


def send(notification_id: str) -> str:
    """Handle one queue message; what was done."""
    try:
        item = Notification.get(notification_id, consistent_read=True)
    except Notification.DoesNotExist:
        return "done"
    if item.status != PENDING:
        return "done"
    now = clock.now()
    due = max(clock.parse_iso(item.due_at), messages.not_before(now))
    if due > now:
        queue.send(message(notification_id), (due - now).total_seconds())
        return "waiting"
    attempts = int(item.attempts or 0)
    claimed = _write(
        item,
        [Notification.status.set(SENDING), Notification.attempts.set(attempts + 1)],
        (Notification.status == PENDING) & (Notification.attempts == attempts),
    )
    if not claimed:
        return "claimed"
    reason = _why_not(item)
    if reason is not None:
        _finish(item, SKIPPED, reason)
        return "skipped"
    if not sms.configured():
        _finish(item, SKIPPED, "no SMS centre configured")
        return "skipped"
    try:
        sms.sender().send(sms.Sms(item.msisdn, item.text, item.notification_id))
    except sms.SmsUnknown as exc:
        _finish(item, UNKNOWN, str(exc))
        observability.count("NotificationsUnknown")
        return "unknown"
    except sms.SmsRejected as exc:
        if attempts + 1 >= rules().sms_max_attempts:
            _finish(item, FAILED, str(exc))
            observability.count("NotificationsFailed")
            return "failed"
        later = clock.now() + timedelta(seconds=RETRY_SECONDS * (attempts + 1))
        queue.send(message(notification_id), (later - clock.now()).total_seconds())
        _write(
            item,
            [Notification.status.set(PENDING), Notification.due_at.set(clock.iso(later))],
            Notification.status == SENDING,
        )
        return "retry"
    _finish(item, SENT)
    observability.count("NotificationsSent")
    return "sent"
