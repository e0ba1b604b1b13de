"""Deliveries: one event to one endpoint, attempted through the deliveries queue.

Created by the dispatcher when an event reaches the events table (once: the
item's key is the endpoint and the event's position), then attempted: any
2xx is `delivered`; anything else, or no answer within 10 s, is retried after
5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h and 24 h (Standard Webhooks'
schedule, `Rules.webhook_retry_seconds`), then `failed`; a 410 disables the
endpoint. The URL is checked again before every attempt.

A queue message names the delivery and the attempt it is for. An attempt is
claimed first (a conditional write with a lease), so a message delivered
twice never posts twice at once; the message for the next attempt is sent
before the attempt is recorded, so a crash in between repeats an attempt (at
least once) but never loses the delivery. A message that arrives before its
attempt is due (the queue delays 15 minutes at most) is sent on with the time
left.
"""

from __future__ import annotations

import json
import secrets
import time
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock, config, observability, store
from chalicelib.config import rules
from chalicelib.idempotency import Reply
from chalicelib.store import Delivery, Webhook, conditional
from chalicelib.store import Event as EventItem
from chalicelib.webhooks import http, queue, service, signing, urls

LABEL = "delivery"
PENDING, DELIVERED, FAILED = "pending", "delivered", "failed"
LEASE_SECONDS = 60
KIND = "webhook"


def attempts_allowed() -> int:
    return 1 + len(rules().webhook_retry_seconds)


def _ttl() -> datetime:
    return (clock.now() + timedelta(days=rules().event_retention_days, seconds=1)).replace(microsecond=0)


def message(delivery: Delivery, attempt: int) -> dict[str, Any]:
    return {"kind": KIND, "webhook_id": delivery.webhook_id, "position": delivery.position, "attempt": attempt}


def payload(item: EventItem) -> str:
    """The body every attempt posts: `{"type", "timestamp", "data"}`, byte for byte the same."""
    return f'{{"type":{json.dumps(item.type)},"timestamp":{json.dumps(item.timestamp)},"data":{item.data}}}'


def create(webhook: Webhook, item: EventItem) -> bool:
    """The delivery of `item` to `webhook` and its first attempt's message;
    False if it existed already (its first message is sent again if it may
    have been lost)."""
    now = clock.iso(clock.now())
    delivery = Delivery(
        webhook.webhook_id,
        item.position,
        audience=webhook.audience,
        event_id=item.event_id,
        type=item.type,
        body=payload(item),
        status=PENDING,
        attempts=0,
        next_attempt_at=now,
        created_at=now,
        updated_at=now,
        expires_at=_ttl(),
    )
    op = store.put(delivery, condition=Delivery.position.does_not_exist(), label=LABEL)

    def existing(old: dict[str, Any] | None) -> Reply:
        found = Delivery.from_raw_data(old) if old else None
        waiting = found is not None and found.status == PENDING and int(found.attempts or 0) == 0
        return Reply(200, {"resend": waiting})

    reply = store.run(lambda _: store.Plan([op], Reply(201, {"resend": True}), {LABEL: existing}))
    if reply.body["resend"]:
        queue.send(message(delivery, 1))
    return reply.status == 201


# -- the consumer ----------------------------------------------------------------


def _get(webhook_id: str, position: str) -> Delivery | None:
    try:
        return Delivery.get(webhook_id, position, consistent_read=True)
    except Delivery.DoesNotExist:
        return None


def _write(delivery: Delivery, actions: list[Any], condition: Any) -> bool:
    """One conditional change of the delivery; False if it had moved meanwhile."""
    return conditional.change(
        Delivery,
        delivery.webhook_id,
        delivery.position,
        actions=[*actions, Delivery.updated_at.set(clock.iso(clock.now()))],
        condition=condition,
        label=LABEL,
    )


def _claim(delivery: Delivery, lease: str) -> bool:
    now = clock.now()
    free = Delivery.lease_until.does_not_exist() | (Delivery.lease_until < clock.iso(now))
    return _write(
        delivery,
        [Delivery.lease_id.set(lease), Delivery.lease_until.set(clock.iso(now + timedelta(seconds=LEASE_SECONDS)))],
        (Delivery.status == PENDING) & (Delivery.attempts == int(delivery.attempts or 0)) & free,
    )


def _record(delivery: Delivery, lease: str, attempt: int, outcome: http.Outcome, status: str, due: str | None) -> None:
    actions = [
        Delivery.status.set(status),
        Delivery.attempts.set(attempt),
        Delivery.lease_id.remove(),
        Delivery.lease_until.remove(),
    ]
    actions.append(
        Delivery.last_status_code.set(outcome.status)
        if outcome.status is not None
        else Delivery.last_status_code.remove()
    )
    actions.append(Delivery.last_error.set(outcome.error) if outcome.error else Delivery.last_error.remove())
    actions.append(Delivery.next_attempt_at.set(due) if due else Delivery.next_attempt_at.remove())
    _write(delivery, actions, Delivery.lease_id == lease)


def _post(webhook: Webhook, delivery: Delivery) -> http.Outcome:
    try:
        target = urls.check(webhook.url, allow_local=config.settings().webhooks_allow_local)
    except urls.UnsafeUrl as exc:
        return http.Outcome(None, f"refused: {exc.message}")
    # the receiver compares this with its own clock: the real time of sending, not diem's injectable one
    sent_at = int(time.time())
    body = delivery.body
    headers = signing.headers(delivery.event_id, sent_at, body, service.signing_secrets(webhook))
    return http.post(target, body.encode(), headers)


def attempt(webhook_id: str, position: str, attempt_number: int) -> str:
    """Handle one queue message; what was done (for logs and tests)."""
    delivery = _get(webhook_id, position)
    if delivery is None or delivery.status != PENDING:
        return "done"
    done_attempts = int(delivery.attempts or 0)
    if attempt_number <= done_attempts:
        return "stale"
    number = done_attempts + 1
    now = clock.now()
    due = clock.parse_iso(delivery.next_attempt_at) if delivery.next_attempt_at else now
    if due > now:
        queue.send(message(delivery, number), (due - now).total_seconds())
        return "waiting"
    lease = secrets.token_hex(8)
    if not _claim(delivery, lease):
        return "claimed"
    webhook = service.find(delivery.audience, webhook_id)
    if webhook is None or webhook.status != service.ENABLED:
        gone = "the endpoint was deleted" if webhook is None else "the endpoint is disabled"
        _record(delivery, lease, done_attempts, http.Outcome(None, gone), FAILED, None)
        observability.count("WebhookDeliveriesFailed")
        return "failed"
    outcome = _post(webhook, delivery)
    if outcome.delivered:
        _record(delivery, lease, number, outcome, DELIVERED, None)
        observability.count("WebhookDeliveries")
        return "delivered"
    if outcome.status == 410:
        service.disable(webhook, "the receiver answered 410 Gone")
        _record(delivery, lease, number, outcome, FAILED, None)
        observability.count("WebhooksDisabled")
        observability.count("WebhookDeliveriesFailed")
        return "disabled"
    schedule = rules().webhook_retry_seconds
    if number >= attempts_allowed():
        _record(delivery, lease, number, outcome, FAILED, None)
        observability.count("WebhookDeliveriesFailed")
        return "failed"
    delay = schedule[number - 1]
    next_at = clock.iso(clock.now() + timedelta(seconds=delay))
    queue.send(message(delivery, number + 1), delay)  # first: a crash after it repeats, never loses
    _record(delivery, lease, number, outcome, PENDING, next_at)
    observability.count("WebhookDeliveryRetries")
    return "retry"
