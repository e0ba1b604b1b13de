"""Per-operation cost and in-process overhead against a raw boto3 baseline.

For each operation of TARGETS.md ("Cost per operation") this measures, on
DynamoDB Local:

- the DynamoDB calls one request makes (botocore events on every client diem
  uses), with the write/read units DynamoDB Local reports for them (the bench
  asks for `ReturnConsumedCapacity=TOTAL` on every call; DynamoDB Local
  computes units from item sizes, 2 per KB per item in a transaction);
- the median and p90 latency of the request through the Chalice test client
  (authorizer, middleware, routing, validation, domain, PynamoDB), and of a
  plain boto3 script making the minimal calls on tables of the same shape
  holding items of the same size. Both run interleaved in one loop (the order
  alternates every iteration) so drift hits both sides alike; the ratio of
  the medians is the overhead figure (target <= 1.2x).

Voucher operations (claim, look-up, redeem) run once their routes exist;
until then their rows say "not available yet".
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
    bearer,
    new_prefix,
    now_iso,
    raw_client,
    use_tables,
)
from chalicelib import wiring
from chalicelib.points import service as points
from chalicelib.store import Subscriber

ITERATIONS = 300
WARMUP = 20
PROBES = 5
SUBSCRIBERS = 20
SEED_POINTS = 1_000_000
CLAIM_PRICE = 100
TARGET_RATIO = 1.2
MONTHLY_ACCRUALS = 70_000_000 * 3
MONTHLY_WCU_BUDGET = 1_000_000_000


@dataclass(frozen=True)
class Target:
    """TARGETS.md: the calls allowed (operation -> at most how many) and the write units."""

    text: str
    max_calls: dict[str, int]
    max_write_units: float | None = None

    def met_by(self, calls: list[DynamoCall]) -> bool:
        counts = Counter(c.operation for c in calls)
        if any(op not in self.max_calls or n > self.max_calls[op] for op, n in counts.items()):
            return False
        units = sum(c.write_units for c in calls)
        return self.max_write_units is None or units <= self.max_write_units


TARGETS = {
    "points_read": Target("1 GetItem", {"GetItem": 1}),
    "accrue": Target("<= 1 read + 1 TransactWriteItems, <= 4 WCU", {"GetItem": 1, "TransactWriteItems": 1}, 4),
    "claim": Target(
        "1 BatchGetItem + 1 TransactWriteItems, <= 12 WCU", {"BatchGetItem": 1, "TransactWriteItems": 1}, 12
    ),
    "redeem": Target("1 TransactWriteItems, <= 6 WCU", {"TransactWriteItems": 1}, 6),
    "lookup": Target("1 GetItem", {"GetItem": 1}),
}

NAMES = {
    "points_read": "points read",
    "accrue": "accrue one spend event",
    "claim": "claim a voucher",
    "lookup": "partner voucher look-up",
    "redeem": "redeem a voucher",
}


@dataclass
class Side:
    """One side (diem or baseline) of an operation's measurement."""

    calls: list[DynamoCall] = field(default_factory=list)
    calls_with_key: list[DynamoCall] | None = None
    timing: Timing = field(default_factory=Timing)

    def labels(self, calls: list[DynamoCall] | None = None) -> list[str]:
        return [c.label() for c in (self.calls if calls is None else calls)]

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

    def as_dict(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "calls": self.labels(),
            "round_trips": len(self.calls),
            "write_units": self.write_units,
            "read_units": self.read_units,
            "index_units": self.index_units,
            **self.timing.as_dict(),
        }
        if self.calls_with_key is not None:
            out["calls_with_idempotency_key"] = self.labels(self.calls_with_key)
        return out


