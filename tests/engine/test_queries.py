"""Query as diem uses it: sparse KEYS_ONLY GSIs (the due indexes, the wallet,
redeemed-by-campaign), newest first, Limit and ExclusiveStartKey pages (the
list cursors), filters that leave a page short, Select=COUNT, and what the
engine answers to a start key that does not fit the index (docs/engine.md
"Queries")."""

from __future__ import annotations

from typing import Any

import pytest
from botocore.exceptions import ClientError
from engine_contract import code_of, eventually, s, status_of

pytestmark = pytest.mark.engine


def _put(engine: Any, table: str, uid: str, sk: str, **attrs: Any) -> dict[str, Any]:
    item = {"pk": s(uid), "sk": s(sk), **{k: s(v) for k, v in attrs.items()}}
    engine.put_item(TableName=table, Item=item)
    return item


def _by_due(engine: Any, table: str, due: str, **kw: Any) -> dict[str, Any]:
    return engine.query(
        TableName=table,
        IndexName="by-due",
        KeyConditionExpression="due = :d",
        ExpressionAttributeValues={":d": s(due)},
        **kw,
    )


def _due_keys(engine: Any, table: str, due: str) -> list[str]:
    return [item["sk"]["S"] for item in _by_due(engine, table, due)["Items"]]


def test_sparse_index_holds_only_the_items_with_its_key(raw: Any, main: str, uid: str) -> None:
    due = f"{uid}#2026-12-01#0"
    _put(raw, main, uid, "a", due=due, name="due")
    _put(raw, main, uid, "b", name="not due")  # no `due`: not in the index
    _put(raw, main, uid, "c", due=f"{uid}#2026-12-02#0")

    assert eventually(lambda: _due_keys(raw, main, due), lambda keys: keys == ["a"]) == ["a"]

    # setting the key adds the item; removing it takes the item out
    raw.update_item(
        TableName=main,
        Key={"pk": s(uid), "sk": s("b")},
        UpdateExpression="SET due = :d",
        ExpressionAttributeValues={":d": s(due)},
    )
    raw.update_item(TableName=main, Key={"pk": s(uid), "sk": s("a")}, UpdateExpression="REMOVE due")
    assert eventually(lambda: _due_keys(raw, main, due), lambda keys: keys == ["b"]) == ["b"]


def test_keys_only_index_returns_the_keys_only(raw: Any, main: str, uid: str) -> None:
    due = f"{uid}#keys"
    _put(raw, main, uid, "a", due=due, status="issued", title="a voucher")
    items = eventually(lambda: _by_due(raw, main, due)["Items"], lambda found: len(found) == 1)
    assert items == [{"pk": s(uid), "sk": s("a"), "due": s(due)}]


def test_consistent_read_on_a_gsi_is_refused(raw: Any, main: str, uid: str) -> None:
    with pytest.raises(ClientError) as exc:
        _by_due(raw, main, f"{uid}#x", ConsistentRead=True)
    assert code_of(exc) == "ValidationException"


def test_newest_first_on_the_table_and_on_an_index(raw: Any, main: str, uid: str) -> None:
    due = f"{uid}#wallet"
    for sk in ("2026-11-01", "2026-11-03", "2026-11-02"):
        _put(raw, main, uid, sk, due=due)
    table = raw.query(
        TableName=main,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": s(uid)},
        ScanIndexForward=False,
        ConsistentRead=True,
    )
    assert [i["sk"]["S"] for i in table["Items"]] == ["2026-11-03", "2026-11-02", "2026-11-01"]
    index = eventually(lambda: _by_due(raw, main, due, ScanIndexForward=False)["Items"], lambda found: len(found) == 3)
    assert [i["sk"]["S"] for i in index] == ["2026-11-03", "2026-11-02", "2026-11-01"]


def _all_pages(query: Any, limit: int) -> tuple[list[list[str]], dict[str, Any] | None]:
    pages: list[list[str]] = []
    start: dict[str, Any] | None = None
    last_key = None
    for _ in range(20):
        kwargs: dict[str, Any] = {"Limit": limit}
        if start:
            kwargs["ExclusiveStartKey"] = start
        page = query(**kwargs)
        pages.append([i["sk"]["S"] for i in page["Items"]])
        last_key = page.get("LastEvaluatedKey")
        if not last_key:
            break
        start = last_key
    return pages, last_key


def test_limit_and_exclusive_start_key_walk_every_item_once(raw: Any, main: str, uid: str) -> None:
    for i in range(5):
        _put(raw, main, uid, f"e{i}")

    def query(**kw: Any) -> dict[str, Any]:
        return raw.query(
            TableName=main,
            KeyConditionExpression="pk = :p",
            ExpressionAttributeValues={":p": s(uid)},
            ScanIndexForward=False,
            ConsistentRead=True,
            **kw,
        )

    pages, _ = _all_pages(query, 2)
    # a full last page may be followed by an empty one (LastEvaluatedKey is
    # set whenever Limit was reached); never an item twice, never one skipped
    assert [p for p in pages if p] == [["e4", "e3"], ["e2", "e1"], ["e0"]]
    first = query(Limit=2)
    assert first["LastEvaluatedKey"] == {"pk": s(uid), "sk": s("e3")}


