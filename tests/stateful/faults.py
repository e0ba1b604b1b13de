"""DynamoDB faults injected below the SDK (botocore's before-send), so the
SDK's own retries and our code's handling both run as in production."""

from __future__ import annotations

import contextlib
import json
import threading
from collections.abc import Iterator
from typing import Any

import urllib3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff

from chalicelib import store

KINDS = ("throttle", "conflict", "timeout_after_commit")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _error(code: str, extra: dict[str, Any] | None = None) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **(extra or {})})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse("http://injected", 400, headers, _Raw(body.encode()))


class Faults:
    """One-shot faults for the next matching DynamoDB call."""

    def __init__(self) -> None:
        self._pending: list[str] = []
        self._lock = threading.Lock()
        self._http = urllib3.PoolManager()
        self.fired: dict[str, int] = dict.fromkeys(KINDS, 0)
        self._clients: list[Any] = []
        self._suspended = 0

    @property
    def pending(self) -> int:
        """Faults armed and not fired yet."""
        with self._lock:
            return len(self._pending)

    @contextlib.contextmanager
    def suspended(self) -> Iterator[None]:
        """Calls made inside (the test's own checks) neither fire nor consume armed faults."""
        with self._lock:
            self._suspended += 1
        try:
            yield
        finally:
            with self._lock:
                self._suspended -= 1

    def install(self) -> None:
        # the SDK's retry backoff (up to a second) only slows the test down;
        # the retries themselves still happen
        self._delay = ExponentialBackoff.delay_amount
        ExponentialBackoff.delay_amount = lambda self, context: 0.0
        for client in store.clients():
            client.meta.events.register_first("before-send.dynamodb", self._before_send, unique_id="diem-faults")
            self._clients.append(client)

    def uninstall(self) -> None:
        if hasattr(self, "_delay"):
            ExponentialBackoff.delay_amount = self._delay
        for client in self._clients:
            client.meta.events.unregister("before-send.dynamodb", unique_id="diem-faults")
        self._clients.clear()
        self._pending.clear()

    def arm(self, kind: str) -> None:
        with self._lock:
            self._pending.append(kind)

    def _take(self, operation: str) -> str | None:
        with self._lock:
            if self._suspended:
                return None
            for i, kind in enumerate(self._pending):
                if kind == "throttle" or operation == "TransactWriteItems":
                    return self._pending.pop(i)
        return None

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        operation = request.headers.get("X-Amz-Target", b"")
        operation = (operation.decode() if isinstance(operation, bytes) else operation).rpartition(".")[2]
        kind = self._take(operation)
        if kind is None:
            return None
        self.fired[kind] += 1
        if kind == "throttle":
            return _error("ProvisionedThroughputExceededException")
        if kind == "conflict":
            items = len(json.loads(request.body)["TransactItems"])
            reasons = [{"Code": "TransactionConflict", "Message": "injected"}] * items
            return _error("TransactionCanceledException", {"CancellationReasons": reasons})
        # the write reaches DynamoDB and commits, but the response is lost
        headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
        self._http.request("POST", request.url, body=request.body, headers=headers)
        raise ReadTimeoutError(endpoint_url=request.url)
