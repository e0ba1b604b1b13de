"""The daily job marking vouchers past `expires_at` as `expired`, found through
the sparse `expiry-due` index (`<local date>#<shard>`); never a Scan. Reads
show such vouchers as expired already; the job makes the stored status agree.
One task per partition (`chalicelib.jobs.fanout`); a voucher's failure is
logged and left for the next run."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta

from chalicelib import store
from chalicelib.idempotency import Reply
from chalicelib.jobs import fanout
from chalicelib.store import Voucher

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


def _work(code: str, task: fanout.Task) -> str:
    # the schedule's instant: every voucher of the partitions (past local days) is due by then
    return "done" if _expire(code, task.at) else "skipped"


def _summary(counts: Counter[str], partitions: int) -> dict[str, int]:
    return {
        "vouchers": counts["done"],
        "skipped": counts["skipped"],
        "failed": counts["failed"],
        "partitions": partitions,
    }


def _days(today: date) -> list[str]:
    return [(today - timedelta(days=n)).isoformat() for n in range(1, CATCH_UP_DAYS + 1)]


EXPIRE_VOUCHERS = fanout.register(
    fanout.Job("expire_vouchers", Voucher.expiry_due_index, "expiry_due", "code", _days, _work, _summary)
)


def expire_vouchers(today: date | None = None, workers: int = fanout.LOCAL_WORKERS) -> dict[str, int]:
    """Expire the vouchers due on the last CATCH_UP_DAYS local dates (before today)."""
    done: dict[str, int] = fanout.run_schedule(EXPIRE_VOUCHERS.name, today, workers=workers)
    return done
