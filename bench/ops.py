"""Per-operation cost and in-process overhead against a raw boto3 baseline.

For each core operation (TARGETS.md "Cost per operation"; points read, accrue,
claim, partner look-up, redeem, reverse), unkeyed and with an
`Idempotency-Key`, this measures on the atomic embedded engine:

- the DynamoDB calls of one request and their round trips (botocore events on
  diem's client, `chalicelib.store.clients()`), with read and write units
  computed from item sizes by `bench.units` (the one source of unit figures);
- the median latency of the request through the Chalice test client, at the
  Lambda handler (`app(event, context)`, the event built as API Gateway sends
  it and the authorizer run beforehand, as API Gateway caches its answer), and
  of a plain boto3 script making the minimal calls on tables of the same shape
  holding items of the same size (keyed: with the idempotency record put in the
  same transaction, as diem's kernel does). Every series runs interleaved in one
  loop (the order rotating every iteration), so drift hits all alike; the ratios
  of the medians are the overhead figures (handler <= 1.15x, test client <= 1.3x).
"""

from __future__ import annotations

import json
import secrets
import statistics
import time
import uuid
from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from bench import (
    CallRecorder,
    DynamoCall,
    Http,
    Timing,
    _base_name,
    bearer,
    new_prefix,
    now_iso,
    peek,
    raw_client,
    use_tables,
)
from chalicelib.clock import local_date
from chalicelib.points.chain import BLOCK as LEDGER_BLOCK

ITERATIONS = 60
WARMUP = 10
PROBES = 5
SUBSCRIBERS = 20
SEED_POINTS = 1_000_000
CLAIM_PRICE = 100
HANDLER_RATIO = 1.15  # TARGETS.md, second release: at the Lambda handler
CLIENT_RATIO = 1.3  # through the Chalice test client
MONTHLY_ACCRUALS = 70_000_000 * 3
MONTHLY_WCU_BUDGET = 1_000_000_000
VARIANTS = ("unkeyed", "keyed")


@dataclass(frozen=True)
class Target:
    """TARGETS.md: the calls allowed (operation -> at most how many), round trips
    with an Idempotency-Key, and the write units."""

    text: str
    max_calls: dict[str, int]
    max_write_units: float | None = None

    @property
    def round_trips(self) -> int:
        return sum(self.max_calls.values())

    def met_by(self, calls: list[DynamoCall], keyed: bool) -> bool:
        """The calls and round trips; unkeyed also the write units of the tables
        (TARGETS.md counts items <= 1 KB; the index part is shown apart). With a
        key the second release sets round trips only: the record costs 2 WCU more."""
        counts = Counter(c.operation for c in calls)
        if any(op not in self.max_calls or n > self.max_calls[op] for op, n in counts.items()):
            return False
        if sum(c.round_trips for c in calls) > self.round_trips:
            return False
        units = sum(c.write_units - sum(c.index_units.values()) for c in calls)
        return keyed or self.max_write_units is None or units <= self.max_write_units


TARGETS = {
    "points_read": Target("1 GetItem", {"GetItem": 1}),
    "accrue": Target("<= 1 read + 1 TransactWriteItems, <= 4 WCU", {"GetItem": 1, "TransactWriteItems": 1}, 4),
    "claim": Target(
        "1 BatchGetItem + 1 TransactWriteItems, <= 12 WCU", {"BatchGetItem": 1, "TransactWriteItems": 1}, 12
    ),
    "lookup": Target("1 GetItem", {"GetItem": 1}),
    "redeem": Target("1 TransactWriteItems, <= 6 WCU", {"TransactWriteItems": 1}, 6),
    # no figure in TARGETS.md: the baseline makes the same calls as diem
    "reverse": Target("(none set)", {"GetItem": 2, "TransactWriteItems": 1}),  # the baseline's calls
}

NAMES = {
    "points_read": "points read",
    "accrue": "accrue one spend event",
    "claim": "claim a voucher",
    "lookup": "partner voucher look-up",
    "redeem": "redeem a voucher",
    "reverse": "reverse a redemption",
}


@dataclass
class Variant:
    """How to send one request of an operation, unkeyed or keyed, three ways."""

    client: Callable[[], None]  # through the Chalice test client
    handler: Callable[[], Callable[[], Any]]  # factory: the prepared `app(event, context)` call
    base: Callable[[], None]  # the raw boto3 baseline


@dataclass
class Side:
    """One side (diem or baseline) of a variant: the calls of one request and the timings."""

    calls: list[DynamoCall] = field(default_factory=list)
    timing: Timing = field(default_factory=Timing)

    @property
    def round_trips(self) -> int:
        return sum(c.round_trips for c in self.calls)

    @property
    def write_units(self) -> float:
        return sum(c.write_units for c in self.calls)

    @property
    def read_units(self) -> float:
        return sum(c.read_units for c in self.calls)

    @property
    def index_units(self) -> dict[str, float]:
        out: dict[str, float] = {}
        for call in self.calls:
            for name, units in call.index_units.items():
                out[name] = out.get(name, 0.0) + units
        return out

    # the attributes every probe's writes set or removed, by table (base name):
    # what a request always writes (the ledger chain's sealing left out: SEALING)
    written: dict[str, list[str]] = field(default_factory=dict)

    def as_dict(self) -> dict[str, Any]:
        return {
            "calls": [c.label() for c in self.calls],
            "written": self.written,
            "round_trips": self.round_trips,
            "write_units": self.write_units,
            "read_units": self.read_units,
            "index_units": self.index_units,
            **self.timing.as_dict(),
        }


def _paired(a: Timing, b: Timing) -> float:
    return statistics.median(x / y for x, y in zip(a.samples_ms, b.samples_ms, strict=True))


