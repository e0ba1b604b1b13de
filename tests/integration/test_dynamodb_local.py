"""Project-local DynamoDB Local: real DynamoDB semantics, loopback-only listener.

Network note: these tests send traffic to loopback addresses only.  That the
server cannot be reached on the machine's non-loopback addresses is shown
without connecting to them: (1) a connect to 127.0.0.2, which any wildcard
(0.0.0.0 / ::) listener would accept, is refused, and (2) the kernel's socket
table lists exactly one listener on the port, bound to 127.0.0.1.
"""

from __future__ import annotations

import array
import fcntl
import ipaddress
import socket
import struct
import threading
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
from botocore.config import Config
from botocore.exceptions import ClientError

pytestmark = pytest.mark.dynamodb_local

PROC_TCP = Path("/proc/net/tcp")
PROC_TCP6 = Path("/proc/net/tcp6")
TCP_LISTEN = "0A"
SIOCGIFADDR = 0x8915


@pytest.fixture
def table(dynamodb_local: Any) -> Iterator[str]:
    """Yield a fresh ``pk``-keyed on-demand table; delete it afterwards."""
    name = f"t-{uuid.uuid4().hex[:12]}"
    dynamodb_local.create_table(
        TableName=name,
        AttributeDefinitions=[{"AttributeName": "pk", "AttributeType": "S"}],
        KeySchema=[{"AttributeName": "pk", "KeyType": "HASH"}],
        BillingMode="PAY_PER_REQUEST",
    )
    dynamodb_local.get_waiter("table_exists").wait(TableName=name, WaiterConfig={"Delay": 1})
    yield name
    dynamodb_local.delete_table(TableName=name)


def _port(endpoint: str) -> int:
    port = urlsplit(endpoint).port
    assert port is not None
    return port


def _connect(host: str, port: int) -> None:
    with socket.create_connection((host, port), timeout=5):
        pass


# --- (a) DynamoDB semantics through boto3 ---------------------------------------


def test_endpoint_is_loopback_http(dynamodb_local_endpoint: str) -> None:
    parts = urlsplit(dynamodb_local_endpoint)
    assert (parts.scheme, parts.hostname) == ("http", "127.0.0.1")


def test_create_table_and_conditional_put(dynamodb_local: Any, table: str) -> None:
    assert table in dynamodb_local.list_tables()["TableNames"]
    item = {"pk": {"S": "u#1"}, "points": {"N": "10"}}
    dynamodb_local.put_item(TableName=table, Item=item, ConditionExpression="attribute_not_exists(pk)")

    with pytest.raises(ClientError) as excinfo:
        dynamodb_local.put_item(
            TableName=table,
            Item={"pk": {"S": "u#1"}, "points": {"N": "99"}},
            ConditionExpression="attribute_not_exists(pk)",
        )
    assert excinfo.value.response["Error"]["Code"] == "ConditionalCheckFailedException"
    stored = dynamodb_local.get_item(TableName=table, Key={"pk": {"S": "u#1"}}, ConsistentRead=True)
    assert stored["Item"] == item


def test_transact_write_cancels_with_conditional_check_failed(dynamodb_local: Any, table: str) -> None:
    dynamodb_local.put_item(TableName=table, Item={"pk": {"S": "stock"}, "n": {"N": "0"}})

    with pytest.raises(ClientError) as excinfo:
        dynamodb_local.transact_write_items(
            TransactItems=[
                {"Put": {"TableName": table, "Item": {"pk": {"S": "order#1"}}}},
                {
                    "Update": {
                        "TableName": table,
                        "Key": {"pk": {"S": "stock"}},
                        "UpdateExpression": "SET n = n - :one",
                        "ConditionExpression": "n > :zero",
                        "ExpressionAttributeValues": {
                            ":one": {"N": "1"},
                            ":zero": {"N": "0"},
                        },
                    }
                },
            ]
        )
    response = excinfo.value.response
    assert response["Error"]["Code"] == "TransactionCanceledException"
    assert [reason["Code"] for reason in response["CancellationReasons"]] == [
        "None",
        "ConditionalCheckFailed",
    ]
    # All-or-nothing: the first action of the cancelled transaction was not applied.
    assert "Item" not in dynamodb_local.get_item(TableName=table, Key={"pk": {"S": "order#1"}}, ConsistentRead=True)


# --- (b) listens on 127.0.0.1 only ----------------------------------------------


