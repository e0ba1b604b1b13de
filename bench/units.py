"""Read and write units computed from item sizes, as DynamoDB documents them.

The embedded engine (moto) does not report `ConsumedCapacity` for every call
the way DynamoDB does (a transaction reports none, a GetItem a fixed figure),
so the bench never asks for it: this module is the one source of every unit
figure the bench prints. The rules (cited in bench/README.md, "Units"):

- item size = the sum of its attribute names and values (CapacityUnitCalculations):
  a string is its UTF-8 bytes, a number 1 byte per two significant digits + 1,
  binary its raw bytes, null and boolean 1 byte, a list or map 3 bytes plus
  its elements, each element 1 byte more; a set the sum of its members;
- writes: 1 unit per 1 KB (rounded up) of the larger of the item before and
  after (PutItem, UpdateItem), of the deleted item (DeleteItem); each item of
  a TransactWriteItems costs 2x; a condition that fails still costs the write;
- reads: 1 unit per 4 KB (rounded up) strongly consistent, 0.5 eventually
  consistent, 2x in a transaction; BatchGetItem rounds every item on its own,
  Query and Scan round the sum of the items they read; a read that finds
  nothing still costs the minimum;
- a secondary index costs, for each table write that changes what the index
  holds, 1 unit per 1 KB of the index's projected item (its keys, the table's
  keys and the projected attributes); an update that changes the index key
  costs a delete of the old index item and a put of the new one; an update
  that changes no projected attribute costs the index nothing. Index writes
  are not doubled for transactions (a reading of the documentation: the index
  is maintained after the commit), so the figure is the lower bound.

To know the item before and after a write, the recorder reads it with a
separate client (`Peek`) that no recorder watches, before the call and after
it: those reads are the bench's, not diem's, and never counted as round trips.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

WRITE_KB = 1024
READ_KB = 4096

Item = dict[str, Any]


# -- sizes ---------------------------------------------------------------------


def _number_size(text: str) -> int:
    """1 byte per two significant digits, plus 1 (leading and trailing zeros trimmed)."""
    digits = format(abs(Decimal(text)), "f").replace(".", "").strip("0") or "0"
    return math.ceil(len(digits) / 2) + 1


def value_size(value: dict[str, Any]) -> int:
    """Size of one attribute value, without its name."""
    (kind, v), *_ = value.items()
    if kind == "S":
        return len(v.encode())
    if kind == "N":
        return _number_size(v)
    if kind == "B":
        return len(v) if isinstance(v, bytes | bytearray) else len(str(v).encode())
    if kind in ("NULL", "BOOL"):
        return 1
    if kind == "SS":
        return sum(len(s.encode()) for s in v)
    if kind == "NS":
        return sum(_number_size(n) for n in v)
    if kind == "BS":
        return sum(len(b) for b in v)
    if kind == "L":
        return 3 + sum(value_size(e) + 1 for e in v)
    if kind == "M":
        return 3 + sum(len(name.encode()) + value_size(e) + 1 for name, e in v.items())
    raise ValueError(f"unknown attribute type {kind!r}")


def item_size(item: Item | None) -> int:
    """Bytes of an item: attribute names + values (0 for no item)."""
    if not item:
        return 0
    return sum(len(name.encode()) + value_size(value) for name, value in item.items())


def write_units(size: int, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / WRITE_KB))
    return float(units * (2 if transactional else 1))


def read_units(size: int, consistent: bool, transactional: bool = False) -> float:
    units = max(1, math.ceil(size / READ_KB))
    if transactional:
        return float(units * 2)
    return float(units) if consistent else units / 2


# -- tables ----------------------------------------------------------------------


@dataclass(frozen=True)
class Index:
    name: str
    keys: tuple[str, ...]
    projection: str  # ALL | KEYS_ONLY | INCLUDE
    include: tuple[str, ...] = ()


@dataclass(frozen=True)
class Table:
    name: str
    keys: tuple[str, ...]
    indexes: tuple[Index, ...] = ()

    def key_of(self, item: Item) -> Item:
        return {k: item[k] for k in self.keys}

    def projected(self, index: Index, item: Item | None) -> Item | None:
        """The index's copy of `item`, None if the item is not in the index (sparse)."""
        if not item or any(k not in item for k in index.keys):
            return None
        if index.projection == "ALL":
            return item
        names = set(self.keys) | set(index.keys) | (set(index.include) if index.projection == "INCLUDE" else set())
        return {k: v for k, v in item.items() if k in names}


def index_units(table: Table, before: Item | None, after: Item | None) -> dict[str, float]:
    """Units each secondary index pays for one table write from `before` to `after`."""
    out: dict[str, float] = {}
    for index in table.indexes:
        old, new = table.projected(index, before), table.projected(index, after)
        if old is None and new is None:
            continue
        if old is None:
            units = write_units(item_size(new))
        elif new is None:
            units = write_units(item_size(old))
        elif any(old.get(k) != new.get(k) for k in index.keys):
            units = write_units(item_size(old)) + write_units(item_size(new))
        elif old != new:
            units = write_units(max(item_size(old), item_size(new)))
        else:
            continue
        out[index.name] = units
    return out


