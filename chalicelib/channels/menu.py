"""The USSD menu as a state machine over the gateway's `text` (API.md "USSD menu").

`text` is every input of the session joined by `*` (`2*98*4*1`); `walk` reads
it from the main menu, one input at a time, through `MENU`: for each screen,
what each input leads to. A screen missing from `MENU` (a result that ends the
session) takes no input, and an input a screen does not list leads to
`INVALID`. Where an input depends on the data (is there a next page? is offer
4 on this page?) the move asks the `Layout`, which the USSD adapter answers
from the session's pinned offers or the wallet. Pure; no I/O.

    ''          main menu (balance and tier first)
    1           points and tier (END)
    2           offers, page 0; 98 next page, 0 back (to the previous page, or the menu)
    2*k         confirm offer k (1 yes, 2 no, 0 back to its page)
    2*k*1       claim it (END)    2*k*2  nothing claimed (END)
    3           my vouchers; 98 next page, 0 back
    4           recent history (END)
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from typing import Protocol

MAIN = "main"
POINTS = "points"
OFFERS = "offers"
CONFIRM = "confirm"
CLAIM = "claim"
CANCELLED = "cancelled"
VOUCHERS = "vouchers"
HISTORY = "history"
INVALID = "invalid"

SEPARATOR = "*"
# the input that stands for any offer number
NUMBER = "<number>"
MAX_INPUTS = 32


@dataclass(frozen=True)
class At:
    """Where an input left the session: a screen, its page, the offer chosen."""

    screen: str
    page: int = 0
    offer: int = 0


class Layout(Protocol):
    def pages(self, screen: str) -> Sequence[Sequence[int]]:
        """The items on each page of a list screen (OFFERS: offer numbers; VOUCHERS: positions)."""


Move = Callable[[At, str, Layout], At | None]


@dataclass(frozen=True)
class Go:
    """Go to `screen`, keeping the page and the offer."""

    screen: str

    def __call__(self, at: At, _: str, __: Layout) -> At:
        return At(self.screen, at.page, at.offer)


def next_page(at: At, _: str, layout: Layout) -> At | None:
    return replace(at, page=at.page + 1) if at.page + 1 < len(layout.pages(at.screen)) else None


def back(at: At, _: str, __: Layout) -> At:
    """The previous page, or from the first page the main menu."""
    return replace(at, page=at.page - 1) if at.page else At(MAIN)


def pick(at: At, token: str, layout: Layout) -> At | None:
    """An offer shown on this page."""
    pages = layout.pages(OFFERS)
    chosen = int(token)
    return At(CONFIRM, at.page, chosen) if at.page < len(pages) and chosen in pages[at.page] else None


def back_to_list(at: At, _: str, __: Layout) -> At:
    return At(OFFERS, at.page)


MENU: dict[str, dict[str, Move]] = {
    MAIN: {"1": Go(POINTS), "2": Go(OFFERS), "3": Go(VOUCHERS), "4": Go(HISTORY)},
    OFFERS: {"98": next_page, "0": back, NUMBER: pick},
    CONFIRM: {"1": Go(CLAIM), "2": Go(CANCELLED), "0": back_to_list},
    VOUCHERS: {"98": next_page, "0": back},
}


def _number(token: str) -> bool:
    """A whole number as a person types it: ASCII digits, no leading zero."""
    return token.isascii() and token.isdigit() and len(token) <= 3 and str(int(token)) == token


def walk(text: str, layout: Layout) -> list[At]:
    """Every screen the session went through, the last one to be shown now."""
    path = [At(MAIN)]
    if text == "":
        return path
    tokens = text.split(SEPARATOR)
    if len(tokens) > MAX_INPUTS:
        return [*path, At(INVALID)]
    for token in tokens:
        moves = MENU.get(path[-1].screen, {})
        move = moves.get(token) or (moves.get(NUMBER) if _number(token) else None)
        step = move(path[-1], token, layout) if move else None
        if step is None:
            return [*path, At(INVALID)]
        path.append(step)
    return path
