"""The USSD menu over the gateway's callback, on the real local engine: every
screen and path of API.md's menu, paging, retries (the same screen; one claim
per session and offer, also for two repeats at once over a real HTTP server),
numbers that are no subscriber's or have a new owner, unknown options, bad
bodies and keys, and the DynamoDB round trips of each screen."""

from __future__ import annotations

import http.client
import os
import re
import threading
from collections.abc import Iterator
from typing import Any
from urllib.parse import urlencode

import pytest
from channels.world import FORM, ME, OTHER, SHORT_CODE, World, run_together
from integration.overlap import Spans

from bench import CallRecorder
from chalicelib import store
from chalicelib.notify import gsm
from chalicelib.store import Subscriber, Voucher
from chalicelib.vouchers import codes
from conftest import MARKETER, OPERATOR, auth

pytestmark = pytest.mark.engine

CODE = re.compile(r"[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z]{4}-[0-9A-Z*~$=U]")


def balance(msisdn: str = ME) -> int:
    return int(Subscriber.get(msisdn, consistent_read=True).balance)


def vouchers_of(msisdn: str = ME) -> list[Voucher]:
    owner = Subscriber.get(msisdn, consistent_read=True).owner_id
    return [v for v in Voucher.scan() if v.owner_id == owner]


def listed(screen: str) -> list[int]:
    """The offer numbers a list screen shows (not its 98 and 0)."""
    return [int(n) for n in re.findall(r"^(\d+)\. ", body(screen), re.M) if n not in ("98", "0")]


def body(screen: str) -> str:
    assert gsm.is_gsm(screen) and gsm.septets(screen[4:]) <= 182, screen
    return screen[4:]


# -- a whole session ------------------------------------------------------------------


def test_a_whole_session_as_a_person_sees_it(world: World) -> None:
    world.launch("Ca phe sua da mien phi", points_price=2_000)
    texts = ["", "2", "2*1", "2*1*1"]
    screens = world.session_of(*texts)
    print("\n\n".join(f"[{t or 'dial ' + SHORT_CODE}]\n{s}" for t, s in zip(texts, screens, strict=True)))
    main, offers, confirm, claimed = screens
    assert main.startswith("CON Diem: 50.000 - Hang Tiem nang\n1. ")
    assert offers.startswith("CON ") and "1. Ca phe sua da mien phi - 2.000 diem" in offers
    assert confirm.startswith("CON Doi 2.000 diem lay:\nCa phe sua da mien phi\n1. Dong y\n2. Khong")
    assert claimed.startswith("END Doi thanh cong!")
    (voucher,) = vouchers_of()
    code = CODE.search(claimed)
    assert code is not None and codes.parse(code.group()) == voucher.code
    assert "Con 48.000 diem" in claimed and balance() == 48_000
    for screen in screens:
        body(screen)

    wallet, history, points = (world.session_of(text)[0] for text in ("3", "4", "1"))
    assert wallet.startswith("END Voucher cua ban:\n") and code.group() in wallet
    assert history.startswith("END Lich su diem:\n10/11 Doi voucher -2.000\n10/11 Dieu chinh +50.000")
    assert points.startswith("END Diem: 48.000\nHang: Tiem nang\nCan 10.000 diem hang de len Than thiet")
    # each option from the first screen, as a person dials it
    for option, starts in (("1", "END Diem: 48.000"), ("3", "END Voucher cua ban:"), ("4", "END Lich su diem:")):
        first, then = world.session_of("", option)
        assert first.startswith("CON Diem: 48.000") and then.startswith(starts)


# -- offers: paging, back, confirm, claim ------------------------------------------------


def test_offers_are_paged_with_98_and_0_goes_back(world: World) -> None:
    for n in range(8):
        world.launch(f"Uu dai so {n} voi mot cai ten that dai cho man hinh nho", points_price=1_000 + n)
    session = world.new_session()
    assert world.screen("", session).startswith("CON Diem")
    first = world.screen("2", session)
    numbers = listed(first)
    assert numbers[0] == 1 and "98. Tiep" in first and 1 < len(numbers) < 8
    second = world.screen("2*98", session)
    later = listed(second)
    assert later[0] == numbers[-1] + 1
    # 0 goes back a page, then back to the menu
    assert world.screen("2*98*0", session) == first
    assert world.screen("2*98*0*0", session).startswith("CON Diem: 50.000")
    # an offer on page two is chosen there (numbers are the whole list's), not from page one
    pick = later[0]
    assert world.screen(f"2*98*{pick}", session).startswith("CON Doi 1.00")
    assert world.screen(f"2*{pick}", session).startswith("END Lua chon khong hop le")
    # every page: 98 until the last, each within one USSD page
    text, seen = "2", []
    while True:
        screen = world.screen(text, session)
        seen += listed(screen)
        if "98. Tiep" not in screen:
            break
        text += "*98"
    assert seen == list(range(1, 9))
    assert world.screen(text + "*98", session).startswith("END Lua chon khong hop le")


