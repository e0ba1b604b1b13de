"""The ledger's chain of blocks (chalicelib/points/chain.py), against a plain
list: paging newest first, with entries arriving between pages, shows every
entry that existed at the first page exactly once, in commit order, reading
only what each page shows."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from chalicelib.points.chain import BLOCK, BrokenChain, Cursor, Links, Seal, extend, page


@dataclass(frozen=True)
class Stored:
    seq: int
    seal: Seal | None


class Ledger:
    """Entries written the way account_ops writes them, and reads counted."""

    def __init__(self) -> None:
        self.links = Links()
        self.entries: dict[str, Stored] = {}
        self.order: list[str] = []  # oldest first: the model
        self.fetches: list[list[str]] = []

    def write(self, count: int) -> None:
        ids = [f"earn:e{len(self.order) + i}" for i in range(count)]
        self.links, seals = extend(self.links, ids)
        for entry_id in ids:
            self.order.append(entry_id)
            self.entries[entry_id] = Stored(len(self.order), seals.get(entry_id))

    def fetch(self, ids: Sequence[str]) -> Mapping[str, Stored]:
        assert ids, "a fetch of nothing is a wasted round trip"
        self.fetches.append(list(ids))
        return {i: self.entries[i] for i in ids if i in self.entries}

    def ids(self, shown: list[Stored]) -> list[str]:
        by_seq = {e.seq: i for i, e in self.entries.items()}
        return [by_seq[e.seq] for e in shown]


def test_the_head_holds_fewer_than_a_block():
    ledger = Ledger()
    for _ in range(3 * BLOCK + 2):
        ledger.write(1)
        assert len(ledger.links.open) < BLOCK
    assert ledger.links.open == tuple(ledger.order[-2:])
    seal = ledger.entries[ledger.links.sealed or ""].seal
    assert seal is not None and seal.block == tuple(ledger.order[2 * BLOCK : 3 * BLOCK])


def test_a_write_of_several_entries_may_seal_more_than_one_block():
    ledger = Ledger()
    ledger.write(2 * BLOCK + 1)
    sealed = [i for i in ledger.order if ledger.entries[i].seal is not None]
    assert sealed == [ledger.order[BLOCK - 1], ledger.order[2 * BLOCK - 1]]
    second = ledger.entries[sealed[1]].seal
    assert second is not None and second.prev == sealed[0]


@settings(max_examples=150, deadline=None)
@given(
    first=st.integers(0, 40),
    limits=st.lists(st.integers(1, 13), min_size=1, max_size=12),
    arrivals=st.lists(st.integers(0, 9), min_size=12, max_size=12),
)
def test_pages_show_every_entry_once_newest_first(first, limits, arrivals):
    ledger = Ledger()
    ledger.write(first)
    expected = list(reversed(ledger.order))
    seen: list[str] = []
    cursor: Cursor | None = None
    arrived = 0  # written since the cursor: a cursor from the head re-reads them, once
    for n, limit in enumerate(limits):
        ledger.fetches.clear()
        shown, after = page(ledger.links, ledger.fetch, limit, cursor)
        ids = ledger.ids(shown)
        assert len(ids) <= limit
        # what the page shows and the next seal; plus the seal a block cursor resumes from, or,
        # from a head cursor, the head's ids and what arrived above it
        read = sum(len(f) for f in ledger.fetches)
        assert read <= len(ids) + 1 + (1 if cursor and cursor.block else arrived + BLOCK - 1 if cursor else 0)
        assert len(ledger.fetches) <= 2 + len(ids) // (BLOCK - 1) + 1
        seen += ids
        if after is None:
            assert seen == expected
            return
        assert len(ids) == limit
        cursor = Cursor.decode(after.encode())
        assert cursor == after
        ledger.write(arrivals[n])  # entries arriving meanwhile are above the cursor
        arrived = arrivals[n]
    assert seen == expected[: len(seen)]


def test_an_empty_ledger_is_one_empty_page_without_reads():
    ledger = Ledger()
    assert page(ledger.links, ledger.fetch, 10, None) == ([], None)
    assert ledger.fetches == []


def test_a_page_ending_on_the_last_entry_has_no_cursor():
    ledger = Ledger()
    ledger.write(2 * BLOCK)
    shown, after = page(ledger.links, ledger.fetch, 2 * BLOCK, None)
    assert len(shown) == 2 * BLOCK and after is None


@pytest.mark.parametrize(
    "text", ["", "@@@", "\u00b2", "bnVsbA", "WzAsbnVsbF0", "WyIxIixudWxsXQ", "W3RydWUsbnVsbF0", "x" * 401]
)
def test_a_cursor_this_module_did_not_write_is_refused(text):
    # null; [0,null]; ["1",null]; [true,null]
    assert Cursor.decode(text) is None


def test_a_cursor_naming_an_entry_that_seals_nothing_breaks_the_walk():
    ledger = Ledger()
    ledger.write(BLOCK + 2)
    with pytest.raises(BrokenChain):
        page(ledger.links, ledger.fetch, 5, Cursor(3, ledger.order[0]))
    with pytest.raises(BrokenChain):
        page(ledger.links, ledger.fetch, 5, Cursor(3, "earn:nobody"))
