"""Time to live as diem uses it: enabled on the tables whose models have a
TTLAttribute, the attribute stored as a number of epoch seconds, and no
reliance on when (or whether) the engine deletes expired items: DynamoDB
deletes them in the background, typically within days, and until then they are
still read; moto never deletes them. The product treats an item past its TTL as
gone by its own checks (docs/engine.md "Time to live")."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from engine_contract import n, s

from chalicelib import clock, idempotency, store
from chalicelib.idempotency import Reply
from chalicelib.store import Counter, IdempotencyRecord, schema

pytestmark = pytest.mark.engine

TTL_TABLES = {"idempotency", "counters", "api-keys", "ussd-sessions", "events", "deliveries", "notifications"}


def test_update_and_describe_time_to_live(engine_is_moto: bool, raw: Any, other: str) -> None:
    before = raw.describe_time_to_live(TableName=other)["TimeToLiveDescription"]
    assert before["TimeToLiveStatus"] == "DISABLED"
    answer = raw.update_time_to_live(
        TableName=other, TimeToLiveSpecification={"Enabled": True, "AttributeName": "expires_at"}
    )
    assert answer["TimeToLiveSpecification"] == {"Enabled": True, "AttributeName": "expires_at"}
    after = raw.describe_time_to_live(TableName=other)["TimeToLiveDescription"]
    # DynamoDB takes up to an hour to finish enabling; moto is done at once
    assert after["TimeToLiveStatus"] in (("ENABLED",) if engine_is_moto else ("ENABLING", "ENABLED"))
    if after["TimeToLiveStatus"] == "ENABLED":
        assert after["AttributeName"] == "expires_at"


def test_diem_tables_have_ttl_on_their_ttl_attribute(raw: Any, engine_tables: str) -> None:
    """`schema.create_tables` enables TTL where the model has a TTLAttribute (and nowhere else)."""
    seen = {}
    for definition in schema.table_definitions(engine_tables):
        name = definition["TableName"]
        described = raw.describe_time_to_live(TableName=name)["TimeToLiveDescription"]
        seen[name.removeprefix(engine_tables)] = (described["TimeToLiveStatus"], described.get("AttributeName"))
    enabled = {base for base, (status, _) in seen.items() if status in ("ENABLING", "ENABLED")}
    assert enabled == TTL_TABLES
    assert all(seen[base][1] in (None, "expires_at") for base in TTL_TABLES)


def test_the_ttl_attribute_is_stored_as_whole_epoch_seconds(raw: Any, engine_tables: str) -> None:
    instant = datetime(2026, 12, 1, 8, 30, 15, tzinfo=UTC)
    Counter("unknown#p1#2026-12-01T08", count=1, expires_at=instant).save()
    item = raw.get_item(
        TableName=f"{engine_tables}counters", Key={"counter_id": s("unknown#p1#2026-12-01T08")}, ConsistentRead=True
    )["Item"]
    assert item["expires_at"] == n(int(instant.timestamp()))


def test_an_item_past_its_ttl_is_still_read_until_deleted(raw: Any, engine_tables: str) -> None:
    """Nothing may rely on the engine having deleted an expired item: right
    after the write it is there on every engine (DynamoDB: "Items that have
    expired and not been deleted will still show up in reads")."""
    table = f"{engine_tables}counters"
    long_ago = int(time.time()) - 3 * 24 * 3600
    raw.put_item(TableName=table, Item={"counter_id": s("expired"), "count": n(3), "expires_at": n(long_ago)})
    got = raw.get_item(TableName=table, Key={"counter_id": s("expired")}, ConsistentRead=True)
    assert got["Item"]["expires_at"] == n(long_ago)


def test_the_product_treats_an_expired_idempotency_record_as_gone(engine_tables: str) -> None:
    """The record outlives its TTL on the engine; `replay` ignores it and the
    record's own condition lets a new request with the same key overwrite it."""
    start = datetime(2026, 11, 1, 10, 0, 0, 250_000, tzinfo=UTC)
    clock.set_now(lambda: start)
    idem = idempotency.key_for("key-1", "scope", {"amount": 1})
    assert idem is not None
    first = Reply(201, {"n": 1})
    assert store.run(lambda _: store.Plan((), first), idem) == first

    stored = IdempotencyRecord.get(idem.record_id, consistent_read=True)
    assert stored.expires_at == datetime(2026, 11, 2, 10, 0, 1, tzinfo=UTC)  # rounded up to whole seconds

    clock.set_now(lambda: start + timedelta(hours=23))
    assert idempotency.replay(idem) == first  # within its TTL: replayed

    later = start + timedelta(hours=25)
    clock.set_now(lambda: later)
    assert IdempotencyRecord.count(idem.record_id, consistent_read=True) == 1  # still stored past its TTL
    assert idempotency.replay(idem) is None  # but gone for the product
    second = Reply(201, {"n": 2})
    assert store.run(lambda _: store.Plan((), second), idem) == second
    assert idempotency.replay(idem) == second