def test_the_offers_listed_are_those_eligible_and_no_claims_nothing(world: World) -> None:
    assert world.session_of("", "2")[1] == "END Hien chua co uu dai nao danh cho ban."
    world.launch("Cho hang Vang", eligibility={"min_tier": "gold"})
    world.launch("Tra sua")
    listed_first, confirm, cancelled = world.session_of("2", "2*1", "2*1*2")
    assert "1. Tra sua" in listed_first and "Cho hang Vang" not in listed_first
    assert confirm.startswith("CON Doi 2.000 diem lay:\nTra sua\n")
    assert cancelled == "END Da huy. Ban khong bi tru diem."
    assert vouchers_of() == [] and balance() == 50_000
    # 0 on the confirm screen is back to its page
    session = world.new_session()
    shown = world.screen("2", session)
    assert world.screen("2*1*0", session) == shown


def test_a_refused_claim_says_why_in_words_and_changes_nothing(world: World) -> None:
    world.subscriber(OTHER, 10_000)
    cases = {
        "price": ({"points_price": 60_000}, "END Ban khong du diem de doi uu dai nay."),
        "sold out": ({"inventory": 1}, "END Rat tiec, uu dai nay da het."),
        "limit": ({"per_subscriber_limit": 1}, "END Ban da doi het so lan cho phep cua uu dai nay."),
        "paused": ({}, "END Uu dai nay hien khong con ap dung."),
    }
    for case, (fields, expected) in cases.items():
        campaign_id = world.launch(case, **fields)
        if case == "sold out":
            r = world.api.post(f"/v1/campaigns/{campaign_id}/claims", headers=auth("subscriber", OTHER), expect=201)
            assert r.data["balance"] == 8_000
        if case == "limit":
            assert world.session_of("", "2", "2*1", "2*1*1")[-1].startswith("END Doi thanh cong")
        before, held = balance(), len(vouchers_of())
        session = world.new_session()
        for text in ("", "2", "2*1"):
            assert world.screen(text, session).startswith("CON "), case
        if case == "paused":
            world.api.post(f"/v1/campaigns/{campaign_id}/pause", headers=MARKETER, expect=200)
        # the newest campaign is offer 1
        assert world.screen("2*1*1", session) == expected, case
        assert balance() == before and len(vouchers_of()) == held, case


# -- the same screen for a repeat; one claim per session and offer ----------------------------


def test_the_offers_a_session_listed_keep_their_numbers(world: World) -> None:
    """A campaign launched mid-session would be listed first; the session's
    `2*1` still means the offer it showed as 1, and claims that one."""
    first = world.launch("Uu dai cu")
    session = world.new_session()
    world.screen("", session)
    assert "1. Uu dai cu" in world.screen("2", session)
    world.launch("Uu dai moi")
    assert "Uu dai cu" in world.screen("2*1", session)
    assert world.screen("2*1*1", session).startswith("END Doi thanh cong")
    assert [v.campaign_id for v in vouchers_of()] == [first]
    # a new session lists the new one first
    assert "1. Uu dai moi" in world.session_of("", "2")[1]


def test_a_repeated_request_gets_the_same_screen_and_claims_once(world: World) -> None:
    world.launch("Phim", points_price=5_000)
    session = world.new_session()
    for text in ("", "2", "2*1"):
        assert world.screen(text, session) == world.screen(text, session)
    claimed = world.screen("2*1*1", session)
    assert world.screen("2*1*1", session) == claimed
    assert world.screen("2*1*1", session) == claimed
    assert len(vouchers_of()) == 1 and balance() == 45_000
    # another session may claim again (the limit is 3)
    assert world.session_of("", "2", "2*1", "2*1*1")[-1] != claimed
    assert len(vouchers_of()) == 2 and balance() == 40_000


