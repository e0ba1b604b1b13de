"""A new event in the events table goes out: to every enabled endpoint of its
audience that takes its type (a delivery each, `webhooks.deliveries`) and,
for the operator's copy of an event that sends an SMS, to the subscriber
(`notify`). Dispatching a record again creates nothing twice."""

from __future__ import annotations

from typing import Any

from chalicelib.events import types
from chalicelib.notify import messages
from chalicelib.store import Event as EventItem


def dispatch(record: dict[str, Any]) -> int:
    """Deliveries and notifications created for one events-table record."""
    if record.get("eventName") != "INSERT":
        return 0  # an event is written once; a removal is its TTL
    item = EventItem.from_raw_data(record["dynamodb"]["NewImage"])
    from chalicelib.webhooks import deliveries, service

    created = 0
    for webhook in service.endpoints_for(item.audience, item.type):
        created += deliveries.create(webhook, item)
    if item.audience == types.OPERATOR and item.type in messages.NOTIFIED_TYPES:
        from chalicelib.notify import service as notify

        created += notify.create(item)
    return created
