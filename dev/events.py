"""The local events pipeline: what Lambda's event source mappings do in AWS,
done in-process against the embedded engine, feeding the product's own
handlers (`app.events`, `app.deliveries_consumer`) records of the same shape.

* `StreamReader`: moto serves the DynamoDB Streams API over HTTP (DescribeTable's
  `LatestStreamArn`, DescribeStream, GetShardIterator, GetRecords), so this
  reads each streamed table's stream (`store.schema.streamed_models()`) as
  the Lambda poller does: per shard, in order, batches of up to `batch_size`,
  each record given the mapping's `eventSourceARN` and its creation time as
  epoch seconds (a reader behind the records the engine keeps starts at the
  oldest one kept, as after DynamoDB's 24 h). The answer's `batchItemFailures` moves the checkpoint to the
  first failed record, which is sent again; a batch that fails whole is
  bisected (halved down to one record), and a record that fails
  `max_retries` times alone is set aside as a dead letter (the on-failure
  destination in AWS) and the shard moves on.
* `LocalQueue`: the deliveries queue. A message's delay is kept against
  `chalicelib.clock` (so tests drive the retry schedule with the clock, not by
  sleeping); a message the consumer reports failed comes back after a
  visibility timeout, and after `max_receives` it is a dead letter.
* `Pump`: reads the streams, then the events table's own stream, then drains
  the due messages; `run_until_idle()` for tests, `start()` a background
  thread for `make run` (`dev.local_server --events`); SMS go to DIEM_SMS_URL
  (`make run`'s sink on 127.0.0.1 prints them).
"""

from __future__ import annotations

import hashlib
import heapq
import itertools
import json
import logging
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from chalicelib import clock, config
from chalicelib.store import schema
from infra.lambda_smoke import Context

log = logging.getLogger(__name__)

Handler = Callable[[dict[str, Any], Any], Any]
REGION = "ap-southeast-1"


def _streams_client(endpoint: str | None) -> Any:
    import boto3

    if endpoint:
        return boto3.client(
            "dynamodbstreams",
            endpoint_url=endpoint,
            region_name=REGION,
            aws_access_key_id="local",
            aws_secret_access_key="local",  # noqa: S106 (a local engine takes any credentials)
        )
    return boto3.client("dynamodbstreams", region_name=REGION)


def _lambda_record(record: dict[str, Any], stream_arn: str) -> dict[str, Any]:
    """A GetRecords record as Lambda delivers it."""
    body = dict(record["dynamodb"])
    created = body.get("ApproximateCreationDateTime")
    if isinstance(created, datetime):
        body["ApproximateCreationDateTime"] = created.timestamp()
    return {**record, "dynamodb": body, "eventSourceARN": stream_arn}


@dataclass
class _Shard:
    stream_arn: str
    shard_id: str
    iterator: str | None = None
    batch_size: int = 100
    failures: dict[str, int] = field(default_factory=dict)


@dataclass
class DeadLetter:
    source: str
    record: dict[str, Any]
    reason: str