# -- the peek client -------------------------------------------------------------


@dataclass
class Peek:
    """Reads items and table definitions with a client nobody records."""

    client: Any
    tables: dict[str, Table] = field(default_factory=dict)

    def table(self, name: str) -> Table:
        if name not in self.tables:
            desc = self.client.describe_table(TableName=name)["Table"]
            keys = tuple(k["AttributeName"] for k in desc["KeySchema"])
            indexes = []
            for kind in ("GlobalSecondaryIndexes", "LocalSecondaryIndexes"):
                for ix in desc.get(kind) or []:
                    projection = ix.get("Projection") or {}
                    indexes.append(
                        Index(
                            ix["IndexName"],
                            tuple(k["AttributeName"] for k in ix["KeySchema"]),
                            projection.get("ProjectionType", "ALL"),
                            tuple(projection.get("NonKeyAttributes") or ()),
                        )
                    )
            self.tables[name] = Table(name, keys, tuple(indexes))
        return self.tables[name]

    def get(self, table: str, key: Item) -> Item | None:
        found = self.client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")
        return dict(found) if found else None


# -- one call's writes -------------------------------------------------------------


@dataclass
class Write:
    """One item a write call touches: its table, key, and the item before and after."""

    table: str
    key: Item
    kind: str  # Put | Update | Delete | ConditionCheck
    transactional: bool
    before: Item | None = None
    after: Item | None = None


def writes_of(operation: str, params: dict[str, Any], peek: Peek) -> list[Write]:
    """The items a write call touches (with their state before the call)."""
    out: list[Write] = []

    def add(kind: str, body: dict[str, Any], transactional: bool, table: str | None = None) -> None:
        name = table or body["TableName"]
        key = peek.table(name).key_of(body["Item"]) if kind == "Put" else body["Key"]
        out.append(Write(name, key, kind, transactional))

    if operation in ("PutItem", "UpdateItem", "DeleteItem"):
        add(operation.removesuffix("Item"), params, False)
    elif operation == "TransactWriteItems":
        for entry in params.get("TransactItems") or []:
            (kind, body), *_ = entry.items()
            add(kind, body, True)
    elif operation == "BatchWriteItem":
        for name, requests in (params.get("RequestItems") or {}).items():
            for request in requests:
                if "PutRequest" in request:
                    add("Put", request["PutRequest"], False, name)
                else:
                    add("Delete", request["DeleteRequest"], False, name)
    for write in out:
        write.before = peek.get(write.table, write.key)
    return out


def settle_writes(writes: list[Write], peek: Peek, failed: bool) -> tuple[float, dict[str, float]]:
    """(write units, index units by "<table>/<index>") once the call is answered.

    A failed call (a condition, a cancelled transaction) wrote nothing: it costs
    the writes it attempted at the size of the items as they are, and no index."""
    total = 0.0
    indexes: dict[str, float] = {}
    for write in writes:
        write.after = write.before if failed else peek.get(write.table, write.key)
        size = max(item_size(write.before), item_size(write.after))
        total += write_units(size, write.transactional)
        if failed or write.kind == "ConditionCheck":
            continue
        for name, units in index_units(peek.table(write.table), write.before, write.after).items():
            label = f"{write.table}/{name}"
            indexes[label] = indexes.get(label, 0.0) + units
    return total + sum(indexes.values()), indexes


def read_units_of(operation: str, params: dict[str, Any], parsed: dict[str, Any]) -> float:
    """Read units of a read call's answer (the items it returned)."""
    if operation == "GetItem":
        return read_units(item_size(parsed.get("Item")), bool(params.get("ConsistentRead")))
    if operation == "BatchGetItem":
        total = 0.0
        for name, spec in (params.get("RequestItems") or {}).items():
            consistent = bool(spec.get("ConsistentRead"))
            returned = (parsed.get("Responses") or {}).get(name) or []
            unprocessed = len(((parsed.get("UnprocessedKeys") or {}).get(name) or {}).get("Keys") or [])
            missing = max(0, len(spec.get("Keys") or []) - len(returned) - unprocessed)
            total += sum(read_units(item_size(i), consistent) for i in returned)
            total += missing * read_units(0, consistent)
        return total
    if operation in ("Query", "Scan"):
        size = sum(item_size(i) for i in parsed.get("Items") or [])
        return read_units(size, bool(params.get("ConsistentRead")))
    if operation == "TransactGetItems":
        return sum(read_units(item_size(r.get("Item")), True, True) for r in parsed.get("Responses") or [])
    return 0.0
