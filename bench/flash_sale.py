"""Flash sale on the atomic embedded engine: many threads claiming one campaign at once.

A campaign with `INVENTORY` vouchers and a per-subscriber limit of 1 is
launched to 1.3x as many subscribers with ample points; `THREADS` threads
send `POST /v1/campaigns/{id}/claims` through the app as fast as they can
(every subscriber once, a tenth of them twice to press on the limit). It runs
twice: with the inventory on 1 shard (`expected_peak_claims_per_second` 0)
and on N shards (the campaign derives N from the expected peak). After each
run the tables are checked: vouchers issued against inventory (oversell),
vouchers per subscriber (limit), every balance against the points spent.

Threads share one process, as separate Lambda environments would share the
tables: each thread gets its own Chalice request slot (`Http.threadsafe`).
See LIMITS for what the embedded engine can and cannot show.
"""

from __future__ import annotations

import itertools
import random
import threading
import time
from collections import Counter
from typing import Any

from bench import (
    REGION,
    CallRecorder,
    Http,
    bearer,
    new_prefix,
    percentile,
    raw_client,
    summarise_calls,
    use_tables,
)
from bench.ops import (
    copy_items,
    create_campaign,
    create_partner,
    missing_routes,
    msisdn_for,
    normalise_code,
    seed_subscriber,
)

THREADS = 64
# the embedded engine serialises every request: ~20 claims/s on 2 shared cores, so
# 300 vouchers sell out within the deadline (1,000 did not) and SOLD_OUT is exercised
INVENTORY = 300
SUBSCRIBERS_PER_VOUCHER = 1.3
REPEAT_FRACTION = 0.1
PRICE = 100
SEED_POINTS = 10_000
SHARDED_PEAK = 5_000
# a run stops taking new attempts after this long, so `make bench` stays short
RUN_DEADLINE_SECONDS = 45.0

LIMITS = (
    "What the atomic embedded engine can show: correctness under real concurrency. Every claim reads, decides and",
    "commits one transaction whose conditions (balance seq, stock > 0, per-subscriber count, voucher code) are",
    "evaluated for real while the threads interleave, so oversell, the limit and exact balances are tested, and",
    "failed conditions show as cancellations that diem retries or answers (SOLD_OUT, LIMIT_REACHED).",
    "What it cannot show: DynamoDB's throughput or contention. It is moto in one process behind one lock, so it",
    "applies requests one at a time: it never reports TransactionConflict (see the probe above), has no partitions,",
    "no per-item or per-partition limit (the ~1,000 WCU/s per item, about 500 transactional writes/s, that inventory",
    "shards exist to avoid), no throttling, no adaptive capacity. Claims/s here are bounded by this machine (the",
    "Python threads share one GIL, the engine's process runs on the same two cores and serialises every request),",
    "not by DynamoDB: not a prediction of production throughput, and the 1-shard vs N-shard difference is noise",
    "(N shards even cost a little more per claim: up to 4 shards read). The 5,000 claims/s figure is the design's",
    "arithmetic: shards = ceil(peak / claims_per_shard_per_second), each shard well under the per-item limit.",
    "The DynamoDB limits emulator in front of the engine (python -m bench flash_emulated) measures those limits.",
)


def clone_subscribers(http: Http, raw: Any, prefix: str, count: int) -> list[str]:
    """One subscriber made through the API, then `count` copies of its item
    written in batches: minutes of seeding saved."""
    operator = bearer("operator", "bench-crm")
    template_msisdn = msisdn_for(0, series=98)
    seed_subscriber(http, operator, template_msisdn, SEED_POINTS, history=1)
    msisdns = [msisdn_for(n, series=98) for n in range(1, count + 1)]
    copy_subscriber(raw, prefix + "subscribers", template_msisdn, msisdns)
    return msisdns