@pytest.fixture
def served(world: World) -> Iterator[str]:
    """The app behind a real HTTP server on 127.0.0.1 (dev.local_server, as
    `make run` serves it), in this process, on this test's tables."""
    import app as app_module
    from dev import local_server

    environ, app_class = dict(os.environ), app_module.app.__class__
    server = local_server.create_server(0, quiet=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    try:
        yield f"127.0.0.1:{server.port}"
    finally:
        server.shutdown()
        server.server.server_close()
        thread.join(timeout=10)
        app_module.app.__class__ = app_class  # create_server made the app's request thread-local
        os.environ.clear()
        os.environ.update(environ)


REPEATS = 8


def test_repeats_of_the_claim_arriving_together_claim_once(world: World, served: str) -> None:
    world.launch("Flash", points_price=3_000)
    session = world.new_session()
    for text in ("", "2", "2*1"):
        assert world.screen(text, session).startswith("CON ")
    form = urlencode({"sessionId": session, "serviceCode": SHORT_CODE, "phoneNumber": ME, "text": "2*1*1"})
    host, port = served.split(":")
    spans = Spans()

    def repeat(_: int) -> tuple[int, str]:
        conn = http.client.HTTPConnection(host, int(port), timeout=60)
        try:
            with spans.request():
                conn.request("POST", "/v1/channels/ussd", form, {"Content-Type": FORM, "X-Gateway-Key": world.ussd_key})
                response = conn.getresponse()
                return response.status, response.read().decode()
        finally:
            conn.close()

    answers = run_together(REPEATS, repeat)
    spans.assert_overlapped(REPEATS, "repeats of 2*1*1")
    assert {status for status, _ in answers} == {200}
    screens = {text for _, text in answers}
    assert len(screens) == 1, screens
    (screen,) = screens
    assert screen.startswith("END Doi thanh cong")
    (voucher,) = vouchers_of()
    assert codes.parse(CODE.search(screen).group()) == voucher.code  # type: ignore[union-attr]
    assert balance() == 47_000


def test_make_ussd_dials_the_menu_over_http(world: World, served: str) -> None:
    """dev/ussd.py (`make ussd`): registers its own gateway (the dev secret is
    this server's), shows each screen, stops at END."""
    import io

    from dev import ussd as dialler

    world.launch("Banh mi", points_price=1_000)
    base = f"http://{served}"
    key = dialler.register_gateway(base)
    out = io.StringIO()
    last = dialler.dial(base, key, "0961234567", ["2", "1", "1"], out, lambda: out.write("> "))
    shown = out.getvalue()
    assert "Diem: 50.000 - Hang Tiem nang" in shown and "1. Banh mi - 1.000 diem" in shown
    assert last.startswith("END Doi thanh cong") and "(session ended)" in shown
    out = io.StringIO()
    assert dialler.dial(base, key, "0961234567", [], out, lambda: None).startswith("CON ")
    assert "(hung up)" in out.getvalue()


# -- who dials -----------------------------------------------------------------------------


def test_who_dials_a_stranger_another_numbers_session_a_session_without_its_first_screen(world: World) -> None:
    for phone in ("0999999999", "+1 415 555 0100", "84"):
        for text in ("", "1", "2", "2*1*1", "3", "4"):
            screen = world.screen(text, world.new_session(), phone)
            assert screen == "END So nay chua tham gia chuong trinh tich diem.", (phone, text)
    world.launch("Uu dai")
    world.subscriber(OTHER, 10_000)
    session = world.new_session()
    world.screen("", session)
    world.screen("2", session)
    lost = f"END Phien da het han. Vui long bam {SHORT_CODE} de bat dau lai."
    assert world.screen("2*1*1", session, OTHER) == lost
    assert world.screen("2", session, OTHER) == lost
    assert balance(OTHER) == 10_000
    # a gateway that never sent the first screen: the offers screen begins the session
    skipped = world.new_session()
    assert "1. Uu dai" in world.screen("2", skipped)
    assert world.screen("2*1*1", skipped).startswith("END Doi thanh cong")


def test_a_recycled_numbers_new_owner_sees_only_its_own_and_an_old_session_claims_nothing(world: World) -> None:
    world.launch("Ve xem phim")
    assert world.session_of("", "2", "2*1", "2*1*1")[-1].startswith("END Doi thanh cong")
    old_session = world.new_session()
    for text in ("", "2", "2*1"):
        world.screen(text, old_session)
    # the operator gives the number to a new owner
    r = world.api.put(f"/v1/subscribers/{ME}", {"activated_on": "2026-11-09", "plan": "prepaid"}, headers=OPERATOR)
    assert r.status_code == 200, r.data
    assert world.screen("2*1*1", old_session) == "END So thue bao nay da doi chu. Khong doi diem."
    main, *_ = world.session_of("")
    assert main.startswith("CON Diem: 0 - Hang Tiem nang")
    assert world.session_of("3")[0] == "END Ban chua co voucher nao."
    assert world.session_of("4")[0] == "END Chua co lich su diem."
    assert world.session_of("", "2", "2*1", "2*1*1")[-1] == "END Ban khong du diem de doi uu dai nay."
    assert vouchers_of() == []


def test_an_unknown_option_is_a_short_end(world: World) -> None:
    world.launch("Mot uu dai")
    session = world.new_session()
    world.screen("", session)
    world.screen("2", session)
    expected = f"END Lua chon khong hop le. Vui long bam {SHORT_CODE} de bat dau lai."
    for text in ("6", "0", "1*1", "2*9", "2*0*9", "2*1*3", "2*abc", "2**", "2*01", "3*98", "*", "2*", "#", "2*1*1*1"):
        assert world.screen(text, session) == expected, text
    assert world.screen("*".join(["2", "0"] * 40), session) == expected  # a very long input
    assert vouchers_of() == []


# -- bad requests -----------------------------------------------------------------------------


def _tables(prefix: str) -> dict[str, int]:
    client = store.binding.client()
    names = [n for n in client.list_tables()["TableNames"] if n.startswith(prefix)]
    return {n: client.scan(TableName=n, Select="COUNT", ConsistentRead=True)["Count"] for n in names}


GOOD = {"sessionId": "s-1", "serviceCode": "*098#", "phoneNumber": ME, "text": ""}
MALFORMED = {
    "json": (
        "application/json",
        '{"sessionId": "s-1", "serviceCode": "*098#", "phoneNumber": "0961234567", "text": ""}',
    ),
    "missing": (FORM, urlencode({k: v for k, v in GOOD.items() if k != "text"})),
    "unknown": (FORM, urlencode({**GOOD, "networkCode": "45204"})),
    "repeated": (FORM, urlencode(GOOD) + "&text=1"),
    "empty-field": (FORM, urlencode(GOOD) + "&&"),
    "no-value": (FORM, "sessionId"),
    "not-utf8": (FORM, urlencode(GOOD).replace("s-1", "%ff%fe")),
    "latin1": (FORM + "; charset=latin-1", urlencode(GOOD)),
    "bad-phone": (FORM, urlencode({**GOOD, "phoneNumber": "not a number"})),
    "long-text": (FORM, urlencode({**GOOD, "text": "1*" * 300})),
    "empty-session": (FORM, urlencode({**GOOD, "sessionId": ""})),
    "empty": (FORM, ""),
    "text-plain": ("text/plain", urlencode(GOOD)),
    "too-many-fields": (FORM, urlencode(GOOD) + "".join(f"&f{n}=1" for n in range(20))),
}


def test_a_malformed_body_is_400_a_bad_key_401_and_neither_changes_anything(world: World, engine_tables: str) -> None:
    before = _tables(engine_tables)
    for case, (content_type, raw) in MALFORMED.items():
        headers = {"Content-Type": content_type, "X-Gateway-Key": world.ussd_key}
        r = world.api.call("POST", "/v1/channels/ussd", headers=headers, raw=raw)
        assert r.status_code == 400, (case, r.status_code, r.text or r.data)
        assert r.data["error"]["code"] == "VALIDATION_ERROR" and r.data["error"]["message"], case
    assert _tables(engine_tables) == before
    raw = urlencode(GOOD)
    keys: dict[str, tuple[dict[str, str], int]] = {
        "no key": ({}, 401),
        "forged key": ({"X-Gateway-Key": "gk_forged-key-never-issued"}, 401),
        "the key as X-Api-Key": ({"X-Api-Key": world.ussd_key}, 401),
        "operator token": (dict(OPERATOR), 401),
        "sms gateway": ({"X-Gateway-Key": world.sms_key}, 403),
    }
    for who, (headers, status) in keys.items():
        r = world.api.call("POST", "/v1/channels/ussd", headers={"Content-Type": FORM, **headers}, raw=raw)
        assert r.status_code == status, (who, r.status_code, r.data)
        assert r.data["error"]["code"] == {401: "UNAUTHENTICATED", 403: "FORBIDDEN"}[status], who
    assert _tables(engine_tables) == before
    # a charset, `+` for spaces: read
    headers = {"Content-Type": FORM + "; charset=UTF-8", "X-Gateway-Key": world.ussd_key}
    raw = urlencode({**GOOD, "phoneNumber": "+84 96 123 4567"})
    assert "%2B84+96+123" in raw
    r = world.api.call("POST", "/v1/channels/ussd", headers=headers, raw=raw)
    assert r.status_code == 200 and r.text is not None and r.text.startswith("CON Diem: 50.000")


# -- round trips -------------------------------------------------------------------------------


def _round_trips(world: World, text: str, session: str) -> tuple[int, list[str]]:
    with CallRecorder(store.clients()) as recorder:
        world.screen(text, session)
        calls = recorder.take()
    return sum(c.round_trips for c in calls), [c.operation for c in calls]


def test_round_trips_per_screen(world: World) -> None:
    """TARGETS.md: at most 2 per screen, 3 for the claim (the gateway key cached,
    as in a warm function); the wallet is 3, its own (see chalicelib.channels.ussd)."""
    world.launch("Uu dai", points_price=1_000)
    world.screen("", world.new_session())  # the gateway's key is looked up once, then cached
    measured: dict[str, Any] = {}
    session = world.new_session()
    for text in ("", "1", "2", "2*1", "2*1*1"):
        measured[text] = _round_trips(world, text, session)
    other = world.new_session()
    for text in ("", "2", "2*1", "2*1*2", "2*0", "3", "4"):
        measured[f"{text} (second)"] = _round_trips(world, text, other)
    print({text: f"{n}: {' + '.join(ops)}" for text, (n, ops) in measured.items()})
    limits = {"2*1*1": 3, "3 (second)": 3}
    for text, (n, _) in measured.items():
        assert n <= limits.get(text, 2), (text, measured[text])
    assert measured["2*1*1"][1] == ["GetItem", "BatchGetItem", "TransactWriteItems"]
    assert measured["2*1"][1] == ["GetItem"]


def test_a_household_member_sees_the_pool_on_screen_1_and_in_diem(world: World) -> None:
    world.subscriber(OTHER, 0)
    api = world.api
    household = api.post("/v1/households", headers=auth("subscriber", ME), expect=201).data["household_id"]
    path = f"/v1/households/{household}/invitations"
    api.post(path, {"msisdn": OTHER}, headers=auth("subscriber", ME), expect=201)
    api.post(f"{path}/{OTHER}/accept", headers=auth("subscriber", OTHER), expect=200)
    # the member's earnings after joining go to the pool: 100,000 VND of mobile = 5,000 points (DOMAIN.md)
    spend = {"event_id": "bill-pool-1", "msisdn": OTHER, "amount_vnd": 100_000, "service": "mobile",
             "occurred_at": "2026-11-10T02:00:00Z"}  # fmt: skip
    api.post("/v1/spend-events", spend, headers=OPERATOR, expect=201)
    owner = world.session_of("1")[0]
    assert owner.startswith("END Diem: 50.000\n") and "\nQuy nhom: 5.000 diem (duoc dung)" in owner, owner
    member = world.screen("1", world.new_session(), phone=OTHER)
    assert "\nQuy nhom: 5.000 diem (khong duoc dung)" in member, member
    reply = world.sms("mo-pool-1", "DIEM", sender=OTHER).data["reply"]
    assert "Quy nhom: 5.000 diem." in reply, reply
    # the main menu shows no pool: a member's dial costs what anyone's does (TARGETS.md: 2)
    session = world.new_session()
    world.screen("", world.new_session(), phone=OTHER)  # the gateway's key is looked up once, then cached
    with CallRecorder(store.clients()) as recorder:
        world.screen("", session, phone=OTHER)
        calls = [c.operation for c in recorder.take()]
    assert calls == ["GetItem", "PutItem"], calls
