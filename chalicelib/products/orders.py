"""Orders of network products for points (docs/charging.md).

`order` commits one kernel transaction: the claim's FEFO debit
(`points.spend`) and the order, `pending`, with the buckets it took (`taken`)
and its pending-index key. Then the charging system is asked, the order id its
idempotency key, and `finish` settles: provisioned -> `fulfilled` (one write
conditional on `pending`); refused -> `refunded` (one transaction: a `refund`
entry back to the original expiry dates, conditional on `pending`); no answer
-> still `pending` (201 pending), for the settlement. Being conditional on
`pending`, an order is settled once, whoever (request, retry, job) gets there."""

from __future__ import annotations

import hashlib
import secrets
from datetime import date
from typing import Any, TypeVar

from chalicelib import clock, observability, store
from chalicelib.auth import refuse_stale_token
from chalicelib.config import rules
from chalicelib.errors import Conflict, NotFound
from chalicelib.idempotency import Idempotency, Reply
from chalicelib.points import service as points
from chalicelib.points.account import Account
from chalicelib.products import catalogue
from chalicelib.products.charging import Answer, Outcome, charging
from chalicelib.store import LedgerEntry, Product, ProductOrder, Subscriber

M = TypeVar("M", Product, ProductOrder)
ORDER = "order"
PENDING, FULFILLED, REFUNDED = "pending", "fulfilled", "refunded"
MAX_ID_LENGTH = 64


def before_charging(order_id: str) -> None:
    """Called between the committed debit and the call to the charging system:
    nothing here; the tests crash a request at this very point."""


def new_order_id() -> str:
    return "ord_" + secrets.token_hex(12)


def settle_due(order_id: str) -> str:
    """The order's partition of the sparse pending index: `pending#<shard>`."""
    shard = hashlib.sha256(order_id.encode()).digest()[0] % rules().due_index_shards
    return f"{PENDING}#{shard}"


def body(item: ProductOrder, balance: int | None) -> dict[str, Any]:
    return {
        "order_id": item.order_id,
        "product_id": item.product_id,
        "name": item.name,
        "kind": item.kind,
        "status": item.status,
        "points": int(item.points),
        "balance": balance,
        "created_at": item.created_at,
        "settled_at": item.settled_at,
    }


def _spendable(item: Subscriber, today: date) -> int:
    return points.to_account(item).effective(today).spendable(today)


# -- ordering ----------------------------------------------------------------


def order(msisdn: str, product_id: str, idem: Idempotency | None, *, owner_id: str | None = None) -> Reply:
    """Spend points on a product: 201 `{order_id, product_id, status, points,
    balance, created_at}`, status `fulfilled`, `refunded` or `pending`. With
    `owner_id`, only while the number still has that owner (a USSD session)."""
    if not product_id or len(product_id) > MAX_ID_LENGTH:
        raise NotFound("No such product.")
    order_id = new_order_id()
    # each attempt's reply and order (the kernel answers with the reply of the attempt that committed)
    made: list[tuple[Reply, ProductOrder]] = []

    def decide(_: store.Fresh) -> store.Plan:
        subscriber, product = _with_subscriber(msisdn, Product, product_id, "No such subscriber.")
        if owner_id is not None and subscriber.owner_id != owner_id:
            raise Conflict("The number has had a new owner since this began.", "INVALID_STATE")
        if product is None or not catalogue.orderable(product):
            raise NotFound("No such product.")
        now = clock.now()
        today = clock.local_date(now)
        current, expired = points.to_account(subscriber).expire(today)
        price = int(product.points_price)
        spent = points.spend(subscriber, current, expired, price, f"spend:{order_id}", product_id, now)
        item = ProductOrder(
            order_id,
            msisdn=msisdn,
            owner_id=current.owner_id,
            product_id=product_id,
            name=product.name,
            kind=product.kind,
            sku=product.sku,
            points=price,
            taken=spent.taken,
            status=PENDING,
            created_at=clock.iso(now),
            settle_due=settle_due(order_id),
            settle_attempts=0,
        )
        put = store.put(item, condition=ProductOrder.order_id.does_not_exist(), label=ORDER)
        answer = Reply(201, body(item, spent.account.spendable(today)))
        made.append((answer, item))
        return store.Plan([*spent.ops, put], answer)

    reply = store.run(decide, idem)
    if reply.body.get("order_id") != order_id:
        # the Idempotency-Key's earlier request made the order: answer it as it is now
        return _again(msisdn, str(reply.body.get("order_id")))
    item = next(order for answer, order in made if answer is reply)
    balance = int(reply.body["balance"])
    before_charging(order_id)
    settled_reply = _settle_now(item)
    if settled_reply is None:
        return reply
    settled = settled_reply.body
    if settled["status"] == REFUNDED and settled["balance"] is None:  # refunded by another meanwhile
        return Reply(201, get_order(msisdn, order_id))
    return Reply(201, {**settled, "balance": balance if settled["balance"] is None else settled["balance"]})


