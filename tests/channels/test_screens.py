"""The screens and the menu, pure: every screen rendered for generated
subscribers (long names, many vouchers, many offers, big numbers, any
Unicode) fits one USSD page in the GSM 03.38 alphabet, lists lose no item and
cut no voucher code; SMS replies fit two segments; the menu's table; folding."""

from __future__ import annotations

from datetime import date

import pytest
from hypothesis import given
from hypothesis import strategies as st

from chalicelib.channels import menu, screens
from chalicelib.channels.screens import Entry, Offer, Points, Voucher
from chalicelib.notify import gsm
from chalicelib.vouchers import codes

LIMIT = 182
TIERS = list(screens.TIERS)
# any text a marketer may type: Vietnamese, emoji, CJK, GSM's extension characters, control characters
names = st.text(
    alphabet=st.one_of(
        st.characters(codec="utf-8", exclude_categories=("Cs",)), st.sampled_from("ăâđêôơưĂÂĐÊÔƠƯ~^{}[]|\\€")
    ),
    max_size=200,
)
big = st.integers(min_value=0, max_value=10**12)
days = st.dates(min_value=date(2000, 1, 1), max_value=date(2999, 12, 31))


@st.composite
def voucher_codes(draw: st.DrawFn) -> str:
    """A real code in its grouped form (its check symbol may be `~`, `*`, `$`, `=` or `U`)."""
    value = draw(st.integers(min_value=0, max_value=2**80 - 1))
    data = "".join(codes.ALPHABET[(value >> shift) & 31] for shift in range(75, -1, -5))
    return codes.display(data + codes.CHECK_SYMBOLS[value % 37])


points = st.builds(
    Points,
    balance=big,
    tier=st.sampled_from(TIERS),
    next_tier=st.one_of(st.none(), st.sampled_from(TIERS)),
    to_next=st.one_of(st.none(), big),
    cycle_ends_on=st.one_of(st.none(), days),
    expiring=st.lists(st.tuples(days, big), max_size=12).map(tuple),
    pool=st.one_of(st.none(), big),
    can_spend_pool=st.booleans(),
)
offer_lists = st.lists(st.tuples(names, big), max_size=30).map(
    lambda rows: [Offer(n, name, price) for n, (name, price) in enumerate(rows, start=1)]
)
wallets = st.lists(
    st.builds(Voucher, code=voucher_codes(), title=names, expires_on=days), max_size=50, unique_by=lambda v: v.code
)
histories = st.lists(
    st.builds(
        Entry, on=days, kind=st.sampled_from([*screens.KINDS, "new_kind"]), points=st.integers(-(10**12), 10**12)
    ),
    max_size=50,
)


def assert_fits(screen: screens.Screen) -> str:
    text = str(screen)
    assert screen.kind in ("CON", "END") and text.startswith(f"{screen.kind} ")
    assert gsm.is_gsm(screen.body), screen.body
    assert gsm.septets(screen.body) <= LIMIT, (gsm.septets(screen.body), screen.body)
    return screen.body


@given(points=points, offers=offer_lists, wallet=wallets, history=histories, code=st.text(max_size=40))
def test_every_screen_fits_one_ussd_page_in_gsm(points, offers, wallet, history, code) -> None:
    for screen in (
        screens.main(points),
        screens.points_screen(points),
        screens.history(history),
        screens.cancelled(),
        screens.busy(),
        screens.not_subscriber(),
        screens.invalid(screens.short_code(code)),
        screens.session_lost(screens.short_code(code)),
        *(screens.refused(c) for c in [*screens.REFUSALS, "SERVICE_UNAVAILABLE", "ANYTHING"]),
        *(screens.pack_refused(c) for c in [*screens.PACK_REFUSALS, "SERVICE_UNAVAILABLE", "ANYTHING"]),
    ):
        assert_fits(screen)
    assert screens.main(points).body.startswith(f"Diem: {screens.number(points.balance)} - Hang ")

    # offers: each on exactly one page, in order; its name may be shortened, its number and price never
    pages = screens.offer_pages(offers)
    assert [n for page in pages for n in page] == [o.number for o in offers]
    for index, page in enumerate(pages):
        body = assert_fits(screens.offers_screen(offers, index))
        assert ("98. Tiep" in body) == (index + 1 < len(pages)) and "0. Quay lai" in body
        for n in page:
            offer = offers[n - 1]
            price = f" - {screens.number(offer.price)} diem" if offer.price else " - mien phi"
            assert any(line.startswith(f"{n}. ") and line.endswith(price) for line in body.splitlines())
    for offer in offers:
        assert_fits(screens.confirm(offer))
    if not offers:
        assert screens.offers_screen(offers, 0).kind == "END"

    # data packs (network products): listed, confirmed and ordered as offers are, each outcome in words
    pages = screens.offer_pages(offers, screens.PACK_LIST)
    assert [n for page in pages for n in page] == [o.number for o in offers]
    for index in range(len(pages)):
        body = assert_fits(screens.offers_screen(offers, index, screens.PACK_LIST))
        assert body.startswith("Doi diem lay goi data:" if index == 0 else "Goi data (tiep):")
    for pack in offers[:5]:
        for status in ("fulfilled", "refunded", "pending"):
            body = assert_fits(screens.pack_ordered(pack, status, points.balance))
            assert body.endswith((f"Con {screens.number(points.balance)} diem", "Cam on ban!"))
    if not offers:
        assert screens.offers_screen(offers, 0, screens.PACK_LIST).body == "Hien chua co goi data nao."

    # vouchers: every code whole on exactly one page, each page within the limit
    pages = screens.wallet_pages(wallet)
    assert [i for page in pages for i in page] == list(range(len(wallet)))
    for index, page in enumerate(pages):
        lines = assert_fits(screens.wallet_screen(wallet, index)).splitlines()
        for i in page:
            assert wallet[i].code in lines
        assert ("98. Tiep" in lines[-1]) == (index + 1 < len(pages))
    for voucher in wallet[:3]:
        lines = assert_fits(screens.claimed(voucher, points.balance)).splitlines()
        assert voucher.code in lines

    # history: whole entries, newest first, as many as fit
    body = assert_fits(screens.history(history))
    assert len(body.splitlines()) <= len(history) + 1


