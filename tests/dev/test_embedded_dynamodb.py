"""Tests for the atomic embedded DynamoDB (dev/embedded_dynamodb.py)."""

from __future__ import annotations

import socket
import sys
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from typing import Any

import boto3
import pytest
from botocore.config import Config
from botocore.exceptions import ClientError
from moto import mock_aws

from dev import embedded_dynamodb
from dev.embedded_dynamodb import EmbeddedDynamoDB, SerialisedDynamoDBMiddleware

REGION = "ap-southeast-1"
BOTO_CONFIG = Config(
    max_pool_connections=64,
    retries={"max_attempts": 1, "mode": "standard"},
)
BARRIER_TIMEOUT_S = 60
# A short GIL switch interval makes thread switches inside moto's
# check-then-write windows likely, so a missing lock shows up as a failure
# (at the default 5 ms the race is real but rarely hit).
RACE_SWITCH_INTERVAL_S = 1e-5


@pytest.fixture(scope="module")
def server() -> Iterator[EmbeddedDynamoDB]:
    with embedded_dynamodb.start() as handle:
        yield handle


@pytest.fixture(scope="module")
def ddb(server: EmbeddedDynamoDB) -> Any:
    return boto3.client(
        "dynamodb",
        aws_access_key_id="test",
        aws_secret_access_key="test",
        region_name=REGION,
        endpoint_url=server.endpoint,
        config=BOTO_CONFIG,
    )


@pytest.fixture
def frequent_thread_switches() -> Iterator[None]:
    previous = sys.getswitchinterval()
    sys.setswitchinterval(RACE_SWITCH_INTERVAL_S)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _create_table(ddb: Any) -> str:
    name = f"t_{uuid.uuid4().hex}"
    ddb.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
    )
    return name


def _read_int(ddb: Any, table: str, pk: str, attr: str) -> int:
    item = ddb.get_item(TableName=table, Key={"pk": {"S": pk}}, ConsistentRead=True)
    return int(item["Item"][attr]["N"])


def _run_concurrently(n: int, attempt: Callable[[], bool]) -> list[bool]:
    """Run ``attempt`` in ``n`` threads released together; errors propagate."""
    barrier = threading.Barrier(n, timeout=BARRIER_TIMEOUT_S)

    def worker() -> bool:
        barrier.wait()
        return attempt()

    with ThreadPoolExecutor(max_workers=n) as pool:
        futures = [pool.submit(worker) for _ in range(n)]
        return [f.result() for f in futures]


def _error_code(exc: ClientError) -> str:
    return str(exc.response.get("Error", {}).get("Code", ""))


@pytest.mark.usefixtures("frequent_thread_switches")
@pytest.mark.parametrize("round_no", range(10))
def test_conditional_decrement_never_oversells(ddb: Any, round_no: int) -> None:
    stock, threads = 20, 64
    table = _create_table(ddb)
    ddb.put_item(TableName=table, Item={"pk": {"S": "sku"}, "stock": {"N": str(stock)}})

    def decrement() -> bool:
        try:
            ddb.update_item(
                TableName=table,
                Key={"pk": {"S": "sku"}},
                UpdateExpression="SET stock = stock - :one",
                ConditionExpression="stock > :zero",
                ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}},
            )
        except ClientError as exc:
            if _error_code(exc) == "ConditionalCheckFailedException":
                return False
            raise
        return True

    results = _run_concurrently(threads, decrement)

    assert sum(results) == stock
    assert _read_int(ddb, table, "sku", "stock") == 0


@pytest.mark.usefixtures("frequent_thread_switches")
@pytest.mark.parametrize("round_no", range(5))
def test_concurrent_transactions_conserve_quantity(ddb: Any, round_no: int) -> None:
    start_a, threads = 10, 32
    table = _create_table(ddb)
    ddb.put_item(TableName=table, Item={"pk": {"S": "A"}, "qty": {"N": str(start_a)}})
    ddb.put_item(TableName=table, Item={"pk": {"S": "B"}, "qty": {"N": "0"}})

    def move_one() -> bool:
        try:
            ddb.transact_write_items(
                TransactItems=[
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": "A"}},
                            "UpdateExpression": "SET qty = qty - :one",
                            "ConditionExpression": "qty >= :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                    {
                        "Update": {
                            "TableName": table,
                            "Key": {"pk": {"S": "B"}},
                            "UpdateExpression": "SET qty = qty + :one",
                            "ExpressionAttributeValues": {":one": {"N": "1"}},
                        }
                    },
                ]
            )
        except ClientError as exc:
            if _error_code(exc) == "TransactionCanceledException":
                return False
            raise
        return True

    results = _run_concurrently(threads, move_one)

    qty_a = _read_int(ddb, table, "A", "qty")
    qty_b = _read_int(ddb, table, "B", "qty")
    assert sum(results) == start_a
    assert (qty_a, qty_b) == (0, start_a)
    assert qty_a + qty_b == start_a