def copy_subscriber(raw: Any, table: str, template_msisdn: str, msisdns: list[str]) -> None:
    """Copies of one subscriber's item, each with its own msisdn, owner id and
    due-index keys (their shard derives from the msisdn), exactly as diem would
    have written them; BatchWriteItem, 25 at a time."""
    from chalicelib.points import service as points
    from chalicelib.store import Subscriber

    (template,) = copy_items(raw, table, table, [{"msisdn": {"S": template_msisdn}}])
    activated_on = template["activated_on"]["S"]
    for start in range(0, len(msisdns), 25):
        requests = []
        for m in msisdns[start : start + 25]:
            item = {**template, "msisdn": {"S": m}, "owner_id": {"S": f"{m}@{activated_on}"}}
            account = points.to_account(Subscriber.from_raw_data(item))
            for name, value in (
                ("expiry_due", account.expiry_due()),
                ("anniversary_due", account.anniversary_due()),
                ("review_due", account.review_due()),
            ):
                if value is None:
                    item.pop(name, None)
                else:
                    item[name] = {"S": value}
            requests.append({"PutRequest": {"Item": item}})
        pending: dict[str, Any] = {table: requests}
        while pending:
            pending = raw.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}


def conflict_probe(endpoint: str, table: str, threads: int = 32, each: int = 20) -> dict[str, Any]:
    """`threads` x `each` transactions all updating one item at once, straight
    through boto3: does this DynamoDB report TransactionConflict?"""
    import boto3
    from botocore.config import Config

    client = boto3.client(
        "dynamodb",
        endpoint_url=endpoint,
        region_name=REGION,
        aws_access_key_id="local",
        aws_secret_access_key="local",  # noqa: S106 (the local engine)
        config=Config(max_pool_connections=threads, retries={"max_attempts": 1}),
    )
    key = {"counter_id": {"S": f"probe#{time.time_ns()}"}}
    outcomes: Counter[str] = Counter()
    gate = threading.Barrier(threads)

    def worker(n: int) -> None:
        gate.wait()
        for i in range(each):
            try:
                client.transact_write_items(
                    TransactItems=[
                        {
                            "Update": {
                                "TableName": table,
                                "Key": key,
                                "UpdateExpression": "ADD #c :one",
                                "ExpressionAttributeNames": {"#c": "count"},
                                "ExpressionAttributeValues": {":one": {"N": "1"}},
                            }
                        },
                        {"Put": {"TableName": table, "Item": {"counter_id": {"S": f"probe-item#{n}#{i}"}}}},
                    ]
                )
                outcomes["committed"] += 1
            except client.exceptions.TransactionCanceledException as exc:
                codes = {r.get("Code") for r in exc.response.get("CancellationReasons", [])}
                outcomes["TransactionConflict" if "TransactionConflict" in codes else "cancelled"] += 1
            except Exception as exc:
                outcomes[type(exc).__name__] += 1

    pool = [threading.Thread(target=worker, args=(n,)) for n in range(threads)]
    for t in pool:
        t.start()
    for t in pool:
        t.join()
    final = client.get_item(TableName=table, Key=key, ConsistentRead=True).get("Item", {})
    return {
        "threads": threads,
        "transactions": threads * each,
        "outcomes": dict(outcomes),
        "final_count": int(final.get("count", {"N": "0"})["N"]),
    }


def balances(raw: Any, table: str, msisdns: list[str]) -> dict[str, int]:
    out: dict[str, int] = {}
    for start in range(0, len(msisdns), 100):
        keys = [{"msisdn": {"S": m}} for m in msisdns[start : start + 100]]
        pending: dict[str, Any] = {table: {"Keys": keys, "ConsistentRead": True}}
        while pending:
            response = raw.batch_get_item(RequestItems=pending)
            for item in response["Responses"].get(table, []):
                out[item["msisdn"]["S"]] = int(item["balance"]["N"])
            pending = response.get("UnprocessedKeys") or {}
    return out


