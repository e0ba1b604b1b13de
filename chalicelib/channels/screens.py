"""What a basic phone shows: every USSD screen and SMS reply, in Vietnamese
without diacritics, checked against GSM 03.38 and its size.

A screen is built from `Line`s, folded to the GSM basic set: a line marked
`shrink` (a campaign's name, a voucher's title) may be clipped to make the
screen fit; any other line (a number, a menu option) is shown whole or not at
all; a `verbatim` line (a voucher code, whose check symbol may be `~`, an
extension character) is not even folded. Sizes are septets (`gsm.septets`). Lists
(offers, vouchers) are cut into pages whose items fit whole beside the page's
header and footer. A screen that cannot fit is a `RenderError`, never a
screen cut in the middle. Pure: the data comes in as plain values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from typing import Any

from chalicelib import clock
from chalicelib.config import rules
from chalicelib.notify import gsm, messages

CON, END = "CON", "END"

TIERS = messages.TIER_NAMES
KINDS = {
    "earn": "Tich diem",
    "tenure_bonus": "Thuong tham nien",
    "spend": "Doi voucher",
    "refund": "Hoan diem",
    "expire": "Het han",
    "adjust": "Dieu chinh",
    "forfeit": "Thu hoi",
}
# a claim's refusal (an error code) in words
REFUSALS = {
    "SOLD_OUT": "Rat tiec, uu dai nay da het.",
    "INSUFFICIENT_POINTS": "Ban khong du diem de doi uu dai nay.",
    "LIMIT_REACHED": "Ban da doi het so lan cho phep cua uu dai nay.",
    "NOT_ELIGIBLE": "Ban chua du dieu kien nhan uu dai nay.",
    "CAMPAIGN_NOT_ACTIVE": "Uu dai nay hien khong con ap dung.",
    "NOT_FOUND": "Uu dai nay khong con.",
    "INVALID_STATE": "So thue bao nay da doi chu. Khong doi diem.",
}
# a claim the store could not settle in time (it may have been made): look before trying again
CLAIM_UNSETTLED = "He thong dang ban. Vui long xem muc 3 (voucher) truoc khi thu lai."
# the widest an item line of a list may be before it is clipped
OFFER_WIDTH = 44
TITLE_WIDTH = 30
NEXT, BACK = "98. Tiep", "0. Quay lai"


class RenderError(Exception):
    """A screen that cannot fit (a bug in a screen's layout, never shown)."""


@dataclass(frozen=True)
class Line:
    text: str
    shrink: bool = False
    # shown exactly as given (a voucher code): never folded, never clipped
    verbatim: bool = False


@dataclass(frozen=True)
class Screen:
    kind: str  # CON or END
    body: str

    def __str__(self) -> str:
        return f"{self.kind} {self.body}"


# -- the data screens show ------------------------------------------------------


@dataclass(frozen=True)
class Points:
    balance: int
    tier: str
    next_tier: str | None
    to_next: int | None
    cycle_ends_on: date | None
    expiring: tuple[tuple[date, int], ...] = ()


@dataclass(frozen=True)
class Offer:
    number: int
    name: str
    price: int


@dataclass(frozen=True)
class Voucher:
    code: str  # the grouped form, 7KQ2-M9XD-4RTW-0CZP-X
    title: str
    expires_on: date


@dataclass(frozen=True)
class Entry:
    on: date
    kind: str
    points: int


def points_of(view: dict[str, Any]) -> Points:
    """The points view (`points.view`, as the app gets it) as a screen shows it."""
    cycle = view.get("tier_cycle_ends_on")
    return Points(
        balance=int(view["balance"]),
        tier=str(view["tier"]),
        next_tier=view.get("next_tier"),
        to_next=view.get("rank_points_to_next_tier"),
        cycle_ends_on=date.fromisoformat(cycle) if cycle else None,
        expiring=tuple((date.fromisoformat(e["on"]), int(e["points"])) for e in view["expiring"]),
    )


def issued_of(wallet: Sequence[dict[str, Any]]) -> list[Voucher]:
    """The issued vouchers of a wallet page (`vouchers.wallet`), expiry as a local date."""
    return [
        Voucher(v["code"], v["title"], clock.local_date(clock.parse_iso(v["expires_at"])))
        for v in wallet
        if v["status"] == "issued"
    ]


# -- fitting ----------------------------------------------------------------------


def number(value: int) -> str:
    """`1234567` -> `1.234.567` (Vietnamese thousands)."""
    sign = "-" if value < 0 else ""
    return sign + f"{abs(value):,}".replace(",", ".")


def day(value: date, year: bool = True) -> str:
    return value.strftime("%d/%m/%Y" if year else "%d/%m")


def fit(lines: Sequence[Line], limit: int) -> str:
    """The lines joined, in GSM 03.38, within `limit` septets: shrinkable lines
    are clipped (the longest first), others kept whole."""
    texts = [line.text if line.verbatim else gsm.fold_line(line.text) for line in lines]
    for line, text in zip(lines, texts, strict=True):
        if line.verbatim and not gsm.is_gsm(text):
            raise RenderError(f"{text!r} is not GSM 03.38 text and may not be changed")
    while gsm.septets("\n".join(texts)) > limit:
        over = gsm.septets("\n".join(texts)) - limit
        candidates = [i for i, line in enumerate(lines) if line.shrink and not line.verbatim and len(texts[i]) > 3]
        if not candidates:
            raise RenderError(f"{gsm.septets(chr(10).join(texts))} septets do not fit in {limit}: {texts!r}")
        longest = max(candidates, key=lambda i: len(texts[i]))
        texts[longest] = gsm.clip(texts[longest], max(3, len(texts[longest]) - over))
    return "\n".join(texts)


def fits(lines: Sequence[Line], limit: int) -> bool:
    try:
        fit(lines, limit)
    except RenderError:
        return False
    return True


def screen(kind: str, *lines: Line | str) -> Screen:
    return Screen(kind, fit([x if isinstance(x, Line) else Line(x) for x in lines], rules().ussd_screen_chars))


def paginate(
    items: Sequence[Sequence[Line]], header: Sequence[Line], footer: Sequence[Line], limit: int
) -> list[list[int]]:
    """Indexes of `items` per page: each page takes as many whole items as fit
    between `header` and `footer` (at least one; an item that fits nowhere is a
    RenderError)."""
    pages: list[list[int]] = []
    current: list[int] = []
    for index in range(len(items)):
        body = [line for i in [*current, index] for line in items[i]]
        if fits([*header, *body, *footer], limit):
            current.append(index)
            continue
        if not current:
            raise RenderError(f"item {index} does not fit on a page of its own")
        pages.append(current)
        current = [index]
        if not fits([*header, *items[index], *footer], limit):
            raise RenderError(f"item {index} does not fit on a page of its own")
    if current:
        pages.append(current)
    return pages


# -- USSD screens -------------------------------------------------------------------


def tier_name(code: str) -> str:
    return TIERS.get(code, code)


def main(points: Points) -> Screen:
    return screen(
        CON,
        f"Diem: {number(points.balance)} - Hang {tier_name(points.tier)}",
        "1. Diem va hang",
        "2. Doi diem lay voucher",
        "3. Voucher cua toi",
        "4. Lich su diem",
    )


def points_screen(points: Points) -> Screen:
    lines: list[Line | str] = [f"Diem: {number(points.balance)}"]
    cycle = f" (den {day(points.cycle_ends_on)})" if points.cycle_ends_on else ""
    lines.append(f"Hang: {tier_name(points.tier)}{cycle}")
    if points.next_tier and points.to_next is not None:
        lines.append(f"Can {number(points.to_next)} diem hang de len {tier_name(points.next_tier)}")
    if points.expiring:
        on, amount = min(points.expiring)
        lines.append(f"{number(amount)} diem het han {day(on)}")
    else:
        lines.append("Khong co diem sap het han")
    return screen(END, *lines)


def _offer_item(offer: Offer) -> list[Line]:
    price = f" - {number(offer.price)} diem" if offer.price else " - mien phi"
    name = gsm.clip(gsm.fold_line(offer.name), max(4, OFFER_WIDTH - len(price) - len(str(offer.number)) - 2))
    return [Line(f"{offer.number}. {name}{price}")]


def _offers_header(page: int) -> list[Line]:
    return [Line("Doi diem lay uu dai:" if page == 0 else "Uu dai (tiep):")]


def offer_pages(offers: Sequence[Offer]) -> list[list[int]]:
    """The offer numbers on each page of the offers list."""
    limit = rules().ussd_screen_chars
    # the longest header and footer, so a page laid out once reads the same on every visit
    footer = [Line(f"{NEXT}  {BACK}")]
    pages = paginate([_offer_item(o) for o in offers], _offers_header(0), footer, limit)
    return [[offers[i].number for i in page] for page in pages]


def offers_screen(offers: Sequence[Offer], page: int) -> Screen:
    if not offers:
        return screen(END, "Hien chua co uu dai nao danh cho ban.")
    pages = offer_pages(offers)
    by_number = {o.number: o for o in offers}
    items = [line for n in pages[page] for line in _offer_item(by_number[n])]
    footer = f"{NEXT}  {BACK}" if page + 1 < len(pages) else BACK
    return screen(CON, *_offers_header(page), *items, footer)


def confirm(offer: Offer) -> Screen:
    price = f"Doi {number(offer.price)} diem lay:" if offer.price else "Nhan mien phi:"
    return screen(CON, price, Line(offer.name, shrink=True), "1. Dong y", "2. Khong")


def claimed(voucher: Voucher, balance: int) -> Screen:
    return screen(
        END,
        "Doi thanh cong! Ma voucher:",
        Line(voucher.code, verbatim=True),
        Line(voucher.title, shrink=True),
        f"HSD {day(voucher.expires_on)}. Con {number(balance)} diem",
    )


def refused(code: str) -> Screen:
    return screen(END, REFUSALS.get(code, CLAIM_UNSETTLED))


def cancelled() -> Screen:
    return screen(END, "Da huy. Ban khong bi tru diem.")


def _voucher_item(voucher: Voucher) -> list[Line]:
    title = gsm.clip(gsm.fold_line(voucher.title), TITLE_WIDTH)
    return [Line(voucher.code, verbatim=True), Line(f"{title} HSD {day(voucher.expires_on, year=False)}")]


_WALLET_HEADER = [Line("Voucher cua ban:")]


def wallet_pages(vouchers: Sequence[Voucher]) -> list[list[int]]:
    """The indexes of `vouchers` on each page of the wallet."""
    footer = [Line(f"{NEXT}  {BACK}")]
    return paginate([_voucher_item(v) for v in vouchers], _WALLET_HEADER, footer, rules().ussd_screen_chars)


def wallet_screen(vouchers: Sequence[Voucher], page: int) -> Screen:
    if not vouchers:
        return screen(END, "Ban chua co voucher nao.")
    pages = wallet_pages(vouchers)
    items = [line for i in pages[page] for line in _voucher_item(vouchers[i])]
    if len(pages) == 1:
        return screen(END, *_WALLET_HEADER, *items)
    footer = f"{NEXT}  {BACK}" if page + 1 < len(pages) else BACK
    return screen(CON, *_WALLET_HEADER, *items, footer)


def history(entries: Sequence[Entry]) -> Screen:
    """The newest entries that fit whole (an older one is left out, never cut)."""
    if not entries:
        return screen(END, "Chua co lich su diem.")
    lines = [Line("Lich su diem:")]
    for entry in entries:
        signed = f"+{number(entry.points)}" if entry.points > 0 else number(entry.points)
        line = Line(f"{day(entry.on, year=False)} {KINDS.get(entry.kind, entry.kind)} {signed}")
        if not fits([*lines, line], rules().ussd_screen_chars):
            break
        lines.append(line)
    return screen(END, *lines)


def _dial(service_code: str) -> str:
    return f"bam {service_code}" if service_code else "quay lai sau"


def not_subscriber() -> Screen:
    return screen(END, "So nay chua tham gia chuong trinh tich diem.")


def invalid(service_code: str) -> Screen:
    return screen(END, f"Lua chon khong hop le. Vui long {_dial(service_code)} de bat dau lai.")


def session_lost(service_code: str) -> Screen:
    return screen(END, f"Phien da het han. Vui long {_dial(service_code)} de bat dau lai.")


def busy() -> Screen:
    return screen(END, "He thong dang ban. Vui long thu lai sau it phut.")


def short_code(raw: str) -> str:
    """The gateway's service code as a screen may show it (`*098#`), else ''."""
    kept = "".join(c for c in raw if c in "*#0123456789")
    return kept if 2 <= len(kept) <= 16 else ""


# -- SMS replies ---------------------------------------------------------------------


def sms(lines: Sequence[Line | str]) -> str:
    """An SMS reply of at most two segments (306 GSM characters)."""
    return fit([x if isinstance(x, Line) else Line(x) for x in lines], rules().sms_reply_chars)


def sms_points(points: Points) -> str:
    cycle = f" den {day(points.cycle_ends_on)}" if points.cycle_ends_on else ""
    lines = [f"Diem cua ban: {number(points.balance)}. Hang {tier_name(points.tier)}{cycle}."]
    if points.next_tier and points.to_next is not None:
        lines.append(f"Can {number(points.to_next)} diem hang de len {tier_name(points.next_tier)}.")
    if points.expiring:
        on, amount = min(points.expiring)
        lines.append(f"{number(amount)} diem het han ngay {day(on)}.")
    return sms(lines)


def sms_vouchers(vouchers: Sequence[Voucher]) -> str:
    """As many whole codes as fit, then how many more there are."""
    if not vouchers:
        return sms([f"Ban chua co voucher nao. Doi diem lay voucher: bam {rules().ussd_short_code}."])
    limit = rules().sms_reply_chars
    lines = [Line(f"Voucher cua ban ({len(vouchers)}):")]
    for shown, voucher in enumerate(vouchers):
        line = Line(f"{voucher.code} HSD {day(voucher.expires_on, year=False)}", verbatim=True)
        more = Line(f"va {len(vouchers) - shown} voucher khac, xem {rules().ussd_short_code}")
        rest = [more] if shown + 1 < len(vouchers) else []
        if not fits([*lines, line, *rest], limit):
            return sms([*lines, more])
        lines.append(line)
    return sms(lines)


def sms_opted_out() -> str:
    return sms(["Ban da tat tin nhan thong bao tu chuong trinh diem. Soan DK de bat lai."])


def sms_opted_in() -> str:
    return sms(["Ban da bat lai tin nhan thong bao tu chuong trinh diem. Soan TC de tat."])


def sms_help() -> str:
    return sms(
        [
            "Chuong trinh diem. Soan:",
            "DIEM - xem diem, hang, diem sap het han",
            "VC - xem ma voucher",
            "TC - tat tin nhan thong bao",
            "DK - bat lai tin nhan thong bao",
            f"Hoac bam {rules().ussd_short_code}",
        ]
    )


def sms_not_subscriber() -> str:
    return sms(["So nay chua tham gia chuong trinh tich diem."])