def _again(msisdn: str, order_id: str) -> Reply:
    """A replayed order: as it is now; still pending, the charging system is asked
    again (it provisions an order id at most once)."""
    item, _ = _read(msisdn, order_id)
    if item.status == PENDING:
        _settle_now(item)
    return Reply(201, get_order(msisdn, order_id))


def _settle_now(item: ProductOrder) -> Reply | None:
    """Ask the charging system for a pending order and record its answer; None if
    that failed: the order exists and is paid for, so it is answered pending and
    the settlement job finishes it (the error's type is logged, never its text,
    which an operator's adapter may fill with its URL or credentials)."""
    try:
        return finish(item, charging().provision(item.order_id, item.msisdn, item.sku))
    except Exception as exc:
        observability.logger().warning(
            "an order could not be settled at once", extra={"order_id": item.order_id, "error": type(exc).__name__}
        )
        return None


# -- reading -----------------------------------------------------------------


def _with_subscriber(msisdn: str, model: type[M], key: str, missing: str) -> tuple[Subscriber, M | None]:
    """The subscriber (404 `missing` if none; a token from before its owner's
    activation refused) and one item of `model`, in one BatchGetItem."""
    keys: list[tuple[Any, Any, Any]] = [(Subscriber, msisdn, None), (model, key, None)]
    found = store.batch_get(keys)
    subscriber = found[keys[0]]
    if subscriber is None:
        raise NotFound(missing)
    refuse_stale_token(msisdn, date.fromisoformat(subscriber.activated_on))
    return subscriber, found[keys[1]]


def _read(msisdn: str, order_id: str) -> tuple[ProductOrder, Subscriber]:
    """The order and its subscriber (one BatchGetItem); 404 unless the order is
    this number's current owner's."""
    if not order_id or len(order_id) > MAX_ID_LENGTH:
        raise NotFound("No such order.")
    subscriber, item = _with_subscriber(msisdn, ProductOrder, order_id, "No such order.")
    if item is None or item.msisdn != msisdn or item.owner_id != subscriber.owner_id:
        raise NotFound("No such order.")
    return item, subscriber


def get_order(msisdn: str, order_id: str) -> dict[str, Any]:
    """The order and its current status, with the subscriber's balance now."""
    item, subscriber = _read(msisdn, order_id)
    return body(item, _spendable(subscriber, clock.today()))


# -- settling ----------------------------------------------------------------


def _settled_meaning(outcome: Outcome) -> store.Meaning:
    """The order was no longer pending: someone settled it first; answer it as it is."""

    def meaning(old: dict[str, Any] | None) -> Reply | None:
        if old is None:
            return None
        item = ProductOrder.from_raw_data(old)
        contradicts = (outcome is Outcome.provisioned and item.status == REFUNDED) or (
            outcome is Outcome.refused and item.status == FULFILLED
        )
        if contradicts:  # the charging system changed its answer: a person must look
            observability.count("ChargingContradictions")
            observability.logger().error(
                "the charging system contradicts an order's settlement",
                extra={"order_id": item.order_id, "status": item.status, "answer": outcome.value},
            )
        return Reply(200, body(item, None))  # 200: another settled it (201: this one did)

    return meaning


def _settle_actions(status: str, answer: Answer, now_iso: str) -> list[Any]:
    said = {"outcome": answer.outcome.value, **({"reason": answer.reason} if answer.reason else {})}
    if answer.reference:
        said["reference"] = answer.reference
    return [
        ProductOrder.status.set(status),
        ProductOrder.settled_at.set(now_iso),
        ProductOrder.charging.set(said),
        ProductOrder.settle_due.remove(),
        ProductOrder.settle_after.remove(),
    ]


