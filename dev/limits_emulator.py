"""DynamoDB's limits under contention, emulated in front of the local engine.

The embedded engine (`dev.embedded_dynamodb`) applies requests one at a time:
it never reports `TransactionConflict` and has no throughput limit. This is an
HTTP proxy between diem and any DynamoDB endpoint that adds what DynamoDB
documents about contention (docs/flash-sales.md, "The limits emulator", cites
the source of each rule):

- **Per-item write capacity.** An item (a partition key) takes at most
  1,000 write units per second; each item of a `TransactWriteItems` costs 2
  (prepare and commit) per KB. Beyond it a transaction is cancelled with
  reason `ThrottlingError` for that item, and a single-item write gets
  `ProvisionedThroughputExceededException` (throttling reason
  `TableWriteKeyRangeThroughputExceeded`).
- **Per-item read capacity.** 3,000 strongly consistent reads (of items up to
  4 KB) per second per item, half a unit eventually consistent. A
  `BatchGetItem` returns the keys over the limit in `UnprocessedKeys`, or
  `ProvisionedThroughputExceededException` when it could serve none.
- **Transaction conflicts.** A transaction holds its items from the moment it
  is admitted until `hold` after it (or until the engine answers, if later);
  released at once if the engine cancels it. A transaction that includes an
  item held by another is cancelled with reason `TransactionConflict` for that
  item (`None` for the others); a single-item write to a held item gets
  `TransactionConflictException`. Reads are not blocked (DynamoDB lets a
  `GetItem` and a transaction on one item both succeed).
- **Partitions (optional).** With `partitions > 0` the items of each table are
  hashed onto that many partitions, each also limited to 1,000 write and
  3,000 read units per second. With 0 (the default) every item is isolated on
  its own partition, as adaptive capacity does for a hot item.

Rates are divided by `scale` and durations multiplied by it, so this 2-core
machine can play a flash sale of 5,000 claims/s at 5,000/`scale`: at scale 500
an item takes 2 write units (one transactional write) a second and a
transaction holds its items for `hold_ms` x 500.

Capacity is token buckets, one per item (and per partition), holding
`burst_seconds` of capacity; time comes from an injectable clock (`Model`),
so the tests drive it by hand. Faults can be injected too (the next N
transactions touching a key that contains some text conflict or are
throttled), for tests of the product's retries.

    python -m dev.limits_emulator --scale 500           # with an embedded engine behind it
    python -m dev.limits_emulator --upstream http://127.0.0.1:8001

`GET /emulator/stats` counts what it refused and admitted, `POST /emulator/reset`
zeroes the counts and the buckets, `POST /emulator/inject` arms faults.
"""

from __future__ import annotations

import argparse
import hashlib
import http.client
import json
import math
import signal
import sys
import threading
import time
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterable, Sequence
from dataclasses import asdict, dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import FrameType
from typing import Any
from urllib.parse import urlsplit

from bench.units import item_size
from dev.embedded_dynamodb import EngineProcess, spawn_module

__all__ = ["EmulatorProcess", "Limits", "Model", "Proxy", "main", "spawn", "start"]

# DynamoDB's documented per-partition (and so per-item) maxima, before scaling
ITEM_WRITE_UNITS_PER_SECOND = 1_000.0
ITEM_READ_UNITS_PER_SECOND = 3_000.0
WRITE_KB, READ_KB = 1024, 4096
TRANSACTIONAL_WRITE_FACTOR = 2  # prepare + commit

THROTTLE_MESSAGE = (
    "Throughput exceeds the current capacity of your table or index. DynamoDB is automatically scaling "
    "your table or index so please try again shortly."
)
CONFLICT_MESSAGE = "Transaction is ongoing for the item"
_JSON = "application/x-amz-json-1.0"
_PREFIX = "com.amazonaws.dynamodb.v20120810#"

Clock = Callable[[], float]
ItemKey = tuple[str, str]  # (table, canonical JSON of the key attributes)


