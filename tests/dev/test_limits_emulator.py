"""The DynamoDB limits emulator (dev/limits_emulator.py): the model on a clock
moved by hand (a known overload gives the throttle rate the capacity implies,
overlapping transactions conflict for exactly the hold), then the proxy over
HTTP in front of the session's engine, answering as DynamoDB documents."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from typing import Any

import boto3
import pytest
from botocore.config import Config

from dev import limits_emulator
from dev.limits_emulator import Limits, Model

REGION = "ap-southeast-1"
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"})


class Clock:
    """Seconds that move only when told."""

    def __init__(self) -> None:
        self.now = 1_000.0

    def __call__(self) -> float:
        return self.now

    def advance(self, seconds: float) -> None:
        self.now += seconds


def item(name: str, table: str = "t") -> tuple[str, str]:
    return (table, limits_emulator.canonical({"pk": {"S": name}}))


def transaction(model: Model, clock: Clock, *names: str, units: float = 2.0) -> bool:
    """One transaction of `names` that commits as soon as it is admitted."""
    admission = model.transaction([(item(n), units) for n in names])
    if admission.ticket is not None:
        model.finish(admission.ticket, committed=True)
    return admission.admitted


# -- the model ------------------------------------------------------------------------


def test_a_known_overload_is_throttled_at_the_rate_the_capacity_implies() -> None:
    """One item, 1,000 WCU/s, transactions of 2 units: 500/s fit. Offered 1,000/s
    for 10 s, a full bucket of 1 s to start: (1,000 + 10 x 1,000) / 2 = 5,500 admitted."""
    clock = Clock()
    model = Model(Limits(scale=1, hold_ms=0), clock)
    admitted = 0
    for _ in range(10_000):
        clock.advance(0.001)
        admitted += transaction(model, clock, "hot")
    assert abs(admitted - 5_500) <= 1  # the last refill lands on 10 s, give or take a float's rounding
    assert model.stats.throttles == 10_000 - admitted and model.stats.conflicts == 0
    assert model.stats.throttles / model.stats.transactions == pytest.approx(0.45, abs=0.001)


def test_scaling_divides_the_capacity_and_stretches_the_hold() -> None:
    limits = Limits(scale=500)
    assert limits.write_rate == 2 and limits.read_rate == 6 and limits.hold_seconds == pytest.approx(1.0)
    clock = Clock()
    model = Model(Limits(scale=500, hold_ms=0), clock)
    # 2 WCU a second: one transactional write a second, offered two a second for 100 s
    admitted = 0
    for _ in range(200):
        clock.advance(0.5)
        admitted += transaction(model, clock, "hot")
    assert admitted == 100  # the first from the full bucket, then one a second (the last refill lands on 100.0 s)


def test_transactions_overlapping_on_an_item_conflict_for_the_hold() -> None:
    """Hold 2.5 ms, a transaction every millisecond on one item: each admitted one
    holds the item for the next two, so exactly one in three is admitted."""
    clock = Clock()
    model = Model(Limits(scale=1, hold_ms=2.5, item_write_units=1e9), clock)
    outcomes = []
    for _ in range(300):
        clock.advance(0.001)
        outcomes.append(transaction(model, clock, "hot", "other-" + uuid.uuid4().hex))
    assert sum(outcomes) == 100 and outcomes[:6] == [True, False, False, True, False, False]
    assert model.stats.conflicts == 200 and model.stats.conflicted_items == 200  # only the hot item conflicted


def test_a_conflict_names_the_held_item_only() -> None:
    clock = Clock()
    model = Model(Limits(scale=1, hold_ms=10), clock)
    assert transaction(model, clock, "a")
    refused = model.transaction([(item("b"), 2.0), (item("a"), 2.0)])
    assert refused.reasons == [None, "TransactionConflict"] and not refused.admitted
    clock.advance(0.011)
    assert transaction(model, clock, "b", "a")


def test_an_item_stays_held_while_its_transaction_is_in_flight_and_is_freed_by_a_cancellation() -> None:
    clock = Clock()
    model = Model(Limits(scale=1, hold_ms=1), clock)
    first = model.transaction([(item("a"), 2.0)])
    assert first.ticket is not None
    clock.advance(5)  # far past the hold: the engine has not answered yet
    assert model.transaction([(item("a"), 2.0)]).reasons == ["TransactionConflict"]
    model.finish(first.ticket, committed=False)  # the engine cancelled it: nothing held
    assert transaction(model, clock, "a")
    assert model.stats.cancelled_by_engine == 1 and model.stats.committed == 1


def test_a_commit_answered_early_holds_its_items_for_the_hold_after_admission() -> None:
    clock = Clock()
    model = Model(Limits(scale=1, hold_ms=20), clock)
    first = model.transaction([(item("a"), 2.0)])
    assert first.ticket is not None
    clock.advance(0.005)  # the engine answered within 5 ms
    model.finish(first.ticket, committed=True)
    clock.advance(0.010)
    assert model.transaction([(item("a"), 2.0)]).reasons == ["TransactionConflict"]
    clock.advance(0.006)  # 21 ms after admission
    assert transaction(model, clock, "a")


def test_a_throttled_transaction_names_the_item_over_its_capacity_and_spends_nothing() -> None:
    clock = Clock()
    model = Model(Limits(scale=500, hold_ms=0), clock)  # 2 WCU per item, banked for 1 s
    assert transaction(model, clock, "hot", "x1")
    refused = model.transaction([(item("x2"), 2.0), (item("hot"), 2.0)])
    assert refused.reasons == [None, "ThrottlingError"]
    assert transaction(model, clock, "x2")  # x2 spent nothing on the refused transaction
    assert model.stats.throttles == 1 and model.stats.throttled_items == 1


def test_single_writes_are_throttled_or_refused_while_a_transaction_holds_the_item() -> None:
    clock = Clock()
    model = Model(Limits(scale=500, hold_ms=1), clock)  # hold 0.5 s, 2 WCU a second
    assert model.write(item("w"), 1.0) is None
    assert model.write(item("w"), 1.0) is None
    assert model.write(item("w"), 1.0) == "Throttled"
    assert transaction(model, clock, "held", units=1.0)
    assert model.write(item("held"), 1.0) == "TransactionConflict"
    clock.advance(0.6)
    assert model.write(item("held"), 1.0) is None


def test_reads_have_their_own_capacity_and_are_never_blocked_by_a_transaction() -> None:
    clock = Clock()
    model = Model(Limits(scale=500, hold_ms=1000), clock)  # 6 RCU per item and second
    assert transaction(model, clock, "a")
    assert model.read([(item("a"), 1.0)] * 6) == [True] * 6
    assert model.read([(item("a"), 1.0), (item("b"), 1.0)]) == [False, True]
    assert model.read([(item("a"), 1.0)]) == [False]
    assert model.stats.read_requests_throttled == 1 and model.stats.reads_throttled == 2
    clock.advance(0.5)
    assert model.read([(item("a"), 1.0)] * 4) == [True, True, True, False]


def test_items_on_one_partition_share_its_capacity() -> None:
    """Two items at 300 transactions/s each for 10 s: alone each fits in 500/s; on
    one partition (1,000 WCU/s = 500 transactions/s for both) 100/s are throttled."""
    for partitions, throttled in ((0, 0), (1, 1_000)):
        clock = Clock()
        model = Model(Limits(scale=1, hold_ms=0, burst_seconds=0.01, partitions=partitions), clock)
        for _ in range(3_000):
            clock.advance(1 / 300)
            transaction(model, clock, "x")
            transaction(model, clock, "y")
        assert abs(model.stats.throttles - throttled) <= 10, (partitions, model.stats.throttles)


def test_injected_faults_fire_on_matching_keys_only_and_are_counted() -> None:
    clock = Clock()
    model = Model(Limits(scale=1, hold_ms=0), clock)
    model.inject("conflict", "stock#", 2)
    model.inject("throttle", "stock#", 1)
    assert transaction(model, clock, "subscriber")
    assert model.transaction([(item("x"), 2.0), (item("stock#c#0"), 2.0)]).reasons == [None, "TransactionConflict"]
    assert not transaction(model, clock, "stock#c#1")
    assert model.transaction([(item("stock#c#2"), 2.0)]).reasons == ["ThrottlingError"]
    assert transaction(model, clock, "stock#c#3")
    assert model.stats.injected == {"conflict": 2, "throttle": 1}
    assert model.snapshot()["faults_pending"] == {}


# -- the proxy over HTTP, in front of the session's engine ---------------------------------


@pytest.fixture
def emulated(engine_endpoint: str) -> Iterator[tuple[Any, Any, Clock, str]]:
    from urllib.parse import urlsplit

    if urlsplit(engine_endpoint).hostname not in ("127.0.0.1", "localhost"):
        pytest.skip("the emulator fronts a local engine only")
    clock = Clock()
    emulator = limits_emulator.start(Limits(scale=500, hold_ms=1), upstream=engine_endpoint, clock=clock)
    client = boto3.client(
        "dynamodb",
        endpoint_url=emulator.endpoint,
        region_name=REGION,
        aws_access_key_id="test",
        aws_secret_access_key="test",
        config=NO_RETRIES,
    )
    table = f"emu-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    try:
        yield client, emulator, clock, table
    finally:
        client.delete_table(TableName=table)
        emulator.stop()


def _increment(table: str, key: str) -> dict[str, Any]:
    return {
        "Update": {
            "TableName": table,
            "Key": {"pk": {"S": key}},
            "UpdateExpression": "ADD n :one",
            "ExpressionAttributeValues": {":one": {"N": "1"}},
        }
    }


def test_over_http_a_conflict_is_a_cancellation_with_its_reasons_and_changes_nothing(emulated: Any) -> None:
    client, emulator, clock, table = emulated
    put = {"Put": {"TableName": table, "Item": {"pk": {"S": "new"}}}}
    client.transact_write_items(TransactItems=[_increment(table, "hot"), put])
    with pytest.raises(client.exceptions.TransactionCanceledException) as raised:
        client.transact_write_items(TransactItems=[_increment(table, "cold"), _increment(table, "hot")])
    reasons = raised.value.response["CancellationReasons"]
    assert [r["Code"] for r in reasons] == ["None", "TransactionConflict"]
    assert client.get_item(TableName=table, Key={"pk": {"S": "cold"}}).get("Item") is None
    clock.advance(1.0)  # past the hold (1 ms x 500) and a second of capacity (2 WCU) later
    client.transact_write_items(TransactItems=[_increment(table, "cold"), _increment(table, "hot")])
    hot = client.get_item(TableName=table, Key={"pk": {"S": "hot"}}, ConsistentRead=True)["Item"]
    assert hot["n"] == {"N": "2"}
    stats = emulator.model.snapshot()["stats"]
    assert stats["conflicts"] == 1 and stats["committed"] == 2


def test_over_http_a_put_of_two_kilobytes_costs_four_units_and_the_next_is_throttled(emulated: Any) -> None:
    client, emulator, _, table = emulated
    emulator.model.reset(Limits(scale=250, hold_ms=0))  # 4 WCU an item
    big = {"pk": {"S": "big"}, "v": {"S": "x" * 1500}}  # 2 KB: 2 x 2 units in a transaction
    client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": big}}])
    with pytest.raises(client.exceptions.TransactionCanceledException) as raised:
        client.transact_write_items(TransactItems=[{"Put": {"TableName": table, "Item": big}}])
    (reason,) = raised.value.response["CancellationReasons"]
    assert reason["Code"] == "ThrottlingError" and "capacity" in reason["Message"]
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException) as single:
        client.put_item(TableName=table, Item=big)
    assert single.value.response["ThrottlingReasons"][0]["reason"] == "TableWriteKeyRangeThroughputExceeded"


def test_over_http_a_batch_read_returns_the_hot_keys_unprocessed(emulated: Any) -> None:
    client, emulator, clock, table = emulated
    for key in ("a", "b"):
        client.put_item(TableName=table, Item={"pk": {"S": key}})
    emulator.model.reset()
    keys = [{"pk": {"S": "a"}}, {"pk": {"S": "b"}}]
    for _ in range(6):  # 6 RCU a second per item at scale 500
        client.get_item(TableName=table, Key={"pk": {"S": "a"}}, ConsistentRead=True)
    answer = client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    assert [i["pk"]["S"] for i in answer["Responses"][table]] == ["b"]
    assert answer["UnprocessedKeys"][table]["Keys"] == [{"pk": {"S": "a"}}]
    with pytest.raises(client.exceptions.ProvisionedThroughputExceededException):
        client.batch_get_item(RequestItems={table: {"Keys": keys[:1], "ConsistentRead": True}})
    clock.advance(1)
    answer = client.batch_get_item(RequestItems={table: {"Keys": keys, "ConsistentRead": True}})
    assert len(answer["Responses"][table]) == 2 and not answer.get("UnprocessedKeys")


def test_over_http_other_calls_pass_through_and_a_switched_off_emulator_passes_everything(emulated: Any) -> None:
    client, emulator, _, table = emulated
    emulator.model.reset(enforce=False)
    for _ in range(20):  # far over 2 WCU a second, all at one instant
        client.transact_write_items(TransactItems=[_increment(table, "hot")])
    assert client.describe_table(TableName=table)["Table"]["TableName"] == table
    found = client.query(
        TableName=table, KeyConditionExpression="pk = :k", ExpressionAttributeValues={":k": {"S": "hot"}}
    )
    assert found["Items"][0]["n"] == {"N": "20"}
    assert emulator.model.snapshot()["stats"]["transactions"] == 0
