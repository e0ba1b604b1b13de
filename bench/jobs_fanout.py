"""The month-end expiry fanned out (`chalicelib.jobs.fanout`), on the local engine:
subscribers per second per worker, and the arithmetic for 70 M subscribers in
one night.

`python -m bench jobs` (and `make bench`): subscribers due on one day, spread
over the 16 partitions of the `expiry-due` index (copies of one subscriber made
through the product, as the flash-sale bench seeds them). Measured:

- one worker (the worker function's `THREADS` threads) on whole partition tasks;
- the same with one thread, and four workers at once (the engine's ceiling here);
- DynamoDB calls and units per subscriber (`bench.units` from item sizes, on a
  separate partition so the unit reads do not disturb the timing);
- the worker process's own CPU per subscriber (the engine runs in another
  process): what a Lambda worker would spend besides waiting on DynamoDB.

Then the night: 70 M subscribers, their workers, DynamoDB capacity and cost
(`night`), at the rate a worker reaches on DynamoDB's latency (its threads
over the per-subscriber round trips) bounded by the CPU measured here.
"""

from __future__ import annotations

import math
import time
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime
from typing import Any

from bench import CallRecorder, new_prefix, peek, raw_client, use_tables

KEY = "jobs_fanout"
DUE = "2026-12-31"
SUBSCRIBERS = 800  # 50 per partition
PARTITIONS = 16
# -- the night -----------------------------------------------------------------
NIGHT_SUBSCRIBERS = 70_000_000
NIGHT_SECONDS = 6 * 3600  # 00:05 to 06:05 local
# DynamoDB's typical latency inside a region (single-digit ms): a consistent GetItem
# and a TransactWriteItems of 2 items; stated assumptions, not measured here
DYNAMODB_GET_MS = 5.0
DYNAMODB_TRANSACT_MS = 15.0
# prices (us-east-1 list prices, on-demand; see docs/data-model.md for the sources)
PRICE_PER_MILLION_WRITE_UNITS = 0.625
PRICE_PER_MILLION_READ_UNITS = 0.125
LAMBDA_PRICE_PER_GB_SECOND = 0.0000166667
WORKER_MEMORY_GB = 1.0


def _seed(endpoint: str, prefix: str) -> tuple[list[str], Any]:
    from bench.flash_sale import copy_subscriber
    from chalicelib import clock
    from chalicelib.points import service as points
    from chalicelib.subscribers import service as subscribers

    template = "84980000000"
    clock.set_now(lambda: datetime(2026, 11, 10, 3, tzinfo=UTC))
    # activated in March: no tenure bonus falls due with the expiry (the job would credit it too)
    subscribers.put_profile(template, {"activated_on": "2023-03-15", "plan": "postpaid"}, None)
    points.accrue("bench-data", template, 100_000, "data", datetime(2026, 11, 9, tzinfo=UTC), None)
    points.accrue("bench-mobile", template, 20_000, "mobile", datetime(2026, 11, 9, tzinfo=UTC), None)
    msisdns = [f"8498{n:07d}" for n in range(1, SUBSCRIBERS + 1)]
    raw = raw_client(endpoint)
    copy_subscriber(raw, prefix + "subscribers", template, msisdns)
    clock.set_now(lambda: datetime(2027, 1, 1, 1, tzinfo=UTC))
    return msisdns, raw


def _task(shard: int, run: str) -> Any:
    from chalicelib.jobs import fanout

    return fanout.Task("expire_points", f"{DUE}#{shard}", run, "2027-01-01T01:00:00.000Z")


def _timed(tasks: list[Any], workers: int, threads: int) -> dict[str, Any]:
    """`tasks` worked by `workers` workers at once, each with `threads` threads."""
    from chalicelib.jobs import fanout

    saved = fanout.THREADS
    fanout.THREADS = threads
    try:
        cpu0, t0 = time.process_time(), time.perf_counter()
        with ThreadPoolExecutor(workers) as pool:
            results = list(pool.map(lambda task: fanout.work(task), tasks))
        wall, cpu = time.perf_counter() - t0, time.process_time() - cpu0
    finally:
        fanout.THREADS = saved
    done = sum(r.counts["done"] for r in results)
    failed = sum(r.counts["failed"] for r in results)
    return {
        "workers": workers,
        "threads": threads,
        "tasks": len(tasks),
        "subscribers": done,
        "failed": failed,
        "seconds": round(wall, 2),
        "per_second": round(done / wall, 1) if wall else 0.0,
        "per_second_per_worker": round(done / wall / workers, 1) if wall else 0.0,
        "cpu_ms_per_subscriber": round(cpu * 1000 / done, 2) if done else None,
    }


