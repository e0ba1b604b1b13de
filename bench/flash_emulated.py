"""The flash sale against DynamoDB's limits, emulated (`dev.limits_emulator`).

`python -m bench flash_emulated` (and `make bench`): a campaign of 10,000
vouchers, claims arriving at the scaled equivalent of 5,000 claims/s (open
loop: each arrival at its time, whatever the earlier ones became), for each
inventory shard count 1, 5, 10, 20 and 40. The emulator stands between diem
and the embedded engine: per-item capacity divided by `SCALE`, transactions
holding their items for `hold_ms` x `SCALE`. Rates in the table are scaled
back (x `SCALE`); latencies are this machine's, not DynamoDB's.

Per run: claims/s achieved, success rate, commit attempts beyond the first
per claim, p50/p99, the conflicts and throttles the emulator answered, and the
tables checked afterwards (vouchers against the stock counters and the 201s:
`oversold` counts vouchers beyond the inventory, `drift` any disagreement).
"""

from __future__ import annotations

import threading
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from typing import Any

from bench import CallRecorder, Http, bearer, new_prefix, percentile, raw_client, use_tables
from bench.flash_sale import balances, campaign_vouchers, clone_subscribers, stock_counters
from bench.ops import create_campaign, create_partner, normalise_code

INVENTORY = 10_000
TARGET_PER_SECOND = 5_000  # DynamoDB-scale offered load
SCALE = 500.0  # rates / 500, durations x 500: 10 claims/s offered on this machine
HOLD_MS = 2.0
SHARD_COUNTS = (1, 5, 10, 20, 40)
RUN_SECONDS = 20.0
CLAIMERS = 48  # threads serving arrivals (each one Lambda environment)
PRICE = 100
ROWS_KEY = "flash_sale_emulated"


def _shards_to_peak(shards: int) -> int:
    """The `expected_peak_claims_per_second` that gives `shards` (config: 250 a shard)."""
    from chalicelib.config import rules

    return 0 if shards == 1 else shards * rules().claims_per_shard_per_second


def one_run(
    http: Http,
    raw: Any,
    prefix: str,
    emulator: Any,
    partner_id: str,
    msisdns: list[str],
    headers: dict[str, dict[str, str]],
    shards: int,
    seconds: float,
    scale: float,
) -> dict[str, Any]:
    from chalicelib import store

    marketer = bearer("marketer", "bench-mkt")
    campaign = create_campaign(
        http,
        marketer,
        partner_id,
        inventory=INVENTORY,
        per_subscriber_limit=1,
        points_price=PRICE,
        expected_peak=_shards_to_peak(shards),
        name=f"Emulated flash sale ({shards} shards)",
    )
    campaign_id = campaign["campaign_id"]
    got = stock_counters(raw, prefix, campaign_id, 64)
    assert got is not None and got["shards_found"] == shards, (shards, got)
    path = f"/v1/campaigns/{campaign_id}/claims"
    rate = TARGET_PER_SECOND / scale
    offered = int(rate * seconds)
    if offered > len(msisdns):
        raise ValueError(f"{offered} claims need as many subscribers, {len(msisdns)} seeded")
    before = balances(raw, prefix + "subscribers", msisdns[:offered])
    emulator.reset()
    outcomes: list[tuple[str, float, str | None]] = []
    lock = threading.Lock()

    def claim(n: int, due: float) -> None:
        msisdn = msisdns[n]
        try:
            reply = http.call("POST", path, {}, headers[msisdn])
            status = str(reply.status)
            if reply.status != 201:
                code = (reply.data or {}).get("error", {}).get("code") if isinstance(reply.data, dict) else None
                status = f"{reply.status} {code}"
            voucher = reply.data["voucher"]["code"] if reply.status == 201 else None
        except Exception as exc:  # a crash is a result too
            status, voucher = f"exception {type(exc).__name__}", None
        with lock:
            outcomes.append((status, (time.perf_counter() - due) * 1000, voucher))

    with http.threadsafe(), CallRecorder(store.clients()) as recorder, ThreadPoolExecutor(CLAIMERS) as pool:
        start = time.perf_counter()
        for n in range(offered):
            due = start + n / rate
            wait = due - time.perf_counter()
            if wait > 0:
                time.sleep(wait)
            pool.submit(claim, n, due)
        pool.shutdown(wait=True)
        wall = time.perf_counter() - start
        calls = recorder.take()
    stats = emulator.stats()["stats"]

    won = [o for o in outcomes if o[0] == "201"]
    latencies = [o[1] for o in outcomes]
    statuses = Counter(o[0] for o in outcomes)
    by_operation = Counter(c.operation for c in calls)
    transactions = by_operation.get("TransactWriteItems", 0)
    # -- the tables afterwards -------------------------------------------------
    vouchers = campaign_vouchers(raw, prefix + "vouchers", campaign_id)
    counters = stock_counters(raw, prefix, campaign_id, shards) or {}
    after = balances(raw, prefix + "subscribers", msisdns[:offered])
    per_msisdn = Counter(v["msisdn"]["S"] for v in vouchers)
    wrong_balances = sum(1 for m in before if after.get(m) != before[m] - PRICE * per_msisdn.get(m, 0))
    table_codes = {v["code"]["S"] for v in vouchers}
    answered = {normalise_code(o[2]) for o in won if o[2]}
    drift = (
        abs(len(vouchers) - int(counters.get("issued", 0)))
        + abs(INVENTORY - int(counters.get("stock", 0)) - len(vouchers))
        + len(table_codes ^ answered)
        + wrong_balances
    )
    return {
        "shards": shards,
        "offered_per_s": round(offered / seconds * scale),
        # over the run: from the first arrival to the last answer (retries outlive the arrivals)
        "achieved_per_s": round(len(won) / max(wall, seconds) * scale),
        "success_rate": round(len(won) / offered, 3),
        "retries_per_claim": round(max(0, transactions - len(outcomes)) / len(outcomes), 2),
        "p50_ms": round(percentile(latencies, 50)),
        "p99_ms": round(percentile(latencies, 99)),
        "conflicts": stats["conflicts"],
        "throttles": stats["throttles"] + stats["reads_throttled"],
        "oversold": max(0, len(vouchers) - INVENTORY),
        # beyond the fields
        "claims": offered,
        "issued": len(won),
        "wall_seconds": round(wall, 1),
        "responses": dict(statuses),
        "dynamodb_calls": dict(by_operation),
        "transaction_throttles": stats["throttles"],
        "read_keys_throttled": stats["reads_throttled"],
        "per_shard_admitted": sorted(stats["admitted_by_key"].values(), reverse=True),
        "drift": drift,
    }


