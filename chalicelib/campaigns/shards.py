"""A launched campaign's inventory, split over counter items (`stock#<campaign>#<n>`)
so a flash sale's claims spread over many items instead of one hot key
(docs/flash-sales.md has the arithmetic).

Each shard carries its stock, how many vouchers it issued and how many
redemptions of them were reversed (in all, and per local day: the same update
adds one to that day's attribute, so the daily figures cost no write of their
own and have no hot key), and a copy of the campaign's status and
window: a claim's transaction checks all of it on the shard it decrements and
never touches the campaign item.
"""

from __future__ import annotations

import random
import threading
import time
from collections.abc import Collection, Iterable
from datetime import date
from typing import TYPE_CHECKING

from chalicelib import clock, store
from chalicelib.errors import Conflict
from chalicelib.store import Counter
from chalicelib.store.transact import Throttled

if TYPE_CHECKING:
    from pynamodb.expressions.update import Action

LABEL = "stock"
# shards read by one claim: enough to find stock, few enough that no shard is
# read by every claim (one item serves at most 3,000 strongly consistent reads/s)
SAMPLE = 4
# a shard seen empty is skipped for this long (only inventory growth refills it)
EMPTY_MEMORY_SECONDS = 1.0

_empty: dict[tuple[str, int], float] = {}
_lock = threading.Lock()


def stock_key(campaign_id: str, shard: int) -> str:
    return f"stock#{campaign_id}#{shard}"


def claims_key(campaign_id: str, msisdn: str) -> str:
    return f"claims#{campaign_id}#{msisdn}"


# -- writes ------------------------------------------------------------------


def create_ops(campaign_id: str, stocks: list[int], starts_at: str, ends_at: str) -> list[store.Op]:
    """The shards of a campaign being launched."""
    return [
        store.put(
            Counter(
                stock_key(campaign_id, n),
                stock=stock,
                issued=0,
                reversed=0,
                status="active",
                starts_at=starts_at,
                ends_at=ends_at,
            ),
            condition=Counter.counter_id.does_not_exist(),
            label=f"{LABEL}:{n}",
        )
        for n, stock in enumerate(stocks)
    ]


def update_ops(
    campaign_id: str, shards: int, *, status: str, ends_at: str, added: list[int] | None = None
) -> list[store.Op]:
    """Mirror a status or window change on every shard, adding stock if the inventory grew."""
    ops = []
    for n in range(shards):
        actions: list[Action] = [Counter.status.set(status), Counter.ends_at.set(ends_at)]
        if added and added[n]:
            actions.append(Counter.stock.add(added[n]))
        ops.append(
            store.update(
                Counter,
                stock_key(campaign_id, n),
                actions=actions,
                condition=Counter.counter_id.exists(),
                label=f"{LABEL}:{n}",
            )
        )
    return ops


def take_op(campaign_id: str, shard: int, now_iso: str) -> store.Op:
    """One voucher out of `shard`, only while it has stock and the campaign is
    active and inside its window; counted as issued on this local day too."""
    today = clock.local_date(clock.parse_iso(now_iso))
    return store.update(
        Counter,
        stock_key(campaign_id, shard),
        actions=[Counter.stock.add(-1), Counter.issued.add(1), Counter.day("issued", today).add(1)],
        condition=(Counter.stock > 0)
        & (Counter.status == "active")
        & (Counter.starts_at <= now_iso)
        & (Counter.ends_at > now_iso),
        label=LABEL,
    )


def reversed_op(campaign_id: str, shard: int, on: date | None = None) -> store.Op:
    """A reversal of one of `shard`'s vouchers, counted on local day `on` (today) too."""
    day = on or clock.today()
    return store.update(
        Counter,
        stock_key(campaign_id, shard),
        actions=[Counter.reversed.add(1), Counter.day("reversed", day).add(1)],
        condition=Counter.counter_id.exists(),
        label=LABEL,
    )


# -- reads -------------------------------------------------------------------


