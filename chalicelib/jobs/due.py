"""Daily expiry, daily tenure bonuses and the monthly tier review."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta
from typing import Any

from chalicelib import clock, observability
from chalicelib.clock import add_months, month_key
from chalicelib.config import rules
from chalicelib.points import service as points
from chalicelib.store import Subscriber

log = logging.getLogger(__name__)

# a missed run is caught up by the next ones for this many days
CATCH_UP_DAYS = 7


def _keys(periods: Iterable[str]) -> list[str]:
    return [f"{period}#{shard}" for period in periods for shard in range(rules().due_index_shards)]


def _run(index: Any, keys: list[str], workers: int) -> dict[str, int]:
    """Work through each due partition in parallel. One subscriber's failure (a
    refusal, a throttle or a cancelled transaction the kernel gave up on, any
    error) is counted, logged and left for the next run, which catches up: the
    work is idempotent. It never aborts the run."""

    def partition(key: str) -> tuple[int, int]:
        done = failed = 0
        try:
            due = [item.msisdn for item in index.query(key)]
        except Exception as exc:  # the partition's index read failed: the next run reads it again
            log.warning(
                "due partition unread; left for the next run", extra={"partition": key, "error": type(exc).__name__}
            )
            observability.count("DueWorkFailures")
            return 0, 1
        for msisdn in due:
            try:
                points.run_due_work(msisdn)
                done += 1
            except Exception as exc:  # isolate one subscriber; the next run retries it
                log.warning(
                    "due work failed for one subscriber; left for the next run",
                    extra={"partition": key, "error": type(exc).__name__},
                )
                observability.count("DueWorkFailures")
                failed += 1
        return done, failed

    with ThreadPoolExecutor(max_workers=workers) as pool:
        results = list(pool.map(partition, keys))
    return {
        "subscribers": sum(done for done, _ in results),
        "failed": sum(failed for _, failed in results),
        "partitions": len(keys),
    }


def expire_points(today: date | None = None, workers: int = 8) -> dict[str, int]:
    """Expire buckets whose date has passed (writing `expire` entries)."""
    today = today or clock.today()
    days = [(today - timedelta(days=n)).isoformat() for n in range(1, CATCH_UP_DAYS + 1)]
    return _run(Subscriber.expiry_due_index, _keys(days), workers)


def tenure_bonuses(today: date | None = None, workers: int = 8) -> dict[str, int]:
    """Credit the anniversary bonuses due today (and any missed in the last days)."""
    today = today or clock.today()
    days = [(today - timedelta(days=n)).isoformat() for n in range(CATCH_UP_DAYS + 1)]
    return _run(Subscriber.anniversary_due_index, _keys(days), workers)


def review_tiers(today: date | None = None, workers: int = 8) -> dict[str, int]:
    """Apply tier cycles that ended this month or last month."""
    today = today or clock.today()
    months = [month_key(add_months(today.replace(day=1), -n)) for n in (1, 0)]
    return _run(Subscriber.review_due_index, _keys(months), workers)