@given(points=points, wallet=wallets)
def test_every_sms_reply_fits_two_segments(points, wallet) -> None:
    for reply in (
        screens.sms_points(points),
        screens.sms_vouchers(wallet),
        screens.sms_help(),
        screens.sms_opted_in(),
        screens.sms_opted_out(),
        screens.sms_not_subscriber(),
    ):
        assert gsm.is_gsm(reply) and gsm.septets(reply) <= 306 and gsm.segments(reply) <= 2, reply
    reply = screens.sms_vouchers(wallet)
    shown = [v.code for v in wallet if v.code in reply]
    # codes are listed from the newest, whole, and the rest are counted
    assert shown == [v.code for v in wallet[: len(shown)]]
    if wallet and len(shown) < len(wallet):
        assert f"va {len(wallet) - len(shown)} voucher khac" in reply


def test_a_code_with_the_tilde_check_symbol_is_shown_exactly() -> None:
    code = next(c for c in (codes.display(codes.new_code()) for _ in range(5000)) if c.endswith("~"))
    body = screens.claimed(Voucher(code, "Mot ly ca phe", date(2026, 12, 1)), 1_000).body
    assert code in body.splitlines() and codes.parse(code) is not None
    assert gsm.septets(body) == len(body) + 1  # `~` is an extension character: two septets


def test_a_screen_that_cannot_fit_is_an_error_not_a_cut_screen() -> None:
    with pytest.raises(screens.RenderError):
        screens.screen("END", screens.Line("7KQ2-M9XD-4RTW-0CZP-X " * 10, verbatim=True))
    with pytest.raises(screens.RenderError):
        screens.screen("END", screens.Line("ký tự", verbatim=True))


@pytest.mark.parametrize(
    ("raw", "folded"),
    [
        ("Điểm thưởng Kim Cương", "Diem thuong Kim Cuong"),
        ("Cà phê sữa đá \u2013 \u201cngon\u201d\u2026", 'Ca phe sua da - "ngon"...'),
        ("[Giảm] {50%} ~ 100€ | a\\b ^", "(Giam) (50%) - 100EUR / a/b "),
        ("tab\there\r\nline", "tab here\nline"),
        ("漢字 😀", "?? ?"),
    ],
)
def test_fold_writes_vietnamese_without_diacritics_in_gsm(raw: str, folded: str) -> None:
    assert gsm.fold(raw) == folded and gsm.is_gsm(folded)


def test_clip_fold_line_and_segments() -> None:
    assert gsm.clip("abcdef", 6) == "abcdef"
    assert gsm.clip("abcdefgh", 6) == "abcd.."
    assert gsm.clip("ab  cdefgh", 6) == "ab.."
    assert gsm.clip("abcdef", 3) == "a.."
    assert gsm.clip("abcdef", 2) == "ab"
    assert gsm.fold_line("Ca phe\nsua da") == "Ca phe sua da"
    assert gsm.fold("a\u2003b") == "a b"  # any other space is a space
    assert [gsm.segments("x" * n) for n in (0, 1, 160, 161, 306, 307)] == [0, 1, 1, 2, 2, 3]
    assert gsm.septets("~x") == 3 and gsm.segments("x" * 159 + "~") == 2


