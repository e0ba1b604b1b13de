"""The engine's own writer of data-plane answers (dev/engine_serialise.py) says
what moto's serialiser says (the same JSON, the same status and content type,
a CRC32 header that matches its bytes, as botocore checks), for every kind of
attribute value and every data-plane operation; the control plane and errors
are moto's."""

from __future__ import annotations

import http.client
import json
import urllib.parse
import zlib
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from dev import embedded_dynamodb, engine_serialise

AUTH = (
    "AWS4-HMAC-SHA256 Credential=test/20261201/ap-southeast-1/dynamodb/aws4_request, "
    "SignedHeaders=host;x-amz-target, Signature=0"
)


@pytest.fixture(scope="module")
def endpoint() -> Iterator[str]:
    with embedded_dynamodb.start() as engine:
        yield engine.endpoint


def call(endpoint: str, action: str, body: dict[str, Any]) -> tuple[int, dict[str, str], Any]:
    """One request to the engine on loopback: status, headers (lower-cased), the parsed body."""
    where = urllib.parse.urlsplit(endpoint)
    assert where.hostname == "127.0.0.1"
    connection = http.client.HTTPConnection(where.hostname, where.port, timeout=30)
    try:
        connection.request(
            "POST",
            "/",
            body=json.dumps(body).encode(),
            headers={
                "X-Amz-Target": f"DynamoDB_20120810.{action}",
                "Content-Type": "application/x-amz-json-1.0",
                "Authorization": AUTH,
            },
        )
        reply = connection.getresponse()
        status, raw = reply.status, reply.read()
        headers = {k.lower(): v for k, v in reply.getheaders()}
    finally:
        connection.close()
    assert int(headers["x-amz-crc32"]) == zlib.crc32(raw), "botocore would refuse this answer"
    return status, headers, json.loads(raw)


def both(endpoint: str, action: str, body: dict[str, Any]) -> tuple[Any, Any]:
    """The same request answered by moto's serialiser and by the engine's writer."""
    engine_serialise.enabled = False
    try:
        moto = call(endpoint, action, body)
    finally:
        engine_serialise.enabled = True
    fast = call(endpoint, action, body)
    return moto, fast


def same(moto: Any, fast: Any) -> None:
    (m_status, m_headers, m_body), (f_status, f_headers, f_body) = moto, fast
    assert (f_status, f_headers["content-type"], f_body) == (m_status, m_headers["content-type"], m_body)


SCALARS = st.one_of(
    st.text(min_size=1, max_size=20).map(lambda t: {"S": t}),
    st.integers(-(10**20), 10**20).map(lambda i: {"N": str(i)}),
    st.binary(min_size=1, max_size=20).map(lambda b: {"B": __import__("base64").b64encode(b).decode()}),
    st.booleans().map(lambda b: {"BOOL": b}),
    st.just({"NULL": True}),
    st.sets(st.text(min_size=1, max_size=8), min_size=1, max_size=4).map(lambda x: {"SS": sorted(x)}),
    st.sets(st.integers(0, 999), min_size=1, max_size=4).map(lambda x: {"NS": sorted(map(str, x))}),
)
VALUES = st.recursive(
    SCALARS,
    lambda inner: st.one_of(
        st.lists(inner, max_size=3).map(lambda x: {"L": x}),
        st.dictionaries(st.text(min_size=1, max_size=6), inner, max_size=3).map(lambda x: {"M": x}),
    ),
    max_leaves=8,
)
ITEMS = st.dictionaries(st.sampled_from(["a", "b", "c", "Item", "Count", "due"]), VALUES, max_size=4)


@pytest.fixture(scope="module")
def table(endpoint: str) -> str:
    name = "serialise-contract"
    status, _, _ = call(
        endpoint,
        "CreateTable",
        {
            "TableName": name,
            "KeySchema": [{"AttributeName": "pk", "KeyType": "HASH"}, {"AttributeName": "sk", "KeyType": "RANGE"}],
            "AttributeDefinitions": [
                {"AttributeName": "pk", "AttributeType": "S"},
                {"AttributeName": "sk", "AttributeType": "S"},
            ],
            "BillingMode": "PAY_PER_REQUEST",
        },
    )
    assert status == 200
    return name


@settings(max_examples=40, deadline=None)
@given(item=ITEMS, sk=st.text(min_size=1, max_size=10))
def test_every_data_plane_answer_is_what_moto_writes(endpoint: str, table: str, item: dict[str, Any], sk: str) -> None:
    key = {"pk": {"S": "p"}, "sk": {"S": sk}}
    full = {**item, **key}
    status, _, _ = call(endpoint, "PutItem", {"TableName": table, "Item": full})
    assert status == 200
    reads = [
        ("GetItem", {"TableName": table, "Key": key, "ConsistentRead": True}),
        ("GetItem", {"TableName": table, "Key": {"pk": {"S": "p"}, "sk": {"S": sk + "-none"}}}),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "p"}},
                "Limit": 2,
            },
        ),
        (
            "Query",
            {
                "TableName": table,
                "KeyConditionExpression": "pk = :p",
                "ExpressionAttributeValues": {":p": {"S": "p"}},
                "Select": "COUNT",
            },
        ),
        ("Scan", {"TableName": table, "Limit": 3}),
        ("BatchGetItem", {"RequestItems": {table: {"Keys": [key, {"pk": {"S": "q"}, "sk": {"S": "x"}}]}}}),
        ("TransactGetItems", {"TransactItems": [{"Get": {"TableName": table, "Key": key}}]}),
        # the same write twice: each side answers with the item as the other left it
        ("PutItem", {"TableName": table, "Item": full, "ReturnValues": "ALL_OLD"}),
        (
            "UpdateItem",
            {
                "TableName": table,
                "Key": key,
                "UpdateExpression": "SET z = :z",
                "ExpressionAttributeValues": {":z": {"N": "1"}},
                "ReturnValues": "ALL_NEW",
            },
        ),
        ("BatchWriteItem", {"RequestItems": {table: [{"PutRequest": {"Item": full}}]}}),
        ("TransactWriteItems", {"TransactItems": [{"Put": {"TableName": table, "Item": full}}]}),
        # errors stay moto's: a failed condition, a missing table, a bad request
        ("PutItem", {"TableName": table, "Item": full, "ConditionExpression": "attribute_not_exists(pk)"}),
        ("GetItem", {"TableName": "no-such-table", "Key": key}),
        ("Query", {"TableName": table}),
    ]
    for action, body in reads:
        same(*both(endpoint, action, body))


def test_the_control_plane_is_moto_s(endpoint: str, table: str) -> None:
    for action, body in (("DescribeTable", {"TableName": table}), ("ListTables", {})):
        same(*both(endpoint, action, body))
