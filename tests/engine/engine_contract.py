"""Helpers of the engine contract suite (fixtures are in this folder's conftest)."""

from __future__ import annotations

import time
from collections.abc import Callable
from typing import Any, TypeVar

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

T = TypeVar("T")

# no retries: a test must see the engine's own answer (a 500 retried into a 400
# would hide it)
NO_RETRIES = Config(retries={"total_max_attempts": 1, "mode": "standard"}, max_pool_connections=64)

# GSIs are eventually consistent on DynamoDB: index reads poll up to this long
INDEX_DEADLINE_S = 30.0


def s(value: str) -> dict[str, str]:
    return {"S": value}


def n(value: int) -> dict[str, str]:
    return {"N": str(value)}


def code_of(exc: pytest.ExceptionInfo[ClientError]) -> str:
    return str(exc.value.response["Error"]["Code"])


def status_of(exc: pytest.ExceptionInfo[ClientError]) -> int:
    return int(exc.value.response["ResponseMetadata"]["HTTPStatusCode"])


def reasons_of(exc: pytest.ExceptionInfo[ClientError]) -> list[dict[str, Any]]:
    return list(exc.value.response.get("CancellationReasons") or [])


def create_table(client: Any, name: str, *, range_key: bool = True, gsi: bool = True) -> str:
    """An on-demand table `pk` (+ `sk`), optionally with the sparse KEYS_ONLY
    index `by-due` (`due`, then the table's last key), shaped like diem's due
    indexes."""
    attributes = [{"AttributeName": "pk", "AttributeType": "S"}]
    schema = [{"AttributeName": "pk", "KeyType": "HASH"}]
    if range_key:
        attributes.append({"AttributeName": "sk", "AttributeType": "S"})
        schema.append({"AttributeName": "sk", "KeyType": "RANGE"})
    definition: dict[str, Any] = {
        "TableName": name,
        "KeySchema": schema,
        "AttributeDefinitions": attributes,
        "BillingMode": "PAY_PER_REQUEST",
    }
    if gsi:
        attributes.append({"AttributeName": "due", "AttributeType": "S"})
        definition["GlobalSecondaryIndexes"] = [
            {
                "IndexName": "by-due",
                "KeySchema": [
                    {"AttributeName": "due", "KeyType": "HASH"},
                    {"AttributeName": "sk" if range_key else "pk", "KeyType": "RANGE"},
                ],
                "Projection": {"ProjectionType": "KEYS_ONLY"},
            }
        ]
    client.create_table(**definition)
    client.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1, "MaxAttempts": 120})
    return name


def eventually(read: Callable[[], T], ok: Callable[[T], bool], deadline_s: float = INDEX_DEADLINE_S) -> T:
    """Poll `read` until `ok` holds or the deadline passes, and return the last
    value read (the caller asserts on it, so a failure shows what was seen).
    GSIs are eventually consistent on DynamoDB; on moto the first read holds."""
    end = time.monotonic() + deadline_s
    value = read()
    while not ok(value) and time.monotonic() < end:
        time.sleep(0.2)  # the poll interval, not a wait for an event
        value = read()
    return value
