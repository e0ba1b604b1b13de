"""DynamoDB faults injected below the SDK (botocore's before-send), armed only
inside the operation under test, so the SDK's own retries and the product's
handling both run as in production, and nothing else (set-up, the model's
reads, the invariants) ever meets one.

The kinds, and what the product under test sees:

- ``throttle``: one request-level ``ProvisionedThroughputExceededException`` or
  ``ThrottlingException``; the SDK retries it by itself (transparent).
- ``throttle_burst``: the same request throttled on every attempt the SDK's
  retry budget allows; the SDK gives up and the product gets the error.
- ``tx_conflict`` / ``tx_throttle``: a ``TransactionCanceledException`` whose
  ``CancellationReasons`` carry ``TransactionConflict`` / ``ThrottlingError``
  for some items (``None`` for the others); the SDK does not retry these.
- ``lost_after_commit``: the TransactWriteItems is forwarded to the engine, its
  answer checked to be a commit (HTTP 200, no error), and then lost: the SDK
  resends the same request, which moto (ignoring ClientRequestToken) evaluates
  again.
- ``timeout``: a request whose answer never comes and which changed nothing:
  dropped before the engine, or forwarded and refused by it (armed as
  ``lost`` but found not to have committed). The SDK resends it.

`during(armed)` marks the operation under test, arms its faults and says what
fired inside it; `fired` counts what fired, per kind, over all operations.
"""

from __future__ import annotations

import contextlib
import json
import threading
from collections import Counter
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from typing import Any

import urllib3
from botocore.awsrequest import AWSResponse
from botocore.exceptions import ReadTimeoutError
from botocore.retries.standard import ExponentialBackoff

from chalicelib import store

# what fires (and is counted)
KINDS = ("throttle", "throttle_burst", "tx_conflict", "tx_throttle", "lost_after_commit", "timeout")
# what a machine arms: `lost` fires as lost_after_commit, or as timeout when the engine refused the write
ARMS = ("throttle", "throttle_burst", "tx_conflict", "tx_throttle", "lost", "timeout")
# a product that may give up on these answers 503 SERVICE_UNAVAILABLE (nothing changed)
GIVE_UP = frozenset({"throttle_burst", "tx_throttle"})
_TX = "TransactWriteItems"
_THROTTLES = ("ProvisionedThroughputExceededException", "ThrottlingException")


class _Raw:
    def __init__(self, body: bytes) -> None:
        self._body = body

    def stream(self, **_: Any):
        yield self._body


def _error(code: str, extra: dict[str, Any] | None = None) -> AWSResponse:
    body = json.dumps({"__type": f"com.amazonaws.dynamodb.v20120810#{code}", "message": "injected", **(extra or {})})
    headers = {"Content-Type": "application/x-amz-json-1.0", "x-amzn-RequestId": "injected"}
    return AWSResponse("http://injected", 400, headers, _Raw(body.encode()))


@dataclass(frozen=True)
class Armed:
    """A fault waiting for the operation under test; `pick` chooses the variant
    (which throttle code, which transaction items carry the reason)."""

    kind: str
    pick: int = 0


@dataclass
class Observed:
    """What fired inside one operation under test."""

    fired: Counter[str] = field(default_factory=Counter)

    @property
    def kinds(self) -> set[str]:
        return {k for k, n in self.fired.items() if n}

    @property
    def may_give_up(self) -> bool:
        return bool(self.kinds & GIVE_UP)

    @property
    def lost(self) -> bool:
        return self.fired["lost_after_commit"] > 0