@dataclass
class OpResult:
    key: str
    status: str = "ok"  # ok | not available yet | error
    note: str = ""
    diem: Side | None = None
    baseline: Side | None = None
    layers: dict[str, Timing] = field(default_factory=dict)

    @property
    def name(self) -> str:
        return NAMES[self.key]

    @property
    def ratio(self) -> float | None:
        if self.status != "ok" or not self.diem or not self.baseline:
            return None
        return self.diem.timing.median / self.baseline.timing.median

    @property
    def paired_ratio(self) -> float | None:
        """Median of diem/baseline over the iterations (each pair timed back to back)."""
        if self.status != "ok" or not self.diem or not self.baseline:
            return None
        pairs = zip(self.diem.timing.samples_ms, self.baseline.timing.samples_ms, strict=True)
        return statistics.median(d / b for d, b in pairs)

    @property
    def meets_cost(self) -> bool | None:
        return TARGETS[self.key].met_by(self.diem.calls) if self.status == "ok" and self.diem else None

    def as_dict(self) -> dict[str, Any]:
        ratio = self.ratio
        return {
            "operation": self.key,
            "name": self.name,
            "status": self.status,
            "note": self.note,
            "target": TARGETS[self.key].text,
            "meets_cost_target": self.meets_cost,
            "diem": self.diem.as_dict() if self.diem else None,
            "baseline": self.baseline.as_dict() if self.baseline else None,
            "layers": {name: t.as_dict() for name, t in self.layers.items()},
            "ratio_of_medians": round(ratio, 3) if ratio is not None else None,
            "median_of_paired_ratios": round(self.paired_ratio, 3) if self.paired_ratio is not None else None,
            "meets_overhead_target": (ratio <= TARGET_RATIO) if ratio is not None else None,
        }


# -- measuring -----------------------------------------------------------------


def _typical(samples: list[list[DynamoCall]]) -> list[DynamoCall]:
    """The most common call pattern among the probes (ties: the first seen)."""
    patterns = Counter(tuple(c.label() for c in s) for s in samples)
    best = patterns.most_common(1)[0][0]
    return next(s for s in samples if tuple(c.label() for c in s) == best)


def measure(
    key: str,
    diem_op: Callable[[], None],
    base_op: Callable[[], None],
    diem_recorder: CallRecorder,
    base_recorder: CallRecorder,
    iterations: int,
    warmup: int,
    diem_with_key: Callable[[], None] | None = None,
    layers: dict[str, Callable[[], Callable[[], Any]]] | None = None,
) -> OpResult:
    """Calls and units of one request per side, then latency of all series interleaved.

    `layers` are extra series timed in the same loop to show where diem's time
    goes (the Lambda handler without the test client, the domain function
    without HTTP ...); they are not part of the ratio. Each is a factory: its
    set-up (building an event, picking a subscriber) is not timed, only the
    function it returns.
    """
    result = OpResult(key, diem=Side(), baseline=Side())
    assert result.diem and result.baseline
    # 1. what one request costs, with the recorders attached
    for side, op, recorder in ((result.diem, diem_op, diem_recorder), (result.baseline, base_op, base_recorder)):
        samples = []
        with recorder:
            for _ in range(PROBES):
                op()
                samples.append(recorder.take())
            if side is result.diem and diem_with_key is not None:
                diem_with_key()
                side.calls_with_key = recorder.take()
        side.calls = _typical(samples)
    # 2. latency, recorders detached, the series interleaved (order rotating)
    series: list[tuple[Callable[[], Callable[[], Any]], list[float]]] = [
        (lambda: diem_op, result.diem.timing.samples_ms),
        (lambda: base_op, result.baseline.timing.samples_ms),
    ]
    for name, prepare in (layers or {}).items():
        try:  # a layer is an explanation, not the figure: one that breaks is left out
            prepare()()
        except Exception as exc:
            result.note += f"layer {name!r} left out ({type(exc).__name__}: {exc}). "
            continue
        result.layers[name] = Timing()
        series.append((prepare, result.layers[name].samples_ms))
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


LAYER_HANDLER = "Lambda handler only (no test client)"


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
    )


# -- baseline building blocks (plain boto3, the minimal calls) ---------------


def _n(value: int | float) -> dict[str, str]:
    return {"N": str(value)}


def _s(value: str) -> dict[str, str]:
    return {"S": value}


