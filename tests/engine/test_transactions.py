"""TransactWriteItems as diem's kernel (`store.kernel`) uses it: all or nothing, every
condition against the state before the transaction, one cancellation reason per
item in order (with the old item when ALL_OLD was asked), the request limits,
and ClientRequestToken replay (docs/engine.md "Transactions")."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
from botocore.exceptions import ClientError
from engine_contract import code_of, n, reasons_of, s

pytestmark = pytest.mark.engine


def _key(uid: str, sk: str) -> dict[str, Any]:
    return {"pk": s(uid), "sk": s(sk)}


def _get(engine: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    return engine.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def _update(table: str, key: dict[str, Any], expression: str, condition: str | None = None, **values: Any) -> dict:
    op: dict[str, Any] = {"TableName": table, "Key": key, "UpdateExpression": expression}
    if condition:
        op["ConditionExpression"] = condition
        op["ReturnValuesOnConditionCheckFailure"] = "ALL_OLD"
    if values:
        op["ExpressionAttributeValues"] = {f":{k}": v for k, v in values.items()}
    return {"Update": op}


def test_a_committed_transaction_applies_every_write(raw: Any, main: str, other: str, uid: str) -> None:
    raw.put_item(TableName=main, Item={**_key(uid, "stock"), "stock": n(2)})
    raw.transact_write_items(
        TransactItems=[
            _update(main, _key(uid, "stock"), "SET stock = stock - :one", "stock > :zero", one=n(1), zero=n(0)),
            {
                "Put": {
                    "TableName": other,
                    "Item": {"pk": s(f"{uid}#voucher"), "status": s("issued")},
                    "ConditionExpression": "attribute_not_exists(pk)",
                }
            },
            {"Put": {"TableName": main, "Item": {**_key(uid, "ledger#1"), "points": n(-100)}}},
        ]
    )
    assert _get(raw, main, _key(uid, "stock"))["stock"] == n(1)
    assert _get(raw, other, {"pk": s(f"{uid}#voucher")}) == {"pk": s(f"{uid}#voucher"), "status": s("issued")}
    assert _get(raw, main, _key(uid, "ledger#1"))["points"] == n(-100)


def test_cancellation_applies_nothing_and_gives_one_reason_per_item_in_order(raw: Any, main: str, uid: str) -> None:
    """The reasons line up with the request's items: `None` for the items whose
    condition held, `ConditionalCheckFailed` (with the old item, ALL_OLD) for the
    others; a ConditionCheck item has a reason like any other; nothing is written."""
    balance = {**_key(uid, "balance"), "seq": n(4), "balance": n(500)}
    stock = {**_key(uid, "stock"), "stock": n(0)}
    campaign = {**_key(uid, "campaign"), "status": s("active")}
    for item in (balance, stock, campaign):
        raw.put_item(TableName=main, Item=item)

    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(
            TransactItems=[
                _update(
                    main,
                    _key(uid, "balance"),
                    "SET balance = :b, seq = :next",
                    "seq = :seen",
                    b=n(400),
                    next=n(5),
                    seen=n(4),
                ),
                _update(main, _key(uid, "stock"), "SET stock = stock - :one", "stock > :zero", one=n(1), zero=n(0)),
                {
                    "ConditionCheck": {
                        "TableName": main,
                        "Key": _key(uid, "campaign"),
                        "ConditionExpression": "#st = :active",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":active": s("active")},
                    }
                },
                {
                    "Put": {
                        "TableName": main,
                        "Item": {**_key(uid, "voucher"), "status": s("issued")},
                        "ConditionExpression": "attribute_not_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
                {
                    "Put": {
                        "TableName": main,
                        "Item": {**_key(uid, "claims"), "count": n(1)},
                        "ConditionExpression": "attribute_exists(pk)",
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    assert code_of(exc) == "TransactionCanceledException"
    reasons = reasons_of(exc)
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed", "None", "None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == stock
    assert "Item" not in reasons[4]  # the item did not exist: no old item to return
    assert all("Item" not in r for r in (reasons[0], reasons[2], reasons[3]))
    # all or nothing
    assert _get(raw, main, _key(uid, "balance")) == balance
    assert _get(raw, main, _key(uid, "voucher")) is None
    assert _get(raw, main, _key(uid, "claims")) is None


def test_a_failing_condition_check_item_cancels_the_writes(raw: Any, main: str, uid: str) -> None:
    raw.put_item(TableName=main, Item={**_key(uid, "campaign"), "status": s("closed")})
    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": main, "Item": {**_key(uid, "voucher"), "status": s("issued")}}},
                {
                    "ConditionCheck": {
                        "TableName": main,
                        "Key": _key(uid, "campaign"),
                        "ConditionExpression": "#st = :active",
                        "ExpressionAttributeNames": {"#st": "status"},
                        "ExpressionAttributeValues": {":active": s("active")},
                        "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                    }
                },
            ]
        )
    assert code_of(exc) == "TransactionCanceledException"
    reasons = reasons_of(exc)
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {**_key(uid, "campaign"), "status": s("closed")}
    assert _get(raw, main, _key(uid, "voucher")) is None


def test_every_condition_sees_the_state_before_the_transaction(raw: Any, main: str, uid: str) -> None:
    """A swap of two balances whose conditions name the values *before* the
    transaction: it commits only if no condition sees an earlier item's write,
    and the old items returned on a cancellation are the pre-transaction ones."""
    raw.put_item(TableName=main, Item={**_key(uid, "a"), "v": n(1)})
    raw.put_item(TableName=main, Item={**_key(uid, "b"), "v": n(2)})

    def swap(a_was: int, b_was: int) -> None:
        raw.transact_write_items(
            TransactItems=[
                _update(main, _key(uid, "a"), "SET v = :new", "v = :old", new=n(b_was), old=n(a_was)),
                _update(main, _key(uid, "b"), "SET v = :new", "v = :old", new=n(a_was), old=n(b_was)),
            ]
        )

    swap(1, 2)
    assert (_get(raw, main, _key(uid, "a"))["v"], _get(raw, main, _key(uid, "b"))["v"]) == (n(2), n(1))

    # conditions naming the state *after* the first write fail, and report the state before
    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(
            TransactItems=[
                _update(main, _key(uid, "a"), "SET v = :new", "v = :old", new=n(9), old=n(2)),
                _update(main, _key(uid, "b"), "SET v = :new", "v = :old", new=n(9), old=n(9)),
            ]
        )
    reasons = reasons_of(exc)
    assert [r["Code"] for r in reasons] == ["None", "ConditionalCheckFailed"]
    assert reasons[1]["Item"] == {**_key(uid, "b"), "v": n(1)}
    assert _get(raw, main, _key(uid, "a"))["v"] == n(2)


def test_an_update_creates_an_absent_item(raw: Any, main: str, uid: str) -> None:
    """The claims counter's first claim and the stock shard counters: an Update
    of a key that does not exist yet creates it."""
    raw.transact_write_items(
        TransactItems=[
            {
                "Update": {
                    "TableName": main,
                    "Key": _key(uid, "claims"),
                    "UpdateExpression": "SET #c = :one, owner_id = :o",
                    "ConditionExpression": "attribute_not_exists(pk) OR owner_id <> :o",
                    "ExpressionAttributeNames": {"#c": "count"},
                    "ExpressionAttributeValues": {":one": n(1), ":o": s("o1")},
                }
            },
            _update(main, _key(uid, "issued"), "ADD issued :one", one=n(1)),
        ]
    )
    assert _get(raw, main, _key(uid, "claims")) == {**_key(uid, "claims"), "count": n(1), "owner_id": s("o1")}
    assert _get(raw, main, _key(uid, "issued")) == {**_key(uid, "issued"), "issued": n(1)}


def test_two_operations_on_one_item_are_refused(raw: Any, main: str, uid: str) -> None:
    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": main, "Item": {**_key(uid, "x"), "v": n(1)}}},
                {
                    "ConditionCheck": {
                        "TableName": main,
                        "Key": _key(uid, "x"),
                        "ConditionExpression": "attribute_not_exists(pk)",
                    }
                },
            ]
        )
    assert code_of(exc) == "ValidationException"
    assert _get(raw, main, _key(uid, "x")) is None


def test_more_than_100_items_are_refused_and_100_commit(raw: Any, main: str, uid: str) -> None:
    def puts(count: int, tag: str) -> list[dict[str, Any]]:
        return [{"Put": {"TableName": main, "Item": _key(uid, f"{tag}#{i:03d}")}} for i in range(count)]

    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(TransactItems=puts(101, "over"))
    assert code_of(exc) == "ValidationException"
    assert _get(raw, main, _key(uid, "over#000")) is None

    raw.transact_write_items(TransactItems=puts(100, "max"))
    page = raw.query(
        TableName=main,
        KeyConditionExpression="pk = :p AND begins_with(sk, :max)",
        ExpressionAttributeValues={":p": s(uid), ":max": s("max#")},
        Select="COUNT",
        ConsistentRead=True,
    )
    assert page["Count"] == 100


def test_an_invalid_update_expression_applies_nothing(engine_is_moto: bool, raw: Any, main: str, uid: str) -> None:
    """An update that cannot be applied to the item (a number plus a string)
    after a valid write: nothing is written. moto answers a ValidationException;
    DynamoDB cancels the transaction with a `ValidationError` reason for that
    item (docs/engine.md)."""
    raw.put_item(TableName=main, Item={**_key(uid, "n"), "v": n(1)})
    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": main, "Item": {**_key(uid, "first"), "v": n(1)}}},
                _update(main, _key(uid, "n"), "SET v = v + :text", text=s("x")),
            ]
        )
    if engine_is_moto:
        assert code_of(exc) == "ValidationException"
    else:
        assert code_of(exc) in ("ValidationException", "TransactionCanceledException")
        if code_of(exc) == "TransactionCanceledException":
            assert [r["Code"] for r in reasons_of(exc)] == ["None", "ValidationError"]
    assert _get(raw, main, _key(uid, "first")) is None
    assert _get(raw, main, _key(uid, "n"))["v"] == n(1)


def test_a_malformed_update_expression_is_refused_before_anything(raw: Any, main: str, uid: str) -> None:
    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": main, "Item": _key(uid, "first")}},
                _update(main, _key(uid, "n"), "SET v = :one REMOVE v", one=n(1)),
            ]
        )
    assert code_of(exc) == "ValidationException"
    assert _get(raw, main, _key(uid, "first")) is None


def _token_request(main: str, uid: str, amount: int) -> list[dict[str, Any]]:
    return [_update(main, _key(uid, "counter"), "ADD v :amount", amount=n(amount))]


def test_client_request_token_replay(engine_is_moto: bool, raw: Any, main: str, uid: str) -> None:
    """DynamoDB applies one token + request once within 10 minutes: a re-sent
    identical request succeeds without applying again. moto 5.2.5 ignores the
    token and applies it twice. When this fails on moto, moto has started
    honouring tokens: update docs/engine.md and this test."""
    token = str(uuid.uuid4())
    for _ in range(2):
        raw.transact_write_items(TransactItems=_token_request(main, uid, 5), ClientRequestToken=token)
    applied = _get(raw, main, _key(uid, "counter"))["v"]
    if engine_is_moto:
        assert applied == n(10), "moto applied a replayed token once: it honours ClientRequestToken now"
    else:
        assert applied == n(5)


def test_client_request_token_reused_for_other_writes(engine_is_moto: bool, raw: Any, main: str, uid: str) -> None:
    """DynamoDB answers IdempotentParameterMismatchException when a token comes
    back with other writes within 10 minutes (diem: `TokenReused`); moto
    applies the second request as if it had no token."""
    token = str(uuid.uuid4())
    raw.transact_write_items(TransactItems=_token_request(main, uid, 5), ClientRequestToken=token)
    if engine_is_moto:
        raw.transact_write_items(TransactItems=_token_request(main, uid, 7), ClientRequestToken=token)
        assert _get(raw, main, _key(uid, "counter"))["v"] == n(12)
    else:
        with pytest.raises(ClientError) as exc:
            raw.transact_write_items(TransactItems=_token_request(main, uid, 7), ClientRequestToken=token)
        assert code_of(exc) == "IdempotentParameterMismatchException"
        assert _get(raw, main, _key(uid, "counter"))["v"] == n(5)


def test_a_resent_committed_transaction_fails_its_own_conditions(raw: Any, main: str, uid: str) -> None:
    """What diem relies on instead of the token (on every engine): each
    transaction carries a condition that a committed copy of itself breaks (a
    new item `attribute_not_exists`, a version `seq = :seen`), so a re-sent,
    already committed transaction is cancelled, and the old item it returns
    carries the first commit's writes, by which the kernel recognises its own
    commit."""
    raw.put_item(TableName=main, Item={**_key(uid, "balance"), "seq": n(1), "balance": n(10)})
    request = [
        _update(
            main,
            _key(uid, "balance"),
            "SET balance = :b, seq = :next, last_ref = :ref",
            "seq = :seen",
            b=n(15),
            next=n(2),
            seen=n(1),
            ref=s("earn:e1"),
        ),
        {
            "Put": {
                "TableName": main,
                "Item": {**_key(uid, "ledger#earn:e1"), "points": n(5)},
                "ConditionExpression": "attribute_not_exists(pk)",
                "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
            }
        },
    ]
    raw.transact_write_items(TransactItems=request)
    with pytest.raises(ClientError) as exc:
        raw.transact_write_items(TransactItems=request)  # the lost answer's retry, without a token
    assert code_of(exc) == "TransactionCanceledException"
    reasons = reasons_of(exc)
    assert [r["Code"] for r in reasons] == ["ConditionalCheckFailed", "ConditionalCheckFailed"]
    assert reasons[0]["Item"]["last_ref"] == s("earn:e1")  # our own commit, recognised
    assert reasons[1]["Item"] == {**_key(uid, "ledger#earn:e1"), "points": n(5)}
    assert _get(raw, main, _key(uid, "balance"))["balance"] == n(15)


def test_one_number_key_written_two_ways_is_one_item(
    engine_is_moto: bool, raw: Any, tables: dict[str, str], engine: Any, uid: str
) -> None:
    """DynamoDB numbers are normalised: keys `1` and `1.0` are one item, so a
    transaction naming both is two operations on one item (ValidationException).
    moto reads them as one item but compares transaction keys as written, and
    applies both writes. diem's keys are all strings (next test), so this gap
    cannot reach it."""
    table = f"{tables['other']}-numbers"
    engine.create_table(
        TableName=table,
        KeySchema=[{"AttributeName": "id", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "id", "AttributeType": "N"}],
        BillingMode="PAY_PER_REQUEST",
    )
    engine.get_waiter("table_exists").wait(TableName=table, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    try:
        raw.put_item(TableName=table, Item={"id": n(1)})
        assert raw.get_item(TableName=table, Key={"id": {"N": "1.0"}}, ConsistentRead=True)["Item"] == {"id": n(1)}
        request = [
            {"Update": {"TableName": table, "Key": {"id": {"N": k}}, "UpdateExpression": f"SET {a} = :v",
                        "ExpressionAttributeValues": {":v": s(uid)}}}
            for k, a in (("1", "a"), ("1.0", "b"))
        ]  # fmt: skip
        if engine_is_moto:
            raw.transact_write_items(TransactItems=request)
            item = raw.get_item(TableName=table, Key={"id": n(1)}, ConsistentRead=True)["Item"]
            assert item == {"id": n(1), "a": s(uid), "b": s(uid)}
        else:
            with pytest.raises(ClientError) as exc:
                raw.transact_write_items(TransactItems=request)
            assert code_of(exc) == "ValidationException"
    finally:
        engine.delete_table(TableName=table)


def test_diem_keys_are_strings() -> None:
    """Every key attribute of diem's tables and indexes is a string: the
    number-normalisation gap above cannot reach the product."""
    from chalicelib.store import schema

    for definition in schema.table_definitions("x-"):
        types = {a["AttributeName"]: a["AttributeType"] for a in definition["AttributeDefinitions"]}
        key_names = {k["AttributeName"] for k in definition["KeySchema"]}
        for index in definition.get("GlobalSecondaryIndexes", []) + definition.get("LocalSecondaryIndexes", []):
            key_names |= {k["AttributeName"] for k in index["KeySchema"]}
        assert {name: types[name] for name in key_names} == dict.fromkeys(key_names, "S"), definition["TableName"]
