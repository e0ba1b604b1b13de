"""One ledger page on a 5,000-entry ledger: `GET /v1/subscribers/{msisdn}/ledger?limit=50`.

One subscriber is created through the API with a few spend events (so the
product writes its own ledger entries), then its ledger is filled to
`ENTRIES` with copies of one entry the product wrote (BatchWriteItem: seeding
5,000 accruals through the API would take minutes). A copy changes only what
identifies an entry: `entry_id` (and any string attribute that contained the
original's id), `seq` (and any attribute equal to the original's seq, a
zero-padded number kept at its width), `at` and `balance_after`; the
subscriber's `seq` is moved to the last entry's. So whatever the data model,
the copies are shaped like the product's own items, and the bench measures
whatever the code does for a page.

Measured: the first page, and page `LATER_PAGE` (reached by following
`next_cursor`; page 2 when a page takes over `SLOW_SECONDS`, each then timed
once), through the test client and at the Lambda handler: round trips,
read units (computed from item sizes by `bench.units`), p50. Next to it a
raw boto3 page at the DynamoDB minimum for this schema: a consistent GetItem
of the subscriber (its owner id) and one Query of the owner's partition with
`Limit=50`, on the same items.

While it runs, the product's client waits up to `BENCH_READ_TIMEOUT` s for an
answer, without retries: its own settings (a 5 s read timeout, 4 attempts)
turn a page that reads the whole 5,000-entry partition on the embedded engine
(~15 s: moto serialises every returned attribute through its generic shape
serialiser, ~3 ms an item) into a 500 after four timeouts. The report says
whether a page took longer than the product's own timeout.
"""

from __future__ import annotations

import re
import time
import urllib.parse
from typing import Any

from bench import CallRecorder, Http, Timing, bearer, new_prefix, peek, raw_client, use_tables
from bench.units import item_size, read_units
from chalicelib.points import chain

ENTRIES = 5_000
LIMIT = 50
LATER_PAGE = 5
REPS = 7
# a page slower than this is timed once, and the later page is the second
SLOW_SECONDS = 1.0
# the product's client gives up after 5 s (chalicelib.store.binding); moto answers a
# Query of a 5,000-item partition in ~15 s, so the bench lets one request finish
BENCH_READ_TIMEOUT = 120


def _clone(template: dict[str, Any], seq0: int, seq: int, entry_id: str, at: str, balance: int) -> dict[str, Any]:
    old_id = template["entry_id"]["S"]
    item: dict[str, Any] = {}
    for name, value in template.items():
        if "S" in value:
            text = value["S"].replace(old_id, entry_id)
            # a seq written into a string (a sort key such as "seq#0000123") follows the copy's
            match = re.fullmatch(r"(.*?[#:])?(\d+)", text)
            if match and int(match.group(2)) == seq0 and (match.group(1) or len(match.group(2)) > len(str(seq0))):
                text = (match.group(1) or "") + str(seq).zfill(len(match.group(2)))
            item[name] = {"S": text}
        elif "N" in value and value["N"] == str(seq0):
            item[name] = {"N": str(seq)}
        else:
            item[name] = value
    item["entry_id"] = {"S": entry_id}
    item["seq"] = {"N": str(seq)}
    item["at"] = {"S": at}
    item["balance_after"] = {"N": str(balance)}
    for name in ("_rq", "block", "prev_block"):
        item.pop(name, None)
    return item


