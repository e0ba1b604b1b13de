"""The raw writes `store` builds without PynamoDB's expression objects, on the
engine over HTTP: `store.assign` (the balance item's update in every accrual
and claim) does what the equivalent PynamoDB actions and conditions do, and a
`CountsAttribute` (points by expiry date, rank points by month) stores the
very bytes a `MapAttribute` of numbers stored."""

from __future__ import annotations

from typing import Any

import pytest

from chalicelib import store
from chalicelib.store import Subscriber, binding
from chalicelib.store.transact import send

pytestmark = pytest.mark.engine


def _subscriber(msisdn: str, **attributes: Any) -> Subscriber:
    item = Subscriber(
        msisdn,
        owner_id=f"{msisdn}@2024-01-01",
        activated_on="2024-01-01",
        plan="prepaid",
        created_at="2024-01-01T00:00:00Z",
        updated_at="2024-01-01T00:00:00Z",
        seq=3,
        balance=700,
        buckets={"2025-01-31": 500, "2025-02-28": 200},
        tier_since="2024-06-01",
        ledger_open=["earn:a", "earn:b"],
        **attributes,
    )
    item.save()
    return item


def _raw_item(msisdn: str) -> dict[str, Any]:
    table = Subscriber.Meta.table_name
    item: dict[str, Any] = binding.client().get_item(TableName=table, Key={"msisdn": {"S": msisdn}})["Item"]
    return item


def test_assign_writes_what_pynamodb_actions_write(engine_tables: str) -> None:
    by_actions, by_assign = _subscriber("84900000001"), _subscriber("84900000002")
    new = {"seq": 4, "balance": 900, "buckets": {"2025-01-31": 500, "2025-03-31": 400}, "ledger_open": ["earn:c"]}
    send(
        [
            store.update(
                Subscriber,
                by_actions.msisdn,
                actions=[
                    *(getattr(Subscriber, name).set(value) for name, value in new.items()),
                    Subscriber.tier_since.remove(),
                ],
                condition=(Subscriber.seq == 3) & (Subscriber.owner_id == by_actions.owner_id),
                label="actions",
            ),
            store.assign(
                Subscriber,
                by_assign.msisdn,
                values={**new, "tier_since": None},
                expected={"seq": 3, "owner_id": by_assign.owner_id},
                label="assign",
            ),
        ]
    )
    one, two = _raw_item(by_actions.msisdn), _raw_item(by_assign.msisdn)
    for item in (one, two):
        item.pop("msisdn"), item.pop("owner_id")
    assert one == two
    assert two["buckets"] == {"M": {"2025-01-31": {"N": "500"}, "2025-03-31": {"N": "400"}}}
    assert "tier_since" not in two and two["seq"] == {"N": "4"}


def test_assign_commits_nothing_when_an_expected_value_differs(engine_tables: str) -> None:
    item = _subscriber("84900000003")
    before = _raw_item(item.msisdn)
    op = store.assign(Subscriber, item.msisdn, values={"balance": 1}, expected={"seq": 2}, label="balance")
    with pytest.raises(store.Cancelled) as cancelled:
        send([op])
    assert cancelled.value.failed("balance")
    assert cancelled.value.old_item("balance") == before
    assert _raw_item(item.msisdn) == before


def test_counts_are_a_map_of_numbers_read_as_ints(engine_tables: str) -> None:
    item = _subscriber("84900000004", rank={"2024-11": 1_500}, pool={})
    raw = _raw_item(item.msisdn)
    assert raw["buckets"] == {"M": {"2025-01-31": {"N": "500"}, "2025-02-28": {"N": "200"}}}
    assert raw["rank"] == {"M": {"2024-11": {"N": "1500"}}} and raw["pool"] == {"M": {}}
    read = Subscriber.get(item.msisdn, consistent_read=True)
    assert read.buckets == {"2025-01-31": 500, "2025-02-28": 200} and read.pool == {}
    assert all(type(v) is int for v in read.buckets.values())
