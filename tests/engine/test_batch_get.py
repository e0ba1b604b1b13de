"""BatchGetItem as diem reads (`store.batch_get`: the claim's one batched read,
the wallet's vouchers, a partner's keys): across tables, strongly consistent,
missing keys simply absent, at most 100 distinct keys per request, and
UnprocessedKeys retried (docs/engine.md "Batched reads").

moto never returns UnprocessedKeys, so the retry loop is shown with a botocore
event hook that answers one request partly unprocessed, as DynamoDB may under
throttling or past 16 MB; the request itself still goes to the engine."""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from typing import Any

import pytest
from botocore.exceptions import ClientError
from engine_contract import code_of, n, s

from chalicelib import store
from chalicelib.store import ApiKey, Counter, Partner, binding

pytestmark = pytest.mark.engine


def test_one_request_reads_several_tables(raw: Any, main: str, other: str, uid: str) -> None:
    raw.put_item(TableName=main, Item={"pk": s(uid), "sk": s("balance"), "balance": n(10)})
    raw.put_item(TableName=other, Item={"pk": s(f"{uid}#campaign"), "status": s("active")})
    response = raw.batch_get_item(
        RequestItems={
            main: {
                "Keys": [{"pk": s(uid), "sk": s("balance")}, {"pk": s(uid), "sk": s("missing")}],
                "ConsistentRead": True,
            },
            other: {"Keys": [{"pk": s(f"{uid}#campaign")}], "ConsistentRead": True},
        }
    )
    assert response["Responses"][main] == [{"pk": s(uid), "sk": s("balance"), "balance": n(10)}]
    assert response["Responses"][other] == [{"pk": s(f"{uid}#campaign"), "status": s("active")}]
    assert not response.get("UnprocessedKeys")


def test_a_consistent_batch_read_sees_the_write_just_made(raw: Any, other: str, uid: str) -> None:
    for version in range(3):
        raw.put_item(TableName=other, Item={"pk": s(uid), "v": n(version)})
        got = raw.batch_get_item(RequestItems={other: {"Keys": [{"pk": s(uid)}], "ConsistentRead": True}})
        assert got["Responses"][other] == [{"pk": s(uid), "v": n(version)}]


def test_more_than_100_keys_are_refused(raw: Any, other: str, uid: str) -> None:
    with pytest.raises(ClientError) as exc:
        raw.batch_get_item(RequestItems={other: {"Keys": [{"pk": s(f"{uid}#{i}")} for i in range(101)]}})
    assert code_of(exc) == "ValidationException"


def test_a_key_twice_in_one_request_is_refused(raw: Any, other: str, uid: str) -> None:
    """Why `store.batch_get` de-duplicates its keys first."""
    with pytest.raises(ClientError) as exc:
        raw.batch_get_item(RequestItems={other: {"Keys": [{"pk": s(uid)}, {"pk": s(uid)}]}})
    assert code_of(exc) == "ValidationException"


class BatchGetSpy:
    """Records each BatchGetItem request of the store's client and, once, moves
    the items of `defer` (a number of keys) from the answer to UnprocessedKeys."""

    def __init__(self, defer: int) -> None:
        self.defer = defer
        self.requests: list[dict[str, Any]] = []

    def record(self, params: dict[str, Any], **_: Any) -> None:
        self.requests.append(copy.deepcopy(params["RequestItems"]))

    def answer_partly(self, parsed: dict[str, Any], **_: Any) -> None:
        if not self.defer or "Responses" not in parsed:
            return
        request = self.requests[-1]
        unprocessed: dict[str, Any] = {}
        for table, spec in request.items():
            keys = spec["Keys"][: self.defer]
            self.defer -= len(keys)
            if not keys:
                continue
            unprocessed[table] = {"Keys": keys, "ConsistentRead": spec.get("ConsistentRead", False)}
            names = set(keys[0])
            wanted = [json.dumps(k, sort_keys=True) for k in keys]
            parsed["Responses"][table] = [
                item
                for item in parsed["Responses"].get(table, [])
                if json.dumps({name: item[name] for name in names}, sort_keys=True) not in wanted
            ]
        parsed["UnprocessedKeys"] = unprocessed