def campaign_vouchers(raw: Any, table: str, campaign_id: str) -> list[dict[str, Any]]:
    """Every voucher of the campaign (a Scan: fine for a benchmark's check, never in diem)."""
    items: list[dict[str, Any]] = []
    kwargs: dict[str, Any] = {
        "TableName": table,
        "FilterExpression": "campaign_id = :c",
        "ExpressionAttributeValues": {":c": {"S": campaign_id}},
        "ConsistentRead": True,
    }
    while True:
        page = raw.scan(**kwargs)
        items.extend(page.get("Items", []))
        if "LastEvaluatedKey" not in page:
            return items
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def shard_count(raw: Any, prefix: str, campaign: dict[str, Any]) -> int | None:
    item = raw.get_item(
        TableName=prefix + "campaigns", Key={"campaign_id": {"S": campaign["campaign_id"]}}, ConsistentRead=True
    ).get("Item", {})
    if "shard_count" in item:
        return int(item["shard_count"]["N"])
    value = campaign.get("shard_count") or campaign.get("shards")
    return int(value) if value is not None else None


def stock_counters(raw: Any, prefix: str, campaign_id: str, shards: int) -> dict[str, int] | None:
    """Sum of the inventory shard counters (`stock#<campaign>#<n>`), None if not kept that way."""
    table = prefix + "counters"
    keys = [{"counter_id": {"S": f"stock#{campaign_id}#{n}"}} for n in range(shards)]
    found: list[dict[str, Any]] = []
    for start in range(0, len(keys), 100):
        response = raw.batch_get_item(RequestItems={table: {"Keys": keys[start : start + 100], "ConsistentRead": True}})
        found.extend(response["Responses"].get(table, []))
    if not found:
        return None
    totals = Counter[str]()
    for item in found:
        for name in ("stock", "issued"):
            if name in item:
                totals[name] += int(item[name]["N"])
    return {"shards_found": len(found), **totals}


def claim_storm(
    http: Http,
    raw: Any,
    prefix: str,
    campaign: dict[str, Any],
    msisdns: list[str],
    headers: dict[str, dict[str, str]],
    threads: int,
    inventory: int,
    peak: int,
) -> dict[str, Any]:
    from chalicelib import store

    campaign_id = campaign["campaign_id"]
    path = f"/v1/campaigns/{campaign_id}/claims"
    work = msisdns + msisdns[: int(len(msisdns) * REPEAT_FRACTION)]
    random.Random(peak).shuffle(work)
    outcomes: list[tuple[str, float, float, str | None] | None] = [None] * len(work)
    turn = itertools.count()
    gate = threading.Barrier(threads + 1)
    before = balances(raw, prefix + "subscribers", msisdns)

    deadline = [0.0]

    def worker() -> None:
        gate.wait()
        while (i := next(turn)) < len(work) and time.perf_counter() < deadline[0]:
            m = work[i]
            t0 = time.perf_counter()
            try:
                reply = http.call("POST", path, {}, headers[m])
            except Exception as exc:  # a crash is a result too
                outcomes[i] = (f"exception {type(exc).__name__}", t0, time.perf_counter(), None)
                continue
            t1 = time.perf_counter()
            if reply.status == 201:
                outcomes[i] = ("201", t0, t1, reply.data["voucher"]["code"])
            else:
                code = (reply.data or {}).get("error", {}).get("code") if isinstance(reply.data, dict) else None
                outcomes[i] = (f"{reply.status} {code}", t0, t1, None)

    with http.threadsafe(), CallRecorder(store.clients()) as recorder:
        pool = [threading.Thread(target=worker, name=f"claimer-{n}") for n in range(threads)]
        for t in pool:
            t.start()
        start = time.perf_counter()
        deadline[0] = start + RUN_DEADLINE_SECONDS
        gate.wait()
        for t in pool:
            t.join()
        wall = time.perf_counter() - start
        calls = recorder.take()
    done = [o for o in outcomes if o is not None]
    responses = Counter(o[0] for o in done)
    won = [o for o in done if o[0] == "201"]
    sold_out_at = max((o[2] for o in won), default=None)
    sold_out_seconds = (sold_out_at - start) if sold_out_at is not None else None
    latencies = [(o[2] - o[1]) * 1000 for o in done]

    # -- check the tables ---------------------------------------------------
    vouchers = campaign_vouchers(raw, prefix + "vouchers", campaign_id)
    per_owner = Counter(v["owner_id"]["S"] for v in vouchers)
    per_msisdn = Counter(v["msisdn"]["S"] for v in vouchers)
    after = balances(raw, prefix + "subscribers", msisdns)
    wrong = [m for m in msisdns if after.get(m) != before.get(m, 0) - PRICE * per_msisdn.get(m, 0)]
    table_codes = {v["code"]["S"] for v in vouchers}
    answered_codes = {normalise_code(o[3]) for o in won if o[3]}
    shards = shard_count(raw, prefix, campaign) or 1
    counters = stock_counters(raw, prefix, campaign_id, shards)
    summary = summarise_calls(calls)
    return {
        "campaign_id": campaign_id,
        "expected_peak_claims_per_second": peak,
        "shards": shards,
        "attempts": len(work),
        "attempts_made": len(done),
        "stopped_at_deadline": len(done) < len(work),
        "wall_seconds": round(wall, 2),
        "sold_out_seconds": round(sold_out_seconds, 2) if sold_out_seconds is not None else None,
        "issued_per_second": round(len(won) / sold_out_seconds, 1) if sold_out_seconds else 0.0,
        "attempts_per_second": round(len(done) / wall, 1),
        "claim_p50_ms": round(percentile(latencies, 50), 1),
        "claim_p90_ms": round(percentile(latencies, 90), 1),
        "claim_p99_ms": round(percentile(latencies, 99), 1),
        "responses": dict(responses),
        "dynamodb": {
            **summary,
            "calls_per_attempt": round(summary["calls"] / max(1, len(done)), 2),
        },
        "verification": {
            "inventory": inventory,
            "vouchers_in_table": len(vouchers),
            "oversold": max(0, len(vouchers) - inventory),
            "over_limit": sum(1 for n in per_owner.values() if n > 1),
            "balances_checked": len(msisdns),
            "balances_wrong": len(wrong),
            "vouchers_without_a_201": len(table_codes - answered_codes),
            "201s_without_a_voucher": len(answered_codes - table_codes),
            "stock_counters": counters,
        },
    }


