"""`python -m ops.reconcile` (`make reconcile`): check a deployment's tables for
drift between things that must always agree, naming the ids involved.

Subscribers: balance >= 0, == the sum of its buckets (none negative); balance
plus the batches contributed to a household's pool (none negative) == the
sum of the current owner's ledger entries; a former owner's entries (a
recycled number) sum to 0.
Campaigns: a draft has no shards and no vouchers; a launched one has exactly
the shards 0..shard_count-1, each with stock >= 0 and the campaign's status
and window (claims check them there); inventory - sum(stock) == its vouchers
(all statuses); each shard's `issued` == the vouchers taken from it and
`reversed` == the reversed redemptions of those; a per-subscriber claims
counter == that owner's vouchers of the campaign, at most the limit.
Vouchers and redemptions: a voucher names an existing campaign of the same
partner; a redeemed voucher has its redemption (same code, not reversed) and
the `redeemed-by-day` key, which nothing else has; a redemption's voucher
exists and belongs to the same partner; a redemption not reversed is the one
its voucher is redeemed by.
Product orders: each has its `spend` entry of its price in its owner's ledger
and took that many points from the buckets (`taken`); a refunded one has its
`refund` entry of the same points, no other has one; exactly the pending ones
are keyed into the pending index; every order's entry names an order.

An offline operations tool: unlike the service, which never scans, it reads
seven whole tables with paginated, parallel, strongly consistent Scans (about
one read unit per 4 KB read), and prints the read units consumed: run it
off-peak. A scan is not a snapshot: a write landing during it can show as
drift, so re-run to confirm before repairing anything.

Events (`--events`, issue 8): every ledger entry, every settled product order and every voucher status
change of a period (`--since`, `--until`; by default the last 30 days, the
events' retention, up to 10 minutes ago, so the pipeline has caught up) has
its event in the events table, found by the id derived from the change:
a ledger entry's; a voucher issued, redeemed (per redemption), reversed (per
reversed redemption), expired or cancelled (a voucher that went back to
`expired` or `cancelled` when a redemption was reversed has that reversal's
event instead). It scans the events and ledger tables too.

Exit status: 0 no drift, 1 drift, 2 the tables could not be read.
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import threading
from collections import Counter as Tally
from collections import defaultdict
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from typing import Any

from botocore.exceptions import BotoCoreError, ClientError
from pynamodb.models import Model

from chalicelib import config, store
from chalicelib.store import Campaign, Counter, LedgerEntry, ProductOrder, Redemption, Subscriber, Voucher

DEFAULT_SEGMENTS = 4


@dataclass(frozen=True)
class Drift:
    """One broken invariant and the ids to look at."""

    check: str
    ids: dict[str, str | int]
    detail: str

    def line(self) -> str:
        where = ", ".join(f"{k}={v}" for k, v in self.ids.items())
        return f"{self.check:<36} {where}: {self.detail}"


@dataclass
class Tables:
    """What the scans found; the ledger folded to the sum of points per owner."""

    subscribers: list[Subscriber]
    ledger: dict[str, int]
    # owner -> entry id -> the block it fills (None for most) and the entry that filled the one before
    links: dict[str, dict[str, tuple[tuple[str, ...] | None, str | None]]]
    campaigns: list[Campaign]
    counters: list[Counter]
    vouchers: list[Voucher]
    redemptions: list[Redemption]
    # network products: the orders, and their ledger entries ((owner, entry id) -> points)
    product_orders: list[ProductOrder] = field(default_factory=list)
    order_entries: dict[tuple[str, str], int] = field(default_factory=dict)


@dataclass
class Report:
    prefix: str
    endpoint: str
    scanned: dict[str, int]
    read_units: dict[str, float]
    drift: list[Drift]

    @property
    def clean(self) -> bool:
        return not self.drift

    def as_json(self) -> dict[str, Any]:
        return {
            "prefix": self.prefix,
            "endpoint": self.endpoint,
            "clean": self.clean,
            "scanned": self.scanned,
            "read_units": {**self.read_units, "total": sum(self.read_units.values())},
            "drift": [{"check": d.check, "ids": d.ids, "detail": d.detail} for d in self.drift],
        }

    def text(self) -> str:
        counts = ", ".join(f"{table} {n}" for table, n in self.scanned.items())
        units = ", ".join(f"{table} {u:g}" for table, u in self.read_units.items())
        lines = [
            f"reconcile: tables '{self.prefix}*' on {self.endpoint}",
            f"items scanned: {counts}",
            f"read units consumed: {sum(self.read_units.values()):g} ({units})",
        ]
        if self.clean:
            lines.append("no drift")
        else:
            lines.append(f"DRIFT: {len(self.drift)} finding(s)")
            lines += [f"  {d.line()}" for d in self.drift]
        return "\n".join(lines)


# -- reading -------------------------------------------------------------------


def _scan_segment(
    client: Any, table: str, segment: int, total: int, on_item: Callable[[dict[str, Any]], None]
) -> tuple[int, float]:
    """One segment of a parallel Scan, page by page: (items, read units)."""
    kwargs: dict[str, Any] = {
        "TableName": table,
        "Segment": segment,
        "TotalSegments": total,
        "ConsistentRead": True,
        "ReturnConsumedCapacity": "TOTAL",
    }
    items, units = 0, 0.0
    while True:
        page = client.scan(**kwargs)
        units += float((page.get("ConsumedCapacity") or {}).get("CapacityUnits", 0.0))
        for item in page.get("Items", []):
            on_item(item)
        items += len(page.get("Items", []))
        if not page.get("LastEvaluatedKey"):
            return items, units
        kwargs["ExclusiveStartKey"] = page["LastEvaluatedKey"]


def scan(segments: int = DEFAULT_SEGMENTS) -> tuple[Tables, dict[str, int], dict[str, float]]:
    """Every item of the seven tables the checks need (parallel Scans), with the
    item count and read units per table."""
    store.bind()
    client = store.binding.client()
    lock = threading.Lock()
    ledger: defaultdict[str, int] = defaultdict(int)
    links: defaultdict[str, dict[str, tuple[tuple[str, ...] | None, str | None]]] = defaultdict(dict)
    scanned_models = (Subscriber, Campaign, Counter, Voucher, Redemption, ProductOrder)
    found: dict[type[Model], list[Any]] = {m: [] for m in scanned_models}
    order_entries: dict[tuple[str, str], int] = {}

    def fold_ledger(item: dict[str, Any]) -> None:
        owner, points = item["owner_id"]["S"], int(item["points"]["N"])
        block = tuple(v["S"] for v in item["block"]["L"]) if "L" in item.get("block", {}) else None
        prev = item.get("prev_block", {}).get("S")
        entry_id = item["entry_id"]["S"]
        with lock:
            ledger[owner] += points
            links[owner][entry_id] = (block, prev)
            if _order_of(entry_id):
                order_entries[(owner, entry_id)] = points

    def collect(model: type[Model]) -> Callable[[dict[str, Any]], None]:
        return lambda item: found[model].append(model.from_raw_data(item))

    handlers: dict[type[Model], Callable[[dict[str, Any]], None]] = {LedgerEntry: fold_ledger}
    handlers.update({model: collect(model) for model in found})
    jobs = [(model, segment) for model in handlers for segment in range(segments)]

    def run(job: tuple[type[Model], int]) -> tuple[str, int, float]:
        model, segment = job
        items, units = _scan_segment(client, model.Meta.table_name, segment, segments, handlers[model])
        return model.Meta.base_name, items, units

    scanned: dict[str, int] = {m.Meta.base_name: 0 for m in handlers}
    read_units: dict[str, float] = {m.Meta.base_name: 0.0 for m in handlers}
    with ThreadPoolExecutor(max_workers=min(len(jobs), 32)) as pool:
        for table, items, units in pool.map(run, jobs):
            scanned[table] += items
            read_units[table] += units
    tables = Tables(
        subscribers=found[Subscriber],
        ledger=dict(ledger),
        links=dict(links),
        campaigns=found[Campaign],
        counters=found[Counter],
        vouchers=found[Voucher],
        redemptions=found[Redemption],
        product_orders=found[ProductOrder],
        order_entries=order_entries,
    )
    return tables, scanned, read_units


# -- the checks ----------------------------------------------------------------


def _ints(value: Any) -> dict[str, int]:
    raw = value.as_dict() if hasattr(value, "as_dict") else (value or {})
    return {k: int(v) for k, v in raw.items()}


def _subscribers(t: Tables) -> Iterator[Drift]:
    current = set()
    for item in sorted(t.subscribers, key=lambda s: s.msisdn):
        current.add(item.owner_id)
        ids: dict[str, str | int] = {"msisdn": item.msisdn, "owner_id": item.owner_id}
        balance, buckets = int(item.balance or 0), _ints(item.buckets)
        if balance < 0:
            yield Drift("subscriber.negative_balance", ids, f"balance {balance}")
        negative = {day: points for day, points in buckets.items() if points < 0}
        if negative:
            yield Drift("subscriber.negative_bucket", ids, f"buckets {negative}")
        if sum(buckets.values()) != balance:
            yield Drift("subscriber.buckets", ids, f"balance {balance}, but its buckets sum to {sum(buckets.values())}")
        # households: the batches a member contributed to a pool are theirs too (chalicelib/households)
        pool = _ints(item.pool)
        if any(points < 0 for points in pool.values()):
            yield Drift("subscriber.negative_pool_batch", ids, f"pool {pool}")
        ledger = t.ledger.get(item.owner_id, 0)
        if ledger != balance + sum(pool.values()):
            held = f"balance {balance} and pool batches {sum(pool.values())}"
            yield Drift("subscriber.ledger", ids, f"{held}, but the owner's ledger sums to {ledger}")
    for owner, total in sorted(t.ledger.items()):
        if owner not in current and total != 0:
            yield Drift(
                "ledger.former_owner", {"owner_id": owner}, f"no longer the owner, but its ledger sums to {total}"
            )


def _chains(t: Tables) -> Iterator[Drift]:
    """Every entry of a current owner is on the ledger's chain of blocks (so a page
    shows it), and the chain names only entries that exist."""
    for item in sorted(t.subscribers, key=lambda s: s.msisdn):
        ids: dict[str, str | int] = {"msisdn": item.msisdn, "owner_id": item.owner_id}
        entries = t.links.get(item.owner_id, {})
        reached, seal, seals = set(item.ledger_open or ()), item.ledger_sealed, set()
        while seal is not None and seal not in seals:
            seals.add(seal)
            block, prev = entries.get(seal, (None, None))
            if block is None:
                yield Drift("ledger.chain_broken", ids, f"the chain names {seal}, not an entry that fills a block")
                break
            reached.update(block)
            seal = prev
        if seal is not None and seal in seals:
            yield Drift("ledger.chain_broken", ids, f"the chain loops at {seal}")
        if missing := sorted(reached - set(entries)):
            detail = f"the chain names {len(missing)} missing entries, e.g. {missing[0]}"
            yield Drift("ledger.chain_broken", ids, detail)
        if off := sorted(set(entries) - reached):
            yield Drift("ledger.off_chain", ids, f"{len(off)} entries no ledger page shows, e.g. {off[0]}")


def _split(counter_id: str) -> tuple[str, str, str]:
    """`stock#<campaign>#<n>` -> ("stock", campaign, n)."""
    kind, _, rest = counter_id.partition("#")
    campaign_id, _, tail = rest.rpartition("#")
    return kind, campaign_id, tail


def _shard(campaign: Campaign, n: int, shard: Counter, issued: int, reversed_: int) -> Iterator[Drift]:
    ids: dict[str, str | int] = {"campaign_id": campaign.campaign_id, "shard": n}
    if int(shard.stock or 0) < 0:
        yield Drift("campaign.negative_stock", ids, f"stock {int(shard.stock or 0)}")
    if int(shard.issued or 0) != issued:
        yield Drift("campaign.shard_issued", ids, f"issued {int(shard.issued or 0)}, but {issued} vouchers from it")
    if int(shard.reversed or 0) != reversed_:
        yield Drift("campaign.shard_reversed", ids, f"reversed {int(shard.reversed or 0)}, but {reversed_} reversals")
    mirror = {name: (getattr(shard, name), getattr(campaign, name)) for name in ("status", "starts_at", "ends_at")}
    differ = [f"{name} {mine!r} (campaign {theirs!r})" for name, (mine, theirs) in mirror.items() if mine != theirs]
    if differ:
        yield Drift("campaign.shard_mirror", ids, "; ".join(differ))


def _campaigns(t: Tables) -> Iterator[Drift]:
    campaigns = {c.campaign_id: c for c in t.campaigns}
    vouchers = {v.code: v for v in t.vouchers}
    stock: defaultdict[str, dict[int, Counter]] = defaultdict(dict)
    claims: list[tuple[str, str, Counter]] = []
    for counter in t.counters:
        kind, campaign_id, tail = _split(counter.counter_id)
        if kind == "stock" and tail.isdigit():
            stock[campaign_id][int(tail)] = counter
        elif kind == "stock":
            yield Drift("counter.malformed", {"counter_id": counter.counter_id}, "not stock#<campaign>#<n>")
        elif kind == "claims":
            claims.append((campaign_id, tail, counter))
    per_campaign = Tally(v.campaign_id for v in t.vouchers)
    per_shard = Tally((v.campaign_id, int(v.shard)) for v in t.vouchers)
    per_owner = Tally((v.campaign_id, v.msisdn, v.owner_id) for v in t.vouchers)
    reversals = Tally(
        (voucher.campaign_id, int(voucher.shard))
        for r in t.redemptions
        if r.reversed_at and (voucher := vouchers.get(r.code)) is not None
    )
    for campaign_id, campaign in sorted(campaigns.items()):
        ids: dict[str, str | int] = {"campaign_id": campaign_id}
        shards, count = stock.pop(campaign_id, {}), per_campaign[campaign_id]
        if campaign.status == "draft":
            if shards or count:
                yield Drift("campaign.draft", ids, f"a draft with shards {sorted(shards)} and {count} vouchers")
            continue
        wanted = range(int(campaign.shard_count))
        missing, extra = [n for n in wanted if n not in shards], sorted(n for n in shards if n not in wanted)
        if missing or extra:
            yield Drift("campaign.shards", ids, f"shard_count {len(wanted)}; missing {missing}, unexpected {extra}")
        remaining = sum(int(s.stock or 0) for s in shards.values())
        if int(campaign.inventory) - remaining != count:
            taken = f"inventory {int(campaign.inventory)} - stock {remaining} = {int(campaign.inventory) - remaining}"
            yield Drift("campaign.inventory", ids, f"{taken}, but {count} vouchers")
        for n, shard in sorted(shards.items()):
            yield from _shard(campaign, n, shard, per_shard[(campaign_id, n)], reversals[(campaign_id, n)])
    for campaign_id, shards in sorted(stock.items()):
        yield Drift("counter.orphan_shards", {"campaign_id": campaign_id}, f"shards {sorted(shards)} of no campaign")
    for campaign_id, msisdn, counter in sorted(claims, key=lambda c: c[2].counter_id):
        ids = {"campaign_id": campaign_id, "msisdn": msisdn, "owner_id": counter.owner_id or ""}
        held, claimed = per_owner[(campaign_id, msisdn, counter.owner_id)], int(counter.count or 0)
        if claimed != held:
            yield Drift("campaign.claims_count", ids, f"count {claimed}, but the owner holds {held} vouchers")
        campaign = campaigns.get(campaign_id)
        if campaign is not None and claimed > int(campaign.per_subscriber_limit):
            yield Drift("campaign.claims_limit", ids, f"count {claimed} over the limit {campaign.per_subscriber_limit}")


def _vouchers(t: Tables) -> Iterator[Drift]:
    campaigns = {c.campaign_id: c for c in t.campaigns}
    redemptions = {r.redemption_id: r for r in t.redemptions}
    for v in sorted(t.vouchers, key=lambda v: v.code):
        ids: dict[str, str | int] = {"code": v.code, "campaign_id": v.campaign_id}
        campaign = campaigns.get(v.campaign_id)
        if campaign is None:
            yield Drift("voucher.campaign", ids, "no such campaign")
        elif campaign.partner_id != v.partner_id:
            yield Drift("voucher.campaign", ids, f"partner {v.partner_id}, campaign's partner {campaign.partner_id}")
        if v.status != "redeemed":
            if v.redeemed_campaign is not None:
                yield Drift("voucher.redeemed_index", ids, f"{v.status}, but counted as redeemed by its campaign")
            continue
        if v.redeemed_campaign != v.campaign_id:
            yield Drift("voucher.redeemed_index", ids, "redeemed, but not counted as redeemed by its campaign")
        r = redemptions.get(v.redemption_id or "")
        problem = (
            f"its redemption {v.redemption_id!r} does not exist"
            if r is None
            else f"its redemption {r.redemption_id} was reversed at {r.reversed_at}"
            if r.reversed_at
            else f"its redemption {r.redemption_id} is of code {r.code}"
            if r.code != v.code
            else None
        )
        if problem:
            yield Drift("voucher.redeemed_without_redemption", {**ids, "redemption_id": v.redemption_id or ""}, problem)


def _redemptions(t: Tables) -> Iterator[Drift]:
    vouchers = {v.code: v for v in t.vouchers}
    for r in sorted(t.redemptions, key=lambda r: r.redemption_id):
        ids: dict[str, str | int] = {"redemption_id": r.redemption_id, "code": r.code}
        voucher = vouchers.get(r.code)
        if voucher is None:
            yield Drift("redemption.voucher_missing", ids, "no voucher with this code")
            continue
        if voucher.partner_id != r.partner_id:
            detail = f"redeemed by partner {r.partner_id}, the voucher is partner {voucher.partner_id}'s"
            yield Drift("redemption.partner", ids, detail)
        if not r.reversed_at and not (voucher.status == "redeemed" and voucher.redemption_id == r.redemption_id):
            by = f" by {voucher.redemption_id}" if voucher.redemption_id else ""
            detail = f"not reversed, but the voucher is {voucher.status}{by}"
            yield Drift("redemption.not_applied", ids, detail)


# -- network products ------------------------------------------------------------

_ORDER_ENTRY_KINDS = ("spend", "refund", "forfeit")


def _order_of(entry_id: str) -> str | None:
    """The product order a ledger entry is of (`spend:ord_...`, `refund:ord_...`,
    `forfeit:ord_...` for a recycled number's refund), else None."""
    kind, _, rest = entry_id.partition(":")
    return rest if kind in _ORDER_ENTRY_KINDS and rest.startswith("ord_") else None


def _product_orders(t: Tables) -> Iterator[Drift]:
    orders = {o.order_id: o for o in t.product_orders}
    for o in sorted(t.product_orders, key=lambda o: o.order_id):
        ids: dict[str, str | int] = {"order_id": o.order_id, "msisdn": o.msisdn}
        price = int(o.points)
        spend = t.order_entries.get((o.owner_id, f"spend:{o.order_id}"))
        if spend != -price:
            yield Drift("product_order.spend", ids, f"costs {price}, but its spend entry is {spend}")
        taken = sum(_ints(o.taken).values())
        if taken != price:
            yield Drift("product_order.taken", ids, f"costs {price}, but took {taken} from the buckets")
        refund = t.order_entries.get((o.owner_id, f"refund:{o.order_id}"))
        if o.status == "refunded" and refund != price:
            yield Drift("product_order.refund", ids, f"refunded, but its refund entry is {refund}")
        elif o.status != "refunded" and refund is not None:
            yield Drift("product_order.refund", ids, f"{o.status}, but {refund} points were refunded")
        if o.status not in ("pending", "fulfilled", "refunded"):
            yield Drift("product_order.status", ids, f"status {o.status!r}")
        if (o.status == "pending") != (o.settle_due is not None):
            yield Drift("product_order.pending_index", ids, f"{o.status}, settle_due {o.settle_due!r}")
    for owner, entry_id in sorted(t.order_entries):
        if _order_of(entry_id) not in orders:
            yield Drift("product_order.missing", {"owner_id": owner, "entry_id": entry_id}, "an entry of no order")


def find_drift(tables: Tables) -> list[Drift]:
    """Every broken invariant, subscribers first."""
    return [
        *_subscribers(tables),
        *_chains(tables),
        *_campaigns(tables),
        *_vouchers(tables),
        *_redemptions(tables),
        *_product_orders(tables),
    ]


def reconcile(segments: int = DEFAULT_SEGMENTS, events: tuple[str, str] | None = None) -> Report:
    """Scan the configured tables and check them (and, for the period `events`, their events)."""
    tables, scanned, read_units = scan(segments)
    drift = find_drift(tables)
    if events is not None:
        entries, event_ids, more_scanned, more_units = scan_events(segments)
        drift += events_drift(tables, entries, event_ids, *events)
        for table, n in more_scanned.items():
            scanned[table] = scanned.get(table, 0) + n
            read_units[table] = read_units.get(table, 0.0) + more_units[table]
    s = config.settings()
    return Report(
        prefix=s.table_prefix,
        endpoint=s.dynamodb_endpoint or f"AWS {s.region}",
        scanned=scanned,
        read_units=read_units,
        drift=drift,
    )


# -- events (issue 8) ------------------------------------------------------------------


def scan_events(segments: int) -> tuple[list[tuple[str, str, str]], set[str], dict[str, int], dict[str, float]]:
    """The ledger's (owner, entry, at) and the ids of the operator's events."""
    from chalicelib.store import Event

    client = store.binding.client()
    lock = threading.Lock()
    entries: list[tuple[str, str, str]] = []
    ids: set[str] = set()

    def entry(item: dict[str, Any]) -> None:
        with lock:
            entries.append((item["owner_id"]["S"], item["entry_id"]["S"], item["at"]["S"]))

    def event(item: dict[str, Any]) -> None:
        if item["audience"]["S"] == "operator":
            with lock:
                ids.add(item["event_id"]["S"])

    jobs = [(model, handler, n) for model, handler in ((LedgerEntry, entry), (Event, event)) for n in range(segments)]
    scanned: dict[str, int] = defaultdict(int)
    units: dict[str, float] = defaultdict(float)
    with ThreadPoolExecutor(max_workers=min(len(jobs), 32)) as pool:
        found = pool.map(lambda j: (j[0], _scan_segment(client, j[0].Meta.table_name, j[2], segments, j[1])), jobs)
        for model, (items, read) in found:
            name = "events" if model is Event else "ledger (events check)"
            scanned[name] += items
            units[name] += read
    return entries, ids, dict(scanned), dict(units)


def events_drift(
    t: Tables, entries: list[tuple[str, str, str]], ids: set[str], since: str, until: str
) -> Iterator[Drift]:
    """A change of the period without its event."""
    from chalicelib.events.ids import ledger_event_id, voucher_event_id

    def within(at: str | None) -> bool:
        return at is not None and since <= at < until

    def missing(kind: str, ids_: dict[str, str | int], wanted: str) -> Iterator[Drift]:
        if wanted not in ids:
            yield Drift("events.missing", {"type": kind, **ids_, "event_id": wanted}, "the change has no event")

    for owner, entry_id, at in sorted(entries):
        if within(at):
            yield from missing("points.*", {"owner_id": owner, "entry_id": entry_id}, ledger_event_id(owner, entry_id))
    reversals: defaultdict[str, list[Redemption]] = defaultdict(list)
    for r in sorted(t.redemptions, key=lambda r: r.redemption_id):
        code_ids: dict[str, str | int] = {"code": r.code, "redemption_id": r.redemption_id}
        if within(r.redeemed_at):
            yield from missing(
                "voucher.redeemed", code_ids, voucher_event_id("voucher.redeemed", r.code, r.redemption_id)
            )
        if r.reversed_at:
            reversals[r.code].append(r)
            if within(r.reversed_at):
                wanted = voucher_event_id("voucher.reversed", r.code, r.redemption_id)
                yield from missing("voucher.reversed", code_ids, wanted)
    for v in sorted(t.vouchers, key=lambda v: v.code):
        if within(v.issued_at):
            yield from missing("voucher.issued", {"code": v.code}, voucher_event_id("voucher.issued", v.code))
        ended = {"expired": v.expires_at, "cancelled": v.issued_at}.get(v.status)
        if ended is None or not within(ended):
            continue
        kind = f"voucher.{v.status}"
        by_reversal = {voucher_event_id("voucher.reversed", v.code, r.redemption_id) for r in reversals[v.code]}
        if voucher_event_id(kind, v.code) not in ids and not by_reversal & ids:
            yield from missing(kind, {"code": v.code}, voucher_event_id(kind, v.code))
    # network products: each order settled in the period (its spend and refund are ledger entries above)
    from chalicelib.events.ids import product_event_id

    for o in sorted(t.product_orders, key=lambda o: o.order_id):
        if o.status in ("fulfilled", "refunded") and within(o.settled_at):
            kind = f"product.{o.status}"
            yield from missing(kind, {"order_id": o.order_id}, product_event_id(kind, o.order_id))


def _events_period(since: str | None, until: str | None) -> tuple[str, str]:
    from datetime import UTC, datetime, timedelta

    from chalicelib import clock

    now = datetime.now(UTC)
    try:
        low = clock.iso(clock.parse_iso(since)) if since else clock.iso(now - timedelta(days=30))
        high = clock.iso(clock.parse_iso(until)) if until else clock.iso(now - timedelta(minutes=10))
    except ValueError:
        raise SystemExit("--since and --until must be ISO 8601 timestamps with a zone") from None
    return low, high


# -- command line --------------------------------------------------------------


def _parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m ops.reconcile",
        description="Check a deployment's tables for drift; exit 1 on any (Scans every table: run off-peak).",
    )
    parser.add_argument("--stage", help="the stage whose tables to read (prefix diem-<stage>-)")
    parser.add_argument("--prefix", help="the table prefix (default: DIEM_TABLE_PREFIX, else diem-<stage>-)")
    parser.add_argument("--endpoint", help="a DynamoDB endpoint (default: DIEM_DYNAMODB_ENDPOINT, else AWS)")
    parser.add_argument("--segments", type=int, default=DEFAULT_SEGMENTS, help="parallel Scan segments per table")
    parser.add_argument("--json", action="store_true", help="print the report as JSON")
    parser.add_argument("--events", action="store_true", help="also check that each change of a period has its event")
    parser.add_argument("--since", help="the period's start (ISO 8601; default 30 days ago)")
    parser.add_argument("--until", help="the period's end, exclusive (default 10 minutes ago)")
    return parser


def main(argv: Sequence[str] | None = None) -> int:
    args = _parser().parse_args(argv)
    if not 1 <= args.segments <= 64:
        raise SystemExit("--segments must be from 1 to 64")
    if args.stage:
        os.environ["DIEM_STAGE"] = args.stage
        if args.prefix is None:
            os.environ.pop("DIEM_TABLE_PREFIX", None)
    if args.prefix is not None:
        os.environ["DIEM_TABLE_PREFIX"] = args.prefix
    if args.endpoint:
        os.environ["DIEM_DYNAMODB_ENDPOINT"] = args.endpoint
    config.reset()
    period = _events_period(args.since, args.until) if args.events else None
    try:
        report = reconcile(args.segments, period)
    except (BotoCoreError, ClientError) as exc:
        print(f"reconcile: cannot read the tables: {exc}", file=sys.stderr)
        return 2
    print(json.dumps(report.as_json(), indent=2) if args.json else report.text())
    return 0 if report.clean else 1


if __name__ == "__main__":
    raise SystemExit(main())
