"""Data access: the table models, binding them to the configured endpoint,
batched reads, and the one commit protocol.

Domain packages read through the models or `batch_get`, and give the kernel
(`run`) a function that decides a `Plan` of labelled writes; the kernel
commits it as one transaction, retry-safe (see `store.kernel`).
"""

from chalicelib.store.binding import bind, clients
from chalicelib.store.kernel import Fresh, Meaning, Plan, run
from chalicelib.store.models import (
    MODELS,
    ApiKey,
    Campaign,
    Counter,
    Delivery,
    Event,
    Gateway,
    Household,
    IdempotencyRecord,
    LedgerEntry,
    Notification,
    Partner,
    Product,
    ProductOrder,
    Redemption,
    Subscriber,
    UssdSession,
    Voucher,
    Webhook,
)
from chalicelib.store.transact import (
    Cancelled,
    Op,
    assign,
    batch_get,
    check,
    conditional_write,
    delete,
    error_code,
    put,
    update,
)

__all__ = [
    "MODELS",
    "ApiKey",
    "Campaign",
    "Cancelled",
    "Counter",
    "Delivery",
    "Event",
    "Fresh",
    "Gateway",
    "Household",
    "IdempotencyRecord",
    "LedgerEntry",
    "Meaning",
    "Notification",
    "Op",
    "Partner",
    "Plan",
    "Product",
    "ProductOrder",
    "Redemption",
    "Subscriber",
    "UssdSession",
    "Voucher",
    "Webhook",
    "assign",
    "batch_get",
    "bind",
    "check",
    "clients",
    "conditional_write",
    "delete",
    "error_code",
    "put",
    "run",
    "update",
]