class StreamReader:
    """Every streamed table's stream under one table prefix, as Lambda reads them."""

    def __init__(
        self,
        handler: Handler,
        prefix: str,
        endpoint: str | None = None,
        *,
        tables: list[str] | None = None,
        batch_size: int = 100,
        max_retries: int = 3,
    ) -> None:
        self.handler = handler
        self.prefix = prefix
        self.client = _streams_client(endpoint)
        self.tables = tables or [m.Meta.base_name for m in schema.streamed_models()]
        self.batch_size = batch_size
        self.max_retries = max_retries
        self.shards: dict[str, list[_Shard]] = {}
        self.dead_letters: list[DeadLetter] = []

    def _discover(self, table: str) -> list[_Shard]:
        from chalicelib import store

        name = self.prefix + table
        try:
            arn = store.binding.client().describe_table(TableName=name)["Table"].get("LatestStreamArn")
        except Exception:  # the table is not there yet: looked for again on the next poll
            return []
        if not arn:
            return []
        found = self.client.describe_stream(StreamArn=arn)["StreamDescription"]["Shards"]
        return [_Shard(arn, s["ShardId"], batch_size=self.batch_size) for s in found]

    def _iterator(self, shard: _Shard, kind: str = "TRIM_HORIZON", sequence: str | None = None) -> str:
        kwargs: dict[str, Any] = {"StreamArn": shard.stream_arn, "ShardId": shard.shard_id, "ShardIteratorType": kind}
        if sequence is not None:
            kwargs["SequenceNumber"] = sequence
        iterator: str = self.client.get_shard_iterator(**kwargs)["ShardIterator"]
        return iterator

    def poll(self, tables: list[str] | None = None) -> int:
        """One batch per shard of each table (all by default); how many records were handled."""
        handled = 0
        for table in tables or self.tables:
            if table not in self.shards or not self.shards[table]:
                self.shards[table] = self._discover(table)
            for shard in self.shards[table]:
                handled += self._poll_shard(shard)
        return handled

    def _poll_shard(self, shard: _Shard) -> int:
        if shard.iterator is None:
            shard.iterator = self._iterator(shard)
        try:
            answer = self.client.get_records(ShardIterator=shard.iterator, Limit=shard.batch_size)
        except Exception:  # behind the records the engine still keeps: from the oldest one kept
            log.warning("stream position %s lost; reading from the oldest record kept", shard.shard_id)
            shard.iterator = None
            return 0
        records = answer.get("Records") or []
        if not records:
            shard.iterator = answer.get("NextShardIterator") or shard.iterator
            return 0
        event = {"Records": [_lambda_record(r, shard.stream_arn) for r in records]}
        try:
            result = self.handler(event, Context()) or {}
        except Exception as exc:  # the whole batch failed: bisect, as the mapping does
            return self._failed_whole(shard, records, exc)
        failed = [f["itemIdentifier"] for f in result.get("batchItemFailures") or []]
        if not failed:
            shard.iterator = answer.get("NextShardIterator")
            shard.batch_size = self.batch_size
            return len(records)
        first = min(failed, key=int)
        done = sum(1 for r in records if int(r["dynamodb"]["SequenceNumber"]) < int(first))
        if self._count_failure(shard, first, records, "reported failed"):
            return done + 1
        shard.iterator = self._iterator(shard, "AT_SEQUENCE_NUMBER", first)
        return done

    def _failed_whole(self, shard: _Shard, records: list[dict[str, Any]], exc: Exception) -> int:
        first = records[0]["dynamodb"]["SequenceNumber"]
        if len(records) > 1:
            shard.batch_size = max(1, len(records) // 2)
        elif self._count_failure(shard, first, records, f"{type(exc).__name__}: {exc}"):
            return 1
        shard.iterator = self._iterator(shard, "AT_SEQUENCE_NUMBER", first)
        return 0

    def _count_failure(self, shard: _Shard, sequence: str, records: list[dict[str, Any]], reason: str) -> bool:
        """Count a failure of `sequence`; True when it is set aside (and the shard moved past it)."""
        shard.failures[sequence] = shard.failures.get(sequence, 0) + 1
        if shard.failures[sequence] <= self.max_retries:
            return False
        record = next(r for r in records if r["dynamodb"]["SequenceNumber"] == sequence)
        self.dead_letters.append(DeadLetter(shard.stream_arn, record, reason))
        log.error("stream record set aside after %d failures: %s", shard.failures[sequence], reason)
        shard.iterator = self._iterator(shard, "AFTER_SEQUENCE_NUMBER", sequence)
        shard.batch_size = self.batch_size
        del shard.failures[sequence]
        return True


@dataclass(order=True)
class _Queued:
    due: datetime
    order: int
    body: str = field(compare=False)
    message_id: str = field(compare=False)
    receives: int = field(compare=False, default=0)


class LocalQueue:
    """The deliveries queue in-process, its delays kept against `chalicelib.clock`."""

    def __init__(self, visibility_seconds: int = 30, max_receives: int = 5) -> None:
        self.visibility_seconds = visibility_seconds
        self.max_receives = max_receives
        self._heap: list[_Queued] = []
        self._lock = threading.Lock()
        self._order = itertools.count()
        self.sent: list[tuple[dict[str, Any], int]] = []
        self.dead_letters: list[DeadLetter] = []

    def send(self, message: dict[str, Any], delay_seconds: int) -> None:
        body = json.dumps(message, separators=(",", ":"))
        n = next(self._order)
        with self._lock:
            self.sent.append((message, delay_seconds))
            heapq.heappush(self._heap, _Queued(clock.now() + timedelta(seconds=delay_seconds), n, body, f"m-{n}"))

    def __len__(self) -> int:
        return len(self._heap)

    def next_due(self) -> datetime | None:
        with self._lock:
            return self._heap[0].due if self._heap else None

    def receive(self, limit: int = 10) -> list[_Queued]:
        now = clock.now()
        taken: list[_Queued] = []
        with self._lock:
            while self._heap and self._heap[0].due <= now and len(taken) < limit:
                item = heapq.heappop(self._heap)
                item.receives += 1
                taken.append(item)
        return taken

    def give_back(self, item: _Queued) -> None:
        """A message the consumer failed: visible again after the visibility timeout, or a dead letter."""
        if item.receives >= self.max_receives:
            self.dead_letters.append(DeadLetter("deliveries", json.loads(item.body), "too many receives"))
            return
        item.due = clock.now() + timedelta(seconds=self.visibility_seconds)
        with self._lock:
            heapq.heappush(self._heap, item)

    def drain(self, consumer: Handler, batch: int = 10) -> int:
        """Hand the due messages to `consumer` as SQS events; how many were handled."""
        handled = 0
        while taken := self.receive(batch):
            records = [
                {
                    "messageId": item.message_id,
                    "receiptHandle": item.message_id,
                    "body": item.body,
                    "attributes": {"ApproximateReceiveCount": str(item.receives)},
                    "messageAttributes": {},
                    "md5OfBody": hashlib.md5(item.body.encode()).hexdigest(),  # noqa: S324 (SQS's own checksum)
                    "eventSource": "aws:sqs",
                    "eventSourceARN": f"arn:aws:sqs:{REGION}:000000000000:local-deliveries",
                    "awsRegion": REGION,
                }
                for item in taken
            ]
            try:
                result = consumer({"Records": records}, Context()) or {}
                failed = {f["itemIdentifier"] for f in result.get("batchItemFailures") or []}
            except Exception:
                log.exception("the deliveries consumer failed a whole batch")
                failed = {item.message_id for item in taken}
            for item in taken:
                if item.message_id in failed:
                    self.give_back(item)
            handled += len(taken)
        return handled


class Pump:
    """The streams, then the events table's stream, then the deliveries queue."""

    def __init__(
        self,
        stream_handler: Handler | None = None,
        queue_consumer: Handler | None = None,
        *,
        prefix: str | None = None,
        endpoint: str | None = None,
    ) -> None:
        from chalicelib.webhooks import queue

        if stream_handler is None or queue_consumer is None:
            import app as app_module

            stream_handler = stream_handler or app_module.events
            queue_consumer = queue_consumer or app_module.deliveries_consumer
        settings = config.settings()
        self.streams = StreamReader(
            stream_handler,
            settings.table_prefix if prefix is None else prefix,
            settings.dynamodb_endpoint if endpoint is None else endpoint,
        )
        self.queue = LocalQueue()
        self.consumer = queue_consumer
        queue.use(self.queue)
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    def run_once(self) -> int:
        business = [t for t in self.streams.tables if t != "events"]
        handled = self.streams.poll(business)
        handled += self.streams.poll(["events"]) if "events" in self.streams.tables else 0
        handled += self.queue.drain(self.consumer)
        return handled

    def run_until_idle(self, max_rounds: int = 100) -> int:
        """Run until a round handles nothing (messages not yet due stay queued)."""
        total = 0
        for _ in range(max_rounds):
            done = self.run_once()
            total += done
            if not done:
                return total
        raise RuntimeError(f"the events pipeline was still busy after {max_rounds} rounds")

    def start(self, busy_seconds: float = 0.1, idle_seconds: float = 0.5) -> None:
        """Poll in a background thread until `stop()` (make run)."""

        def loop() -> None:
            while not self._stop.is_set():
                try:
                    done = self.run_once()
                except Exception:  # a failed poll (the engine restarting): logged, tried again
                    log.exception("local events poll failed")
                    done = 0
                self._stop.wait(busy_seconds if done else idle_seconds)

        self._thread = threading.Thread(target=loop, name="diem-local-events", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        from chalicelib.webhooks import queue

        self._stop.set()
        if self._thread is not None:
            self._thread.join(timeout=10)
        queue.use(None)