def finish(item: ProductOrder, answer: Answer) -> Reply:
    """Settle a pending order by the charging system's answer (nothing changes
    for an unknown one). The reply's body is the order; its `balance` is None
    unless the settlement moved it (a refund)."""
    if answer.outcome is Outcome.provisioned:
        return _fulfil(item, answer)
    if answer.outcome is Outcome.refused:
        return _refund(item, answer)
    return Reply(201, body(item, None))


def _fulfil(item: ProductOrder, answer: Answer) -> Reply:
    now_iso = clock.iso(clock.now())
    op = store.update(
        ProductOrder,
        item.order_id,
        actions=_settle_actions(FULFILLED, answer, now_iso),
        condition=ProductOrder.status == PENDING,
        label=ORDER,
    )
    item = _as(item, FULFILLED, now_iso)
    plan = store.Plan([op], Reply(201, body(item, None)), {ORDER: _settled_meaning(Outcome.provisioned)})
    reply = store.run(lambda _: plan)
    if reply.status == 201:
        observability.count("ProductOrdersFulfilled")
    return reply


def _taken(item: ProductOrder) -> dict[str, int]:
    """The points the order's debit took, by bucket expiry date."""
    return dict(item.taken or {})


def _as(item: ProductOrder, status: str, now_iso: str) -> ProductOrder:
    settled = ProductOrder.from_raw_data(item.serialize())
    settled.status, settled.settled_at, settled.settle_due = status, now_iso, None
    return settled


def _refund(item: ProductOrder, answer: Answer) -> Reply:
    """The points back to the buckets the debit took them from, in one
    transaction with the order's `pending -> refunded`."""
    taken = _taken(item)
    entry_id = f"refund:{item.order_id}"

    def decide(account: Account, today: date) -> points.Change:
        now_iso = clock.iso(clock.now())
        updated, entries = account.refund(taken, today, entry_id, item.product_id)
        op = store.update(
            ProductOrder,
            item.order_id,
            actions=_settle_actions(REFUNDED, answer, now_iso),
            condition=(ProductOrder.status == PENDING) & (ProductOrder.owner_id == account.owner_id),
            label=ORDER,
        )
        reply = Reply(201, body(_as(item, REFUNDED, now_iso), updated.spendable(today)))
        return points.Change(updated, entries, reply, (op,), {ORDER: _settled_meaning(Outcome.refused)})

    def plan(fresh: store.Fresh) -> store.Plan:
        subscriber = (
            Subscriber.from_raw_data(fresh[points.BALANCE]) if points.BALANCE in fresh else points.load(item.msisdn)
        )
        if subscriber.owner_id != item.owner_id:
            return _forfeit_plan(item, answer)
        return points.plan_change(subscriber, decide, clock.now())

    reply = store.run(plan)
    if reply.status == 201:
        observability.count("ProductOrdersRefunded")
    return reply


def _forfeit_plan(item: ProductOrder, answer: Answer) -> store.Plan:
    """A refund for an owner who no longer holds the number (recycled since the
    order): their points were forfeited with it, so these are too. The former
    owner's ledger gets the refund and its forfeit (summing to 0, as a former
    owner's ledger does); the new owner never inherits them."""
    now = clock.now()
    now_iso = clock.iso(now)
    price = int(item.points)
    entries = [("refund", f"refund:{item.order_id}", price, price), ("forfeit", f"forfeit:{item.order_id}", -price, 0)]
    ops = [
        store.put(
            LedgerEntry(
                item.owner_id,
                entry_id,
                seq=0,  # outside the former owner's sequence: they have left the number
                msisdn=item.msisdn,
                kind=kind,
                points=pts,
                balance_after=after,
                at=now_iso,
                ref=item.product_id if kind == "refund" else "number recycled",
            ),
            condition=LedgerEntry.entry_id.does_not_exist(),
            label=f"ledger:{entry_id}",
        )
        for kind, entry_id, pts, after in entries
    ]
    ops.append(
        store.update(
            ProductOrder,
            item.order_id,
            actions=[*_settle_actions(REFUNDED, answer, now_iso), ProductOrder.forfeited.set(price)],
            condition=ProductOrder.status == PENDING,
            label=ORDER,
        )
    )
    reply = Reply(201, body(_as(item, REFUNDED, now_iso), None))
    return store.Plan(ops, reply, {ORDER: _settled_meaning(Outcome.refused)})