@dataclass
class VariantResult:
    diem: Side = field(default_factory=Side)
    handler: Timing = field(default_factory=Timing)
    baseline: Side = field(default_factory=Side)

    def as_dict(self, target: Target, keyed: bool) -> dict[str, Any]:
        base = self.baseline.timing.median
        client_ratio, handler_ratio = self.diem.timing.median / base, self.handler.median / base
        return {
            "diem": self.diem.as_dict(),
            "handler": self.handler.as_dict(),
            "baseline": self.baseline.as_dict(),
            "ratio_client": round(client_ratio, 3),
            "ratio_handler": round(handler_ratio, 3),
            "paired_ratio_client": round(_paired(self.diem.timing, self.baseline.timing), 3),
            "paired_ratio_handler": round(_paired(self.handler, self.baseline.timing), 3),
            "meets_cost_target": target.met_by(self.diem.calls, keyed),
            "meets_client_target": client_ratio <= CLIENT_RATIO,
            "meets_handler_target": handler_ratio <= HANDLER_RATIO,
            "baseline_writes_the_same": self.diem.written == self.baseline.written,
        }


@dataclass
class OpResult:
    key: str
    status: str = "ok"  # ok | not available yet | error
    note: str = ""
    variants: dict[str, VariantResult] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAMES[self.key]

    def as_dict(self) -> dict[str, Any]:
        target = TARGETS[self.key]
        return {
            "operation": self.key,
            "name": self.name,
            "status": self.status,
            "note": self.note,
            "target": target.text,
            "target_round_trips": target.round_trips,
            "variants": {name: v.as_dict(target, name == "keyed") for name, v in self.variants.items()},
        }


# -- measuring -----------------------------------------------------------------


def _written(calls: list[DynamoCall]) -> dict[str, set[str]]:
    """The attributes one request's writes set or removed, by table (base name)."""
    out: dict[str, set[str]] = {}
    for call in calls:
        for write in call.writes:
            before, after = write.before or {}, write.after or {}
            if write.kind == "Put":
                names = set(after)
            elif write.kind == "Update":
                names = {n for n in before.keys() | after.keys() if before.get(n) != after.get(n)}
            else:
                continue
            out.setdefault(_base_name(write.table), set()).update(names)
    return out


# written only by the entry that fills a block of the ledger chain (every sixth
# entry of an owner): whether a side's five probes meet one depends on where
# its subscribers' chains stand, so these are left out of the comparison
SEALING = frozenset({"block", "prev_block", "ledger_sealed"})


def _always_written(samples: list[list[DynamoCall]]) -> dict[str, list[str]]:
    """The attributes every sample wrote, by table (the chain's sealing left out)."""
    each = [_written(calls) for calls in samples]
    tables = set.intersection(*(set(w) for w in each)) if each else set()
    return {t: sorted(set.intersection(*(w[t] for w in each)) - SEALING) for t in sorted(tables)}


def _typical(samples: list[list[DynamoCall]]) -> list[DynamoCall]:
    """The most common call pattern among the probes (ties: the first seen)."""
    patterns = Counter(tuple(c.label() for c in s) for s in samples)
    best = patterns.most_common(1)[0][0]
    return next(s for s in samples if tuple(c.label() for c in s) == best)


def measure(
    key: str,
    variants: dict[str, Variant],
    diem_recorder: CallRecorder,
    base_recorder: CallRecorder,
    iterations: int,
    warmup: int,
    after_probes: Callable[[str], None] | None = None,
) -> OpResult:
    """Calls and units of one request per variant and side, then latency of every
    series (test client, handler, baseline; unkeyed and keyed) interleaved, the
    order rotating every iteration so drift and other load hit all alike.

    `after_probes(variant)` runs once diem's probes of a variant are done (the
    keyed baseline copies the idempotency record diem wrote)."""
    result = OpResult(key, variants={name: VariantResult() for name in variants})
    for name, variant in variants.items():
        out = result.variants[name]
        samples = []
        with diem_recorder:
            for _ in range(PROBES):
                variant.client()
                samples.append(diem_recorder.take())
        out.diem.calls, out.diem.written = _typical(samples), _always_written(samples)
        if after_probes is not None:
            after_probes(name)
        samples = []
        with base_recorder:
            for _ in range(PROBES):
                variant.base()
                samples.append(base_recorder.take())
        out.baseline.calls, out.baseline.written = _typical(samples), _always_written(samples)
    series: list[tuple[Callable[[], Callable[[], Any]], list[float]]] = []
    for name, variant in variants.items():
        out = result.variants[name]
        client, base = variant.client, variant.base
        series.append(((lambda c=client: c), out.diem.timing.samples_ms))
        series.append((variant.handler, out.handler.samples_ms))
        series.append(((lambda b=base: b), out.baseline.timing.samples_ms))
    for _ in range(warmup):
        for prepare, _sink in series:
            prepare()()
    clock = time.perf_counter
    for i in range(iterations):
        shift = i % len(series)
        for prepare, sink in series[shift:] + series[:shift]:
            op = prepare()
            start = clock()
            op()
            sink.append((clock() - start) * 1000)
    return result


class Unexpected(Exception):
    """A diem request answered with another status than the benchmark expects."""


def checked(
    invoke: Callable[[], dict[str, Any]], status: int, then: Callable[[Any], None] | None = None
) -> Callable[[], None]:
    """`invoke` (a prepared handler call) raising if the status is not `status`;
    `then` gets the decoded body."""

    def run() -> None:
        response = invoke()
        if response["statusCode"] != status:
            raise Unexpected(f"HTTP {response['statusCode']} {response.get('body')!r}")
        if then is not None:
            then(json.loads(response["body"]))

    return run


def expect(reply: Any, status: int, what: str) -> Any:
    if reply.status != status:
        raise Unexpected(f"{what}: HTTP {reply.status} {reply.data!r}")
    return reply.data


# -- the world both sides work on ------------------------------------------------


