"""Daily expiry, daily tenure bonuses and the monthly tier review: each a job of
one task per due partition (`chalicelib.jobs.fanout`), touching only the
subscribers due through sparse indexes; never a Scan.

One subscriber's failure (a refusal, a throttle or a cancelled transaction the
kernel gave up on, any error) is counted, logged and left for the next run,
which catches up: the work is idempotent. It never aborts the run."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from chalicelib.clock import add_months, month_key
from chalicelib.jobs import fanout
from chalicelib.points import service as points
from chalicelib.store import Subscriber

# a missed run is caught up by the next ones for this many days
CATCH_UP_DAYS = 7


def _due_work(msisdn: str, task: fanout.Task) -> str:
    points.run_due_work(msisdn)
    return "done"


def _summary(counts: Counter[str], partitions: int) -> dict[str, int]:
    return {"subscribers": counts["done"], "failed": counts["failed"], "partitions": partitions}


def _days(first: int, last: int) -> Any:
    return lambda today: [(today - timedelta(days=n)).isoformat() for n in range(first, last + 1)]


def _months(today: date) -> list[str]:
    return [month_key(add_months(today.replace(day=1), -n)) for n in (1, 0)]


EXPIRE_POINTS = fanout.register(
    fanout.Job(
        "expire_points",
        Subscriber.expiry_due_index,
        "expiry_due",
        "msisdn",
        _days(1, CATCH_UP_DAYS),
        _due_work,
        _summary,
    )
)
TENURE_BONUSES = fanout.register(
    fanout.Job(
        "tenure_bonuses",
        Subscriber.anniversary_due_index,
        "anniversary_due",
        "msisdn",
        _days(0, CATCH_UP_DAYS),
        _due_work,
        _summary,
    )
)
REVIEW_TIERS = fanout.register(
    fanout.Job("review_tiers", Subscriber.review_due_index, "review_due", "msisdn", _months, _due_work, _summary)
)


def expire_points(today: date | None = None, workers: int = fanout.LOCAL_WORKERS) -> dict[str, int]:
    """Expire buckets whose date has passed (writing `expire` entries)."""
    done: dict[str, int] = fanout.run_schedule(EXPIRE_POINTS.name, today, workers=workers)
    return done


def tenure_bonuses(today: date | None = None, workers: int = fanout.LOCAL_WORKERS) -> dict[str, int]:
    """Credit the anniversary bonuses due today (and any missed in the last days)."""
    done: dict[str, int] = fanout.run_schedule(TENURE_BONUSES.name, today, workers=workers)
    return done


def review_tiers(today: date | None = None, workers: int = fanout.LOCAL_WORKERS) -> dict[str, int]:
    """Apply tier cycles that ended this month or last month."""
    done: dict[str, int] = fanout.run_schedule(REVIEW_TIERS.name, today, workers=workers)
    return done
