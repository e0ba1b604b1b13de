"""TransactWriteItems for the embedded engine at the cost of the items it touches.

moto 5.2.5's `DynamoDBBackend.transact_write_items` deep-copies every table a
transaction names before applying it (to roll back on a failure), so each
transaction costs O(size of those tables): a ledger of a few thousand entries
makes every accrual take tens of milliseconds, and a test suite that keeps its
tables gets slower with every test.

DynamoDB's documented semantics need no copy of a table: all conditions are
evaluated against the state before the transaction, and either every write is
applied or none. Since the embedded engine serialises requests, this module
does exactly that: phase one checks every item (unicity, the table, the
condition) without writing; if any fails, the transaction is cancelled with
the per-item reasons (and `ReturnValuesOnConditionCheckFailure` old items),
exactly as moto reports them; phase two applies the writes, keeping a copy of
each touched item only, and restores those items if a write raises (an
invalid update expression, which moto also answers as a request error).

`install()` replaces the method on moto's backend class (private moto API,
checked against moto 5.2.5); `tests/engine` asserts the behaviour diem relies
on, so a moto upgrade that changes it fails there.
"""

from __future__ import annotations

import copy
from typing import Any

from moto.dynamodb.comparisons import get_filter_expression
from moto.dynamodb.exceptions import (
    MockValidationException,
    MultipleTransactionsException,
    TooManyTransactionsException,
    TransactionCanceledException,
    TransactWriteSingleOpException,
)
from moto.dynamodb.models import DynamoDBBackend
from moto.dynamodb.models.dynamo_type import Item

_OPERATIONS = frozenset({"ConditionCheck", "Put", "Delete", "Update"})
Reason = tuple[str, str, dict[str, Any] | None] | tuple[None, None, None]


class _ConditionFailed(Exception):
    def __init__(self, old: dict[str, Any] | None) -> None:
        super().__init__("The conditional request failed")
        self.old = old


def _key(backend: DynamoDBBackend, op_type: str, op: dict[str, Any]) -> dict[str, Any]:
    if op_type != "Put":
        key: dict[str, Any] = op["Key"]
        return key
    table = backend.get_table(op["TableName"])
    attrs = op["Item"]
    key = {table.hash_key_attr: attrs[table.hash_key_attr]}
    if table.range_key_attr is not None:
        key[table.range_key_attr] = attrs[table.range_key_attr]
    return key


def _check(
    backend: DynamoDBBackend, op_type: str, op: dict[str, Any], seen: set[tuple[str, str]]
) -> tuple[dict[str, Any], Item | None]:
    """The item's key and current state; raises if this item's part fails."""
    if op_type not in _OPERATIONS:
        raise ValueError("Unsupported transaction operation")
    table_name = op["TableName"]
    key = _key(backend, op_type, op)
    identity = (str(table_name), str(dict(sorted(key.items()))))
    if identity in seen:
        raise MultipleTransactionsException()
    seen.add(identity)
    current = backend.get_item(table_name, key)
    condition = op.get("ConditionExpression")
    if condition is not None:
        names, values = op.get("ExpressionAttributeNames"), op.get("ExpressionAttributeValues")
        if not get_filter_expression(condition, names, values).expr(current):
            old = None
            if op.get("ReturnValuesOnConditionCheckFailure") == "ALL_OLD" and current:
                old = current.to_json()["Attributes"]
            raise _ConditionFailed(old)
    return key, current


def _apply(backend: DynamoDBBackend, op_type: str, op: dict[str, Any], key: dict[str, Any]) -> None:
    table_name = op["TableName"]
    if op_type == "Put":
        backend.put_item(table_name, op["Item"])
    elif op_type == "Delete":
        backend.delete_item(table_name, key)
    elif op_type == "Update":
        backend.update_item(
            table_name,
            key,
            update_expression=op["UpdateExpression"],
            expression_attribute_names=op.get("ExpressionAttributeNames") or {},
            expression_attribute_values=op.get("ExpressionAttributeValues") or {},
        )