@dataclass(frozen=True)
class Limits:
    """What the emulator enforces. Rates are DynamoDB's; `scale` divides them and
    multiplies durations (`hold_ms` is in DynamoDB's time)."""

    scale: float = 500.0
    item_write_units: float = ITEM_WRITE_UNITS_PER_SECOND
    item_read_units: float = ITEM_READ_UNITS_PER_SECOND
    # bucket depth: this many seconds of an item's capacity may be spent at once
    burst_seconds: float = 1.0
    # how long an admitted transaction holds its items (prepare -> commit), in DynamoDB time
    hold_ms: float = 2.0
    # 0: every item its own partition; N: each table's items hashed onto N partitions
    partitions: int = 0

    @property
    def write_rate(self) -> float:
        return self.item_write_units / self.scale

    @property
    def read_rate(self) -> float:
        return self.item_read_units / self.scale

    @property
    def hold_seconds(self) -> float:
        return self.hold_ms / 1000.0 * self.scale

    def describe(self) -> dict[str, float | int]:
        return {
            **asdict(self),
            "write_units_per_item_per_second": round(self.write_rate, 4),
            "read_units_per_item_per_second": round(self.read_rate, 4),
            "transactional_writes_per_item_per_second": round(self.write_rate / TRANSACTIONAL_WRITE_FACTOR, 4),
            "hold_seconds": round(self.hold_seconds, 4),
        }


class _Bucket:
    """A token bucket: `rate` units a second, at most `depth` banked (starts full)."""

    __slots__ = ("depth", "last", "rate", "tokens")

    def __init__(self, rate: float, depth: float, now: float) -> None:
        self.rate, self.depth, self.tokens, self.last = rate, depth, depth, now

    def level(self, now: float) -> float:
        if now > self.last:
            self.tokens = min(self.depth, self.tokens + (now - self.last) * self.rate)
            self.last = now
        return self.tokens


@dataclass
class Admission:
    """The model's answer to a transaction: a reason per item (None = fine) and,
    when admitted, the ticket to `finish` it with."""

    reasons: list[str | None]
    ticket: int | None = None

    @property
    def admitted(self) -> bool:
        return self.ticket is not None


@dataclass
class _Fault:
    kind: str  # "conflict" | "throttle"
    match: str  # text a key must contain
    remaining: int


@dataclass
class Stats:
    transactions: int = 0
    admitted: int = 0
    committed: int = 0
    cancelled_by_engine: int = 0
    conflicts: int = 0  # transactions cancelled with TransactionConflict
    throttles: int = 0  # transactions cancelled with ThrottlingError
    conflicted_items: int = 0
    throttled_items: int = 0
    writes: int = 0
    writes_throttled: int = 0
    writes_conflicted: int = 0
    reads: int = 0  # keys asked for (GetItem, BatchGetItem)
    reads_throttled: int = 0  # keys refused (unprocessed or a throttled request)
    read_requests_throttled: int = 0
    injected: Counter[str] = field(default_factory=Counter)
    # transactions admitted per hot item, by key text (only keys containing `watch`)
    admitted_by_key: Counter[str] = field(default_factory=Counter)
    conflicts_by_key: Counter[str] = field(default_factory=Counter)

    def as_dict(self) -> dict[str, Any]:
        out = asdict(self)
        for name in ("injected", "admitted_by_key", "conflicts_by_key"):
            out[name] = dict(getattr(self, name))
        return out