@dataclass
class World:
    endpoint: str
    prefix: str
    base_prefix: str
    http: Http
    raw: Any
    msisdns: list[str]
    owners: dict[str, str]
    sub_headers: dict[str, dict[str, str]]
    operator: dict[str, str]
    marketer: dict[str, str]
    peek: Any = None  # bench.units.Peek: the bench's own reads for unit figures
    turns: dict[str, int] = field(default_factory=dict)

    def table(self, base_name: str) -> str:
        return self.prefix + base_name

    def base_table(self, base_name: str) -> str:
        return self.base_prefix + base_name

    def next_msisdn(self, side: str) -> str:
        """Subscribers in turn, one rotation per side so both spread their writes alike."""
        turn = self.turns.get(side, 0)
        self.turns[side] = turn + 1
        return self.msisdns[turn % len(self.msisdns)]


def msisdn_for(n: int, series: int = 91) -> str:
    return f"84{series}{n:07d}"


def seed_subscriber(http: Http, operator: dict[str, str], msisdn: str, points: int, history: int = 3) -> None:
    """A subscriber activated three years ago with `history` past spend events and `points` credited."""
    activated = date.today().replace(day=1) - timedelta(days=3 * 365)
    expect(
        http.call(
            "PUT",
            f"/v1/subscribers/{msisdn}",
            {"activated_on": activated.isoformat(), "plan": "prepaid", "province": "Ha Noi", "segments": ["bench"]},
            operator,
        ),
        201,
        "create subscriber",
    )
    for months_ago in range(history, 0, -1):
        occurred = datetime.now(UTC) - timedelta(days=30 * months_ago)
        body = {
            "event_id": f"seed-{msisdn}-{months_ago}",
            "msisdn": msisdn,
            "amount_vnd": 300_000,
            "service": "mobile",
            "occurred_at": occurred.isoformat(timespec="seconds").replace("+00:00", "Z"),
        }
        expect(http.call("POST", "/v1/spend-events", body, operator), 201, "seed spend event")
    if points:
        body = {"points": points, "reason": "bench seed"}
        expect(http.call("POST", f"/v1/subscribers/{msisdn}/adjustments", body, operator), 201, "seed points")


