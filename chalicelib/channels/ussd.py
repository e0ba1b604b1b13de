"""The USSD callback: one gateway request -> one screen (`CON ...` or `END ...`).

A thin adapter. `menu.walk` says which screen the session's `text` leads to;
the screen's data comes from the service functions the HTTP routes call
(`points.view` / `view_of`, `campaigns.catalogue` and the eligibility rules,
`vouchers.claim`, `vouchers.wallet`, `points.ledger`); `screens` renders it.

DynamoDB round trips per screen (a warm function, its gateway key cached):

    ''        main menu          GetItem subscriber + PutItem session            2
    1         points             GetItem subscriber (+ 2 BatchGetItem: a member's household)  1 (3)
    2         offers             Query active campaigns + UpdateItem session     2
    2*98, 2*k page, confirm      GetItem session                                 1
    2*k*1     claim              GetItem session + BatchGetItem + TransactWrite  3
    2*k*2     nothing claimed    GetItem session                                 1
    3         vouchers           GetItem + Query (keys) + BatchGetItem           3
    4         history            GetItem subscriber + Query ledger               2
    5         data packs         Query the catalogue + UpdateItem session        2
    5*98, 5*k page, confirm      GetItem session                                 1
    5*k*1     order              GetItem session + the order's BatchGetItem,
                                 TransactWrite, (the charging system) and its
                                 settlement write                                4
    5*k*2     nothing ordered    GetItem session                                 1

Data packs (network products, `chalicelib/products`) are pinned in the session
as the offers are, and an order's idempotency key is derived from the session
and its `text` as a claim's is: `5*k*1` repeated orders once. Its fourth round
trip is the order's settlement after the charging system answered (fulfilled
or refunded), which the order cannot write before it has asked.

The offers are pinned in the session on the first offers screen (see
`sessions`), so `2*k` names one campaign on every later screen and repeat; the
claim's idempotency key is derived from the session and its `text`, so a
gateway repeating `2*k*1`, even twice at once, claims once and gets the same
screen. The wallet screen's third round trip is the wallet's own (an owner's
vouchers are a keys-only index: owner -> codes -> vouchers), as in the app.

Not a subscriber, an unknown option, a lost session, a busy store: a short
`END` screen, never an error status.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from typing import Any

from chalicelib import clock, observability
from chalicelib.campaigns import rules as campaign_rules
from chalicelib.campaigns import service as campaigns
from chalicelib.channels import menu, screens, sessions
from chalicelib.config import rules
from chalicelib.errors import DiemError, NotFound, ValidationError
from chalicelib.idempotency import Idempotency
from chalicelib.notify import gsm
from chalicelib.points import service as points
from chalicelib.products import catalogue as products
from chalicelib.products import orders as product_orders
from chalicelib.store import Campaign, Product, Subscriber
from chalicelib.store.transact import transient
from chalicelib.subscribers.msisdn import normalise_msisdn
from chalicelib.vouchers import service as vouchers

# a pinned offer's name is kept as a screen can show it
PINNED_NAME_CHARS = 60


@dataclass(frozen=True)
class Dial:
    """One callback of a gateway, as the form gave it."""

    gateway_id: str
    session_id: str
    service_code: str
    phone_number: str
    text: str


class _SessionLost(Exception):
    pass


def answer(dial: Dial) -> str:
    """The screen for this callback, `CON ` or `END ` and at most 182 GSM characters."""
    code = screens.short_code(dial.service_code)
    try:
        msisdn = normalise_msisdn(dial.phone_number)
    except ValidationError:
        return str(screens.not_subscriber())  # a number, but not one of the operator's
    visit = Visit(dial, msisdn)
    try:
        path = menu.walk(dial.text, visit)
        visit.walking = False
        at = path[-1]
        return str(RENDER[at.screen](visit, at))
    except NotFound:  # no subscriber has this number (`points.load`)
        return str(screens.not_subscriber())
    except _SessionLost:
        return str(screens.session_lost(code))
    except DiemError as exc:  # the kernel's 503: busy (a claim's refusals are its own screens)
        observability.logger().warning("USSD screen answered busy", extra={"code": exc.code})
        return str(screens.busy())
    except Exception as exc:
        if not transient(exc):
            raise
        observability.logger().warning("USSD screen answered busy", extra={"error": type(exc).__name__})
        return str(screens.busy())


class Visit:
    """One callback's reads, each made at most once and only when its screen needs it.

    `walking` is true while `menu.walk` asks for the offers' pages: then the
    session has pinned them on an earlier screen, and one GetItem reads them;
    the offers screen itself pins them (a Query and one UpdateItem)."""

    def __init__(self, dial: Dial, msisdn: str) -> None:
        self.dial, self.msisdn = dial, msisdn
        self.key = sessions.key(dial.gateway_id, dial.session_id)
        self.walking = True
        self._subscriber: Subscriber | None = None
        self._session: sessions.Session | None = None
        self._offers: list[tuple[screens.Offer, str]] | None = None
        self._wallet: list[screens.Voucher] | None = None
        self._packs: list[tuple[screens.Offer, str]] | None = None
        self._pack_session: sessions.Session | None = None

    # -- menu.Layout --------------------------------------------------------------

    def pages(self, screen: str) -> Sequence[Sequence[int]]:
        if screen == menu.OFFERS:
            return screens.offer_pages(self.offers())
        if screen == menu.VOUCHERS:
            return screens.wallet_pages(self.wallet())
        if screen == menu.PACKS:
            return screens.offer_pages(self.packs(), screens.PACK_LIST)
        return []

    # -- reads ----------------------------------------------------------------------

    def subscriber(self) -> Subscriber:
        if self._subscriber is None:
            self._subscriber = points.load(self.msisdn)
        return self._subscriber

    def session(self) -> sessions.Session:
        self.offers()
        assert self._session is not None
        return self._session

    def offers(self) -> list[screens.Offer]:
        """The offers this subscriber may take, numbered 1..n, from the session's pinned list."""
        if self._offers is None:
            session = sessions.read(self.key) if self.walking else None
            if session is None or session.offers is None:
                session = self._pin()
            if session.msisdn != self.msisdn or session.profile is None or session.on is None:
                raise _SessionLost
            self._session = session
            shown = [
                row
                for row in session.offers or []
                if campaign_rules.ineligibility(row.get("eligibility") or {}, session.profile, session.on) is None
            ]
            self._offers = [
                (screens.Offer(n, str(row["name"]), int(row["price"])), str(row["id"]))
                for n, row in enumerate(shown, start=1)
            ]
        return [offer for offer, _ in self._offers]

    def _pin(self) -> sessions.Session:
        """Pin the active campaigns in this session (or, when it holds no session
        yet, begin one with them: a gateway that never sent the first screen)."""
        candidates = [pinned(c) for c in campaigns.catalogue(rules().ussd_max_offers)]
        session = sessions.pin_offers(self.key, self.msisdn, candidates)
        if session is None:
            item = self.subscriber()
            session = sessions.begin(self.key, self.msisdn, item.owner_id, profile_of(item), candidates)
        if session is None:
            raise _SessionLost
        return session

    def campaign_of(self, number: int) -> str:
        self.offers()
        assert self._offers is not None
        return self._offers[number - 1][1]

    # -- network products: data packs ------------------------------------------------

    def packs(self) -> list[screens.Offer]:
        """The data packs, numbered 1..n, from the session's pinned list (pinned on the packs screen)."""
        if self._packs is None:
            session = sessions.read(self.key) if self.walking else None
            if session is None or session.packs is None:
                candidates = [pinned_pack(p) for p in products.data_packs(rules().ussd_max_offers)]
                session = sessions.pin_packs(self.key, self.msisdn, candidates)
                if session is None:  # no session yet (the gateway never sent the first screen)
                    item = self.subscriber()
                    session = sessions.begin(self.key, self.msisdn, item.owner_id, profile_of(item), packs=candidates)
            if session is None or session.msisdn != self.msisdn:
                raise _SessionLost
            self._pack_session = session
            self._packs = [
                (screens.Offer(n, str(row["name"]), int(row["price"])), str(row["id"]))
                for n, row in enumerate(session.packs or [], start=1)
            ]
        return [pack for pack, _ in self._packs]

    def pack_of(self, number: int) -> tuple[screens.Offer, str, sessions.Session]:
        """Pack `number` as listed, its product id, and the session that pinned it."""
        self.packs()
        assert self._packs is not None and self._pack_session is not None
        pack, product_id = self._packs[number - 1]
        return pack, product_id, self._pack_session

    def wallet(self) -> list[screens.Voucher]:
        """The issued vouchers among the newest of the wallet, newest first."""
        if self._wallet is None:
            self._wallet = screens.issued_of(vouchers.wallet(self.msisdn, rules().ussd_wallet_items, None)["items"])
        return self._wallet


