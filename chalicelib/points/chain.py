"""The ledger's reading order without an index: a chain of blocks.

A ledger entry is keyed by its cause (`earn:<event_id>`, ...), so it is its
own dedupe, and an owner's entries come back from a Query in key order, not
in commit order. An index on `seq` would cost every accrual another write
unit; instead the order rides on writes that happen anyway:

- the balance item holds the ids of the newest entries that do not yet fill a
  block (`open`, oldest first, fewer than `BLOCK`) and the id of the newest
  entry that closed one (`sealed`);
- the entry that fills a block (its seal) stores the ids of its whole block
  (itself last) and the previous seal's id.

A page newest first is then: the open ids, the newest seal, its block, the
seal before it, ...: one BatchGetItem per block, each reading only the
entries the page shows, so a page costs O(page), not O(history).

`BLOCK` is small because the open ids live on the balance item, which every
balance change rewrites: 5 ids of about 30 bytes keep a busy subscriber's item
(13 expiry buckets, 12 months of rank points) under 1 KB, one write unit.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Protocol, TypeVar

BLOCK = 6
_MAX_CURSOR = 400  # characters: a seq and one entry id (<= 140 characters) base64-encoded


@dataclass(frozen=True)
class Links:
    """The chain's head, as the balance item holds it."""

    open: tuple[str, ...] = ()
    sealed: str | None = None


@dataclass(frozen=True)
class Seal:
    """What the entry that fills a block stores: its block (oldest first, itself last) and the seal before."""

    block: tuple[str, ...]
    prev: str | None


def extend(links: Links, entry_ids: Iterable[str]) -> tuple[Links, dict[str, Seal]]:
    """The head after appending `entry_ids` (oldest first), and the seal of each entry that fills a block."""
    open_ids = list(links.open)
    sealed = links.sealed
    seals: dict[str, Seal] = {}
    for entry_id in entry_ids:
        open_ids.append(entry_id)
        if len(open_ids) == BLOCK:
            seals[entry_id] = Seal(tuple(open_ids), sealed)
            sealed, open_ids = entry_id, []
    return Links(tuple(open_ids), sealed), seals


class Linked(Protocol):
    """A stored entry as the walk needs it."""

    @property
    def seq(self) -> int: ...

    @property
    def seal(self) -> Seal | None: ...


@dataclass(frozen=True)
class Cursor:
    """Where a page stopped. In a sealed block: `block` is its seal and `shown`
    how many of its entries (newest first, the seal first) were shown. In the
    head (`block` None, the open ids may have been sealed since): show entries
    with `seq` below `below`, walking from the head again."""

    below: int
    block: str | None = None
    shown: int = 0

    def encode(self) -> str:
        raw = json.dumps([self.below, self.block, self.shown], separators=(",", ":")).encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    @classmethod
    def decode(cls, text: str) -> Cursor | None:
        """The cursor, or None if `text` is not one this module wrote."""
        if not text.isascii() or len(text) > _MAX_CURSOR:
            return None
        try:
            value = json.loads(base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)))
        except (binascii.Error, ValueError):
            return None
        match value:
            case [int(below), None, 0] if _counts(below, 10**12):
                return cls(below)
            case [int(below), str(block), int(shown)] if _counts(below, 10**12) and _counts(shown, BLOCK + 1):
                return cls(below, block, shown)
        return None


def _counts(value: int, bound: int) -> bool:
    return not isinstance(value, bool) and 0 < value < bound


L = TypeVar("L", bound=Linked)


class BrokenChain(Exception):
    """An id the chain names has no entry (or a cursor names no seal)."""


def page(
    links: Links, fetch: Callable[[Sequence[str]], Mapping[str, L]], limit: int, cursor: Cursor | None
) -> tuple[list[L], Cursor | None]:
    """Up to `limit` entries newest first, from `cursor`, and the cursor after them (None: no more).

    `fetch` reads entries by id (one BatchGetItem). It is called once per
    block the page reaches, for the entries the page shows and the next seal;
    a cursor into a block reads that block's seal first, and one from the head
    re-reads what was written above it since.
    """
    shown: list[L] = []
    holder: str | None = None  # the seal of the block being read (None: the head)
    position = 0  # entries of that block passed, newest first
    below: int | None = None  # in the head, after a cursor: skip entries from `below` up
    if cursor is not None and cursor.block is not None:
        seal = _seal(_found(fetch([cursor.block]), cursor.block), cursor.block)
        if cursor.shown > len(seal.block):
            raise BrokenChain(cursor.block)
        holder, position = cursor.block, cursor.shown
        pending, next_seal = list(reversed(seal.block[:-1]))[cursor.shown - 1 :], seal.prev
    else:
        pending, next_seal = list(reversed(links.open)), links.sealed
        below = cursor.below if cursor else None
    last: tuple[str | None, int] = (None, 0)  # where the last shown entry sits
    while pending or next_seal:
        room = limit - len(shown)
        if room == 0:
            return shown, Cursor(shown[-1].seq, *last) if last[0] else Cursor(shown[-1].seq)
        wanted = pending if below is not None else pending[:room]
        seal_id = next_seal if below is not None or len(wanted) < room else None
        got = fetch([*wanted, *([seal_id] if seal_id else [])])
        for index, entry_id in enumerate(wanted):
            entry = _found(got, entry_id)
            if below is not None and entry.seq >= below:
                continue
            below = None  # every entry after this one is older
            if len(shown) == limit:
                pending = wanted[index:]
                break
            shown.append(entry)
            last = (holder, position + index + 1)
        else:
            position += len(wanted)
            pending = pending[len(wanted) :]
            if seal_id is None:
                continue
            seal_entry = _found(got, seal_id)
            seal = _seal(seal_entry, seal_id)
            holder, position = seal_id, 1
            pending, next_seal = list(reversed(seal.block[:-1])), seal.prev
            if below is None or seal_entry.seq < below:
                below = None
                if len(shown) == limit:
                    return shown, Cursor(shown[-1].seq, *last) if last[0] else Cursor(shown[-1].seq)
                shown.append(seal_entry)
                last = (holder, 1)
    return shown, None


def _seal(entry: Linked, entry_id: str) -> Seal:
    if entry.seal is None:
        raise BrokenChain(entry_id)
    return entry.seal


def _found(got: Mapping[str, L], entry_id: str) -> L:
    entry = got.get(entry_id)
    if entry is None:
        raise BrokenChain(entry_id)
    return entry