def _ledger_item(owner: str, msisdn: str, entry_id: str, seq: int, kind: str, points: int, balance: int) -> dict:
    return {
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


def _balance_update(table: str, item: dict[str, Any], delta: int) -> tuple[dict[str, Any], int, int]:
    """The conditional update of a subscriber item read just before: new balance, buckets, rank, seq."""
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
                "SET #seq = :seq, #balance = :balance, #buckets = :buckets, #rank = :rank, #tier = :tier"
            ),
            "ConditionExpression": "#seq = :before AND #owner = :owner",
            "ExpressionAttributeNames": {
                "#seq": "seq",
                "#balance": "balance",
                "#buckets": "buckets",
                "#rank": "rank",
                "#tier": "tier",
                "#owner": "owner_id",
            },
            "ExpressionAttributeValues": {
                ":seq": _n(before + 1),
                ":balance": _n(balance),
                ":buckets": {"M": buckets},
                ":rank": {"M": rank},
                ":tier": item.get("tier", _s("loyal")),
                ":before": _n(before),
                ":owner": item["owner_id"],
            },
            "ReturnValuesOnConditionCheckFailure": "ALL_OLD",
        }
    }
    return update, before + 1, balance


# -- points ----------------------------------------------------------------------


def bench_points_read(w: World, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder) -> OpResult:
    table = w.base_table("subscribers")

    def diem() -> None:
        m = w.next_msisdn("diem")
        expect(w.http.call("GET", f"/v1/subscribers/{m}/points", headers=w.sub_headers[m]), 200, "points read")

    def base() -> None:
        m = w.next_msisdn("base")
        w.raw.get_item(TableName=table, Key={"msisdn": _s(m)}, ConsistentRead=True)

    def handler() -> Callable[[], Any]:
        m = w.next_msisdn("handler")
        return checked(w.http.prepare("GET", f"/v1/subscribers/{m}/points", headers=w.sub_headers[m]), 200)

    def service() -> Callable[[], Any]:
        m = w.next_msisdn("service")
        return lambda: points.view(m)

    def pynamodb() -> Callable[[], Any]:
        m = w.next_msisdn("pynamodb")
        return lambda: Subscriber.get(m, consistent_read=True)

    layers = {LAYER_HANDLER: handler, "domain: points.service.view": service, "PynamoDB Subscriber.get": pynamodb}
    return measure("points_read", diem, base, rec, base_rec, iterations, warmup, layers=layers)


def bench_accrue(w: World, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder) -> OpResult:
    subs, ledger = w.base_table("subscribers"), w.base_table("ledger")
    run = uuid.uuid4().hex[:8]
    counter = iter(range(10**9))

    def body(side: str = "diem") -> dict[str, Any]:
        return {
            "event_id": f"bench-{run}-{next(counter)}",
            "msisdn": w.next_msisdn(side),
            "amount_vnd": 50_000,
            "service": "mobile",
            "occurred_at": now_iso(),
        }

    def diem() -> None:
        expect(w.http.call("POST", "/v1/spend-events", body(), w.operator), 201, "accrue")

    def diem_with_key() -> None:
        headers = {**w.operator, "Idempotency-Key": uuid.uuid4().hex}
        expect(w.http.call("POST", "/v1/spend-events", body(), headers), 201, "accrue with key")

    def base() -> None:
        m = w.next_msisdn("base")
        item = w.raw.get_item(TableName=subs, Key={"msisdn": _s(m)}, ConsistentRead=True)["Item"]
        update, seq, balance = _balance_update(subs, item, 2_500)
        entry = _ledger_item(item["owner_id"]["S"], m, f"earn:base-{run}-{next(counter)}", seq, "earn", 2_500, balance)
        put = {"Put": {"TableName": ledger, "Item": entry, "ConditionExpression": "attribute_not_exists(entry_id)"}}
        w.raw.transact_write_items(TransactItems=[update, put])

    def handler() -> Callable[[], Any]:
        return checked(w.http.prepare("POST", "/v1/spend-events", body("handler"), w.operator), 201)

    def service() -> Callable[[], Any]:
        event = body("service")
        occurred = datetime.fromisoformat(event["occurred_at"].replace("Z", "+00:00"))
        return lambda: points.accrue(event["event_id"], event["msisdn"], 50_000, "mobile", occurred, None)

    layers = {LAYER_HANDLER: handler, "domain: points.service.accrue": service}
    return measure("accrue", diem, base, rec, base_rec, iterations, warmup, diem_with_key, layers)


# -- vouchers --------------------------------------------------------------------