class Faults:
    """Faults armed by the machine, fired only inside `during()`."""

    def __init__(self) -> None:
        self._pending: list[Armed] = []
        self._lock = threading.Lock()
        self._http = urllib3.PoolManager()
        self.fired: Counter[str] = Counter(dict.fromkeys(KINDS, 0))
        self._clients: list[Any] = []
        self._active: Observed | None = None
        self._burst: tuple[bytes, int] | None = None  # the throttled request's body, attempts left to throttle
        self.budget = 1
        self.unfired = 0  # armed for an operation that made no call they could hit

    @contextlib.contextmanager
    def during(self, armed: Iterable[tuple[str, int]] = ()) -> Iterator[Observed]:
        """The operation under test: `armed` faults (kind, pick) may fire on its DynamoDB
        calls (its threads' too); what did not fire is dropped when it ends."""
        observed = Observed()
        with self._lock:
            assert self._active is None, "operations under test do not nest"
            self._pending = [Armed(kind, pick) for kind, pick in armed]
            assert all(a.kind in ARMS for a in self._pending), self._pending
            self._active = observed
        try:
            yield observed
        finally:
            with self._lock:
                self.unfired += len(self._pending)
                self._pending.clear()
                self._active = None
                self._burst = None

    def install(self) -> None:
        # the SDK's retry backoff (up to a second) only slows the test down; the retries still happen
        self._delay = ExponentialBackoff.delay_amount
        ExponentialBackoff.delay_amount = lambda self, context: 0.0
        for client in store.clients():
            client.meta.events.register_first("before-send.dynamodb", self._before_send, unique_id="diem-faults")
            self._clients.append(client)
            retries = client.meta.config.retries or {}
            self.budget = max(self.budget, int(retries.get("total_max_attempts") or retries.get("max_attempts", 0) + 1))

    def uninstall(self) -> None:
        if hasattr(self, "_delay"):
            ExponentialBackoff.delay_amount = self._delay
        for client in self._clients:
            client.meta.events.unregister("before-send.dynamodb", unique_id="diem-faults")
        self._clients.clear()
        self._pending.clear()

    def _take(self, operation: str, body: bytes) -> Armed | None:
        with self._lock:
            if self._active is None:
                return None
            if self._burst is not None and self._burst[0] == body and self._burst[1] > 0:
                self._burst = (body, self._burst[1] - 1)
                return Armed("throttle_burst_again")
            for i, armed in enumerate(self._pending):
                if armed.kind in ("throttle", "throttle_burst", "timeout") or operation == _TX:
                    self._pending.pop(i)
                    if armed.kind == "throttle_burst":
                        self._burst = (body, self.budget - 1)
                    return armed
        return None

    def _count(self, kind: str) -> None:
        with self._lock:
            self.fired[kind] += 1
            if self._active is not None:
                self._active.fired[kind] += 1

    def _before_send(self, request: Any, **_: Any) -> AWSResponse | None:
        operation = request.headers.get("X-Amz-Target", b"")
        operation = (operation.decode() if isinstance(operation, bytes) else operation).rpartition(".")[2]
        body = request.body if isinstance(request.body, bytes) else (request.body or "").encode()
        armed = self._take(operation, body)
        if armed is None:
            return None
        if armed.kind == "throttle_burst_again":
            return _error(_THROTTLES[0])
        if armed.kind in ("throttle", "throttle_burst"):
            self._count(armed.kind)
            return _error(_THROTTLES[armed.pick % 2])
        if armed.kind in ("tx_conflict", "tx_throttle"):
            self._count(armed.kind)
            n = len(json.loads(body)["TransactItems"])
            chosen = {i for i in range(n) if (armed.pick >> i) & 1} or {armed.pick % n}
            code = "TransactionConflict" if armed.kind == "tx_conflict" else "ThrottlingError"
            reasons = [{"Code": code, "Message": "injected"} if i in chosen else {"Code": "None"} for i in range(n)]
            return _error("TransactionCanceledException", {"CancellationReasons": reasons})
        if armed.kind == "lost":
            # the write reaches the engine; its answer is lost on the way back
            headers = {k: (v.decode() if isinstance(v, bytes) else v) for k, v in request.headers.items()}
            answer = self._http.request("POST", request.url, body=body, headers=headers)
            committed = answer.status == 200 and "__type" not in json.loads(answer.data or b"{}")
            self._count("lost_after_commit" if committed else "timeout")
            raise ReadTimeoutError(endpoint_url=request.url)
        # timeout: the request never reaches the engine
        self._count("timeout")
        raise ReadTimeoutError(endpoint_url=request.url)


def report(name: str, fired: Counter[str], kinds: tuple[str, ...] = KINDS) -> str:
    """One line of fault counts; fails if a kind never fired in the code under test."""
    line = f"{name} faults fired in code under test: " + ", ".join(f"{k}={fired[k]}" for k in kinds)
    print(line)
    missing = [k for k in kinds if not fired[k]]
    assert not missing, f"no {', '.join(missing)} fault fired in the code under test ({line})"
    return line
