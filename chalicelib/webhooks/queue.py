"""The deliveries queue: webhook attempts and SMS notifications, each a small
JSON message. In AWS an SQS queue (`DIEM_DELIVERIES_QUEUE_URL`), whose
per-message delay (at most 15 minutes) carries the short retry steps; a
longer wait is a message that comes back with its due time and is sent on
again. Locally `make run` (and the tests) register an in-process queue that
the same consumer drains (dev/events.py)."""

from __future__ import annotations

import json
from typing import Any, Protocol

from chalicelib import config
from chalicelib.webhooks import aws

MAX_DELAY_SECONDS = 900  # SQS DelaySeconds


class Queue(Protocol):
    def send(self, message: dict[str, Any], delay_seconds: int) -> None: ...


class SqsQueue:
    def __init__(self, url: str, client: Any = None) -> None:
        self.url = url
        self._client = client

    def _sqs(self) -> Any:
        return self._client or aws.client("sqs")

    def send(self, message: dict[str, Any], delay_seconds: int) -> None:
        self._sqs().send_message(
            QueueUrl=self.url,
            MessageBody=json.dumps(message, separators=(",", ":")),
            DelaySeconds=max(0, min(MAX_DELAY_SECONDS, int(delay_seconds))),
        )


_local: Queue | None = None
_sqs: SqsQueue | None = None


def use(local: Queue | None) -> None:
    """Register the in-process queue of a local run (None forgets it)."""
    global _local
    _local = local


def queue() -> Queue:
    global _sqs
    url = config.settings().deliveries_queue_url
    if url:
        if _sqs is None or _sqs.url != url:
            _sqs = SqsQueue(url)
        return _sqs
    if _local is None:
        raise RuntimeError("no deliveries queue: set DIEM_DELIVERIES_QUEUE_URL (or run dev.events locally)")
    return _local


def send(message: dict[str, Any], delay_seconds: float = 0) -> None:
    """Send now, or after `delay_seconds` (capped at the queue's 15 minutes: the consumer sends it on)."""
    queue().send(message, max(0, min(MAX_DELAY_SECONDS, int(-(-delay_seconds // 1)))))
