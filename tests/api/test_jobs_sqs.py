"""The jobs fanned out through SQS (moto): a schedule with a queue configured
puts one task per due partition on it and returns; `job_worker` (app.py, the
queue's event source) works each message, reports a bad one as a batch item
failure, and a worker short of time checkpoints and continues its task in a
new message; the lag and progress metrics are emitted."""

from __future__ import annotations

import hashlib
from datetime import UTC, datetime
from typing import Any

import boto3
import pytest

from chalicelib import config, observability
from chalicelib.jobs import checkpoint, fanout
from chalicelib.points import service as points
from chalicelib.store import LedgerEntry, Subscriber
from chalicelib.subscribers import service as subscribers
from conftest import at

REGION = "ap-southeast-1"
ME = "84961234567"
SCHEDULED = {
    "id": "sched-1",
    "detail-type": "Scheduled Event",
    "source": "aws.events",
    "account": "123456789012",
    "time": "2027-01-01T01:00:00Z",
    "region": REGION,
    "resources": ["arn:aws:events:ap-southeast-1:123456789012:rule/expire_points"],
    "detail": {},
    "version": "0",
}


class Context:
    function_name = "job_worker"
    memory_limit_in_mb = 512
    invoked_function_arn = "arn:aws:lambda:ap-southeast-1:123456789012:function:job_worker"
    aws_request_id = "req-1"

    def __init__(self, remaining_ms: int = 300_000) -> None:
        self.remaining_ms = remaining_ms

    def get_remaining_time_in_millis(self) -> int:
        return self.remaining_ms


@pytest.fixture
def queue(moto_tables: str, monkeypatch: pytest.MonkeyPatch) -> Any:
    sqs = boto3.client("sqs", region_name=REGION)
    url = sqs.create_queue(QueueName="diem-dev-jobs")["QueueUrl"]
    monkeypatch.setenv("DIEM_JOBS_QUEUE_URL", url)
    config.reset()
    fanout._sqs.cache_clear()  # a client made inside this mock
    yield sqs, url
    fanout._sqs.cache_clear()
    config.reset()


@pytest.fixture
def metrics(monkeypatch: pytest.MonkeyPatch) -> list[tuple[str, float]]:
    seen: list[tuple[str, float]] = []
    monkeypatch.setattr(observability, "count", lambda name, value=1: seen.append((name, value)))
    monkeypatch.setattr(observability, "measure", lambda name, value, unit="Seconds": seen.append((name, value)))
    return seen


def _same_shard(msisdn: str) -> str:
    shard = hashlib.sha256(msisdn.encode()).digest()[0]
    return next(
        m
        for n in range(10**6)
        if (m := f"8497{n:07d}") != msisdn and hashlib.sha256(m.encode()).digest()[0] % 16 == shard % 16
    )


def _due(*msisdns: str) -> None:
    at("2026-11-10T03:00:00Z")
    for msisdn in msisdns:
        subscribers.put_profile(msisdn, {"activated_on": "2023-11-20", "plan": "postpaid"}, None)
        points.accrue(f"d-{msisdn}", msisdn, 100_000, "data", datetime(2026, 11, 9, tzinfo=UTC), None)
    at("2027-01-01T01:00:00Z")


def _record(message_id: str, body: str, receives: str = "1") -> dict[str, Any]:
    return {
        "messageId": message_id,
        "receiptHandle": message_id,
        "body": body,
        "attributes": {"ApproximateReceiveCount": receives},
        "messageAttributes": {},
        "md5OfBody": "",
        "eventSource": "aws:sqs",
        "eventSourceARN": f"arn:aws:sqs:{REGION}:123456789012:diem-dev-jobs",
        "awsRegion": REGION,
    }


def _drain(sqs: Any, url: str, context: Context) -> tuple[int, list[str]]:
    """Every message on the queue through `job_worker`, one per invocation (batch size 1)."""
    from app import job_worker

    worked, failures = 0, []
    while True:
        got = sqs.receive_message(QueueUrl=url, MaxNumberOfMessages=10, AttributeNames=["All"]).get("Messages", [])
        if not got:
            return worked, failures
        for message in got:
            record = _record(message["MessageId"], message["Body"], message["Attributes"]["ApproximateReceiveCount"])
            result = job_worker({"Records": [record]}, context)
            failures += [f["itemIdentifier"] for f in result["batchItemFailures"]]
            sqs.delete_message(QueueUrl=url, ReceiptHandle=message["ReceiptHandle"])
            worked += 1


def _expired(msisdn: str) -> bool:
    owner = Subscriber.get(msisdn).owner_id
    return any(e.entry_id == "expire:2026-12-31" for e in LedgerEntry.query(owner))


def test_a_schedule_puts_a_task_per_partition_on_the_queue_and_workers_do_them(
    queue: Any, metrics: list[tuple[str, float]]
) -> None:
    from app import expire_points

    sqs, url = queue
    _due(ME)
    assert expire_points(SCHEDULED, None) == {"tasks": 7 * 16, "partitions": 7 * 16}
    assert not _expired(ME)  # nothing done by the schedule itself
    worked, failures = _drain(sqs, url, Context())
    assert worked == 7 * 16 and failures == []
    assert _expired(ME)
    names = [name for name, _ in metrics]
    assert names.count("JobTasksDone") == 7 * 16 and ("JobKeysDone", 1) in metrics
    lags = [value for name, value in metrics if name == "JobLagSeconds"]
    assert lags and all(value >= 0 for value in lags)


def test_a_worker_short_of_time_checkpoints_and_continues_in_a_new_message(
    queue: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    sqs, url = queue
    other = _same_shard(ME)
    _due(ME, other)
    monkeypatch.setattr(fanout, "CHUNK", 1)
    partition = f"2026-12-31#{hashlib.sha256(ME.encode()).digest()[0] % 16}"
    task = fanout.Task("expire_points", partition, "run-x", "2027-01-01T01:00:00.000Z")
    fanout.enqueue(url, [task])
    worked, failures = _drain(sqs, url, Context(remaining_ms=1_000))  # always short of time
    assert failures == [] and worked == 2  # the task, then its continuation
    assert _expired(ME) and _expired(other)
    saved = checkpoint.load(task)
    assert saved is not None and saved.done and saved.done_keys == 2


def test_a_task_that_fails_is_reported_alone_for_redelivery(queue: Any) -> None:
    from app import job_worker

    _due(ME)
    partition = f"2026-12-31#{hashlib.sha256(ME.encode()).digest()[0] % 16}"
    good = fanout.Task("expire_points", partition, "run-y", "2027-01-01T01:00:00.000Z").to_json()
    result = job_worker({"Records": [_record("m1", "not a task"), _record("m2", good)]}, Context())
    assert result == {"batchItemFailures": [{"itemIdentifier": "m1"}]}
    assert _expired(ME)
