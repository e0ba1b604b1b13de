"""The daily job marking vouchers past `expires_at` as `expired`, found through
the sparse `expiry-due` index (`<local date>#<shard>`); never a Scan. Reads
show such vouchers as expired already; the job makes the stored status agree."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from chalicelib import clock, observability, store
from chalicelib.config import rules
from chalicelib.idempotency import Reply
from chalicelib.store import Voucher

log = logging.getLogger(__name__)

# a missed run is caught up by the next ones for this many days
CATCH_UP_DAYS = 7


_EXPIRED, _SKIPPED = Reply(200, {"expired": True}), Reply(200, {"expired": False})


def _expire(code: str, now_iso: str) -> bool:
    """issued -> expired once past `expires_at`, through the kernel; a voucher
    redeemed, cancelled or expired meanwhile is skipped."""
    op = store.update(
        Voucher,
        code,
        actions=[Voucher.status.set("expired"), Voucher.expiry_due.remove()],
        condition=(Voucher.status == "issued") & (Voucher.expires_at <= now_iso),
        label="voucher",
    )
    plan = store.Plan([op], _EXPIRED, {"voucher": lambda old: _SKIPPED})
    return bool(store.run(lambda _: plan).body["expired"])


def _isolated(code: str, now_iso: str) -> bool | None:
    """One voucher's failure is logged and left for the next run (None)."""
    try:
        return _expire(code, now_iso)
    except Exception as exc:  # isolate one voucher; the next run catches up
        log.warning("voucher expiry failed; left for the next run", extra={"error": type(exc).__name__})
        observability.count("DueWorkFailures")
        return None


def expire_vouchers(today: date | None = None, workers: int = 8) -> dict[str, int]:
    """Expire the vouchers due on the last CATCH_UP_DAYS local dates (before today)."""
    today = today or clock.today()
    now_iso = clock.iso(clock.now())
    keys = [
        f"{(today - timedelta(days=n)).isoformat()}#{shard}"
        for n in range(1, CATCH_UP_DAYS + 1)
        for shard in range(rules().due_index_shards)
    ]
    expired = skipped = failed = 0
    codes: list[str] = []
    for key in keys:
        try:
            codes += [item.code for item in Voucher.expiry_due_index.query(key)]
        except Exception as exc:  # the partition's index read failed: the next run reads it again
            log.warning(
                "due partition unread; left for the next run", extra={"partition": key, "error": type(exc).__name__}
            )
            observability.count("DueWorkFailures")
            failed += 1
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(lambda code: _isolated(code, now_iso), codes):
            expired += done is True
            skipped += done is False
            failed += done is None
    log.info("vouchers expired", extra={"expired": expired, "skipped": skipped, "failed": failed})
    return {"vouchers": expired, "skipped": skipped, "failed": failed, "partitions": len(keys)}
