"""The settlement of pending product orders (docs/charging.md): a scheduled
job, one task per partition of the sparse pending index (`jobs.fanout`).

A pending order old enough and due is asked about (`status`; if unknown, the
provisioning again, the same order id): a definite answer settles it
(`orders.finish`); none puts it off with a backoff, and past the bounded
attempts counts `ProductOrdersOverdue` (an alarm). Nothing is decided without
a definite answer."""

from __future__ import annotations

from collections import Counter
from datetime import date, timedelta
from typing import Any

from chalicelib import clock, observability, store
from chalicelib.config import rules
from chalicelib.idempotency import Reply
from chalicelib.jobs import fanout
from chalicelib.products import orders
from chalicelib.products.charging import Answer, charging
from chalicelib.store import ProductOrder

OUTCOMES = ("fulfilled", "refunded", "pending", "waiting", "skipped", "failed")


def backoff(attempts: int) -> timedelta:
    """The wait before the next attempt, after `attempts` attempts without an answer."""
    r = rules()
    seconds = r.product_settle_backoff_base_seconds * 2 ** max(0, attempts - 1)
    return timedelta(seconds=min(r.product_settle_backoff_cap_seconds, seconds))


def settle(order_id: str, task: fanout.Task | None = None) -> str:
    """Settle one pending order if it is due: what became of it (one of OUTCOMES but failed)."""
    try:
        item = ProductOrder.get(order_id, consistent_read=True)
    except ProductOrder.DoesNotExist:
        return "skipped"
    if item.status != orders.PENDING:
        return "skipped"  # settled since the index was read
    now = clock.now()
    young = clock.parse_iso(item.created_at) + timedelta(seconds=rules().product_settle_grace_seconds) > now
    if young or (item.settle_after is not None and item.settle_after > clock.iso(now)):
        return "waiting"
    system = charging()
    answer = system.status(order_id)
    if not answer.definite:
        answer = system.provision(order_id, item.msisdn, item.sku)
    if answer.definite:
        return str(orders.finish(item, answer).body["status"])
    _put_off(item, answer)
    return "pending"


def _put_off(item: ProductOrder, answer: Answer) -> None:
    """Count the attempt and set the next one's time, conditional on the order
    being as read (another settlement meanwhile: nothing to count)."""
    attempts = int(item.settle_attempts or 0) + 1
    after = clock.iso(clock.now() + backoff(attempts))
    op = store.update(
        ProductOrder,
        item.order_id,
        actions=[
            ProductOrder.settle_attempts.set(attempts),
            ProductOrder.settle_after.set(after),
            ProductOrder.charging.set({"outcome": answer.outcome.value, "reason": answer.reason or "no answer"}),
        ],
        condition=(ProductOrder.status == orders.PENDING)
        & (ProductOrder.settle_attempts == (item.settle_attempts or 0)),
        label=orders.ORDER,
    )
    store.run(lambda _: store.Plan([op], Reply(200, {}), {orders.ORDER: lambda old: Reply(200, {})}))
    if attempts >= rules().product_settle_alarm_after:
        observability.count("ProductOrdersOverdue")
        observability.logger().error(
            "a product order is still unsettled: the charging system gives no definite answer",
            extra={"order_id": item.order_id, "attempts": attempts, "reason": answer.reason},
        )


def _summary(counts: Counter[str], partitions: int) -> dict[str, int]:
    return {**{outcome: counts[outcome] for outcome in OUTCOMES}, "partitions": partitions}


SETTLE_PRODUCT_ORDERS = fanout.register(
    fanout.Job(
        "settle_product_orders",
        ProductOrder.pending_index,
        "settle_due",
        "order_id",
        lambda today: [orders.PENDING],
        settle,
        _summary,
    )
)


def settle_product_orders(today: date | None = None, workers: int = fanout.LOCAL_WORKERS) -> dict[str, Any]:
    """Every partition of the pending index: the settlement's counts by outcome."""
    done: dict[str, Any] = fanout.run_schedule(SETTLE_PRODUCT_ORDERS.name, today, workers=workers)
    return done
