"""Data access: the table models, binding them to the configured endpoint,
batched reads and one-transaction writes.

Domain packages read through the models or `batch_get`, and hand `commit` a
list of write operations that DynamoDB applies as one transaction.
"""

from chalicelib.store.binding import bind, clients
from chalicelib.store.models import (
    MODELS,
    ApiKey,
    Campaign,
    Counter,
    IdempotencyRecord,
    LedgerEntry,
    Partner,
    Redemption,
    Subscriber,
    Voucher,
)
from chalicelib.store.transact import (
    Cancelled,
    InProgress,
    Op,
    TokenReused,
    batch_get,
    check,
    commit,
    put,
    update,
)

__all__ = [
    "MODELS",
    "ApiKey",
    "Campaign",
    "Cancelled",
    "Counter",
    "IdempotencyRecord",
    "InProgress",
    "LedgerEntry",
    "Op",
    "Partner",
    "Redemption",
    "Subscriber",
    "TokenReused",
    "Voucher",
    "batch_get",
    "bind",
    "check",
    "clients",
    "commit",
    "put",
    "update",
]