class Model:
    """The limits, with no HTTP: every decision takes the time from `clock`."""

    def __init__(self, limits: Limits, clock: Clock = time.monotonic, watch: str = "stock#") -> None:
        self.limits = limits
        self.clock = clock
        self.watch = watch  # keys whose traffic is counted per key in the stats
        self.stats = Stats()
        self._lock = threading.Lock()
        self._write: dict[ItemKey, _Bucket] = {}
        self._read: dict[ItemKey, _Bucket] = {}
        self._held: dict[ItemKey, tuple[int, float]] = {}  # item -> (ticket, held until)
        self._tickets: dict[int, tuple[float, list[ItemKey]]] = {}
        self._next_ticket = 1
        self._faults: list[_Fault] = []
        # off: every request passes untouched (setting tables and data up before a run)
        self.enforce = True

    # -- capacity ---------------------------------------------------------------------

    def _partition(self, key: ItemKey) -> ItemKey | None:
        if self.limits.partitions <= 0:
            return None
        table, canonical = key
        digest = hashlib.sha256(json.loads(canonical)[0][1].encode()).digest()
        return (table, f"#partition{int.from_bytes(digest[:4], 'big') % self.limits.partitions}")

    def _buckets(self, key: ItemKey, reading: bool, now: float) -> list[_Bucket]:
        buckets, rate = (self._read, self.limits.read_rate) if reading else (self._write, self.limits.write_rate)
        found = []
        for k in (key, self._partition(key)):
            if k is None:
                continue
            bucket = buckets.get(k)
            if bucket is None:
                bucket = buckets[k] = _Bucket(rate, rate * self.limits.burst_seconds, now)
            found.append(bucket)
        return found

    def _has(self, key: ItemKey, units: float, reading: bool, now: float) -> bool:
        return all(b.level(now) >= units - 1e-9 for b in self._buckets(key, reading, now))

    def _spend(self, key: ItemKey, units: float, reading: bool, now: float) -> None:
        for bucket in self._buckets(key, reading, now):
            bucket.level(now)
            bucket.tokens -= units

    def _held_by_other(self, key: ItemKey, now: float, ticket: int | None = None) -> bool:
        holder = self._held.get(key)
        return holder is not None and holder[0] != ticket and holder[1] > now

    def _injected(self, kind: str, keys: Iterable[ItemKey]) -> ItemKey | None:
        for fault in self._faults:
            if fault.kind != kind or fault.remaining <= 0:
                continue
            for key in keys:
                if fault.match in key[1]:
                    fault.remaining -= 1
                    self.stats.injected[kind] += 1
                    return key
        return None

    # -- requests ------------------------------------------------------------------------

    def transaction(self, items: Sequence[tuple[ItemKey, float]]) -> Admission:
        """Admit a TransactWriteItems of (item, write units), or refuse it with a reason per item."""
        with self._lock:
            now = self.clock()
            self._prune(now)
            self.stats.transactions += 1
            keys = [key for key, _ in items]
            reasons: list[str | None] = [None] * len(items)
            injected = self._injected("conflict", keys)
            for n, (key, _) in enumerate(items):
                if key == injected or self._held_by_other(key, now):
                    reasons[n] = "TransactionConflict"
            if not any(reasons):
                injected = self._injected("throttle", keys)
                for n, (key, units) in enumerate(items):
                    if key == injected or not self._has(key, units, False, now):
                        reasons[n] = "ThrottlingError"
            if any(reasons):
                conflict = "TransactionConflict" in reasons
                if conflict:
                    self.stats.conflicts += 1
                else:
                    self.stats.throttles += 1
                for (key, _), reason in zip(items, reasons, strict=True):
                    if reason is None:
                        continue
                    if conflict:
                        self.stats.conflicted_items += 1
                        if self.watch in key[1]:
                            self.stats.conflicts_by_key[key[1]] += 1
                    else:
                        self.stats.throttled_items += 1
                return Admission(reasons)
            ticket = self._next_ticket
            self._next_ticket += 1
            for key, units in items:
                self._spend(key, units, False, now)
                self._held[key] = (ticket, math.inf)
                if self.watch in key[1]:
                    self.stats.admitted_by_key[key[1]] += 1
            self._tickets[ticket] = (now, keys)
            self.stats.admitted += 1
            return Admission(reasons, ticket)

    def finish(self, ticket: int, committed: bool) -> None:
        """The engine answered an admitted transaction: a commit holds its items
        until `hold` after admission (or now, if later); a cancellation frees them."""
        with self._lock:
            now = self.clock()
            admitted_at, keys = self._tickets.pop(ticket)
            until = max(admitted_at + self.limits.hold_seconds, now) if committed else now
            for key in keys:
                holder = self._held.get(key)
                if holder is not None and holder[0] == ticket:
                    self._held[key] = (ticket, until)
            if committed:
                self.stats.committed += 1
            else:
                self.stats.cancelled_by_engine += 1

    def write(self, key: ItemKey, units: float) -> str | None:
        """A single-item write: None, "TransactionConflict" or "Throttled"."""
        with self._lock:
            now = self.clock()
            self.stats.writes += 1
            if self._held_by_other(key, now):
                self.stats.writes_conflicted += 1
                return "TransactionConflict"
            if not self._has(key, units, False, now):
                self.stats.writes_throttled += 1
                return "Throttled"
            self._spend(key, units, False, now)
            return None

    def read(self, keys: Sequence[tuple[ItemKey, float]]) -> list[bool]:
        """Which of these reads (item, read units) are served now."""
        with self._lock:
            now = self.clock()
            served = []
            for key, units in keys:
                self.stats.reads += 1
                ok = self._has(key, units, True, now)
                if ok:
                    self._spend(key, units, True, now)
                else:
                    self.stats.reads_throttled += 1
                served.append(ok)
            if keys and not any(served):
                self.stats.read_requests_throttled += 1
            return served

    # -- control ---------------------------------------------------------------------------

    def inject(self, kind: str, match: str, count: int) -> None:
        if kind not in ("conflict", "throttle"):
            raise ValueError(f"unknown fault {kind!r}")
        with self._lock:
            self._faults.append(_Fault(kind, match, count))

    def reset(self, limits: Limits | None = None, enforce: bool = True) -> None:
        with self._lock:
            self.enforce = enforce
            if limits is not None:
                self.limits = limits
            self.stats = Stats()
            self._write.clear()
            self._read.clear()
            self._held.clear()
            self._tickets.clear()
            self._faults.clear()

    def snapshot(self) -> dict[str, Any]:
        with self._lock:
            pending = {f"{f.kind}:{f.match}": f.remaining for f in self._faults if f.remaining > 0}
            return {
                "limits": self.limits.describe(),
                "enforce": self.enforce,
                "stats": self.stats.as_dict(),
                "faults_pending": pending,
            }

    def _prune(self, now: float) -> None:
        """Forget full buckets and expired holds once there are many (every item ever touched)."""
        if len(self._write) + len(self._read) + len(self._held) < 50_000:
            return
        for buckets in (self._write, self._read):
            for key in [k for k, b in buckets.items() if b.level(now) >= b.depth]:
                del buckets[key]
        for key in [k for k, (_, until) in self._held.items() if until <= now]:
            del self._held[key]


