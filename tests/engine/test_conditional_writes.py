"""Conditional PutItem / UpdateItem / DeleteItem, the update actions diem writes
(SET, SET from another attribute, REMOVE, ADD) and the conditions it guards
them with (docs/engine.md "Conditional writes")."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from engine_contract import code_of, n, s

pytestmark = pytest.mark.engine


def _key(uid: str, sk: str = "item") -> dict[str, Any]:
    return {"pk": s(uid), "sk": s(sk)}


def _get(engine: Any, table: str, key: dict[str, Any]) -> dict[str, Any] | None:
    return engine.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item")


def test_put_if_absent_refuses_the_second_put_and_returns_the_old_item(raw: Any, main: str, uid: str) -> None:
    first = {**_key(uid), "v": n(1)}
    raw.put_item(TableName=main, Item=first, ConditionExpression="attribute_not_exists(pk)")

    with pytest.raises(ClientError) as exc:
        raw.put_item(
            TableName=main,
            Item={**_key(uid), "v": n(2)},
            ConditionExpression="attribute_not_exists(pk)",
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert code_of(exc) == "ConditionalCheckFailedException"
    assert exc.value.response["Item"] == first
    assert _get(raw, main, _key(uid)) == first


def test_a_failed_condition_without_all_old_returns_no_item(raw: Any, main: str, uid: str) -> None:
    raw.put_item(TableName=main, Item={**_key(uid), "v": n(1)})
    with pytest.raises(ClientError) as exc:
        raw.put_item(TableName=main, Item=_key(uid), ConditionExpression="attribute_not_exists(pk)")
    assert code_of(exc) == "ConditionalCheckFailedException"
    assert "Item" not in exc.value.response


def test_update_condition_failure_returns_the_old_item(raw: Any, main: str, uid: str) -> None:
    item = {**_key(uid), "seq": n(7), "balance": n(100)}
    raw.put_item(TableName=main, Item=item)
    with pytest.raises(ClientError) as exc:
        raw.update_item(
            TableName=main,
            Key=_key(uid),
            UpdateExpression="SET balance = :b, seq = :next",
            ConditionExpression="seq = :seen",
            ExpressionAttributeValues={":b": n(90), ":next": n(7), ":seen": n(6)},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert code_of(exc) == "ConditionalCheckFailedException"
    assert exc.value.response["Item"] == item
    assert _get(raw, main, _key(uid)) == item


def test_delete_condition_failure_returns_the_old_item(raw: Any, main: str, uid: str) -> None:
    item = {**_key(uid), "status": s("issued")}
    raw.put_item(TableName=main, Item=item)
    with pytest.raises(ClientError) as exc:
        raw.delete_item(
            TableName=main,
            Key=_key(uid),
            ConditionExpression="#st = :redeemed",
            ExpressionAttributeNames={"#st": "status"},
            ExpressionAttributeValues={":redeemed": s("redeemed")},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert code_of(exc) == "ConditionalCheckFailedException"
    assert exc.value.response["Item"] == item


def test_a_condition_on_an_absent_item_fails_without_an_old_item(raw: Any, main: str, uid: str) -> None:
    with pytest.raises(ClientError) as exc:
        raw.update_item(
            TableName=main,
            Key=_key(uid),
            UpdateExpression="SET v = :one",
            ConditionExpression="attribute_exists(pk)",
            ExpressionAttributeValues={":one": n(1)},
            ReturnValuesOnConditionCheckFailure="ALL_OLD",
        )
    assert code_of(exc) == "ConditionalCheckFailedException"
    assert "Item" not in exc.value.response
    assert _get(raw, main, _key(uid)) is None


@pytest.mark.parametrize(
    ("stock", "passes"),
    [(1, True), (0, False)],
)
def test_numeric_comparison_guards_a_decrement(raw: Any, main: str, uid: str, stock: int, passes: bool) -> None:
    raw.put_item(TableName=main, Item={**_key(uid), "stock": n(stock)})
    kwargs = {
        "TableName": main,
        "Key": _key(uid),
        "UpdateExpression": "SET stock = stock - :one",
        "ConditionExpression": "stock > :zero",
        "ExpressionAttributeValues": {":one": n(1), ":zero": n(0)},
    }
    if passes:
        raw.update_item(**kwargs)
        assert _get(raw, main, _key(uid))["stock"] == n(stock - 1)
    else:
        with pytest.raises(ClientError) as exc:
            raw.update_item(**kwargs)
        assert code_of(exc) == "ConditionalCheckFailedException"
        assert _get(raw, main, _key(uid))["stock"] == n(stock)


def test_a_comparison_with_a_missing_attribute_is_false(raw: Any, main: str, uid: str) -> None:
    """The claims counter: `owner_id = :o AND count < :limit` on an item without
    `count` must fail, not pass."""
    raw.put_item(TableName=main, Item={**_key(uid), "owner_id": s("o1")})
    with pytest.raises(ClientError) as exc:
        raw.update_item(
            TableName=main,
            Key=_key(uid),
            UpdateExpression="ADD #c :one",
            ConditionExpression="owner_id = :o AND #c < :limit",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":one": n(1), ":o": s("o1"), ":limit": n(2)},
        )
    assert code_of(exc) == "ConditionalCheckFailedException"


def test_iso_timestamps_compare_as_strings(raw: Any, main: str, uid: str) -> None:
    """Redeem and expiry guard on `expires_at` (ISO 8601 UTC strings) by string order."""
    raw.put_item(
        TableName=main, Item={**_key(uid), "status": s("issued"), "expires_at": s("2026-12-01T00:00:00.000000Z")}
    )
    condition = {
        "ConditionExpression": "#st = :issued AND expires_at > :now",
        "ExpressionAttributeNames": {"#st": "status"},
    }
    with pytest.raises(ClientError) as exc:
        raw.update_item(
            TableName=main,
            Key=_key(uid),
            UpdateExpression="SET #st = :redeemed",
            ExpressionAttributeValues={
                ":issued": s("issued"),
                ":redeemed": s("redeemed"),
                ":now": s("2026-12-01T00:00:00.000001Z"),
            },
            **condition,
        )
    assert code_of(exc) == "ConditionalCheckFailedException"
    raw.update_item(
        TableName=main,
        Key=_key(uid),
        UpdateExpression="SET #st = :redeemed",
        ExpressionAttributeValues={
            ":issued": s("issued"),
            ":redeemed": s("redeemed"),
            ":now": s("2026-11-30T23:59:59.999999Z"),
        },
        **condition,
    )
    assert _get(raw, main, _key(uid))["status"] == s("redeemed")


def test_list_equality_is_exact_and_ordered(raw: Any, main: str, uid: str) -> None:
    """Key rotation guards `key_hashes = :seen` (a list of strings)."""
    raw.put_item(TableName=main, Item={**_key(uid), "key_hashes": {"L": [s("a"), s("b")]}})

    def rotate(seen: list[str]) -> None:
        raw.update_item(
            TableName=main,
            Key=_key(uid),
            UpdateExpression="SET key_hashes = :new",
            ConditionExpression="key_hashes = :seen",
            ExpressionAttributeValues={":seen": {"L": [s(h) for h in seen]}, ":new": {"L": [s("b"), s("c")]}},
        )

    for stale in (["b", "a"], ["a"], ["a", "b", "c"]):
        with pytest.raises(ClientError) as exc:
            rotate(stale)
        assert code_of(exc) == "ConditionalCheckFailedException", stale
    rotate(["a", "b"])
    assert _get(raw, main, _key(uid))["key_hashes"] == {"L": [s("b"), s("c")]}


def test_if_absent_or_expired_lets_an_expired_record_be_replaced(raw: Any, main: str, uid: str) -> None:
    """The idempotency record's condition: `attribute_not_exists(id) OR expires_at < :now`
    with `expires_at` a number (epoch seconds, the TTL attribute)."""
    condition = "attribute_not_exists(pk) OR expires_at < :now"
    raw.put_item(
        TableName=main,
        Item={**_key(uid), "expires_at": n(1_000)},
        ConditionExpression=condition,
        ExpressionAttributeValues={":now": n(999)},
    )
    with pytest.raises(ClientError) as exc:
        raw.put_item(
            TableName=main,
            Item={**_key(uid), "expires_at": n(2_000)},
            ConditionExpression=condition,
            ExpressionAttributeValues={":now": n(1_000)},
        )
    assert code_of(exc) == "ConditionalCheckFailedException"
    raw.put_item(
        TableName=main,
        Item={**_key(uid), "expires_at": n(2_000)},
        ConditionExpression=condition,
        ExpressionAttributeValues={":now": n(1_001)},
    )
    assert _get(raw, main, _key(uid))["expires_at"] == n(2_000)


def test_absent_or_other_owner_resets_a_recycled_numbers_counter(raw: Any, main: str, uid: str) -> None:
    """`attribute_not_exists(pk) OR owner_id <> :me` (the claims counter of a new owner)."""
    kwargs = {
        "TableName": main,
        "Key": _key(uid),
        "UpdateExpression": "SET #c = :one, owner_id = :me",
        "ConditionExpression": "attribute_not_exists(pk) OR owner_id <> :me",
        "ExpressionAttributeNames": {"#c": "count"},
        "ExpressionAttributeValues": {":one": n(1), ":me": s("o2")},
    }
    raw.update_item(**kwargs)  # absent: created
    with pytest.raises(ClientError) as exc:
        raw.update_item(**kwargs)  # mine already
    assert code_of(exc) == "ConditionalCheckFailedException"
    raw.put_item(TableName=main, Item={**_key(uid), "count": n(2), "owner_id": s("o1")})
    raw.update_item(**kwargs)  # another owner's: reset
    assert _get(raw, main, _key(uid)) == {**_key(uid), "count": n(1), "owner_id": s("o2")}


def test_add_creates_the_item_and_counts_and_returns_all_new(raw: Any, main: str, uid: str) -> None:
    """The unknown-code counter: PynamoDB's `update` is an UpdateItem with ADD
    and SET on a key that may not exist yet, with ReturnValues=ALL_NEW."""

    def bump() -> dict[str, Any]:
        return raw.update_item(
            TableName=main,
            Key=_key(uid),
            UpdateExpression="ADD #c :one SET expires_at = :ttl",
            ExpressionAttributeNames={"#c": "count"},
            ExpressionAttributeValues={":one": n(1), ":ttl": n(1_900_000_000)},
            ReturnValues="ALL_NEW",
        )["Attributes"]

    assert bump() == {**_key(uid), "count": n(1), "expires_at": n(1_900_000_000)}
    assert bump()["count"] == n(2)


def test_set_from_another_attribute_and_remove(raw: Any, main: str, uid: str) -> None:
    """Redeem copies `campaign_id` into `redeemed_campaign` (`SET a = b`);
    reversal and expiry REMOVE attributes, and removing an absent one is no error."""
    raw.put_item(TableName=main, Item={**_key(uid), "campaign_id": s("c1"), "expiry_due": s("2026-12-01#3")})
    raw.update_item(TableName=main, Key=_key(uid), UpdateExpression="SET redeemed_campaign = campaign_id")
    assert _get(raw, main, _key(uid))["redeemed_campaign"] == s("c1")
    raw.update_item(TableName=main, Key=_key(uid), UpdateExpression="REMOVE redeemed_campaign, expiry_due, never_set")
    assert _get(raw, main, _key(uid)) == {**_key(uid), "campaign_id": s("c1")}


def test_set_a_map_replaces_it_whole(raw: Any, main: str, uid: str) -> None:
    """The balance update sets `buckets` (a map of expiry date -> points) whole."""
    raw.put_item(TableName=main, Item={**_key(uid), "buckets": {"M": {"2026-12-31": n(5), "2027-01-31": n(7)}}})
    raw.update_item(
        TableName=main,
        Key=_key(uid),
        UpdateExpression="SET buckets = :b",
        ExpressionAttributeValues={":b": {"M": {"2027-01-31": n(3)}}},
    )
    assert _get(raw, main, _key(uid))["buckets"] == {"M": {"2027-01-31": n(3)}}