@pytest.mark.parametrize(("raw", "word"), [("  điểm ", "DIEM"), ("Vc", "VC"), ("t  c", "T C"), ("ĐK", "DK")])
def test_keywords_ignore_case_diacritics_and_spaces(raw: str, word: str) -> None:
    assert gsm.keyword(raw) == word


# -- the menu's table ---------------------------------------------------------------------


class Layout:
    """Offers (and data packs) 1-3 on page 0, 4, 5 and 100 on page 1; vouchers on two pages."""

    def __init__(self, offers: list[list[int]] | None = None) -> None:
        self.asked: list[str] = []
        self.offers = [[1, 2, 3], [4, 5, 100]] if offers is None else offers

    def pages(self, screen: str) -> list[list[int]]:
        self.asked.append(screen)
        return self.offers if screen in (menu.OFFERS, menu.PACKS) else [[0, 1], [2]]


@pytest.mark.parametrize(
    ("text", "screen", "page", "offer"),
    [
        ("", menu.MAIN, 0, 0),
        ("1", menu.POINTS, 0, 0),
        ("2", menu.OFFERS, 0, 0),
        ("2*98", menu.OFFERS, 1, 0),
        ("2*98*0", menu.OFFERS, 0, 0),
        ("2*0", menu.MAIN, 0, 0),
        ("2*0*4", menu.HISTORY, 0, 0),
        ("2*3", menu.CONFIRM, 0, 3),
        ("2*98*5", menu.CONFIRM, 1, 5),
        ("2*98*5*0", menu.OFFERS, 1, 0),
        ("2*3*1", menu.CLAIM, 0, 3),
        ("2*98*4*1", menu.CLAIM, 1, 4),
        ("2*98*100", menu.CONFIRM, 1, 100),
        ("2*3*2", menu.CANCELLED, 0, 3),
        ("3", menu.VOUCHERS, 0, 0),
        ("3*98", menu.VOUCHERS, 1, 0),
        ("3*98*0*0", menu.MAIN, 0, 0),
        ("4", menu.HISTORY, 0, 0),
        ("5", menu.PACKS, 0, 0),
        ("5*98", menu.PACKS, 1, 0),
        ("5*0", menu.MAIN, 0, 0),
        ("5*2", menu.PACK_CONFIRM, 0, 2),
        ("5*98*4", menu.PACK_CONFIRM, 1, 4),
        ("5*98*4*0", menu.PACKS, 1, 0),
        ("5*2*1", menu.PACK_ORDER, 0, 2),
        ("5*2*2", menu.PACK_CANCELLED, 0, 2),
    ],
)
def test_walk_follows_the_table(text: str, screen: str, page: int, offer: int) -> None:
    assert menu.walk(text, Layout())[-1] == menu.At(screen, page, offer)


@pytest.mark.parametrize(
    "text",
    [
        "6",
        "5*4",
        "5*2*3",
        "5*2*1*1",
        "1*1",
        "4*0",
        "2*4",
        "2*98*98",
        "2*98*1",
        "2*6",
        "2*3*3",
        "2*3*1*1",
        "3*98*98",
        "2*03",
        "2* 1",
        "2*",
        "2*98*1000",
    ],
)
def test_anything_the_table_does_not_list_is_invalid(text: str) -> None:
    assert menu.walk(text, Layout())[-1] == menu.At(menu.INVALID)


def test_no_offers_and_the_longest_input() -> None:
    assert menu.walk("2*1", Layout(offers=[]))[-1] == menu.At(menu.INVALID)
    assert menu.walk("2*0", Layout(offers=[]))[-1] == menu.At(menu.MAIN)
    longest = "*".join(["2", *["98", "0"] * 15, "98"])
    assert len(longest.split("*")) == menu.MAX_INPUTS
    assert menu.walk(longest, Layout())[-1] == menu.At(menu.OFFERS, 1)
    assert menu.walk(longest + "*0", Layout())[-1] == menu.At(menu.INVALID)


def test_the_offers_layout_is_asked_only_where_an_input_depends_on_it() -> None:
    for text, asked in (("2", []), ("2*0", []), ("2*0*2", []), ("2*1", [menu.OFFERS]), ("2*98", [menu.OFFERS])):
        layout = Layout()
        menu.walk(text, layout)
        assert layout.asked == asked, text


def test_every_screen_of_the_table_is_rendered() -> None:
    from chalicelib.channels.ussd import RENDER

    named = {
        v for k, v in vars(menu).items() if k.isupper() and isinstance(v, str) and k not in ("SEPARATOR", "NUMBER")
    }
    assert set(RENDER) == named
