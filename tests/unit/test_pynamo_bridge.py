"""The private PynamoDB API that `chalicelib.store.pynamo` (and only it) relies
on: a PynamoDB upgrade that changes any of it fails here, loudly, before it
can break binding, transactions or the table definitions."""

from __future__ import annotations

import inspect
import pathlib
import re

import pynamodb
from pynamodb.connection.table import TableConnection
from pynamodb.models import Model

from chalicelib.store import LedgerEntry, Subscriber, pynamo

ROOT = pathlib.Path(__file__).resolve().parents[2]
PRIVATE = re.compile(r"_get_connection|connection\._client|_serialize_keys|_get_schema|\bget_operation_kwargs\(")


def test_pynamodb_is_the_version_the_bridge_was_checked_against() -> None:
    assert pynamodb.__version__ == "6.1.0", "re-check chalicelib/store/pynamo.py against the new PynamoDB"


def test_the_private_methods_exist_with_the_arguments_used() -> None:
    assert inspect.ismethod(Model._get_connection)
    assert "hash_key" in inspect.signature(Model._serialize_keys).parameters
    kwargs = inspect.signature(TableConnection.get_operation_kwargs).parameters
    assert {"hash_key", "range_key", "actions", "condition", "return_values_on_condition_failure"} <= set(kwargs)
    assert inspect.ismethod(Model._get_schema)


def test_operation_kwargs_build_a_raw_update_with_the_asked_return_values() -> None:
    kwargs = pynamo.operation_kwargs(
        Subscriber,
        "84961234567",
        actions=[Subscriber.balance.add(5)],
        condition=Subscriber.seq == 3,
        return_values_on_condition_failure="ALL_OLD",
    )
    assert kwargs["Key"] == {"msisdn": {"S": "84961234567"}}
    assert kwargs["UpdateExpression"].startswith("ADD ")
    assert kwargs["ConditionExpression"] and kwargs["ReturnValuesOnConditionCheckFailure"] == "ALL_OLD"
    ranged = pynamo.operation_kwargs(LedgerEntry, "owner", "earn:e1", condition=LedgerEntry.entry_id.exists())
    assert ranged["Key"] == {"owner_id": {"S": "owner"}, "entry_id": {"S": "earn:e1"}}


def test_schema_of_gives_keys_and_indexes() -> None:
    schema = pynamo.schema_of(Subscriber)
    assert {k["AttributeName"] for k in schema["key_schema"]} == {"msisdn"}
    assert {i["index_name"] for i in schema["global_secondary_indexes"]} == {
        "expiry-due",
        "anniversary-due",
        "review-due",
    }


def test_no_other_module_uses_the_private_api() -> None:
    users = sorted(
        str(path.relative_to(ROOT))
        for path in (ROOT / "chalicelib").rglob("*.py")
        if path.name != "pynamo.py" and PRIVATE.search(path.read_text())
    )
    assert users == [], f"PynamoDB's private API outside chalicelib/store/pynamo.py: {users}"