def pinned(campaign: Campaign) -> dict[str, Any]:
    """What a session keeps of an offer: enough to list, number and claim it."""
    return {
        "id": campaign.campaign_id,
        "name": gsm.clip(gsm.fold_line(campaign.name), PINNED_NAME_CHARS),
        "price": int(campaign.points_price),
        "eligibility": campaigns.as_dict(campaign.eligibility),
    }


def pinned_pack(product: Product) -> dict[str, Any]:
    """What a session keeps of a data pack: enough to list, number and order it."""
    return {
        "id": product.product_id,
        "name": gsm.clip(gsm.fold_line(product.name), PINNED_NAME_CHARS),
        "price": int(product.points_price),
    }


def profile_of(item: Subscriber) -> dict[str, Any]:
    today = clock.today()
    return sessions.profile_map(campaigns.profile(item, points.to_account(item), today), today)


# -- each screen ----------------------------------------------------------------------


def _main(visit: Visit, at: menu.At) -> screens.Screen:
    item = visit.subscriber()
    if visit.dial.text == "":
        # the session's first screen binds it (a repeat keeps the session it made)
        sessions.begin(visit.key, visit.msisdn, item.owner_id, profile_of(item))
    return screens.main(screens.points_of(points.view_of(item, household=False)))  # the pool is on screen 1


