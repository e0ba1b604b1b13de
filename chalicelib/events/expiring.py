"""The daily `points.expiring` notices: points expiring within
`expiry_notice_days` (7), one event per subscriber and expiry date.

Found through the sparse `expiry-due` index (keys only, `<earliest expiry
date>#<shard>`), never a Scan, as a job fanned out over its partitions
(`chalicelib.jobs.fanout`): a subscriber whose earliest bucket expires in
the window (or expired in the last days, if the expiry job is behind) is
read, and each of its buckets expiring in the window is one notice. The
notice's id is derived from the owner and the date, so running the job again
(or the next day) writes nothing twice."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from chalicelib import clock
from chalicelib.config import rules
from chalicelib.events import feed
from chalicelib.events.derive import Event
from chalicelib.events.ids import expiring_event_id
from chalicelib.jobs import fanout
from chalicelib.store import Subscriber

CATCH_UP_DAYS = 7


def notices(item: Subscriber, today: date) -> list[Event]:
    """The notices one subscriber is due (pure but for reading the item)."""
    last = today + timedelta(days=rules().expiry_notice_days)
    buckets = item.buckets or {}
    at = clock.iso(clock.now())
    found = []
    for day, points in sorted(buckets.items()):
        if today.isoformat() <= day <= last.isoformat() and int(points) > 0:
            data = {"msisdn": item.msisdn, "on": day, "points": int(points)}
            found.append(Event(expiring_event_id(item.owner_id, day), "points.expiring", at, data))
    return found


def _work(msisdn: str, task: fanout.Task) -> str:
    """The notices of one due subscriber ("done" if any was new)."""
    try:
        item = Subscriber.get(msisdn)
    except Subscriber.DoesNotExist:
        return "skipped"
    today = clock.local_date(clock.parse_iso(task.at))
    return "done" if sum(feed.write(notice) for notice in notices(item, today)) else "skipped"


def _summary(counts: Counter[str], partitions: int) -> dict[str, int]:
    # `notices`: the subscribers given a new notice (one per expiry date in the window)
    return {
        "subscribers": counts["done"] + counts["skipped"],
        "notices": counts["done"],
        "failed": counts["failed"],
        "partitions": partitions,
    }


def _days(today: date) -> list[str]:
    first, last = -CATCH_UP_DAYS, rules().expiry_notice_days
    return [(today + timedelta(days=n)).isoformat() for n in range(first, last + 1)]


EXPIRY_NOTICES = fanout.register(
    fanout.Job("expiry_notices", Subscriber.expiry_due_index, "expiry_due", "msisdn", _days, _work, _summary)
)


def notify_expiring(today: date | None = None, workers: int = fanout.LOCAL_WORKERS) -> dict[str, int]:
    """The day's notices: one task per due partition (the index's earliest-expiry
    dates from CATCH_UP_DAYS ago to `expiry_notice_days` ahead), fanned out like
    the other daily jobs."""
    done: dict[str, int] = fanout.run_schedule(EXPIRY_NOTICES.name, today, workers=workers)
    return done