# -- requests as DynamoDB's JSON --------------------------------------------------------


def canonical(key: dict[str, Any]) -> str:
    """A key's attributes as sorted JSON: [[name, value], ...] (hash key first)."""
    return json.dumps([[name, _scalar(value)] for name, value in key.items()], sort_keys=False)


def _scalar(value: dict[str, Any]) -> str:
    (kind, v), *_ = value.items()
    return f"{kind}:{v}"


def _read_units(consistent: bool) -> float:
    # items below 4 KB (every diem item): 1 unit strongly consistent, half eventually
    return 1.0 if consistent else 0.5


Answer = tuple[int, list[tuple[str, str]], bytes]


def _error(code: str, message: str, **extra: Any) -> Answer:
    body = json.dumps({"__type": _PREFIX + code, "message": message, **extra}).encode()
    return 400, [("Content-Type", _JSON), ("x-amzn-RequestId", f"emulator-{time.time_ns()}")], body


def _throttled(table: str, kind: str) -> Answer:
    """ProvisionedThroughputExceededException for one item (partition) over its capacity."""
    arn = f"arn:aws:dynamodb:ap-southeast-1:123456789012:table/{table}"
    return _error(
        "ProvisionedThroughputExceededException",
        "The level of configured provisioned throughput for the table was exceeded.",
        ThrottlingReasons=[{"reason": f"Table{kind}KeyRangeThroughputExceeded", "resource": arn}],
    )