def test_reachable_on_127_0_0_1_only(dynamodb_local_endpoint: str) -> None:
    port = _port(dynamodb_local_endpoint)
    _connect("127.0.0.1", port)
    with pytest.raises(ConnectionRefusedError):
        _connect("127.0.0.2", port)


def test_127_0_0_2_probe_detects_wildcard_listeners() -> None:
    """Control for the test above: a 0.0.0.0 listener *is* reachable on 127.0.0.2."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as listener:
        listener.bind(("0.0.0.0", 0))
        listener.listen(1)
        _connect("127.0.0.2", listener.getsockname()[1])


def _proc_address(hex_addr: str) -> str:
    """Decode a /proc/net/tcp{,6} address (32-bit words in host byte order)."""
    words = [int(hex_addr[i : i + 8], 16) for i in range(0, len(hex_addr), 8)]
    raw = b"".join(struct.pack("=I", word) for word in words)
    address = ipaddress.ip_address(raw)
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        return str(address.ipv4_mapped)
    return str(address)


def _listen_addresses(port: int) -> list[str]:
    """Return local addresses of TCP sockets listening on ``port`` (this netns)."""
    found = []
    for table in (PROC_TCP, PROC_TCP6):
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            fields = line.split()
            address, hex_port = fields[1].split(":")
            if fields[3] == TCP_LISTEN and int(hex_port, 16) == port:
                found.append(_proc_address(address))
    return found


def _non_loopback_ipv4_addresses() -> set[str]:
    """Return this machine's non-loopback interface IPv4 addresses (sends nothing)."""
    found = set()
    with socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as sock:
        for _, name in socket.if_nameindex():
            request = array.array("B", struct.pack("256s", name.encode()[:15]))
            try:
                fcntl.ioctl(sock.fileno(), SIOCGIFADDR, request)
            except OSError:  # interface without an IPv4 address
                continue
            address = ipaddress.IPv4Address(request.tobytes()[20:24])
            if not address.is_loopback:
                found.add(str(address))
    return found


@pytest.mark.skipif(not PROC_TCP.exists(), reason="needs Linux /proc/net/tcp")
def test_socket_table_shows_single_loopback_listener(
    dynamodb_local_endpoint: str,
) -> None:
    listeners = _listen_addresses(_port(dynamodb_local_endpoint))
    assert listeners == ["127.0.0.1"]
    assert not {"0.0.0.0", "::"} & set(listeners)


@pytest.mark.skipif(not PROC_TCP.exists(), reason="needs Linux /proc/net/tcp")
def test_not_bound_to_non_loopback_addresses(dynamodb_local_endpoint: str) -> None:
    addresses = _non_loopback_ipv4_addresses()
    if not addresses:
        pytest.skip("this machine has no non-loopback IPv4 address")
    listeners = set(_listen_addresses(_port(dynamodb_local_endpoint)))
    # A connection to one of these addresses needs a listener bound to it or to the
    # wildcard; neither exists, so the kernel refuses it.
    assert not (addresses | {"0.0.0.0", "::"}) & listeners, (addresses, listeners)


# --- (c) conditional decrement under contention ---------------------------------


def test_64_concurrent_conditional_decrements_sell_exactly_the_stock(
    dynamodb_local_client_factory: Callable[..., Any], dynamodb_local: Any, table: str
) -> None:
    workers, stock = 64, 20
    key = {"pk": {"S": "reward#1"}}
    dynamodb_local.put_item(TableName=table, Item={**key, "stock": {"N": str(stock)}})
    client = dynamodb_local_client_factory(
        Config(
            max_pool_connections=workers,
            retries={"max_attempts": 1, "mode": "standard"},
        )
    )
    barrier = threading.Barrier(workers)

    def decrement(_: int) -> str:
        barrier.wait(timeout=30)
        try:
            client.update_item(
                TableName=table,
                Key=key,
                UpdateExpression="SET stock = stock - :one",
                ConditionExpression="stock > :zero",
                ExpressionAttributeValues={":one": {"N": "1"}, ":zero": {"N": "0"}},
            )
        except ClientError as exc:
            return str(exc.response["Error"]["Code"])
        return "ok"

    with ThreadPoolExecutor(max_workers=workers) as pool:
        outcomes = list(pool.map(decrement, range(workers)))

    assert outcomes.count("ok") == stock
    assert outcomes.count("ConditionalCheckFailedException") == workers - stock
    final = dynamodb_local.get_item(TableName=table, Key=key, ConsistentRead=True)
    assert final["Item"]["stock"] == {"N": "0"}