def test_endpoint_is_loopback_http(server: EmbeddedDynamoDB) -> None:
    assert server.endpoint == f"http://127.0.0.1:{server.port}"
    assert server.host == "127.0.0.1"
    assert server.port > 0


def test_stop_releases_port_and_is_idempotent() -> None:
    handle = embedded_dynamodb.start()
    port = handle.port
    handle.stop()
    handle.stop()
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", port))


def test_port_in_use_raises_instead_of_hanging() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        with pytest.raises(OSError):
            embedded_dynamodb.start(port=sock.getsockname()[1])


@pytest.mark.parametrize("host", ["0.0.0.0", "192.168.1.10", "::1", "example.com"])
def test_refuses_non_loopback_hosts(host: str) -> None:
    with pytest.raises(ValueError):
        embedded_dynamodb.start(host=host)


def test_lock_held_while_response_body_is_produced() -> None:
    lock = threading.Lock()
    observed: list[bool] = []
    closed: list[bool] = []

    class Body:
        def __iter__(self) -> Iterator[bytes]:
            for chunk in (b"a", b"b", b"c"):
                observed.append(lock.locked())
                yield chunk

        def close(self) -> None:
            closed.append(lock.locked())

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Body:
        observed.append(lock.locked())
        start_response("200 OK", [])
        return Body()

    middleware = SerialisedDynamoDBMiddleware(app, lock=lock)
    environ = {
        "HTTP_X_AMZ_TARGET": "DynamoDB_20120810.UpdateItem",
        "PATH_INFO": "/",
        "CONTENT_LENGTH": "0",
    }
    body = middleware(environ, lambda *args: None)

    assert observed == [True, True, True, True]
    assert closed == [True]
    assert list(body) == [b"abc"]
    assert not lock.locked()


def test_lock_released_when_app_raises() -> None:
    lock = threading.Lock()

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        raise RuntimeError("boom")

    middleware = SerialisedDynamoDBMiddleware(app, lock=lock)
    with pytest.raises(RuntimeError):
        middleware({"HTTP_X_AMZ_TARGET": "DynamoDB_20120810.GetItem"}, lambda *a: None)
    assert not lock.locked()


def test_non_dynamodb_requests_bypass_lock() -> None:
    lock = threading.Lock()
    seen: list[bool] = []

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> list[bytes]:
        seen.append(lock.locked())
        return [b""]

    middleware = SerialisedDynamoDBMiddleware(app, lock=lock)
    middleware(
        {"HTTP_X_AMZ_TARGET": "AmazonSQS.SendMessage", "PATH_INFO": "/"},
        lambda *a: None,
    )
    middleware({"PATH_INFO": "/moto-api/reset"}, lambda *a: None)
    assert seen == [False, True]


def test_cli_exits_with_error_when_port_taken() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        sock.listen()
        assert embedded_dynamodb.main(["--port", str(sock.getsockname()[1])]) == 1


def test_cli_refuses_non_loopback_host() -> None:
    assert embedded_dynamodb.main(["--host", "0.0.0.0", "--port", "0"]) == 1


def test_state_is_shared_with_mock_aws_and_reset_by_it(ddb: Any) -> None:
    """Documents moto behaviour the module docstring relies on."""
    table = _create_table(ddb)
    assert table in ddb.list_tables()["TableNames"]
    with mock_aws():
        # The endpoint is still served over HTTP, but mock_aws reset all state.
        assert table not in ddb.list_tables()["TableNames"]
        in_process = boto3.client("dynamodb", region_name=REGION)
        mocked = _create_table(in_process)
        assert mocked in ddb.list_tables()["TableNames"]
    assert ddb.list_tables()["TableNames"] == []