class Proxy:
    """Forwards DynamoDB requests to `upstream`, applying the model first."""

    def __init__(self, model: Model, upstream: str) -> None:
        self.model = model
        parts = urlsplit(upstream)
        self._host, self._port = parts.hostname or "127.0.0.1", parts.port or 80
        self._local = threading.local()
        self._schemas: dict[str, list[str]] = {}
        self._schema_lock = threading.Lock()

    # -- upstream ------------------------------------------------------------------

    def forward(self, method: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        for attempt in (0, 1):
            connection = getattr(self._local, "connection", None)
            if connection is None:
                connection = self._local.connection = http.client.HTTPConnection(self._host, self._port, timeout=120)
            try:
                connection.request(method, path, body=body, headers=headers)
                response = connection.getresponse()
                data = response.read()
                return response.status, response.getheaders(), data
            except (ConnectionError, http.client.HTTPException, OSError):
                connection.close()
                self._local.connection = None
                if attempt:
                    raise
        raise AssertionError("unreachable")

    def _key_names(self, table: str, headers: dict[str, str]) -> list[str]:
        with self._schema_lock:
            known = self._schemas.get(table)
        if known is not None:
            return known
        probe = {**headers, "X-Amz-Target": "DynamoDB_20120810.DescribeTable"}
        status, _, data = self.forward("POST", "/", probe, json.dumps({"TableName": table}).encode())
        if status != 200:
            return []
        schema = json.loads(data)["Table"]["KeySchema"]
        names = [k["AttributeName"] for k in sorted(schema, key=lambda k: k["KeyType"] != "HASH")]
        with self._schema_lock:
            self._schemas[table] = names
        return names

    def _item_key(self, table: str, key: dict[str, Any]) -> ItemKey:
        return (table, canonical(key))

    # -- the modelled operations -------------------------------------------------------------

    def handle(self, target: str, path: str, headers: dict[str, str], body: bytes) -> tuple[int, list, bytes]:
        operation = target.rsplit(".", 1)[-1] if target.startswith("DynamoDB_") else ""
        try:
            request = json.loads(body) if operation else None
        except ValueError:
            request = None
        if request is None or not self.model.enforce:
            return self.forward("POST", path, headers, body)
        if operation == "TransactWriteItems":
            return self._transact(path, headers, body, request)
        if operation in ("PutItem", "UpdateItem", "DeleteItem"):
            return self._single_write(operation, path, headers, body, request)
        if operation == "GetItem":
            return self._get(path, headers, body, request)
        if operation == "BatchGetItem":
            return self._batch_get(path, headers, request)
        return self.forward("POST", path, headers, body)

    def _transact(self, path: str, headers: dict[str, str], body: bytes, request: dict[str, Any]) -> Any:
        items: list[tuple[ItemKey, float]] = []
        for entry in request.get("TransactItems") or []:
            (kind, spec), *_ = entry.items()
            table = spec["TableName"]
            if kind == "Put":
                names = self._key_names(table, headers)
                key = {n: spec["Item"][n] for n in names if n in spec["Item"]}
                size = item_size(spec["Item"])
            else:
                key, size = spec["Key"], 0  # an update's item is charged as 1 KB (every diem item is smaller)
            units = TRANSACTIONAL_WRITE_FACTOR * max(1, math.ceil(size / WRITE_KB))
            items.append((self._item_key(table, key), float(units)))
        admission = self.model.transaction(items)
        if not admission.admitted:
            reasons = []
            for reason in admission.reasons:
                if reason is None:
                    reasons.append({"Code": "None"})
                elif reason == "TransactionConflict":
                    reasons.append({"Code": reason, "Message": CONFLICT_MESSAGE})
                else:
                    reasons.append({"Code": reason, "Message": THROTTLE_MESSAGE})
            codes = ", ".join(r["Code"] for r in reasons)
            return _error(
                "TransactionCanceledException",
                f"Transaction cancelled, please refer cancellation reasons for specific reasons [{codes}]",
                CancellationReasons=reasons,
            )
        assert admission.ticket is not None
        try:
            status, response_headers, data = self.forward("POST", path, headers, body)
        except BaseException:
            self.model.finish(admission.ticket, committed=False)
            raise
        self.model.finish(admission.ticket, committed=status == 200)
        return status, response_headers, data

    def _single_write(
        self, operation: str, path: str, headers: dict[str, str], body: bytes, request: dict[str, Any]
    ) -> Any:
        table = request["TableName"]
        if operation == "PutItem":
            names = self._key_names(table, headers)
            key = {n: request["Item"][n] for n in names if n in request["Item"]}
            units = float(max(1, math.ceil(item_size(request["Item"]) / WRITE_KB)))
        else:
            key, units = request["Key"], 1.0
        verdict = self.model.write(self._item_key(table, key), units)
        if verdict == "TransactionConflict":
            return _error("TransactionConflictException", CONFLICT_MESSAGE, Message=CONFLICT_MESSAGE)
        if verdict == "Throttled":
            return _throttled(table, "Write")
        return self.forward("POST", path, headers, body)

    def _get(self, path: str, headers: dict[str, str], body: bytes, request: dict[str, Any]) -> Any:
        table = request["TableName"]
        units = _read_units(bool(request.get("ConsistentRead")))
        (served,) = self.model.read([(self._item_key(table, request["Key"]), units)])
        if not served:
            return _throttled(table, "Read")
        return self.forward("POST", path, headers, body)

    def _batch_get(self, path: str, headers: dict[str, str], request: dict[str, Any]) -> Any:
        asked: list[tuple[str, dict[str, Any], dict[str, Any]]] = []  # (table, key, table spec)
        for table, spec in (request.get("RequestItems") or {}).items():
            for key in spec.get("Keys") or []:
                asked.append((table, key, spec))
        served = self.model.read(
            [(self._item_key(t, k), _read_units(bool(spec.get("ConsistentRead")))) for t, k, spec in asked]
        )
        if asked and not any(served):  # none could be served: the whole request is throttled
            return _throttled(asked[0][0], "Read")
        forwarded: dict[str, dict[str, Any]] = {}
        unprocessed: dict[str, dict[str, Any]] = {}
        for (table, key, spec), ok in zip(asked, served, strict=True):
            target = forwarded if ok else unprocessed
            entry = target.setdefault(table, {k: v for k, v in spec.items() if k != "Keys"} | {"Keys": []})
            entry["Keys"].append(key)
        body = json.dumps({**request, "RequestItems": forwarded}).encode()
        status, response_headers, data = self.forward("POST", path, headers, body)
        if status != 200 or not unprocessed:
            return status, response_headers, data
        answer = json.loads(data)
        merged = answer.get("UnprocessedKeys") or {}
        for table, entry in unprocessed.items():
            merged.setdefault(table, {k: v for k, v in entry.items() if k != "Keys"} | {"Keys": []})
            merged[table]["Keys"].extend(entry["Keys"])
        answer["UnprocessedKeys"] = merged
        payload = json.dumps(answer).encode()
        kept = [(k, v) for k, v in response_headers if k.lower() not in ("content-length", "x-amz-crc32")]
        return status, kept, payload


# -- the HTTP server ---------------------------------------------------------------------

_HOP_BY_HOP = frozenset({"connection", "keep-alive", "transfer-encoding", "content-length", "host"})


class _Handler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"
    server: _Server

    def log_message(self, format: str, *args: Any) -> None:
        return

    def _body(self) -> bytes:
        length = int(self.headers.get("Content-Length") or 0)
        return self.rfile.read(length) if length > 0 else b""

    def _send(self, status: int, headers: Iterable[tuple[str, str]], body: bytes) -> None:
        self.send_response(status)
        for name, value in headers:
            if name.lower() not in _HOP_BY_HOP:
                self.send_header(name, value)
        self.send_header("Content-Length", str(len(body)))
        self.end_headers()
        self.wfile.write(body)

    def _json(self, status: int, value: Any) -> None:
        self._send(status, [("Content-Type", "application/json")], json.dumps(value).encode())

    def do_GET(self) -> None:
        if self.path == "/emulator/stats":
            self._json(200, self.server.proxy.model.snapshot())
            return
        self._relay("GET", self._body())

    def do_POST(self) -> None:
        body = self._body()
        model = self.server.proxy.model
        if self.path == "/emulator/reset":
            given = json.loads(body or b"{}")
            enforce = bool(given.pop("enforce", True))
            model.reset(Limits(**{**asdict(model.limits), **given}) if given else None, enforce)
            self._json(200, model.snapshot())
            return
        if self.path == "/emulator/inject":
            spec = json.loads(body)
            model.inject(spec["kind"], spec["match"], int(spec.get("count", 1)))
            self._json(200, model.snapshot())
            return
        self._relay("POST", body)

    def _relay(self, method: str, body: bytes) -> None:
        headers = {k: v for k, v in self.headers.items() if k.lower() not in _HOP_BY_HOP}
        target = self.headers.get("X-Amz-Target", "")
        proxy = self.server.proxy
        if method == "POST" and target:
            status, response_headers, data = proxy.handle(target, self.path, headers, body)
        else:
            status, response_headers, data = proxy.forward(method, self.path, headers, body)
        self._send(status, response_headers, data)


class _Server(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 1024

    def __init__(self, address: tuple[str, int], proxy: Proxy) -> None:
        super().__init__(address, _Handler)
        self.proxy = proxy


class Emulator:
    """A running emulator in this process (`start`); stop() frees the port."""

    def __init__(self, server: _Server, thread: threading.Thread, extra_stop: Callable[[], None] | None) -> None:
        self._server, self._thread, self._extra_stop = server, thread, extra_stop
        host, port = server.server_address[:2]
        self.endpoint = f"http://{host}:{port}"
        self.model = server.proxy.model

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)
        if self._extra_stop is not None:
            self._extra_stop()


def start(
    limits: Limits, upstream: str | None = None, port: int = 0, clock: Clock = time.monotonic, watch: str = "stock#"
) -> Emulator:
    """The emulator on 127.0.0.1:`port` in front of `upstream` (None: an embedded engine started here)."""
    extra_stop = None
    if upstream is None:
        import logging

        from dev import embedded_dynamodb

        logging.getLogger("werkzeug").setLevel(logging.ERROR)  # the engine's request log
        engine = embedded_dynamodb.start()
        upstream, extra_stop = engine.endpoint, engine.stop
    server = _Server(("127.0.0.1", port), Proxy(Model(limits, clock, watch), upstream))
    thread = threading.Thread(target=server.serve_forever, name="limits-emulator", daemon=True)
    thread.start()
    return Emulator(server, thread, extra_stop)


# -- in its own process (tests, bench) ---------------------------------------------------


class EmulatorProcess(EngineProcess):
    """The emulator (and an embedded engine behind it) in a process of its own."""

    def _call(self, method: str, path: str, body: Any = None) -> dict[str, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.endpoint + path, data=data, method=method)  # noqa: S310 (loopback)
        with urllib.request.urlopen(request, timeout=30) as response:  # noqa: S310
            result: dict[str, Any] = json.loads(response.read())
            return result

    def stats(self) -> dict[str, Any]:
        return self._call("GET", "/emulator/stats")

    def reset(self, enforce: bool = True, **limits: Any) -> dict[str, Any]:
        """Zero the counts and the buckets (with new limits if given); enforce=False: pass everything."""
        return self._call("POST", "/emulator/reset", {"enforce": enforce, **limits})

    def inject(self, kind: str, match: str, count: int = 1) -> dict[str, Any]:
        return self._call("POST", "/emulator/inject", {"kind": kind, "match": match, "count": count})


def spawn(limits: Limits, upstream: str | None = None, start_timeout_s: float = 60.0) -> EmulatorProcess:
    """`python -m dev.limits_emulator` with `limits`; waits for its endpoint."""
    options = ["--port", "0"]
    for name, value in asdict(limits).items():
        options += [f"--{name.replace('_', '-')}", str(value)]
    if upstream:
        options += ["--upstream", upstream]
    process, endpoint = spawn_module("dev.limits_emulator", options, "the limits emulator", start_timeout_s)
    return EmulatorProcess(process, endpoint)


def main(argv: list[str] | None = None) -> int:
    defaults = Limits()
    parser = argparse.ArgumentParser(prog="python -m dev.limits_emulator", description=__doc__.split("\n\n")[0])
    parser.add_argument("--port", type=int, default=0)
    parser.add_argument("--upstream", help="the DynamoDB endpoint behind it (default: an embedded engine)")
    for name, value in asdict(defaults).items():
        parser.add_argument(f"--{name.replace('_', '-')}", type=type(value), default=value)
    args = parser.parse_args(argv)
    limits = Limits(**{name: getattr(args, name) for name in asdict(defaults)})
    stop = threading.Event()

    def _stop(signum: int, frame: FrameType | None) -> None:
        stop.set()

    signal.signal(signal.SIGINT, _stop)
    signal.signal(signal.SIGTERM, _stop)
    emulator = start(limits, args.upstream, args.port)
    print(emulator.endpoint, flush=True)
    print(f"limits emulator: {json.dumps(limits.describe())}", file=sys.stderr, flush=True)
    try:
        stop.wait()
    finally:
        emulator.stop()
    return 0


if __name__ == "__main__":
    sys.exit(main())
