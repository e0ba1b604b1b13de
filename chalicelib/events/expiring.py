"""The daily `points.expiring` notices: points expiring within
`expiry_notice_days` (7), one event per subscriber and expiry date.

Found through the sparse `expiry-due` index (keys only, `<earliest expiry
date>#<shard>`), never a Scan: a subscriber whose earliest bucket expires in
the window (or expired in the last days, if the expiry job is behind) is
read, and each of its buckets expiring in the window is one notice. The
notice's id is derived from the owner and the date, so running the job again
(or the next day) writes nothing twice."""

from __future__ import annotations

import logging
from datetime import date, timedelta

from chalicelib import clock, observability, store
from chalicelib.config import rules
from chalicelib.events import feed
from chalicelib.events.derive import Event
from chalicelib.events.ids import expiring_event_id
from chalicelib.store import Subscriber

log = logging.getLogger(__name__)
CATCH_UP_DAYS = 7


def notices(item: Subscriber, today: date) -> list[Event]:
    """The notices one subscriber is due (pure but for reading the item)."""
    last = today + timedelta(days=rules().expiry_notice_days)
    buckets = item.buckets.as_dict() if hasattr(item.buckets, "as_dict") else dict(item.buckets or {})
    at = clock.iso(clock.now())
    found = []
    for day, points in sorted(buckets.items()):
        if today.isoformat() <= day <= last.isoformat() and int(points) > 0:
            data = {"msisdn": item.msisdn, "on": day, "points": int(points)}
            found.append(Event(expiring_event_id(item.owner_id, day), "points.expiring", at, data))
    return found


def notify_expiring(today: date | None = None) -> dict[str, int]:
    today = today or clock.today()
    days = [today + timedelta(days=n) for n in range(-CATCH_UP_DAYS, rules().expiry_notice_days + 1)]
    msisdns: list[str] = []
    failed = 0
    for day in days:
        for shard in range(rules().due_index_shards):
            key = f"{day.isoformat()}#{shard}"
            try:
                msisdns += [i.msisdn for i in Subscriber.expiry_due_index.query(key)]
            except Exception as exc:  # the partition's index read failed: the next run reads it again
                log.warning("due partition unread", extra={"partition": key, "error": type(exc).__name__})
                observability.count("DueWorkFailures")
                failed += 1
    written = 0
    for start in range(0, len(msisdns), 100):
        found = store.batch_get([(Subscriber, m, None) for m in msisdns[start : start + 100]], consistent=False)
        for item in found.values():
            if item is not None:
                written += sum(feed.write(notice) for notice in notices(item, today))
    log.info("expiry notices", extra={"subscribers": len(msisdns), "events": written, "failed": failed})
    return {"subscribers": len(msisdns), "notices": written, "failed": failed}