def copy_items(raw: Any, source: str, target: str, keys: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Copy items (raw attribute values, so the same sizes) from one table to another."""
    copied = []
    for key in keys:
        item = raw.get_item(TableName=source, Key=key, ConsistentRead=True)["Item"]
        raw.put_item(TableName=target, Item=item)
        copied.append(item)
    return copied


def build_world(endpoint: str) -> World:
    from chalicelib import config
    from chalicelib.store import schema

    prefix, base_prefix = new_prefix("ops"), new_prefix("base")
    use_tables(endpoint, prefix)
    assert config.settings().table_prefix == prefix
    raw = raw_client(endpoint)
    schema.create_tables(raw, base_prefix)
    http = Http()
    operator, marketer = bearer("operator", "bench-crm"), bearer("marketer", "bench-mkt")
    msisdns = [msisdn_for(n) for n in range(1, SUBSCRIBERS + 1)]
    for m in msisdns:
        seed_subscriber(http, operator, m, SEED_POINTS)
    items = copy_items(
        raw, prefix + "subscribers", base_prefix + "subscribers", [{"msisdn": {"S": m}} for m in msisdns]
    )
    owners = {item["msisdn"]["S"]: item["owner_id"]["S"] for item in items}
    return World(
        endpoint=endpoint,
        prefix=prefix,
        base_prefix=base_prefix,
        http=http,
        raw=raw,
        msisdns=msisdns,
        owners=owners,
        sub_headers={m: bearer("subscriber", m) for m in msisdns},
        operator=operator,
        marketer=marketer,
        peek=peek(endpoint),
    )


# -- baseline building blocks (plain boto3, the minimal calls) ---------------


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _ledger_item(
    owner: str, msisdn: str, entry_id: str, seq: int, kind: str, points: int, balance: int, links: Links
) -> dict[str, Any]:
    """A ledger entry as diem writes one, with the chain's block when this entry fills one."""
    seal = links.seal
    return {
        **({"block": {"L": [_s(i) for i in seal[0]]}} if seal else {}),
        **({"prev_block": _s(seal[1])} if seal and seal[1] else {}),
        "owner_id": _s(owner),
        "entry_id": _s(entry_id),
        "seq": _n(seq),
        "msisdn": _s(msisdn),
        "kind": _s(kind),
        "points": _n(points),
        "rank_points": _n(points if kind == "earn" else 0),
        "balance_after": _n(balance),
        "tier_after": _s("loyal"),
        "at": _s(now_iso()),
        "ref": _s("mobile"),
        "detail": {"M": {"service": _s("mobile"), "amount_vnd": _n(50_000)}},
    }


@dataclass(frozen=True)
class Links:
    """The ledger chain's head after one more entry, as diem keeps it on the balance
    item (`chalicelib/points/chain.py`): the open block's ids, the newest seal,
    and the block an entry that fills one stores (with the seal before it)."""

    open: list[str]
    sealed: str | None
    seal: tuple[list[str], str | None] | None


def _links(item: dict[str, Any], entry_id: str) -> Links:
    opened = [v["S"] for v in item.get("ledger_open", {}).get("L", [])] + [entry_id]
    sealed = item.get("ledger_sealed", {}).get("S")
    if len(opened) == LEDGER_BLOCK:
        return Links([], entry_id, (opened, sealed))
    return Links(opened, sealed, None)


def _balance_update(
    table: str, item: dict[str, Any], delta: int, entry_id: str
) -> tuple[dict[str, Any], int, int, Links]:
    """The conditional update of a subscriber item read just before: new balance,
    buckets, rank, seq and the ledger chain's head (`entry_id` appended)."""
    links = _links(item, entry_id)
    chain_values: dict[str, Any] = {":open": {"L": [_s(i) for i in links.open]}}
    if links.seal:  # this entry fills a block: the newest seal moves to it
        chain_values[":sealed"] = _s(entry_id)
    before = int(item["seq"]["N"])
    balance = int(item["balance"]["N"]) + delta
    buckets = dict(item.get("buckets", {}).get("M", {}))
    if delta >= 0:
        day = (date.today() + timedelta(days=365)).isoformat()
        buckets[day] = _n(int(buckets.get(day, _n(0))["N"]) + delta)
    else:  # first expiring first
        need = -delta
        for day in sorted(buckets):
            take = min(need, int(buckets[day]["N"]))
            buckets[day] = _n(int(buckets[day]["N"]) - take)
            need -= take
            if not need:
                break
        buckets = {d: v for d, v in buckets.items() if v["N"] != "0"}
    rank = dict(item.get("rank", {}).get("M", {}))
    if delta > 0:
        month = date.today().strftime("%Y-%m")
        rank[month] = _n(int(rank.get(month, _n(0))["N"]) + delta)
    update = {
        "Update": {
            "TableName": table,
            "Key": {"msisdn": item["msisdn"]},
            "UpdateExpression": (
                "SET #seq = :seq, #balance = :balance, #buckets = :buckets, "
                + ("#rank = :rank, " if delta > 0 else "")
                + "ledger_open = :open"
                + (", ledger_sealed = :sealed" if links.seal else "")
            ),
            "ConditionExpression": "#seq = :before AND #owner = :owner",
            "ExpressionAttributeNames": {
                "#seq": "seq",
                "#balance": "balance",
                "#buckets": "buckets",
                **({"#rank": "rank"} if delta > 0 else {}),
                "#owner": "owner_id",
            },
            "ExpressionAttributeValues": {
                ":seq": _n(before + 1),
                ":balance": _n(balance),
                ":buckets": {"M": buckets},
                **({":rank": {"M": rank}} if delta > 0 else {}),
                ":before": _n(before),
                ":owner": item["owner_id"],
                **chain_values,
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    return update, before + 1, balance, links


def day_count(kind: str) -> str:
    """The stock shard's count of `kind` ("i" issued, "r" reversed) today, local time."""
    return f"{kind}{local_date(datetime.now(UTC)):%y%m%d}"


def stamped(items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """`items` each writing an attempt stamp (`_rq`), as diem's kernel marks every
    item it writes so that a lost reply is recognised (ConditionChecks write nothing)."""
    stamp = _s(f"{secrets.token_hex(10)}.0")
    out = []
    for item in items:
        ((kind, body),) = item.items()
        body = dict(body)
        if kind == "Put":
            body["Item"] = {**body["Item"], "_rq": stamp}
        elif kind == "Update":
            expression = body["UpdateExpression"]
            body["UpdateExpression"] = (
                expression.replace("SET ", "SET #rq = :rq, ", 1)
                if "SET " in expression
                else f"SET #rq = :rq {expression}"
            )
            body["ExpressionAttributeNames"] = {**body.get("ExpressionAttributeNames", {}), "#rq": "_rq"}
            body["ExpressionAttributeValues"] = {**body.get("ExpressionAttributeValues", {}), ":rq": stamp}
        out.append({kind: body})
    return out


# -- Idempotency-Key on the baseline: the record put in the same transaction ----


def idempotency_template(w: World) -> dict[str, Any] | None:
    """The newest record diem wrote (its size is what the baseline writes)."""
    items = w.raw.scan(TableName=w.table("idempotency"), ConsistentRead=True).get("Items") or []
    return max(items, key=lambda i: i["created_at"]["S"]) if items else None


def idempotency_put(w: World, template: dict[str, Any] | None) -> dict[str, Any]:
    """The record's Put, conditional on no live record (as diem's kernel writes it)."""
    item = dict(
        template
        or {
            "payload_hash": _s(secrets.token_hex(32)),
            "status_code": _n(201),
            "body": _s("{}"),
            "created_at": _s(now_iso()),
            "expires_at": _n(int(time.time()) + 86400),
        }
    )
    item.pop("_rq", None)
    item["idempotency_id"] = _s(secrets.token_hex(32))
    return {
        "Put": {
            "TableName": w.base_table("idempotency"),
            "Item": item,
            "ConditionExpression": "attribute_not_exists(idempotency_id) OR expires_at < :now",
            "ExpressionAttributeValues": {":now": _n(int(time.time()))},
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }


class KeyedBaseline:
    """Holds the idempotency record template once diem's keyed probes wrote one."""

    def __init__(self, w: World) -> None:
        self.w = w
        self.template: dict[str, Any] | None = None

    def after_probes(self, variant: str) -> None:
        if variant == "keyed":
            self.template = idempotency_template(self.w)

    def record(self, keyed: bool) -> list[dict[str, Any]]:
        return [idempotency_put(self.w, self.template)] if keyed else []


def with_key(headers: dict[str, str], keyed: bool) -> dict[str, str]:
    return {**headers, "Idempotency-Key": uuid.uuid4().hex} if keyed else headers


# -- points ----------------------------------------------------------------------


def bench_points_read(w: World, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder) -> OpResult:
    table = w.base_table("subscribers")

    def variant(keyed: bool) -> Variant:
        def client() -> None:
            m = w.next_msisdn("diem")
            headers = with_key(w.sub_headers[m], keyed)
            expect(w.http.call("GET", f"/v1/subscribers/{m}/points", headers=headers), 200, "points read")

        def handler() -> Callable[[], Any]:
            m = w.next_msisdn("handler")
            headers = with_key(w.sub_headers[m], keyed)
            return checked(w.http.prepare("GET", f"/v1/subscribers/{m}/points", headers=headers), 200)

        def base() -> None:
            m = w.next_msisdn("base")
            w.raw.get_item(TableName=table, Key={"msisdn": _s(m)}, ConsistentRead=True)

        return Variant(client, handler, base)

    variants = {"unkeyed": variant(False), "keyed": variant(True)}
    return measure("points_read", variants, rec, base_rec, iterations, warmup)


def bench_accrue(w: World, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder) -> OpResult:
    subs, ledger = w.base_table("subscribers"), w.base_table("ledger")
    run = uuid.uuid4().hex[:8]
    counter = iter(range(10**9))
    keyed_base = KeyedBaseline(w)

    def body(side: str) -> dict[str, Any]:
        return {
            "event_id": f"bench-{run}-{next(counter)}",
            "msisdn": w.next_msisdn(side),
            "amount_vnd": 50_000,
            "service": "mobile",
            "occurred_at": now_iso(),
        }

    def variant(keyed: bool) -> Variant:
        def client() -> None:
            headers = with_key(w.operator, keyed)
            expect(w.http.call("POST", "/v1/spend-events", body("diem"), headers), 201, "accrue")

        def handler() -> Callable[[], Any]:
            headers = with_key(w.operator, keyed)
            return checked(w.http.prepare("POST", "/v1/spend-events", body("handler"), headers), 201)

        def base() -> None:
            m = w.next_msisdn("base")
            item = w.raw.get_item(TableName=subs, Key={"msisdn": _s(m)}, ConsistentRead=True)["Item"]
            entry_id = f"earn:base-{run}-{next(counter)}"
            update, seq, balance, links = _balance_update(subs, item, 2_500, entry_id)
            entry = _ledger_item(item["owner_id"]["S"], m, entry_id, seq, "earn", 2_500, balance, links)
            put = {"Put": {"TableName": ledger, "Item": entry, "ConditionExpression": "attribute_not_exists(entry_id)"}}
            w.raw.transact_write_items(TransactItems=stamped([update, put, *keyed_base.record(keyed)]))

        return Variant(client, handler, base)

    variants = {"unkeyed": variant(False), "keyed": variant(True)}
    return measure("accrue", variants, rec, base_rec, iterations, warmup, keyed_base.after_probes)


# -- vouchers --------------------------------------------------------------------

CONTRACT_ROUTES = {
    "partners": ("POST", "/v1/partners"),
    "campaigns": ("POST", "/v1/campaigns"),
    "launch": ("POST", "/v1/campaigns/{}/launch"),
    "claim": ("POST", "/v1/campaigns/{}/claims"),
    "lookup": ("GET", "/v1/vouchers/{}"),
    "redeem": ("POST", "/v1/redemptions"),
    "reverse": ("POST", "/v1/redemptions/{}/reversal"),
}


def missing_routes(http: Http, *names: str) -> list[str]:
    """Contract routes (API.md) the app does not route yet."""
    import re

    routed = {
        (method, re.sub(r"\{[^}]*\}", "{}", path)) for path, methods in http.app.routes.items() for method in methods
    }
    return [f"{m} {p}" for m, p in (CONTRACT_ROUTES[n] for n in names) if (m, p) not in routed]


def create_partner(http: Http, marketer: dict[str, str], name: str) -> tuple[str, str]:
    data = expect(http.call("POST", "/v1/partners", {"name": name}, marketer), 201, "create partner")
    return data["partner_id"], data["api_key"]


def create_campaign(
    http: Http,
    marketer: dict[str, str],
    partner_id: str,
    *,
    inventory: int,
    per_subscriber_limit: int,
    points_price: int,
    expected_peak: int = 0,
    name: str = "Bench coffee",
) -> dict[str, Any]:
    """Create and launch a campaign open from an hour ago for a week."""
    body = {
        "name": name,
        "partner_id": partner_id,
        "voucher": {"title": "One free iced coffee", "value_vnd": 45_000},
        "points_price": points_price,
        "inventory": inventory,
        "per_subscriber_limit": per_subscriber_limit,
        "starts_at": now_iso(-3600),
        "ends_at": now_iso(7 * 86400),
        "voucher_valid_days": 30,
        "eligibility": {},
        "expected_peak_claims_per_second": expected_peak,
    }
    created = expect(http.call("POST", "/v1/campaigns", body, marketer), 201, "create campaign")
    campaign_id = created["campaign_id"]
    launched = expect(http.call("POST", f"/v1/campaigns/{campaign_id}/launch", None, marketer), 200, "launch")
    return {**created, **(launched or {})}


def normalise_code(code: str) -> str:
    return code.replace("-", "").replace(" ", "").upper()


@dataclass
class VoucherWorld:
    partner_id: str
    api_key: str
    campaign_id: str
    diem_codes: list[str] = field(default_factory=list)
    base_codes: list[str] = field(default_factory=list)
    limit: int = 1
    voucher_template: dict[str, Any] | None = None
    shard_counter: str = ""
    # (redemption_id, code) of redemptions made by each side, for the reversals
    diem_redemptions: list[str] = field(default_factory=list)
    base_redemptions: list[tuple[str, str]] = field(default_factory=list)


def bench_vouchers(w: World, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder) -> list[OpResult]:
    keys = ("claim", "lookup", "redeem", "reverse")
    missing = missing_routes(w.http, "partners", "campaigns", "launch", "claim")
    if missing:
        note = "needs " + ", ".join(missing)
        return [OpResult(k, status="not available yet", note=note) for k in keys]
    partner_id, api_key = create_partner(w.http, w.marketer, "Bench Coffee")
    campaign = create_campaign(
        w.http,
        w.marketer,
        partner_id,
        inventory=100_000,
        per_subscriber_limit=1000,
        points_price=CLAIM_PRICE,
    )
    vw = VoucherWorld(partner_id, api_key, campaign["campaign_id"], limit=int(campaign["per_subscriber_limit"]))
    results = [bench_claim(w, vw, iterations, warmup, rec, base_rec)]
    for key, bench in (("lookup", bench_lookup), ("redeem", bench_redeem), ("reverse", bench_reverse)):
        not_routed = missing_routes(w.http, key)
        if not_routed:
            results.append(OpResult(key, status="not available yet", note="needs " + ", ".join(not_routed)))
            continue
        try:
            results.append(bench(w, vw, iterations, warmup, rec, base_rec))
        except Exception as exc:
            results.append(OpResult(key, status="error", note=f"{type(exc).__name__}: {exc}"))
    return results


def _prepare_claim_baseline(w: World, vw: VoucherWorld) -> None:
    """Copy the campaign, its stock shard and a voucher diem issued (same item
    sizes) to the baseline tables."""
    raw = w.raw
    copy_items(raw, w.table("campaigns"), w.base_table("campaigns"), [{"campaign_id": _s(vw.campaign_id)}])
    vw.shard_counter = f"stock#{vw.campaign_id}#0"
    shard = raw.get_item(
        TableName=w.table("counters"), Key={"counter_id": _s(vw.shard_counter)}, ConsistentRead=True
    ).get("Item") or {
        "counter_id": _s(vw.shard_counter),
        "issued": _n(0),
        "reversed": _n(0),
        "status": _s("active"),
        "starts_at": _s(now_iso(-3600)),
        "ends_at": _s(now_iso(7 * 86400)),
    }
    raw.put_item(TableName=w.base_table("counters"), Item={**shard, "stock": _n(10**7)})
    code = normalise_code(vw.diem_codes[0])
    found = raw.get_item(TableName=w.table("vouchers"), Key={"code": _s(code)}, ConsistentRead=True).get("Item")
    vw.voucher_template = found or {
        "campaign_id": _s(vw.campaign_id),
        "partner_id": _s(vw.partner_id),
        "shard": _n(0),
        "status": _s("issued"),
        "title": _s("One free iced coffee"),
        "value_vnd": _n(45_000),
        "source": _s("claim"),
    }


def bench_claim(
    w: World, vw: VoucherWorld, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder
) -> OpResult:
    path = f"/v1/campaigns/{vw.campaign_id}/claims"
    subs, ledger, counters = w.base_table("subscribers"), w.base_table("ledger"), w.base_table("counters")
    vouchers = w.base_table("vouchers")
    keyed_base = KeyedBaseline(w)

    def keep(body: Any) -> None:
        vw.diem_codes.append(body["voucher"]["code"])

    # one claim first, so the baseline can copy the shapes diem writes
    m0 = w.next_msisdn("diem")
    keep(expect(w.http.call("POST", path, {}, w.sub_headers[m0]), 201, "claim"))
    _prepare_claim_baseline(w, vw)
    template = vw.voucher_template or {}

    def base(keyed: bool) -> None:
        # the campaign's price and limit are known (a warm function caches the
        # campaign); the stock shard carries its status and window
        m = w.next_msisdn("base")
        owner = w.owners[m]
        claims_counter = f"claims#{vw.campaign_id}#{m}"
        response = w.raw.batch_get_item(
            RequestItems={
                subs: {"Keys": [{"msisdn": _s(m)}], "ConsistentRead": True},
                counters: {
                    "Keys": [{"counter_id": _s(claims_counter)}, {"counter_id": _s(vw.shard_counter)}],
                    "ConsistentRead": True,
                },
            }
        )
        item = response["Responses"][subs][0]
        counted = {c["counter_id"]["S"]: c for c in response["Responses"][counters]}
        mine = claims_counter in counted and counted[claims_counter].get("owner_id") == _s(owner)
        code = secrets.token_hex(10).upper()
        update, seq, balance, links = _balance_update(subs, item, -CLAIM_PRICE, f"spend:{code}")
        now = _s(now_iso())
        voucher = {
            **template,
            "code": _s(code),
            "msisdn": _s(m),
            "owner_id": _s(owner),
            "issued_at": now,
            "expires_at": _s(now_iso(30 * 86400)),
        }
        voucher.pop("_rq", None)
        entry = _ledger_item(owner, m, f"spend:{code}", seq, "spend", -CLAIM_PRICE, balance, links)
        if mine:
            count = {
                "UpdateExpression": "ADD #count :one",
                "ConditionExpression": "owner_id = :owner AND #count < :limit",
                "ExpressionAttributeValues": {":one": _n(1), ":owner": _s(owner), ":limit": _n(vw.limit)},
            }
        else:
            count = {
                "UpdateExpression": "SET #count = :one, owner_id = :owner",
                "ConditionExpression": "attribute_not_exists(counter_id) OR owner_id <> :owner",
                "ExpressionAttributeValues": {":one": _n(1), ":owner": _s(owner)},
            }
        w.raw.transact_write_items(
            TransactItems=stamped(
                [
                    update,
                    {
                        "Put": {
                            "TableName": ledger,
                            "Item": entry,
                            "ConditionExpression": "attribute_not_exists(entry_id)",
                        }
                    },
                    {
                        "Update": {
                            "TableName": counters,
                            "Key": {"counter_id": _s(vw.shard_counter)},
                            "UpdateExpression": f"ADD stock :minus, issued :one, {day_count('i')} :one",
                            "ConditionExpression": "stock > :zero AND #status = :active AND starts_at <= :now "
                            "AND ends_at > :now",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":minus": _n(-1),
                                ":one": _n(1),
                                ":zero": _n(0),
                                ":active": _s("active"),
                                ":now": now,
                            },
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": counters,
                            "Key": {"counter_id": _s(claims_counter)},
                            "ExpressionAttributeNames": {"#count": "count"},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                            **count,
                        }
                    },
                    {
                        "Put": {
                            "TableName": vouchers,
                            "Item": voucher,
                            "ConditionExpression": "attribute_not_exists(code)",
                        }
                    },
                    *keyed_base.record(keyed),
                ]
            )
        )
        vw.base_codes.append(code)

    def variant(keyed: bool) -> Variant:
        def client() -> None:
            m = w.next_msisdn("diem")
            keep(expect(w.http.call("POST", path, {}, with_key(w.sub_headers[m], keyed)), 201, "claim"))

        def handler() -> Callable[[], Any]:
            m = w.next_msisdn("handler")
            return checked(w.http.prepare("POST", path, {}, with_key(w.sub_headers[m], keyed)), 201, keep)

        return Variant(client, handler, lambda: base(keyed))

    variants = {"unkeyed": variant(False), "keyed": variant(True)}
    return measure("claim", variants, rec, base_rec, iterations, warmup, keyed_base.after_probes)


def bench_lookup(
    w: World, vw: VoucherWorld, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder
) -> OpResult:
    headers = {"X-Api-Key": vw.api_key}
    vouchers = w.base_table("vouchers")
    turn = iter(range(10**9))

    def code() -> str:
        return vw.diem_codes[next(turn) % len(vw.diem_codes)]

    def variant(keyed: bool) -> Variant:
        def client() -> None:
            expect(w.http.call("GET", f"/v1/vouchers/{code()}", headers=with_key(headers, keyed)), 200, "look-up")

        def handler() -> Callable[[], Any]:
            return checked(w.http.prepare("GET", f"/v1/vouchers/{code()}", headers=with_key(headers, keyed)), 200)

        def base() -> None:
            c = vw.base_codes[next(turn) % len(vw.base_codes)]
            w.raw.get_item(TableName=vouchers, Key={"code": _s(c)})

        return Variant(client, handler, base)

    # the first request pays the API key look-up, cached afterwards (TARGETS.md)
    variants = {"unkeyed": variant(False), "keyed": variant(True)}
    variants["unkeyed"].client()
    return measure("lookup", variants, rec, base_rec, iterations, warmup)


def _needed(warmup: int, iterations: int) -> int:
    """Requests of one side a two-variant operation makes: probes, then client and handler series."""
    return 2 * PROBES + 2 * 2 * (warmup + iterations)


def bench_redeem(
    w: World, vw: VoucherWorld, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder
) -> OpResult:
    headers = {"X-Api-Key": vw.api_key}
    vouchers, redemptions = w.base_table("vouchers"), w.base_table("redemptions")
    diem_codes, base_codes = list(vw.diem_codes), list(vw.base_codes)
    keyed_base = KeyedBaseline(w)

    def keep(body: Any) -> None:
        vw.diem_redemptions.append(body["redemption_id"])

    def request() -> dict[str, Any]:
        return {"code": diem_codes.pop(), "order_ref": f"order-{uuid.uuid4().hex[:12]}", "store_id": "store-1"}

    def base(keyed: bool) -> None:
        code = base_codes.pop()
        now = now_iso()
        redemption_id = "rd_" + secrets.token_hex(12)
        w.raw.transact_write_items(
            TransactItems=stamped(
                [
                    {
                        "Update": {
                            "TableName": vouchers,
                            "Key": {"code": _s(code)},
                            "UpdateExpression": "SET #status = :redeemed, redemption_id = :rid, redeemed_at = :now, "
                            "redeemed_campaign = campaign_id",
                            "ConditionExpression": "#status = :issued AND partner_id = :partner AND expires_at > :now",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":redeemed": _s("redeemed"),
                                ":issued": _s("issued"),
                                ":rid": _s(redemption_id),
                                ":partner": _s(vw.partner_id),
                                ":now": _s(now),
                            },
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Put": {
                            "TableName": redemptions,
                            "Item": {
                                "redemption_id": _s(redemption_id),
                                "partner_id": _s(vw.partner_id),
                                "code": _s(code),
                                "order_ref": _s(f"order-{uuid.uuid4().hex[:12]}"),
                                "store_id": _s("store-1"),
                                "redeemed_at": _s(now),
                            },
                            "ConditionExpression": "attribute_not_exists(redemption_id)",
                        }
                    },
                    *keyed_base.record(keyed),
                ]
            )
        )
        vw.base_redemptions.append((redemption_id, code))

    def variant(keyed: bool) -> Variant:
        def client() -> None:
            reply = w.http.call("POST", "/v1/redemptions", request(), with_key(headers, keyed))
            keep(expect(reply, 201, "redeem"))

        def handler() -> Callable[[], Any]:
            return checked(w.http.prepare("POST", "/v1/redemptions", request(), with_key(headers, keyed)), 201, keep)

        return Variant(client, handler, lambda: base(keyed))

    # enough issued vouchers for every redemption of every series (claimed untimed)
    path = f"/v1/campaigns/{vw.campaign_id}/claims"
    while len(diem_codes) < _needed(warmup, iterations) + 1:
        m = w.next_msisdn("top-up")
        diem_codes.append(expect(w.http.call("POST", path, {}, w.sub_headers[m]), 201, "claim")["voucher"]["code"])
    if len(base_codes) < 2 * (PROBES + warmup + iterations):
        raise Unexpected("the baseline claimed fewer vouchers than it redeems")
    variants = {"unkeyed": variant(False), "keyed": variant(True)}
    return measure("redeem", variants, rec, base_rec, iterations, warmup, keyed_base.after_probes)


def bench_reverse(
    w: World, vw: VoucherWorld, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder
) -> OpResult:
    """`POST /v1/redemptions/{id}/reversal` on the redemptions the redeem benchmark made.
    No figure in TARGETS.md: the baseline makes diem's calls (the redemption, then
    its voucher, then one transaction of voucher, redemption, stock shard and the
    check that the voucher's owner still holds the number)."""
    headers = {"X-Api-Key": vw.api_key}
    vouchers, redemptions, counters = w.base_table("vouchers"), w.base_table("redemptions"), w.base_table("counters")
    subscribers = w.base_table("subscribers")
    diem_ids, base_ids = list(vw.diem_redemptions), list(vw.base_redemptions)
    if len(diem_ids) < _needed(warmup, iterations) or len(base_ids) < 2 * (PROBES + warmup + iterations):
        raise Unexpected("fewer redemptions than reversals")
    keyed_base = KeyedBaseline(w)

    def base(keyed: bool) -> None:
        redemption_id, _ = base_ids.pop()
        now = now_iso()
        got = w.raw.get_item(TableName=redemptions, Key={"redemption_id": _s(redemption_id)}, ConsistentRead=True)
        code = got["Item"]["code"]
        voucher = w.raw.get_item(TableName=vouchers, Key={"code": code}, ConsistentRead=True)["Item"]
        w.raw.transact_write_items(
            TransactItems=stamped(
                [
                    {
                        "Update": {
                            "TableName": vouchers,
                            "Key": {"code": code},
                            "UpdateExpression": (
                                "SET #status = :issued REMOVE redemption_id, redeemed_at, redeemed_campaign"
                            ),
                            "ConditionExpression": "#status = :redeemed AND redemption_id = :rid",
                            "ExpressionAttributeNames": {"#status": "status"},
                            "ExpressionAttributeValues": {
                                ":issued": _s("issued"),
                                ":redeemed": _s("redeemed"),
                                ":rid": _s(redemption_id),
                            },
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": redemptions,
                            "Key": {"redemption_id": _s(redemption_id)},
                            "UpdateExpression": "SET reversed_at = :now, campaign_id = :campaign, #shard = :shard",
                            "ExpressionAttributeNames": {"#shard": "shard"},
                            "ConditionExpression": "partner_id = :partner AND attribute_not_exists(reversed_at)",
                            "ExpressionAttributeValues": {
                                ":now": _s(now),
                                ":campaign": voucher["campaign_id"],
                                ":shard": voucher.get("shard", _n(0)),
                                ":partner": _s(vw.partner_id),
                            },
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "Update": {
                            "TableName": counters,
                            "Key": {"counter_id": _s(vw.shard_counter)},
                            "UpdateExpression": f"ADD reversed :one, {day_count('r')} :one",
                            "ConditionExpression": "attribute_exists(counter_id)",
                            "ExpressionAttributeValues": {":one": _n(1)},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    {
                        "ConditionCheck": {
                            "TableName": subscribers,
                            "Key": {"msisdn": voucher["msisdn"]},
                            "ConditionExpression": "owner_id = :owner",
                            "ExpressionAttributeValues": {":owner": voucher["owner_id"]},
                            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
                        }
                    },
                    *keyed_base.record(keyed),
                ]
            )
        )

    def variant(keyed: bool) -> Variant:
        def client() -> None:
            path = f"/v1/redemptions/{diem_ids.pop()}/reversal"
            expect(w.http.call("POST", path, None, with_key(headers, keyed)), 200, "reverse")

        def handler() -> Callable[[], Any]:
            path = f"/v1/redemptions/{diem_ids.pop()}/reversal"
            return checked(w.http.prepare("POST", path, None, with_key(headers, keyed)), 200)

        return Variant(client, handler, lambda: base(keyed))

    variants = {"unkeyed": variant(False), "keyed": variant(True)}
    return measure("reverse", variants, rec, base_rec, iterations, warmup, keyed_base.after_probes)


# -- entry -------------------------------------------------------------------------


def run(endpoint: str, iterations: int = ITERATIONS, warmup: int = WARMUP) -> dict[str, Any]:
    """Measure every operation; return the results as JSON-ready data."""
    from chalicelib import store

    started = time.perf_counter()
    w = build_world(endpoint)
    rec = CallRecorder(store.clients(), peek=w.peek)
    base_rec = CallRecorder([w.raw], peek=w.peek)
    results: list[OpResult] = []
    for key, bench in (("points_read", bench_points_read), ("accrue", bench_accrue)):
        try:
            results.append(bench(w, iterations, warmup, rec, base_rec))
        except Exception as exc:
            results.append(OpResult(key, status="error", note=f"{type(exc).__name__}: {exc}"))
    try:
        results.extend(bench_vouchers(w, iterations, warmup, rec, base_rec))
    except Exception as exc:
        done = {r.key for r in results}
        note = f"{type(exc).__name__}: {exc}"
        keys = ("claim", "lookup", "redeem", "reverse")
        results.extend(OpResult(k, status="error", note=note) for k in keys if k not in done)
    accrue = next((r for r in results if r.key == "accrue" and r.status == "ok"), None)
    monthly = None
    if accrue:
        units = accrue.variants["unkeyed"].diem.write_units
        monthly = {
            "write_units_per_accrual": units,
            "accruals_per_month": MONTHLY_ACCRUALS,
            "write_units_per_month": int(units * MONTHLY_ACCRUALS),
            "budget": MONTHLY_WCU_BUDGET,
            "within_budget": units * MONTHLY_ACCRUALS < MONTHLY_WCU_BUDGET,
        }
    return {
        "iterations": iterations,
        "warmup": warmup,
        "probes_for_calls": PROBES,
        "targets": {"handler_ratio": HANDLER_RATIO, "client_ratio": CLIENT_RATIO},
        "units_source": (
            "computed from item sizes by bench.units (DynamoDB's documented rules); the engine's "
            "ConsumedCapacity is never asked for"
        ),
        "operations": [r.as_dict() for r in results],
        "accrual_month": monthly,
        "events": events_cost(w, results),
        "seconds": round(time.perf_counter() - started, 1),
    }


# -- events (issue 8): what the hot paths add for them --------------------------------

# the tables of the events pipeline: written by the events function and the
# deliveries consumer, never by a request
EVENT_TABLES = ("events", "webhooks", "deliveries", "notifications")
HOT_PATHS = ("accrue", "claim", "redeem")


def events_cost(w: World, results: list[OpResult]) -> dict[str, Any]:
    """The write units accrue, claim and redeem spend on the events pipeline's
    tables (0: events are read from the change streams), and the streams on
    the tables they write."""
    from bench import units
    from chalicelib.store import schema

    streams = {
        m.Meta.base_name: w.raw.describe_table(TableName=w.prefix + m.Meta.base_name)["Table"]
        .get("StreamSpecification", {})
        .get("StreamViewType")
        for m in schema.streamed_models()
    }
    added: dict[str, float] = {}
    written: dict[str, list[str]] = {}
    for result in results:
        if result.key not in HOT_PATHS or result.status != "ok":
            continue
        writes = [wr for v in result.variants.values() for c in v.diem.calls for wr in c.writes]
        tables = sorted({_base_name(wr.table) for wr in writes})
        written[result.key] = tables
        added[result.key] = sum(
            units.write_units(max(units.item_size(wr.before), units.item_size(wr.after)), wr.transactional)
            for wr in writes
            if _base_name(wr.table) in EVENT_TABLES
        )
    return {"write_units_added": added, "tables_written": written, "streams": streams}
