"""Data packs over USSD (menu `5`), on the real local engine and the charging
simulator: the packs listed (data only, newest first, pinned in the session),
an order fulfilled, refused (the points back), pending and refused for want of
points, each in words within one USSD page; a repeated `5*k*1` orders once;
the history names a pack's spend; the DynamoDB round trips of each screen."""

from __future__ import annotations

import dataclasses
import re
from datetime import timedelta

import pytest
from channels.world import ME, World

from bench import CallRecorder
from chalicelib import clock, store
from chalicelib.notify import gsm
from chalicelib.store import Subscriber
from conftest import MARKETER

pytestmark = pytest.mark.engine

PACKS = (
    {"name": "Data 1 GB / 7 ngay", "kind": "data", "sku": "DATA_1GB_7D", "points_price": 2_000, "validity_days": 7},
    {"name": "50 phut noi mang", "kind": "voice", "sku": "VOICE_50M", "points_price": 3_000, "validity_days": 30},
    {"name": "Data 5 GB / 30 ngay", "kind": "data", "sku": "DATA_5GB_30D", "points_price": 8_000, "validity_days": 30},
)


def body(screen: str) -> str:
    assert gsm.is_gsm(screen) and gsm.septets(screen[4:]) <= 182, screen
    return screen[4:]


def balance() -> int:
    return int(Subscriber.get(ME, consistent_read=True).balance)


@pytest.fixture
def packs(world: World, charging) -> World:
    for n, fields in enumerate(PACKS):
        moved = clock.now() + timedelta(seconds=n + 1)
        clock.set_now(lambda moved=moved: moved)
        world.api.post("/v1/products", fields, headers=MARKETER, expect=201)
    return world


def test_a_data_pack_ordered_over_ussd(packs: World, charging) -> None:
    world = packs
    session = world.new_session()
    main, listed, confirm, ordered = (world.screen(t, session) for t in ("", "5", "5*1", "5*1*1"))
    assert "5. Doi diem lay goi data" in body(main)
    assert listed.startswith("CON Doi diem lay goi data:")
    assert re.findall(r"^[1-9]\. .*$", body(listed), re.M) == [
        "1. Data 5 GB / 30 ngay - 8.000 diem",  # newest first, data only (not the voice minutes)
        "2. Data 1 GB / 7 ngay - 2.000 diem",
    ]
    assert confirm == "CON Doi 8.000 diem lay:\nData 5 GB / 30 ngay\n1. Dong y\n2. Khong"
    assert ordered == "END Da kich hoat goi:\nData 5 GB / 30 ngay\nCon 42.000 diem. Cam on ban!"
    assert world.screen("5*1*1", session) == ordered  # the gateway repeats it: the same screen, one order
    assert balance() == 42_000 and charging.stats()["orders"] == 1
    (decided,) = charging.orders.values()
    assert (decided.sku, decided.msisdn) == ("DATA_5GB_30D", ME)
    assert world.screen("5*2*2", session) == "END Da huy. Ban khong bi tru diem."
    assert "Doi goi cuoc -8.000" in body(world.screen("4", world.new_session()))

    charging.configure(dataclasses.replace(charging.faults, mode="refuse"))
    refused = world.session_of("", "5", "5*2", "5*2*1")[-1]
    assert refused == "END Chua kich hoat duoc goi:\nData 1 GB / 7 ngay\nDa hoan 2.000 diem. Con 42.000 diem"
    charging.configure(dataclasses.replace(charging.faults, mode="timeout_before"))
    pending = world.session_of("", "5", "5*2", "5*2*1")[-1]
    assert pending.startswith("END Dang kich hoat goi:\nData 1 GB / 7 ngay\n") and "Con 40.000 diem" in pending
    charging.configure(dataclasses.replace(charging.faults, mode=None))
    world.subscriber("84981239876", 1_000)
    poor = world.session_of("", "5", "5*2", "5*2*1", phone="84981239876")[-1]
    assert poor == "END Ban khong du diem de doi goi nay."
    assert world.session_of("", "5", "5*3")[-1].startswith("END Lua chon khong hop le.")


def _round_trips(world: World, text: str, session: str) -> tuple[int, list[str]]:
    with CallRecorder(store.clients()) as recorder:
        world.screen(text, session)
        calls = recorder.take()
    return sum(c.round_trips for c in calls), [c.operation for c in calls]


def test_round_trips_of_the_pack_screens(packs: World) -> None:
    """2 for the list (the catalogue and pinning it), 1 for a page or a confirmation,
    4 for the order: the claim's 3 and the settlement after the charging system answered."""
    world = packs
    world.screen("", world.new_session())  # the gateway's key is looked up once, then cached
    session = world.new_session()
    world.screen("", session)
    measured = {text: _round_trips(world, text, session) for text in ("5", "5*1", "5*1*2", "5*1*1")}
    print(measured)
    assert measured["5"] == (2, ["Query", "UpdateItem"])
    assert measured["5*1"] == measured["5*1*2"] == (1, ["GetItem"])
    assert measured["5*1*1"] == (4, ["GetItem", "BatchGetItem", "TransactWriteItems", "TransactWriteItems"])