def run(
    endpoint: str | None = None,
    scale: float = SCALE,
    seconds: float = RUN_SECONDS,
    shard_counts: tuple[int, ...] = SHARD_COUNTS,
    hold_ms: float = HOLD_MS,
) -> dict[str, Any]:
    """Every shard count against a fresh emulator (and embedded engine) of its own process."""
    import logging

    from dev import limits_emulator

    # a claim the kernel gives up on logs a warning: hundreds of them in the 1-shard run
    logging.getLogger("chalicelib").setLevel(logging.ERROR)
    started = time.perf_counter()
    limits = limits_emulator.Limits(scale=scale, hold_ms=hold_ms)
    with limits_emulator.spawn(limits, upstream=endpoint) as emulator:
        emulator.reset(enforce=False)  # set up at the engine's pace; each run resets it on
        prefix = new_prefix("flashemu")
        use_tables(emulator.endpoint, prefix)
        http = Http()
        raw = raw_client(emulator.endpoint)
        offered = int(TARGET_PER_SECOND / scale * seconds)
        msisdns = clone_subscribers(http, raw, prefix, offered + 10)
        headers = {m: bearer("subscriber", m) for m in msisdns}
        partner_id, _ = create_partner(http, bearer("marketer", "bench-mkt"), "Emulated Flash Coffee")
        rows = []
        for shards in shard_counts:
            rows.append(one_run(http, raw, prefix, emulator, partner_id, msisdns, headers, shards, seconds, scale))
    return {
        "status": "ok",
        "limits": limits.describe(),
        "inventory": INVENTORY,
        "target_per_s": TARGET_PER_SECOND,
        "run_seconds": seconds,
        "claimers": CLAIMERS,
        "rows": rows,
        "seconds": round(time.perf_counter() - started, 1),
    }


def render(result: dict[str, Any]) -> str:
    from bench import render_table

    limits = result["limits"]
    head = (
        f"Flash sale through the DynamoDB limits emulator: inventory {result['inventory']:,}, offered "
        f"{result['target_per_s']:,} claims/s scaled by 1/{limits['scale']:g} "
        f"({result['target_per_s'] / limits['scale']:g} claims/s here, open loop, "
        f"{result['run_seconds']:g} s a run, {result['claimers']} claimer threads); "
        f"per item {limits['write_units_per_item_per_second']:g} WCU/s = "
        f"{limits['transactional_writes_per_item_per_second']:g} transactional write/s, "
        f"{limits['read_units_per_item_per_second']:g} RCU/s, transactions hold items "
        f"{limits['hold_ms']:g} ms x {limits['scale']:g} = {limits['hold_seconds']:g} s. Rates scaled back; "
        "latency is this machine's."
    )
    rows = [
        [
            str(r["shards"]),
            f"{r['offered_per_s']:,}",
            f"{r['achieved_per_s']:,}",
            f"{r['success_rate']:.1%}",
            f"{r['retries_per_claim']:.2f}",
            str(r["p50_ms"]),
            str(r["p99_ms"]),
            str(r["conflicts"]),
            str(r["throttles"]),
            str(r["oversold"]),
            str(r["drift"]),
        ]
        for r in result["rows"]
    ]
    headers = [
        "shards",
        "offered/s",
        "achieved/s",
        "success",
        "retries/claim",
        "p50 ms",
        "p99 ms",
        "conflicts",
        "throttles",
        "oversold",
        "drift",
    ]
    lines = [head, render_table(headers, rows, right=set(range(11)))]
    for r in result["rows"]:
        lines.append(
            f"  {r['shards']} shards: {r['responses']}; calls {r['dynamodb_calls']}; admitted per shard "
            f"{r['per_shard_admitted'][:8]}{' ...' if len(r['per_shard_admitted']) > 8 else ''}"
        )
    return "\n".join(lines)