def _restore(backend: DynamoDBBackend, table_name: str, key: dict[str, Any], before: Item | None) -> None:
    table = backend.get_table(table_name)
    hash_key, range_key = backend.get_keys_value(table, key)
    table.delete_item(hash_key, range_key)
    if before is not None:
        table.put_item(before.to_json()["Attributes"])


def transact_write_items(self: DynamoDBBackend, transact_items: list[dict[str, Any]]) -> None:
    """All conditions against the state before the transaction, then every write or none."""
    if len(transact_items) > 100:
        raise TooManyTransactionsException()
    seen: set[tuple[str, str]] = set()
    checked: list[tuple[str, dict[str, Any], dict[str, Any], Item | None]] = []
    reasons: list[Reason] = []
    for item in transact_items:
        if len(item) > 1:
            raise TransactWriteSingleOpException
        op_type, op = next(iter(item.items()))
        try:
            key, current = _check(self, op_type, op, seen)
        except MockValidationException:
            raise
        except _ConditionFailed as failed:
            reasons.append(("ConditionalCheckFailed", "The conditional request failed", failed.old))
            continue
        except Exception as exc:  # moto reports any other failure of one item as its reason
            reasons.append((type(exc).__name__, str(exc), None))
            continue
        checked.append((op_type, op, key, current))
        reasons.append((None, None, None))
    if any(code is not None for code, _, _ in reasons):
        raise TransactionCanceledException(reasons)
    applied: list[tuple[str, dict[str, Any], Item | None]] = []
    streams = _stream_marks(self, checked)
    try:
        for op_type, op, key, current in checked:
            if op_type == "ConditionCheck":
                continue
            applied.append((op["TableName"], key, copy.deepcopy(current)))
            _apply(self, op_type, op, key)
    except Exception:
        for table_name, key, before in reversed(applied):
            _restore(self, table_name, key, before)
        _forget_stream_records(streams)
        raise


# -- change streams (issue 8) ------------------------------------------------------
# moto appends a stream record for each write, the rolled-back ones and the
# restoring ones too; a transaction that is not applied must leave no record
# (DynamoDB streams carry committed changes only). The engine serialises
# requests, so the records after the marks taken before phase two are this
# transaction's.


def _stream_marks(backend: DynamoDBBackend, checked: list[tuple[str, dict[str, Any], Any, Any]]) -> list[Any]:
    marks = []
    for name in dict.fromkeys(op["TableName"] for _, op, _, _ in checked):
        shard = getattr(backend.get_table(name), "stream_shard", None)
        if shard is not None:
            marks.append((shard, len(shard.items)))
    return marks


def _forget_stream_records(marks: list[Any]) -> None:
    for shard, length in marks:
        del shard.items[length:]


def install() -> None:
    """Use item-level transactions in this process's moto DynamoDB backend."""
    DynamoDBBackend.transact_write_items = transact_write_items  # type: ignore[method-assign]
    _keep_stream_records(STREAM_RECORDS_KEPT)


# moto keeps every stream record in memory for good; DynamoDB keeps them 24 h.
# The engine keeps the last STREAM_RECORDS_KEPT of each table (sequence
# numbers stay as they were): a reader further behind than that starts again
# at the oldest record kept, as one does after the retention period.
STREAM_RECORDS_KEPT = 100_000
_TRIM = 10_000


def _keep_stream_records(kept: int) -> None:
    from moto.dynamodb.models.table import StreamShard

    if getattr(StreamShard.add, "_diem_kept", None) == kept:
        return
    add = getattr(StreamShard.add, "_diem_original", StreamShard.add)

    def bounded(self: Any, old: Any, new: Any) -> None:
        add(self, old, new)
        if len(self.items) > kept:
            drop = min(_TRIM, len(self.items))
            del self.items[:drop]
            self.starting_sequence_number += drop

    bounded._diem_kept = kept  # type: ignore[attr-defined]
    bounded._diem_original = add  # type: ignore[attr-defined]
    StreamShard.add = bounded  # type: ignore[method-assign]