@pytest.fixture
def spy(engine_tables: str) -> Iterator[BatchGetSpy]:
    events = binding.client().meta.events
    spy = BatchGetSpy(defer=0)
    events.register("provide-client-params.dynamodb.BatchGetItem", spy.record, unique_id="contract-record")
    events.register("after-call.dynamodb.BatchGetItem", spy.answer_partly, unique_id="contract-defer")
    yield spy
    events.unregister("provide-client-params.dynamodb.BatchGetItem", unique_id="contract-record")
    events.unregister("after-call.dynamodb.BatchGetItem", unique_id="contract-defer")


PARTNER = {"key_hashes": [], "created_at": "2026-11-01T00:00:00.000Z"}


def _seed() -> None:
    Partner("p1", name="Partner", created_at="2026-11-01T00:00:00.000Z").save()
    Partner("p2", name="Other", created_at="2026-11-01T00:00:00.000Z").save()
    ApiKey("h1", partner_id="p1", created_at="2026-11-01T00:00:00.000Z").save()


def test_store_batch_get_retries_unprocessed_keys(spy: BatchGetSpy) -> None:
    _seed()
    spy.defer = 2
    keys = [(Partner, "p1", None), (ApiKey, "h1", None), (Partner, "p2", None), (ApiKey, "nope", None)]
    found = store.batch_get(keys)

    assert {key: (item.attribute_values if item else None) for key, item in found.items()} == {
        (Partner, "p1", None): {**PARTNER, "partner_id": "p1", "name": "Partner"},
        (Partner, "p2", None): {**PARTNER, "partner_id": "p2", "name": "Other"},
        (ApiKey, "h1", None): {"key_hash": "h1", "partner_id": "p1", "created_at": "2026-11-01T00:00:00.000Z"},
        (ApiKey, "nope", None): None,
    }
    assert len(spy.requests) == 2
    first, retry = spy.requests
    assert sum(len(spec["Keys"]) for spec in first.values()) == 4
    # the retry asks for the deferred keys only, still strongly consistent
    assert sum(len(spec["Keys"]) for spec in retry.values()) == 2
    assert all(spec["ConsistentRead"] is True for request in spy.requests for spec in request.values())


def test_store_batch_get_splits_more_than_100_keys_and_dedupes(spy: BatchGetSpy) -> None:
    keys = [(Counter, f"stock#c1#{i}", None) for i in range(150)]
    for i in range(0, 150, 7):
        Counter(f"stock#c1#{i}", stock=i).save()
    found = store.batch_get([*keys, *keys[:10]])
    assert len(found) == 150
    assert {key[1]: int(item.stock) for key, item in found.items() if item is not None} == {
        f"stock#c1#{i}": i for i in range(0, 150, 7)
    }
    assert [sum(len(spec["Keys"]) for spec in request.values()) for request in spy.requests] == [100, 50]


def test_keys_left_unprocessed_round_after_round_back_off_then_are_a_throttle(
    spy: BatchGetSpy, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The kernel and the HTTP layer read `Throttled` as retryable (a 503, never a 500)."""
    from chalicelib.store import transact

    naps: list[float] = []
    monkeypatch.setattr(transact.time, "sleep", naps.append)
    _seed()
    spy.defer = 10**6  # every key, every time
    with pytest.raises(transact.Throttled) as exc:
        store.batch_get([(Partner, "p1", None), (ApiKey, "h1", None)])
    assert transact.transient(exc.value)
    assert len(spy.requests) == transact._UNPROCESSED_ROUNDS + 1
    assert len(naps) == transact._UNPROCESSED_ROUNDS and all(0 <= nap <= 1.0 for nap in naps)
