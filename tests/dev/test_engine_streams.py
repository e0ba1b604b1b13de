"""The embedded engine's change streams (moto's DynamoDB Streams API over
HTTP, which dev/events.py reads): they carry committed changes only, in
order, a cancelled or rolled-back transaction leaving no record."""

from __future__ import annotations

import uuid

import pytest
from botocore.exceptions import ClientError

from conftest import engine_client


@pytest.fixture
def streamed(engine_endpoint: str):
    import boto3

    client = engine_client(engine_endpoint)
    name = f"streams-{uuid.uuid4().hex[:8]}"
    client.create_table(
        TableName=name,
        KeySchema=[{"AttributeName": "k", "KeyType": "HASH"}],
        AttributeDefinitions=[{"AttributeName": "k", "AttributeType": "S"}],
        BillingMode="PAY_PER_REQUEST",
        StreamSpecification={"StreamEnabled": True, "StreamViewType": "NEW_AND_OLD_IMAGES"},
    )
    streams = boto3.client(
        "dynamodbstreams",
        endpoint_url=engine_endpoint,
        region_name="ap-southeast-1",
        aws_access_key_id="test",
        aws_secret_access_key="test",
    )
    arn = client.describe_table(TableName=name)["Table"]["LatestStreamArn"]
    yield client, streams, arn, name
    client.delete_table(TableName=name)


def records(streams, arn):
    (shard,) = streams.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
    iterator = streams.get_shard_iterator(StreamArn=arn, ShardId=shard["ShardId"], ShardIteratorType="TRIM_HORIZON")
    return streams.get_records(ShardIterator=iterator["ShardIterator"])["Records"]


def test_only_committed_changes_are_in_the_stream(streamed):
    client, streams, arn, name = streamed
    client.put_item(TableName=name, Item={"k": {"S": "a"}, "n": {"N": "1"}, "s": {"S": "text"}})
    ok = {"Update": {"TableName": name, "Key": {"k": {"S": "a"}}, "UpdateExpression": "SET n = n + :one",
                     "ExpressionAttributeValues": {":one": {"N": "1"}}}}  # fmt: skip
    client.transact_write_items(TransactItems=[ok, {"Put": {"TableName": name, "Item": {"k": {"S": "b"}}}}])
    # cancelled by a condition: nothing written, nothing streamed
    refused = {"Put": {"TableName": name, "Item": {"k": {"S": "b"}}, "ConditionExpression": "attribute_not_exists(k)"}}
    with pytest.raises(ClientError, match="TransactionCanceled"):
        client.transact_write_items(TransactItems=[ok, refused])
    # rolled back in its second write (adding a number to a string): no record of the first either
    broken = {"Update": {"TableName": name, "Key": {"k": {"S": "a"}}, "UpdateExpression": "SET s = s + :one",
                         "ExpressionAttributeValues": {":one": {"N": "1"}}}}  # fmt: skip
    first = {"Put": {"TableName": name, "Item": {"k": {"S": "c"}}}}
    with pytest.raises(ClientError):
        client.transact_write_items(TransactItems=[first, broken])
    assert "Item" not in client.get_item(TableName=name, Key={"k": {"S": "c"}})
    found = records(streams, arn)
    assert [(r["eventName"], r["dynamodb"]["Keys"]["k"]["S"]) for r in found] == [
        ("INSERT", "a"), ("MODIFY", "a"), ("INSERT", "b"),
    ]  # fmt: skip
    modify = found[1]["dynamodb"]
    assert (modify["OldImage"]["n"], modify["NewImage"]["n"]) == ({"N": "1"}, {"N": "2"})
    sequence = [int(r["dynamodb"]["SequenceNumber"]) for r in found]
    assert sequence == sorted(sequence) and len(set(sequence)) == 3
