"""The daily job marking vouchers past `expires_at` as `expired`, found through
the sparse `expiry-due` index (`<local date>#<shard>`); never a Scan. Reads
show such vouchers as expired already; the job makes the stored status agree."""

from __future__ import annotations

import logging
from concurrent.futures import ThreadPoolExecutor
from datetime import date, timedelta

from pynamodb.exceptions import UpdateError

from chalicelib import clock
from chalicelib.config import rules
from chalicelib.store import Voucher

log = logging.getLogger(__name__)

# a missed run is caught up by the next ones for this many days
CATCH_UP_DAYS = 7


def _expire(code: str, now_iso: str) -> bool:
    try:
        Voucher(code).update(
            actions=[Voucher.status.set("expired"), Voucher.expiry_due.remove()],
            condition=(Voucher.status == "issued") & (Voucher.expires_at <= now_iso),
        )
        return True
    except UpdateError as exc:
        if exc.cause_response_code == "ConditionalCheckFailedException":
            return False  # redeemed, cancelled or already expired meanwhile
        raise


def expire_vouchers(today: date | None = None, workers: int = 8) -> dict[str, int]:
    """Expire the vouchers due on the last CATCH_UP_DAYS local dates (before today)."""
    today = today or clock.today()
    now_iso = clock.iso(clock.now())
    keys = [
        f"{(today - timedelta(days=n)).isoformat()}#{shard}"
        for n in range(1, CATCH_UP_DAYS + 1)
        for shard in range(rules().due_index_shards)
    ]
    codes = (item.code for key in keys for item in Voucher.expiry_due_index.query(key))
    expired = skipped = 0
    with ThreadPoolExecutor(max_workers=workers) as pool:
        for done in pool.map(lambda code: _expire(code, now_iso), codes):
            expired += done
            skipped += not done
    log.info("vouchers expired", extra={"expired": expired, "skipped": skipped})
    return {"vouchers": expired, "skipped": skipped, "partitions": len(keys)}