def read(campaign_id: str, shards: Iterable[int], hot_ok: bool = False) -> dict[int, Counter]:
    """The shards that exist among `shards`, in one BatchGetItem; with `hot_ok`,
    a shard DynamoDB is throttling is left out instead of read again."""
    keys = {n: (Counter, stock_key(campaign_id, n), None) for n in shards}
    if not keys:
        return {}
    found = store.batch_get(keys.values(), optional=list(keys.values()) if hot_ok else ())
    return {n: item for n, key in keys.items() if (item := found[key]) is not None}


def per_day(campaign_id: str, shards: int) -> dict[tuple[str, date], int]:
    """Issued and reversed per local day, summed over every shard: (kind, day) -> count."""
    counts: dict[tuple[str, date], int] = {}
    for item in read(campaign_id, range(shards)).values():
        for key, count in item.day_counts().items():
            counts[key] = counts.get(key, 0) + count
    return counts


def totals(campaign_id: str, shards: int) -> dict[str, int]:
    """Exact stock, issued and reversed over every shard."""
    items = read(campaign_id, range(shards)).values()
    return {
        "stock": sum(int(i.stock or 0) for i in items),
        "issued": sum(int(i.issued or 0) for i in items),
        "reversed": sum(int(i.reversed or 0) for i in items),
    }


# -- choosing a shard ----------------------------------------------------------


def remember_empty(campaign_id: str, shard: int) -> None:
    now = time.monotonic()
    with _lock:
        if len(_empty) > 10_000:
            for key in [k for k, until in _empty.items() if until <= now]:
                del _empty[key]
        _empty[(campaign_id, shard)] = now + EMPTY_MEMORY_SECONDS


def _known_empty(campaign_id: str, shard: int, now: float) -> bool:
    return _empty.get((campaign_id, shard), 0.0) > now


def forget(campaign_id: str) -> None:
    """Stock was added: stop skipping this campaign's shards."""
    with _lock:
        for key in [k for k in _empty if k[0] == campaign_id]:
            del _empty[key]


def sample(campaign_id: str, shards: int | None) -> list[int]:
    """Up to SAMPLE random shards not recently seen empty; always at least one,
    so a claim always reads a fresh copy of the campaign's status. With the
    shard count unknown (campaign not cached), the first SAMPLE indexes."""
    if shards is None:
        return list(range(SAMPLE))
    now = time.monotonic()
    candidates = [n for n in range(shards) if not _known_empty(campaign_id, n, now)]
    if not candidates:
        return [random.randrange(shards)]
    return random.sample(candidates, min(SAMPLE, len(candidates)))


def choose(campaign_id: str, shards: int, seen: dict[int, Counter], unread: Collection[int] = ()) -> int:
    """A random shard with stock among those read; if none has any, read the
    shards not read yet (skipping those seen empty within the last second).
    SOLD_OUT only when every shard is empty; while some could not be read
    (`unread`: throttled), the claim is throttled too, not sold out."""
    now = time.monotonic()
    with_stock = _with_stock(campaign_id, seen)
    if not with_stock:
        rest = [n for n in range(shards) if n not in seen and n not in unread and not _known_empty(campaign_id, n, now)]
        found = read(campaign_id, rest, hot_ok=True)
        with_stock = _with_stock(campaign_id, found)
        if not with_stock and (unread or len(found) < len(rest)):
            raise Throttled("inventory shards too hot to read")
    if not with_stock:
        raise Conflict("This campaign has no vouchers left.", "SOLD_OUT")
    return random.choice(with_stock)


def another(campaign_id: str, shards: int, seen: dict[int, Counter], tried: list[int]) -> int | None:
    """A shard to move a claim to when the ones it `tried` were contended (a
    transaction conflict or throttling on them): one read with stock first,
    else any not seen empty lately (its `stock > 0` condition is checked by the
    commit anyway); None once every shard was tried."""
    now = time.monotonic()
    read = [n for n, item in seen.items() if n not in tried and int(item.stock or 0) > 0]
    if read:
        return random.choice(read)
    rest = [n for n in range(shards) if n not in tried and n not in seen and not _known_empty(campaign_id, n, now)]
    return random.choice(rest) if rest else None


def _with_stock(campaign_id: str, items: dict[int, Counter]) -> list[int]:
    found = []
    for n, item in items.items():
        if int(item.stock or 0) > 0:
            found.append(n)
        else:
            remember_empty(campaign_id, n)
    return found