def seed(http: Http, raw: Any, prefix: str, msisdn: str, entries: int) -> dict[str, Any]:
    from bench.ops import seed_subscriber

    seed_subscriber(http, bearer("operator", "bench-crm"), msisdn, 0, history=3)
    subs, ledger = prefix + "subscribers", prefix + "ledger"
    subscriber = raw.get_item(TableName=subs, Key={"msisdn": {"S": msisdn}}, ConsistentRead=True)["Item"]
    owner = subscriber["owner_id"]["S"]
    written = raw.query(
        TableName=ledger,
        KeyConditionExpression="owner_id = :o",
        ExpressionAttributeValues={":o": {"S": owner}},
        ConsistentRead=True,
    )["Items"]
    template = max(written, key=lambda i: int(i["seq"]["N"]))
    seq0 = int(template["seq"]["N"])
    balance = int(template["balance_after"]["N"])
    start = time.time() - entries * 60
    items = []
    for n in range(entries - len(written)):
        seq = seq0 + 1 + n
        balance += 100
        at = time.strftime("%Y-%m-%dT%H:%M:%SZ", time.gmtime(start + n * 60))
        items.append(_clone(template, seq0, seq, f"earn:ledger-bench-{seq}", at, balance))
    # the copies continue the product's chain of blocks, as account_ops writes it
    head = chain.Links(
        tuple(v["S"] for v in subscriber.get("ledger_open", {}).get("L", [])),
        subscriber.get("ledger_sealed", {}).get("S"),
    )
    head, seals = chain.extend(head, [i["entry_id"]["S"] for i in items])
    for it in items:
        seal = seals.get(it["entry_id"]["S"])
        if seal:
            it["block"] = {"L": [{"S": e} for e in seal.block]}
            if seal.prev:
                it["prev_block"] = {"S": seal.prev}
    sizes = sum(item_size(i) for i in items) + sum(item_size(i) for i in written)
    for i in range(0, len(items), 25):
        pending: dict[str, Any] = {ledger: [{"PutRequest": {"Item": it}} for it in items[i : i + 25]]}
        while pending:
            pending = raw.batch_write_item(RequestItems=pending).get("UnprocessedItems") or {}
    last = seq0 + len(items)
    raw.update_item(
        TableName=subs,
        Key={"msisdn": {"S": msisdn}},
        UpdateExpression="SET #seq = :seq, #balance = :balance, #open = :open"
        + (", #sealed = :sealed" if head.sealed else ""),
        ExpressionAttributeNames={
            "#seq": "seq",
            "#balance": "balance",
            "#open": "ledger_open",
            **({"#sealed": "ledger_sealed"} if head.sealed else {}),
        },
        ExpressionAttributeValues={
            ":seq": {"N": str(last)},
            ":balance": {"N": str(balance)},
            ":open": {"L": [{"S": e} for e in head.open]},
            **({":sealed": {"S": head.sealed}} if head.sealed else {}),
        },
    )
    count = 0
    kwargs: dict[str, Any] = {
        "TableName": ledger,
        "KeyConditionExpression": "owner_id = :o",
        "ExpressionAttributeValues": {":o": {"S": owner}},
        "Select": "COUNT",
    }
    while True:
        page = raw.query(**kwargs)
        count += page["Count"]
        if "LastEvaluatedKey" not in page:
            break
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]
    return {
        "owner_id": owner,
        "entries": count,
        "last_seq": last,
        "product_written": len(written),
        "partition_bytes": sizes,
        # what reading the whole partition costs on DynamoDB: 1 MB per Query page
        "whole_partition_queries": -(-sizes // (1024 * 1024)),
        "whole_partition_rcu": read_units(sizes, consistent=True),
    }


def _path(msisdn: str, cursor: str | None) -> str:
    query = {"limit": str(LIMIT), **({"cursor": cursor} if cursor else {})}
    return f"/v1/subscribers/{msisdn}/ledger?{urllib.parse.urlencode(query)}"


def run(endpoint: str, entries: int = ENTRIES, reps: int = REPS) -> dict[str, Any]:
    """Seed, measure, and put the product's client settings back."""
    from chalicelib.store import binding

    saved = dict(binding._CLIENT_CONFIG)
    binding._CLIENT_CONFIG.update(read_timeout=BENCH_READ_TIMEOUT, retries={"total_max_attempts": 1})
    binding._bound, binding._client = None, None
    try:
        return _run(endpoint, entries, reps, int(saved.get("read_timeout") or 0))
    finally:
        binding._CLIENT_CONFIG.clear()
        binding._CLIENT_CONFIG.update(saved)
        binding._bound, binding._client = None, None


def _run(endpoint: str, entries: int, reps: int, product_timeout: int) -> dict[str, Any]:
    from chalicelib import store

    started = time.perf_counter()
    prefix = new_prefix("ledger")
    use_tables(endpoint, prefix)
    http, raw, bench_peek = Http(), raw_client(endpoint), peek(endpoint)
    msisdn = "84930000001"
    seeded = seed(http, raw, prefix, msisdn, entries)
    headers = bearer("subscriber", msisdn)
    owner = seeded["owner_id"]

    def get(cursor: str | None) -> dict[str, Any]:
        reply = http.call("GET", _path(msisdn, cursor), headers=headers)
        if reply.status != 200:
            raise RuntimeError(f"ledger page: HTTP {reply.status} {reply.data!r}")
        return reply.data

    # the cursor of each page, following next_cursor from the first
    # (a slow page is recorded and timed on this walk only: each costs ~25 s)
    cursors: list[str | None] = [None]
    walk: list[tuple[list[Any], float]] = []
    with CallRecorder(store.clients(), peek=bench_peek) as walk_rec:
        t0 = time.perf_counter()
        pages = [get(None)]
        walk.append((walk_rec.take(), (time.perf_counter() - t0) * 1000))
        slow = walk[0][1] > SLOW_SECONDS * 1000
        later_page = 2 if slow else LATER_PAGE
        while len(pages) < later_page:
            cursors.append(pages[-1]["next_cursor"])
            t0 = time.perf_counter()
            pages.append(get(cursors[-1]))
            walk.append((walk_rec.take(), (time.perf_counter() - t0) * 1000))
    seqs = [[e.get("entry_id") for e in p["items"]] for p in pages]
    distinct = len({i for page in seqs for i in page})

    def base_page(start_key: dict[str, Any] | None) -> Any:
        def call() -> None:
            item = raw.get_item(TableName=prefix + "subscribers", Key={"msisdn": {"S": msisdn}}, ConsistentRead=True)[
                "Item"
            ]
            kwargs: dict[str, Any] = {
                "TableName": prefix + "ledger",
                "KeyConditionExpression": "owner_id = :o",
                "ExpressionAttributeValues": {":o": item["owner_id"]},
                "ConsistentRead": True,
                "Limit": LIMIT,
                "ScanIndexForward": False,
            }
            if start_key:
                kwargs["ExclusiveStartKey"] = start_key
            raw.query(**kwargs)

        return call

    # the baseline's later page starts where its own pages would
    later_key: dict[str, Any] | None = None
    for _ in range(later_page - 1):
        kwargs: dict[str, Any] = {
            "TableName": prefix + "ledger",
            "KeyConditionExpression": "owner_id = :o",
            "ExpressionAttributeValues": {":o": {"S": owner}},
            "ConsistentRead": True,
            "Limit": LIMIT,
            "ScanIndexForward": False,
            **({"ExclusiveStartKey": later_key} if later_key else {}),
        }
        later_key = raw.query(**kwargs).get("LastEvaluatedKey")

    results = []
    for label, cursor, start_key in (
        ("first page", None, None),
        (f"page {later_page}", cursors[later_page - 1], later_key),
    ):
        path = _path(msisdn, cursor)
        number = 1 if cursor is None else later_page
        if slow:
            page = pages[number - 1]
            calls = walk[number - 1][0]
        else:
            with CallRecorder(store.clients(), peek=bench_peek) as rec:
                page = get(cursor)
                calls = rec.take()
        base = base_page(start_key)
        with CallRecorder([raw], peek=bench_peek) as base_rec:
            base()
            base_calls = base_rec.take()
        client, handler, baseline = Timing(), Timing(), Timing()
        if slow:  # the walk's timing; the handler is not timed (another 25 s)
            client.samples_ms.append(walk[number - 1][1])
        for i in range(1 if slow else reps):
            series = [(base, baseline)]
            if not slow:
                series += [(lambda c=cursor: get(c), client), (http.prepare("GET", path, headers=headers), handler)]
            series = series[i % len(series) :] + series[: i % len(series)]
            for fn, sink in series:
                t0 = time.perf_counter()
                fn()
                sink.samples_ms.append((time.perf_counter() - t0) * 1000)
        results.append(
            {
                "page": label,
                "items": len(page["items"]),
                "diem": {
                    "calls": [c.label() for c in calls],
                    "round_trips": sum(c.round_trips for c in calls),
                    "read_units": sum(c.read_units for c in calls),
                    "client": client.as_dict(),
                    "handler": handler.as_dict(),
                },
                "baseline": {
                    "calls": [c.label() for c in base_calls],
                    "round_trips": sum(c.round_trips for c in base_calls),
                    "read_units": sum(c.read_units for c in base_calls),
                    **baseline.as_dict(),
                },
            }
        )
    return {
        "status": "ok",
        "limit": LIMIT,
        "reps": reps,
        "seeded": seeded,
        "pages_followed": later_page,
        "slow": slow,
        "product_read_timeout_seconds": product_timeout,
        "distinct_entries_in_pages": distinct,
        "pages": results,
        "seconds": round(time.perf_counter() - started, 1),
    }