CONTRACT_ROUTES = {
    "partners": ("POST", "/v1/partners"),
    "campaigns": ("POST", "/v1/campaigns"),
    "launch": ("POST", "/v1/campaigns/{}/launch"),
    "claim": ("POST", "/v1/campaigns/{}/claims"),
    "lookup": ("GET", "/v1/vouchers/{}"),
    "redeem": ("POST", "/v1/redemptions"),
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


def bench_vouchers(w: World, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder) -> list[OpResult]:
    missing = missing_routes(w.http, "partners", "campaigns", "launch", "claim")
    if missing:
        note = "needs " + ", ".join(missing)
        return [OpResult(k, status="not available yet", note=note) for k in ("claim", "lookup", "redeem")]
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
    lookup_missing = missing_routes(w.http, "lookup")
    if lookup_missing:
        results.append(OpResult("lookup", status="not available yet", note="needs " + ", ".join(lookup_missing)))
    else:
        results.append(bench_lookup(w, vw, iterations, warmup, rec, base_rec))
    redeem_missing = missing_routes(w.http, "redeem")
    if redeem_missing:
        results.append(OpResult("redeem", status="not available yet", note="needs " + ", ".join(redeem_missing)))
    else:
        results.append(bench_redeem(w, vw, iterations, warmup, rec, base_rec))
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

    def diem(key: str | None = None) -> None:
        m = w.next_msisdn("diem")
        headers = {**w.sub_headers[m], **({"Idempotency-Key": key} if key else {})}
        data = expect(w.http.call("POST", path, {}, headers), 201, "claim")
        vw.diem_codes.append(data["voucher"]["code"])

    # one claim first, so the baseline can copy the shapes diem writes
    diem()
    _prepare_claim_baseline(w, vw)
    template = vw.voucher_template or {}

    def base() -> None:
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
        update, seq, balance = _balance_update(subs, item, -CLAIM_PRICE)
        code = secrets.token_hex(10).upper()
        now = _s(now_iso())
        voucher = {
            **template,
            "code": _s(code),
            "msisdn": _s(m),
            "owner_id": _s(owner),
            "issued_at": now,
            "expires_at": _s(now_iso(30 * 86400)),
        }
        entry = _ledger_item(owner, m, f"spend:{code}", seq, "spend", -CLAIM_PRICE, balance)
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
            TransactItems=[
                update,
                {"Put": {"TableName": ledger, "Item": entry, "ConditionExpression": "attribute_not_exists(entry_id)"}},
                {
                    "Update": {
                        "TableName": counters,
                        "Key": {"counter_id": _s(vw.shard_counter)},
                        "UpdateExpression": "ADD stock :minus, issued :one",
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
                {"Put": {"TableName": vouchers, "Item": voucher, "ConditionExpression": "attribute_not_exists(code)"}},
            ]
        )
        vw.base_codes.append(code)

    def diem_with_key() -> None:
        diem(uuid.uuid4().hex)

    def keep(body: Any) -> None:
        vw.diem_codes.append(body["voucher"]["code"])

    def handler() -> Callable[[], Any]:
        m = w.next_msisdn("handler")
        return checked(w.http.prepare("POST", path, {}, w.sub_headers[m]), 201, keep)

    def domain() -> Callable[[], Any]:
        m = w.next_msisdn("domain")
        return lambda: keep(wiring.vouchers().claim(m, vw.campaign_id, None).body)

    layers = {LAYER_HANDLER: handler, "domain: vouchers.service.claim": domain}
    return measure("claim", diem, base, rec, base_rec, iterations, warmup, diem_with_key, layers)


def bench_lookup(
    w: World, vw: VoucherWorld, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder
) -> OpResult:
    headers = {"X-Api-Key": vw.api_key}
    vouchers = w.base_table("vouchers")
    turn = iter(range(10**9))

    def diem() -> None:
        code = vw.diem_codes[next(turn) % len(vw.diem_codes)]
        expect(w.http.call("GET", f"/v1/vouchers/{code}", headers=headers), 200, "voucher look-up")

    def base() -> None:
        code = vw.base_codes[next(turn) % len(vw.base_codes)]
        w.raw.get_item(TableName=vouchers, Key={"code": _s(code)})

    def handler() -> Callable[[], Any]:
        code = vw.diem_codes[next(turn) % len(vw.diem_codes)]
        return checked(w.http.prepare("GET", f"/v1/vouchers/{code}", headers=headers), 200)

    def domain() -> Callable[[], Any]:
        code = vw.diem_codes[next(turn) % len(vw.diem_codes)]
        return lambda: wiring.redemptions().lookup(vw.partner_id, code)

    # the first request pays the API key look-up, cached afterwards (TARGETS.md)
    diem()
    layers = {LAYER_HANDLER: handler, "domain: partners.redemptions.lookup": domain}
    return measure("lookup", diem, base, rec, base_rec, iterations, warmup, layers=layers)


def bench_redeem(
    w: World, vw: VoucherWorld, iterations: int, warmup: int, rec: CallRecorder, base_rec: CallRecorder
) -> OpResult:
    headers = {"X-Api-Key": vw.api_key}
    vouchers, redemptions = w.base_table("vouchers"), w.base_table("redemptions")
    diem_codes, base_codes = list(vw.diem_codes), list(vw.base_codes)

    def diem(key: str | None = None) -> None:
        body = {"code": diem_codes.pop(), "order_ref": f"order-{uuid.uuid4().hex[:12]}", "store_id": "store-1"}
        hdrs = {**headers, **({"Idempotency-Key": key} if key else {})}
        expect(w.http.call("POST", "/v1/redemptions", body, hdrs), 201, "redeem")

    def base() -> None:
        code = base_codes.pop()
        now = now_iso()
        redemption_id = "rd_" + secrets.token_hex(12)
        w.raw.transact_write_items(
            TransactItems=[
                {
                    "Update": {
                        "TableName": vouchers,
                        "Key": {"code": _s(code)},
                        "UpdateExpression": "SET #status = :redeemed, redemption_id = :rid, redeemed_at = :now, "
                        "redeemed_campaign = campaign_id REMOVE expiry_due",
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
            ]
        )

    def diem_with_key() -> None:
        diem(uuid.uuid4().hex)

    def handler() -> Callable[[], Any]:
        body = {"code": diem_codes.pop(), "order_ref": f"order-{uuid.uuid4().hex[:12]}", "store_id": "store-1"}
        return checked(w.http.prepare("POST", "/v1/redemptions", body, headers), 201)

    def domain() -> Callable[[], Any]:
        code, order_ref = diem_codes.pop(), f"order-{uuid.uuid4().hex[:12]}"
        return lambda: wiring.redemptions().redeem(vw.partner_id, code, order_ref, "store-1", None)

    layers = {LAYER_HANDLER: handler, "domain: partners.redemptions.redeem": domain}
    # enough issued vouchers for every redemption of every series (claimed untimed)
    needed = PROBES + 1 + len(layers) + (warmup + iterations) * (1 + len(layers))
    path = f"/v1/campaigns/{vw.campaign_id}/claims"
    while len(diem_codes) < needed:
        m = w.next_msisdn("top-up")
        diem_codes.append(expect(w.http.call("POST", path, {}, w.sub_headers[m]), 201, "claim")["voucher"]["code"])
    if len(base_codes) < PROBES + warmup + iterations:
        raise Unexpected("the baseline claimed fewer vouchers than it redeems")
    return measure("redeem", diem, base, rec, base_rec, iterations, warmup, diem_with_key, layers)


# -- entry -------------------------------------------------------------------------


def run(endpoint: str, iterations: int = ITERATIONS, warmup: int = WARMUP) -> dict[str, Any]:
    """Measure every operation; return the results as JSON-ready data."""
    from chalicelib import store

    started = time.perf_counter()
    w = build_world(endpoint)
    rec = CallRecorder(store.clients())
    base_rec = CallRecorder([w.raw])
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
        results.extend(OpResult(k, status="error", note=note) for k in ("claim", "lookup", "redeem") if k not in done)
    accrue = next((r for r in results if r.key == "accrue" and r.status == "ok"), None)
    monthly = None
    if accrue and accrue.diem:
        units = accrue.diem.write_units
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
        "units_source": (
            "ConsumedCapacity as reported by DynamoDB Local (the bench requests ReturnConsumedCapacity=TOTAL "
            "on every call, including diem's TransactWriteItems and BatchGetItem which are sent without it)"
        ),
        "operations": [r.as_dict() for r in results],
        "accrual_month": monthly,
        "seconds": round(time.perf_counter() - started, 1),
    }