def _once(visit: Visit, what: str, item_id: str) -> Idempotency:
    """The idempotency key of taking `item_id` on this screen: from the session and
    its `text`, so a gateway repeating the request takes it once."""
    return Idempotency(
        record_id=hashlib.sha256(f"{what}\x1f{visit.key}\x1f{visit.dial.text}".encode()).hexdigest(),
        payload_hash=hashlib.sha256(f"{visit.msisdn}\x1f{item_id}".encode()).hexdigest(),
    )


def _claim(visit: Visit, at: menu.At) -> screens.Screen:
    campaign_id = visit.campaign_of(at.offer)
    session = visit.session()
    idem = _once(visit, "ussd-claim", campaign_id)
    try:
        reply = vouchers.claim(visit.msisdn, campaign_id, idem, owner_id=session.owner_id)
    except DiemError as exc:
        return screens.refused(exc.code)
    voucher = reply.body["voucher"]
    expires_on = clock.local_date(clock.parse_iso(voucher["expires_at"]))
    observability.count("UssdClaims")
    return screens.claimed(screens.Voucher(voucher["code"], voucher["title"], expires_on), int(reply.body["balance"]))


def _history(visit: Visit, at: menu.At) -> screens.Screen:
    page = points.ledger(visit.msisdn, rules().ussd_history_entries, None)
    entries = [
        screens.Entry(clock.local_date(clock.parse_iso(e["at"])), _kind(e), int(e["points"])) for e in page["items"]
    ]
    return screens.history(entries)


def _kind(entry: dict[str, Any]) -> str:
    """The entry's kind as the history names it (a product order's spend is not a voucher's)."""
    product = entry["kind"] == "spend" and str(entry["entry_id"]).startswith("spend:ord_")
    return "spend_product" if product else str(entry["kind"])


def _order(visit: Visit, at: menu.At) -> screens.Screen:
    """`5*k*1`: order data pack k, once per session and text however the gateway repeats it."""
    pack, product_id, session = visit.pack_of(at.offer)
    idem = _once(visit, "ussd-order", product_id)
    try:
        reply = product_orders.order(visit.msisdn, product_id, idem, owner_id=session.owner_id)
    except DiemError as exc:
        return screens.pack_refused(exc.code)
    observability.count("UssdProductOrders")
    return screens.pack_ordered(pack, str(reply.body["status"]), int(reply.body["balance"]))


def _confirm(visit: Visit, at: menu.At) -> screens.Screen:
    return screens.confirm(visit.offers()[at.offer - 1])


RENDER: dict[str, Callable[[Visit, menu.At], screens.Screen]] = {
    menu.MAIN: _main,
    menu.POINTS: lambda visit, at: screens.points_screen(screens.points_of(points.view(visit.msisdn))),
    menu.OFFERS: lambda visit, at: screens.offers_screen(visit.offers(), at.page),
    menu.CONFIRM: _confirm,
    menu.CLAIM: _claim,
    menu.CANCELLED: lambda visit, at: screens.cancelled(),
    menu.VOUCHERS: lambda visit, at: screens.wallet_screen(visit.wallet(), at.page),
    menu.HISTORY: _history,
    menu.PACKS: lambda visit, at: screens.offers_screen(visit.packs(), at.page, screens.PACK_LIST),
    menu.PACK_CONFIRM: lambda visit, at: screens.confirm(visit.packs()[at.offer - 1]),
    menu.PACK_ORDER: _order,
    menu.PACK_CANCELLED: lambda visit, at: screens.cancelled(),
    menu.INVALID: lambda visit, at: screens.invalid(screens.short_code(visit.dial.service_code)),
}