def _units(endpoint: str, task: Any) -> dict[str, Any]:
    """DynamoDB calls and units per subscriber, on one partition, from item sizes."""
    from chalicelib import store
    from chalicelib.jobs import fanout

    with CallRecorder(store.clients(), peek=peek(endpoint)) as recorder:
        done = fanout.work(task).counts["done"]
        calls = recorder.take()
    by_op = Counter(c.operation for c in calls)
    write = sum(c.write_units for c in calls)
    index = sum(sum(c.index_units.values()) for c in calls)
    read = sum(c.read_units for c in calls)
    return {
        "subscribers": done,
        "calls_per_subscriber": {op: round(n / done, 2) for op, n in by_op.items()} if done else {},
        "write_units_per_subscriber": round(write / done, 2) if done else None,
        "index_write_units_per_subscriber": round(index / done, 2) if done else None,
        "read_units_per_subscriber": round(read / done, 2) if done else None,
    }


def night(per_worker_local: float, cpu_ms: float, units: dict[str, Any], threads: int) -> dict[str, Any]:
    """70 M subscribers in one night: rate, workers, DynamoDB capacity, cost."""
    rate = NIGHT_SUBSCRIBERS / NIGHT_SECONDS
    latency_ms = DYNAMODB_GET_MS + DYNAMODB_TRANSACT_MS
    per_worker_io = threads * 1000 / latency_ms
    # a Lambda of 1 GB has about 0.58 vCPU (1 vCPU at 1,769 MB)
    per_worker_cpu = 0.58 * 1000 / cpu_ms if cpu_ms else math.inf
    per_worker = min(per_worker_io, per_worker_cpu)
    workers = math.ceil(rate / per_worker)
    from chalicelib.jobs import fanout

    pages = math.ceil(NIGHT_SUBSCRIBERS / PARTITIONS / fanout.PAGE) * PARTITIONS
    wcu = units["write_units_per_subscriber"] or 0.0
    rcu = units["read_units_per_subscriber"] or 0.0
    lambda_seconds = NIGHT_SUBSCRIBERS / per_worker
    cost = {
        "writes_usd": round(NIGHT_SUBSCRIBERS * wcu / 1e6 * PRICE_PER_MILLION_WRITE_UNITS, 2),
        "reads_usd": round(NIGHT_SUBSCRIBERS * rcu / 1e6 * PRICE_PER_MILLION_READ_UNITS, 2),
        "lambda_usd": round(lambda_seconds * WORKER_MEMORY_GB * LAMBDA_PRICE_PER_GB_SECOND, 2),
    }
    cost["total_usd"] = round(sum(cost.values()), 2)
    return {
        "subscribers": NIGHT_SUBSCRIBERS,
        "night_seconds": NIGHT_SECONDS,
        "needed_per_second": round(rate),
        "assumed_latency_ms": latency_ms,
        "per_worker_io_bound": round(per_worker_io),
        "per_worker_cpu_bound": round(per_worker_cpu),
        "per_worker": round(per_worker),
        "workers": workers,
        "workers_with_half_headroom": math.ceil(workers * 1.5),
        "local_per_worker": per_worker_local,
        "local_workers_needed": math.ceil(rate / per_worker_local) if per_worker_local else None,
        "partitions_on_the_night": PARTITIONS,
        "per_partition_subscribers": round(NIGHT_SUBSCRIBERS / PARTITIONS),
        # one partition worked alone would need this rate: more than a worker reaches, hence page tasks
        "per_partition_per_second_needed": round(NIGHT_SUBSCRIBERS / PARTITIONS / NIGHT_SECONDS),
        "page_tasks": pages,
        "write_units_per_second": round(rate * wcu),
        "read_units_per_second": round(rate * rcu),
        "write_units": round(NIGHT_SUBSCRIBERS * wcu),
        "cost": cost,
    }


