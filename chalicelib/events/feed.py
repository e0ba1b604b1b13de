"""The events table: writing an event once per audience, and reading a
caller's feed in order (`GET /v1/events`).

Writing: each event is one item per audience, the operator's (all the data)
and, for the partner types, its partner's (the partner's view, without any
subscriber's MSISDN), each put only where none is (`event_id` is derived from
the change, so a re-read stream record writes nothing). The item's feed
position is `<written at>#<event id>`, in the `feed` index: the operator's
feed is spread over `event_feed_shards` partitions, a partner's is one.

Reading: every partition of the caller's feed after the cursor, merged in
position order. Only events older than `event_feed_settle_seconds` are shown,
so an event another invocation wrote a moment earlier (or that is still
reaching the index) cannot appear behind a cursor already handed out. The
cursor says where the caller has read to (the last event, or how far the
feed was read when a page held fewer events), so it is always given back:
a caller polls with it.
"""

from __future__ import annotations

import hashlib
import json
import re
from datetime import timedelta
from typing import Any

from chalicelib import clock
from chalicelib.config import rules
from chalicelib.errors import ValidationError
from chalicelib.events import types
from chalicelib.events.derive import Event
from chalicelib.store import Event as EventItem
from chalicelib.store import pages

_POSITION = re.compile(r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}\.\d{3}Z(#evt_[a-z2-7]{32})?$")
_CURSOR_KEYS = frozenset({"audience", "position"})
MAX_TYPES = len(types.EVENT_TYPES)


def operator_feed(event_id: str) -> str:
    shard = hashlib.sha256(event_id.encode()).digest()[0] % rules().event_feed_shards
    return f"{types.OPERATOR}#{shard}"


def _ttl() -> Any:
    # kept at least the retention: TTL stores whole seconds, so round up
    expires = clock.now() + timedelta(days=rules().event_retention_days, seconds=1)
    return expires.replace(microsecond=0)


def items_of(event: Event) -> list[EventItem]:
    """The items of one event: the operator's, and its partner's view if it has one."""
    position = f"{clock.iso(clock.now())}#{event.id}"
    expires_at = _ttl()
    found = [
        EventItem(
            event.id,
            types.OPERATOR,
            type=event.type,
            timestamp=event.timestamp,
            data=json.dumps(event.data, separators=(",", ":"), sort_keys=True),
            feed=operator_feed(event.id),
            position=position,
            expires_at=expires_at,
        )
    ]
    view = types.partner_view(event.type, event.data) if event.partner_id else None
    if view is not None and event.partner_id:
        audience = types.partner_audience(event.partner_id)
        found.append(
            EventItem(
                event.id,
                audience,
                type=event.type,
                timestamp=event.timestamp,
                data=json.dumps(view, separators=(",", ":"), sort_keys=True),
                feed=audience,
                position=position,
                expires_at=expires_at,
            )
        )
    return found


def write(event: Event) -> int:
    """Put the event's items where they are not yet; how many were new."""
    from pynamodb.exceptions import PutError

    written = 0
    for item in items_of(event):
        try:
            item.save(condition=EventItem.event_id.does_not_exist())
            written += 1
        except PutError as exc:
            if getattr(exc, "cause_response_code", None) != "ConditionalCheckFailedException":
                raise
    return written


# -- reading -------------------------------------------------------------------


def parse_types(raw: str | None, role: str) -> frozenset[str] | None:
    """`types=a,b`: each one a type this caller may see, else 400."""
    if raw is None:
        return None
    wanted = [t.strip() for t in raw.split(",")]
    allowed = types.types_for(role)
    if not raw.strip() or len(wanted) > MAX_TYPES or any(t not in allowed for t in wanted):
        raise ValidationError(f"types must be a comma-separated list of event types this caller sees: {allowed}.")
    return frozenset(wanted)


def _after(cursor: str | None, audience: str) -> str | None:
    key = pages.decode(cursor, {"audience": audience}, _CURSOR_KEYS)
    if key is None:
        return None
    position = str(key["position"].get("S", ""))
    if not _POSITION.match(position):
        raise ValidationError("cursor is not valid.")
    return position


def _cursor(audience: str, position: str) -> str:
    encoded = pages.encode({"audience": {"S": audience}, "position": {"S": position}})
    assert encoded is not None
    return encoded


def body(item: EventItem) -> dict[str, Any]:
    return {"id": item.event_id, "type": item.type, "timestamp": item.timestamp, "data": json.loads(item.data)}


def read(role: str, subject: str, cursor: str | None, wanted: frozenset[str] | None, limit: int) -> dict[str, Any]:
    """The caller's events after `cursor`, oldest first, at most `limit`."""
    audience = types.audience_of(role, subject)
    after = _after(cursor, audience)
    upper = clock.iso(clock.now() - timedelta(seconds=rules().event_feed_settle_seconds))
    shards = range(rules().event_feed_shards)
    feeds = [f"{types.OPERATOR}#{n}" for n in shards] if role == "operator" else [audience]
    # per partition one Query of `per_feed` items; read up to `cut` in every partition
    per_feed = limit if wanted is None else min(200, limit * 4)
    cut = upper
    candidates: list[EventItem] = []
    for feed in feeds:
        condition = EventItem.position > after if after is not None else None
        found = list(EventItem.feed_index.query(feed, condition, limit=per_feed, page_size=per_feed))
        shown = [item for item in found if item.position < upper]
        if len(found) == per_feed and len(shown) == len(found):
            cut = min(cut, found[-1].position)  # this partition is read only this far
        candidates += shown
    ready = sorted((i for i in candidates if i.position <= cut), key=lambda i: i.position)
    matching = [i for i in ready if wanted is None or i.type in wanted]
    page = matching[:limit]
    reached = page[-1].position if len(matching) > limit else cut
    if after is not None and reached < after:
        reached = after
    return {"items": [body(i) for i in page], "next_cursor": _cursor(audience, reached)}