def test_an_index_page_key_holds_the_index_and_the_table_keys(raw: Any, main: str, uid: str) -> None:
    due = f"{uid}#pages"
    for i in range(3):
        _put(raw, main, uid, f"e{i}", due=due)
    eventually(lambda: _due_keys(raw, main, due), lambda keys: len(keys) == 3)

    first = _by_due(raw, main, due, Limit=2)
    assert first["LastEvaluatedKey"] == {"due": s(due), "pk": s(uid), "sk": s("e1")}
    rest = _by_due(raw, main, due, Limit=2, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert [i["sk"]["S"] for i in rest["Items"]] == ["e2"]


def test_a_filter_leaves_a_page_short_but_the_page_key_goes_on(raw: Any, main: str, uid: str) -> None:
    """Limit counts the items read, before the filter: a page can hold fewer
    than Limit items (even none) while more follow. A reader that stops at a
    short page loses items; PynamoDB's iterator and `store.pages` keep reading."""
    for i, kind in enumerate(["keep", "drop", "keep", "drop", "drop", "keep"]):
        _put(raw, main, uid, f"e{i}", kind=kind)

    def query(**kw: Any) -> dict[str, Any]:
        return raw.query(
            TableName=main,
            KeyConditionExpression="pk = :p",
            FilterExpression="kind = :keep",
            ExpressionAttributeValues={":p": s(uid), ":keep": s("keep")},
            ConsistentRead=True,
            **kw,
        )

    first = query(Limit=3)
    assert (first["Count"], first["ScannedCount"]) == (2, 3)
    assert first["LastEvaluatedKey"] == {"pk": s(uid), "sk": s("e2")}
    second = query(Limit=2, ExclusiveStartKey=first["LastEvaluatedKey"])
    assert (second["Count"], second["ScannedCount"]) == (0, 2)
    assert second["LastEvaluatedKey"] == {"pk": s(uid), "sk": s("e4")}
    third = query(Limit=2, ExclusiveStartKey=second["LastEvaluatedKey"])
    assert [i["sk"]["S"] for i in third["Items"]] == ["e5"]


def test_select_count_counts_without_items(raw: Any, main: str, uid: str) -> None:
    """`Voucher.redeemed_index.count(campaign)`: a COUNT query on a sparse index."""
    due = f"{uid}#redeemed"
    for i in range(4):
        _put(raw, main, uid, f"v{i}", due=due)
    _put(raw, main, uid, "v9")
    counted = eventually(lambda: _by_due(raw, main, due, Select="COUNT"), lambda page: page["Count"] == 4)
    assert counted["Count"] == 4
    assert "Items" not in counted
    on_table = raw.query(
        TableName=main,
        KeyConditionExpression="pk = :p",
        ExpressionAttributeValues={":p": s(uid)},
        Select="COUNT",
        ConsistentRead=True,
    )
    assert on_table["Count"] == 5


BAD_START_KEYS = {
    "table key without its sort key": (None, lambda uid, due: {"pk": s(uid)}),
    "index key without the table keys": ("by-due", lambda uid, due: {"due": s(due)}),
    "table keys on an index": ("by-due", lambda uid, due: {"pk": s(uid), "sk": s("e0")}),
    "a number where the key is a string": (None, lambda uid, due: {"pk": {"N": "1"}, "sk": s("e0")}),
    "an attribute not in the key": (None, lambda uid, due: {"owner": s(uid)}),
}


@pytest.mark.parametrize("case", list(BAD_START_KEYS))
def test_a_start_key_that_does_not_fit_the_key_schema(
    engine_is_moto: bool, raw: Any, main: str, uid: str, case: str
) -> None:
    """DynamoDB refuses it (400 ValidationException, "The provided starting key
    is invalid"); moto 5.2.5 answers 500 (it compares the missing attributes as
    None) whenever the queried partition has items. So the product validates a
    cursor's key names itself before the query (see test_cursors.py)."""
    index, start_key = BAD_START_KEYS[case]
    due = f"{uid}#bad"
    _put(raw, main, uid, "e0", due=due)
    _put(raw, main, uid, "e1", due=due)
    if index:
        eventually(lambda: _due_keys(raw, main, due), lambda keys: len(keys) == 2)
        condition, value = "due = :v", s(due)
    else:
        condition, value = "pk = :v", s(uid)
    kwargs: dict[str, Any] = {
        "TableName": main,
        "KeyConditionExpression": condition,
        "ExpressionAttributeValues": {":v": value},
        "ExclusiveStartKey": start_key(uid, due),
    }
    if index:
        kwargs["IndexName"] = index
    with pytest.raises(ClientError) as exc:
        raw.query(**kwargs)
    if engine_is_moto:
        assert status_of(exc) == 500, "moto validates start keys now: update docs/engine.md"
    else:
        assert (status_of(exc), code_of(exc)) == (400, "ValidationException")


def test_a_start_key_of_another_partition(engine_is_moto: bool, raw: Any, main: str, uid: str) -> None:
    """A well-formed key outside the queried partition: moto answers an empty
    page (it skips every item), DynamoDB a ValidationException. The product pins
    a cursor's partition to the caller before querying (`pages.decode`)."""
    _put(raw, main, uid, "e0")
    kwargs: dict[str, Any] = {
        "TableName": main,
        "KeyConditionExpression": "pk = :v",
        "ExpressionAttributeValues": {":v": s(uid)},
        "ExclusiveStartKey": {"pk": s(f"{uid}-other"), "sk": s("a")},
    }
    if engine_is_moto:
        page = raw.query(**kwargs)
        assert page["Items"] == []
    else:
        with pytest.raises(ClientError) as exc:
            raw.query(**kwargs)
        assert code_of(exc) == "ValidationException"