def run(endpoint: str, inventory: int = INVENTORY, threads: int = THREADS, sharded_peak: int = SHARDED_PEAK) -> dict:
    from chalicelib import config

    started = time.perf_counter()
    prefix = new_prefix("flash")
    use_tables(endpoint, prefix)
    http = Http()
    raw = raw_client(endpoint)
    count = int(inventory * SUBSCRIBERS_PER_VOUCHER)
    result: dict[str, Any] = {
        "inventory": inventory,
        "per_subscriber_limit": 1,
        "subscribers": count,
        "threads": threads,
        "attempts": count + int(count * REPEAT_FRACTION),
        "points_price": PRICE,
        "claims_per_shard_per_second": config.rules().claims_per_shard_per_second,
        "limits": " ".join(LIMITS),
    }
    missing = missing_routes(http, "partners", "campaigns", "launch", "claim")
    if missing:
        return {**result, "status": "not available yet", "note": "needs " + ", ".join(missing)}
    probe = conflict_probe(endpoint, prefix + "counters")
    marketer = bearer("marketer", "bench-mkt")
    msisdns = clone_subscribers(http, raw, prefix, count)
    headers = {m: bearer("subscriber", m) for m in msisdns}
    partner_id, _ = create_partner(http, marketer, "Flash Sale Coffee")
    runs = []
    for peak in (0, sharded_peak):
        campaign = create_campaign(
            http,
            marketer,
            partner_id,
            inventory=inventory,
            per_subscriber_limit=1,
            points_price=PRICE,
            expected_peak=peak,
            name=f"Flash sale (peak {peak}/s)",
        )
        runs.append(claim_storm(http, raw, prefix, campaign, msisdns, headers, threads, inventory, peak))
    return {
        **result,
        "status": "ok",
        "conflict_probe": probe,
        "runs": runs,
        "seconds": round(time.perf_counter() - started, 1),
    }