def run(endpoint: str | None = None) -> dict[str, Any]:
    from chalicelib import clock
    from chalicelib.jobs import fanout
    from dev import embedded_dynamodb

    started = time.perf_counter()
    server = None
    if endpoint is None:
        server = embedded_dynamodb.spawn()
        endpoint = server.endpoint
    try:
        prefix = new_prefix("jobs")
        use_tables(endpoint, prefix)
        _seed(endpoint, prefix)
        per_partition = Counter(
            int(item.expiry_due.split("#")[1])
            for item in __import__("chalicelib.store", fromlist=["Subscriber"]).Subscriber.scan()
            if item.expiry_due and item.expiry_due.startswith(DUE)
        )  # a Scan: the bench's own check of the seeding, never in diem
        one_worker = _timed([_task(s, "one") for s in range(0, 4)], workers=1, threads=fanout.THREADS)
        one_thread = _timed([_task(4, "single")], workers=1, threads=1)
        four = _timed([_task(s, "four") for s in range(5, 13)], workers=4, threads=fanout.THREADS)
        units = _units(endpoint, _task(13, "units"))
        result = {
            "status": "ok",
            "subscribers_seeded": SUBSCRIBERS,
            "per_partition": dict(sorted(per_partition.items())),
            "chunk": fanout.CHUNK,
            "runs": [one_worker, one_thread, four],
            "units": units,
            "night": night(
                one_worker["per_second_per_worker"],
                one_worker["cpu_ms_per_subscriber"] or 0.0,
                units,
                fanout.THREADS,
            ),
            "seconds": round(time.perf_counter() - started, 1),
        }
        return result
    finally:
        clock.set_now(None)
        if server is not None:
            server.stop()


def render(result: dict[str, Any]) -> str:
    from bench import render_table

    rows = [
        [
            str(r["workers"]),
            str(r["threads"]),
            str(r["tasks"]),
            str(r["subscribers"]),
            str(r["failed"]),
            f"{r['seconds']:.1f}",
            f"{r['per_second']:.1f}",
            f"{r['per_second_per_worker']:.1f}",
            f"{r['cpu_ms_per_subscriber']:.1f}" if r["cpu_ms_per_subscriber"] else "-",
        ]
        for r in result["runs"]
    ]
    headers = ["workers", "threads", "tasks", "subscribers", "failed", "s", "subs/s", "subs/s/worker", "CPU ms/sub"]
    u, n = result["units"], result["night"]
    lines = [
        f"Month-end expiry fanned out, on the local engine: {result['subscribers_seeded']} subscribers due on {DUE} "
        f"over {len(result['per_partition'])} partitions, one task each, checkpoint every {result['chunk']} keys",
        render_table(headers, rows, right=set(range(9))),
        f"  per subscriber: calls {u['calls_per_subscriber']}, {u['write_units_per_subscriber']} WCU "
        f"({u['index_write_units_per_subscriber']} of them index), {u['read_units_per_subscriber']} RCU",
        f"  70 M in {n['night_seconds'] // 3600} h: {n['needed_per_second']:,} subscribers/s. A worker on DynamoDB "
        f"({n['assumed_latency_ms']:g} ms a subscriber, {result['runs'][0]['threads']} threads): "
        f"{n['per_worker_io_bound']}/s I/O-bound, {n['per_worker_cpu_bound']}/s CPU-bound at 0.58 vCPU -> "
        f"{n['per_worker']}/s: {n['workers']} workers ({n['workers_with_half_headroom']} with 50% headroom); "
        f"at this engine's {n['local_per_worker']}/s a worker, {n['local_workers_needed']:,}",
        f"  the night's {n['partitions_on_the_night']} partitions hold {n['per_partition_subscribers']:,} subscribers "
        f"each ({n['per_partition_per_second_needed']}/s a partition, more than one worker does): "
        f"{n['page_tasks']:,} page tasks. DynamoDB: {n['write_units_per_second']:,} WCU/s and "
        f"{n['read_units_per_second']:,} RCU/s for the night, {n['write_units']:,} write units",
        f"  cost of the night: writes ${n['cost']['writes_usd']:,}, reads ${n['cost']['reads_usd']:,}, "
        f"Lambda ${n['cost']['lambda_usd']:,} = ${n['cost']['total_usd']:,}",
    ]
    return "\n".join(lines)
